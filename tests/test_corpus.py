"""Corpus reading: the text layouts, folders and globs, errors, tfds text sets."""

from __future__ import annotations

import pytest

from bertjax.data.pretraining.corpus.documents import detect_format, read_documents
from bertjax.data.pretraining.corpus.sources import TfdsSource
from bertjax.errors import ConfigError, DataError

SENTENCES_TEXT = "The cat sat.\nIt was happy.\n\n\nA new document starts.\n  Its second line.  \n\nThird one.\n"
PARAGRAPHS_TEXT = """
 = First Article = 

 It opened in 1990. Mr. Smith ran it for 3.5 years. Then it closed! 

 = = History = = 

 The U.S. Army used it. Nobody knows why. 

 = Second Article = 

 Short one here. 
"""


def test_sentences_format(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(SENTENCES_TEXT, encoding="utf-8")
    expected = [["The cat sat.", "It was happy."], ["A new document starts.", "Its second line."], ["Third one."]]
    assert read_documents(path, format="sentences") == expected
    assert read_documents(path) == expected  # auto: one sentence a line


def test_only_newlines_end_lines(tmp_path):
    """Windows and old Mac line ends end lines; a form feed or Unicode line separator inside a line does not
    start a new document (str.splitlines would split there)."""
    path = tmp_path / "corpus.txt"
    path.write_bytes("The cat sat.\x0c\r\nIt was\u2028 happy.\r\n\r\nA new one.\rIts end.\x85\n".encode("utf-8"))
    assert read_documents(path, format="sentences") == [["The cat sat.", "It was\u2028 happy."],
                                                        ["A new one.", "Its end."]]


def test_paragraphs_format_with_titles(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_text(PARAGRAPHS_TEXT, encoding="utf-8")
    expected = [["It opened in 1990.", "Mr. Smith ran it for 3.5 years.", "Then it closed!",
                 "The U.S. Army used it.", "Nobody knows why."], ["Short one here."]]
    assert read_documents(path, format="paragraphs") == expected
    assert read_documents(path) == expected  # auto: title lines


def test_paragraphs_without_titles_split_at_blank_lines(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("One para. It has two sentences.\nStill the same block.\n\nAnother block. With two.\n",
                    encoding="utf-8")
    assert read_documents(path, format="paragraphs") == [
        ["One para.", "It has two sentences.", "Still the same block."], ["Another block.", "With two."]]
    assert read_documents(path) == read_documents(path, format="paragraphs")  # auto: multi-sentence lines


def test_auto_format_heuristic():
    assert detect_format(["One sentence.", "Another one.", "", "Third."]) == "sentences"
    assert detect_format([" = Title = ", "Just one sentence."]) == "paragraphs"
    # two of four lines hold several sentences: more than a quarter
    assert detect_format(["Cats sit. Dogs run.", "Birds fly.", "Fish swim. Ants dig.", "Cows eat."]) == "paragraphs"
    # one of five: a stray split in a sentence-a-line file does not flip it
    assert detect_format(["Cats sit. Dogs run.", "Birds fly.", "Fish swim.", "Ants dig.", "Cows eat."]) == \
        "sentences"


def test_folder_recursive_and_glob(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "second.txt").write_text("Second file.\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("First file.\n\nFirst, again.\n", encoding="utf-8")
    (tmp_path / "ignored.md").write_text("Not text.\n", encoding="utf-8")
    expected = [["First file."], ["First, again."], ["Second file."]]
    assert read_documents(tmp_path) == expected
    assert read_documents(str(tmp_path / "**" / "*.txt")) == expected
    assert read_documents(str(tmp_path / "b" / "*.txt")) == [["Second file."]]


def test_errors(tmp_path):
    with pytest.raises(DataError, match="no file matches it as a glob"):
        read_documents(tmp_path / "missing" / "*.txt")
    with pytest.raises(DataError, match="holds no \\*.txt files"):
        read_documents(tmp_path)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n\t\n", encoding="utf-8")
    with pytest.raises(DataError, match="blank.txt: the corpus is empty"):
        read_documents(blank)
    with pytest.raises(ConfigError, match="format='lines'"):
        read_documents(blank, format="lines")


def test_binary_and_undecodable_files(tmp_path):
    binary = tmp_path / "model.txt"
    binary.write_bytes(b"fine line\nsecond\x00\x01\x02")
    with pytest.raises(DataError, match=r"model.txt line 2: binary data \(a NUL byte at byte offset 16\).*UTF-8"):
        read_documents(binary)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("First line.\nCaf".encode() + b"\xe9 au lait.\n")
    with pytest.raises(DataError, match="latin.txt line 2: byte 0xe9 at byte offset 15 is not UTF-8"):
        read_documents(latin)


def test_bom_is_not_text(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffFirst.\nSecond.\n".encode())
    assert read_documents(path) == [["First.", "Second."]]


def test_wikitext_valid(shared_data):
    documents = read_documents(shared_data / "wikitext-2" / "valid.txt")
    assert len(documents) == 60  # its ` = Title = ` lines
    assert documents[0][:2] == [
        "Homarus gammarus , known as the European lobster or common lobster , is a species of <unk> lobster from "
        "the eastern Atlantic Ocean , Mediterranean Sea and parts of the Black Sea .",
        "It is closely related to the American lobster , H. americanus ."]
    assert not any(sentence.startswith("=") for document in documents for sentence in document)


def mock_texts(texts: list[str]):
    """tfds.load serves these `text` features (and a `title`), whatever the data set, offline."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def as_dataset(builder, split, **kwargs):
        rows = [{"title": f"title {index}", "text": text} for index, text in enumerate(texts)]
        signature = {"title": tf.TensorSpec([], tf.string), "text": tf.TensorSpec([], tf.string)}
        return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)

    return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def tfds_documents(text_feature: str = "text", process_index: int = 0, process_count: int = 1) -> list[list[str]]:
    source = TfdsSource("wikipedia/20230601.en", "train", text_feature, process_index=process_index,
                        process_count=process_count)
    return [document for document, _ in source.documents()]


def test_tfds_documents():
    tfds = pytest.importorskip("tensorflow_datasets")
    pytest.importorskip("tensorflow")
    with tfds.testing.mock_data(num_examples=3):  # random text from the registered builder's features
        documents = tfds_documents()
    assert len(documents) == 3 and all(documents)
    texts = ["First paragraph. Two sentences.\n\nSecond paragraph.", "   ", "Another article. The end."]
    with mock_texts(texts):
        assert tfds_documents() == [
            ["First paragraph.", "Two sentences.", "Second paragraph."], ["Another article.", "The end."]]
        assert tfds_documents(process_index=0, process_count=2) == [
            ["First paragraph.", "Two sentences.", "Second paragraph."], ["Another article.", "The end."]]
        with pytest.raises(DataError, match="shard 1 of 2\\) has no non-blank 'text' text"):
            tfds_documents(process_index=1, process_count=2)
        with pytest.raises(DataError, match="has no feature 'body'; its features are \\['text', 'title'\\]"):
            tfds_documents("body")
