"""Corpus files in every format through the streaming preparation: one document a line, JSON lines (plain, gzip,
zstd) and parquet read in pieces that hold every document once (parquet pieces spanning and dividing row groups),
shards equal to the in-memory preparation, restarts that read nothing, worker processes, the preparation key, the
vocabulary's sample, and bad input named by file and line."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

import bertjax.data.pretraining.corpus.compressed as compressed
import bertjax.data.pretraining.corpus.parquet_pieces as parquet_pieces
import bertjax.data.pretraining.corpus.text_pieces as text_pieces
from bertjax.data.pretraining.corpus.documents import corpus_files, file_format
from bertjax.data.pretraining.dataset import PretrainingDataset
from bertjax.data.pretraining.prepare import PreparationSettings, prepare_corpus
from bertjax.data.pretraining.corpus.sources import FileSource
from bertjax.data.tokenizer import train_wordpiece
from bertjax.errors import ConfigError, DataError
from tests.test_prepare import OPTIONS, SMALL_SHARDS, _equal, _json
from tests.test_pretraining_data import synthetic_documents

ONE_SHARD = PreparationSettings(progress=False)
ROW_GROUP_ROWS = 7


def document_text(document: list[str]) -> str:
    """A document as its text: two paragraphs of sentences (split again when read)."""
    half = max(len(document) // 2, 1)
    return " ".join(document[:half]) + ("\n\n" + " ".join(document[half:]) if document[half:] else "")


def json_lines(documents: list[list[str]], field: str = "text") -> bytes:
    return "".join(json.dumps({"id": index, field: document_text(document)}, ensure_ascii=False) + "\n"
                   for index, document in enumerate(documents)).encode()


def write_corpus(folder: Path, documents: list[list[str]], kind: str) -> Path:
    """`documents` written as a corpus file of `kind`: jsonl, jsonl.gz, jsonl.zst, parquet (row groups of
    ROW_GROUP_ROWS rows), tsv (text and label columns), or txt / txt.gz (one document a line)."""
    path = folder / f"corpus.{kind}"
    lines = "".join(" ".join(document) + "\n" for document in documents).encode()
    data = {"jsonl": lambda: json_lines(documents), "txt": lambda: lines,
            "jsonl.gz": lambda: gzip.compress(json_lines(documents)), "txt.gz": lambda: gzip.compress(lines),
            "jsonl.zst": lambda: zstandard.ZstdCompressor().compress(json_lines(documents))}
    if kind == "parquet":
        table = pa.table({"id": list(range(len(documents))), "text": [document_text(doc) for doc in documents]})
        pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)
    elif kind == "tsv":
        path.write_text("text\tlabel\n" + "".join(f"{' '.join(doc)}\t{len(doc)}\n" for doc in documents), "utf-8")
    else:
        path.write_bytes(data[kind]())
    return path


KINDS = ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "tsv", "txt", "txt.gz"]
FORMAT = {"txt": "documents", "txt.gz": "documents"}  # the others are recognised by their extension


@pytest.fixture(scope="module")
def documents() -> list[list[str]]:
    return synthetic_documents(80, seed=21)


@pytest.fixture(scope="module")
def tokenizer(documents):
    return train_wordpiece((sentence for document in documents for sentence in document), 300)


def _source(path: Path, kind: str, **changes) -> FileSource:
    return FileSource(str(path), FORMAT.get(kind, "auto"), **changes)


@pytest.mark.parametrize("kind", KINDS)
def test_pieces_hold_every_document_once(tmp_path: Path, documents, kind: str) -> None:
    source = _source(write_corpus(tmp_path, documents, kind), kind)
    for piece_bytes in (97, 3_000, 10**7):
        tasks = list(source.tasks(piece_bytes))
        assert [document for task in tasks for document in task.read()[0]] == documents, piece_bytes
        assert len(tasks) > 5 or piece_bytes == 10**7
    if kind == "parquet":
        pieces = [piece for task in source.tasks(3_000) for piece in task.pieces]
        row_group_of = lambda row: row // ROW_GROUP_ROWS  # noqa: E731
        assert any(row_group_of(piece.start) < row_group_of(piece.end - 1) for piece in pieces)  # spans groups
        assert any(piece.start % ROW_GROUP_ROWS for piece in pieces)  # and starts inside one
        assert sum(piece.text_bytes for piece in pieces) == source.total_bytes()
    else:
        assert source.total_bytes() == (None if "." in kind else (tmp_path / f"corpus.{kind}").stat().st_size)


@pytest.mark.parametrize("kind", ["jsonl.zst", "parquet", "txt"])
def test_one_shard_equals_the_in_memory_preparation(tmp_path: Path, documents, tokenizer, kind: str) -> None:
    prepared = prepare_corpus(_source(write_corpus(tmp_path, documents, kind), kind), _json(tokenizer), OPTIONS,
                              tmp_path / "share", ONE_SHARD)
    assert _equal(prepared, PretrainingDataset.from_documents(documents, tokenizer, OPTIONS).prepared)


def _read_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(*_, **__):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(text_pieces, "read_piece", unreadable)
    monkeypatch.setattr(parquet_pieces, "_open", unreadable)
    monkeypatch.setattr(compressed.CompressedFile, "_blocks", unreadable)


def test_many_shards_on_workers_restart_without_reading(tmp_path: Path, documents, tokenizer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of every kind (auto by extension), shards spread over two worker processes, equal to one
    process's; a restart reads no file."""
    folder = tmp_path / "corpus"
    for index, kind in enumerate(["jsonl.gz", "jsonl.zst", "parquet", "jsonl"]):
        (folder / f"part{index}").mkdir(parents=True)
        write_corpus(folder / f"part{index}", documents[index * 20:(index + 1) * 20], kind)
    (folder / "README.md").write_text("not part of the corpus")
    source = FileSource(str(folder))
    assert [path.relative_to(folder).as_posix() for path in source.files()] == [
        "part0/corpus.jsonl.gz", "part1/corpus.jsonl.zst", "part2/corpus.parquet", "part3/corpus.jsonl"]
    parallel = prepare_corpus(source, _json(tokenizer), OPTIONS, tmp_path / "parallel",
                              dataclasses.replace(SMALL_SHARDS, workers=2))
    serial = prepare_corpus(source, _json(tokenizer), OPTIONS, tmp_path / "serial", SMALL_SHARDS)
    assert _equal(parallel, serial) and parallel.corpus.num_documents == 80
    manifest = json.loads((tmp_path / "serial" / "manifest.json").read_text())
    assert len(manifest["shards"]) >= 8 and manifest["source"]["format"] == "auto"
    _read_nothing(monkeypatch)
    again = prepare_corpus(source, _json(tokenizer), OPTIONS, tmp_path / "serial", SMALL_SHARDS)
    expected, actual = (PretrainingDataset(prepared, tokenizer, OPTIONS) for prepared in (serial, again))
    for step in (0, 5):
        assert all(np.array_equal(value, actual.train_batch(step, 8)[key])
                   for key, value in expected.train_batch(step, 8).items())


def test_the_format_and_text_field_are_part_of_the_key(tmp_path: Path, documents, tokenizer) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(json_lines(documents[:30]) + json_lines(documents[30:], field="body"))
    folder = tmp_path / "share"
    with pytest.raises(DataError, match=f"{path} line 31: the record has no field 'text' \\(its fields: 'id', "
                                        f"'body'\\); set data.text_field"):
        prepare_corpus(FileSource(str(path)), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS)
    path.write_bytes(json_lines(documents, field="body"))
    prepared = prepare_corpus(FileSource(str(path), text_field="body"), _json(tokenizer), OPTIONS, folder,
                              SMALL_SHARDS)
    assert prepared.corpus.num_documents == 80
    said = []
    prepare_corpus(FileSource(str(path), "jsonl", "body"), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS,
                   said.append)
    assert said == [f"{folder}: the source changed since its data was prepared; preparing afresh"]


@pytest.mark.parametrize("kind", ["jsonl.gz", "parquet"])
def test_vocabulary_sample_is_spread_and_bounded(tmp_path: Path, kind: str) -> None:
    documents = synthetic_documents(600, seed=5)
    source = _source(write_corpus(tmp_path, documents, kind), kind)
    everything = [sentence for document in documents for sentence in document]
    assert list(source.vocabulary_sample(10**8)) == everything
    sample = list(source.vocabulary_sample(8_000, window_bytes=2_000))
    assert sample == list(source.vocabulary_sample(8_000, window_bytes=2_000))
    assert 4_000 < sum(len(sentence) + 1 for sentence in sample) < 40_000  # of about 500 kB
    for part in (documents[:100], documents[-200:]):  # windows at 0, 1/4, 1/2 and 3/4 of the corpus
        assert set(sample) & {sentence for document in part for sentence in document}


def test_spread_sample_reads_a_compressed_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(write_corpus(tmp_path, synthetic_documents(600, seed=5), "jsonl.zst"), "jsonl.zst")
    passes = []
    blocks = compressed.CompressedFile._blocks
    monkeypatch.setattr(compressed.CompressedFile, "_blocks", lambda *args: passes.append(1) or blocks(*args))
    assert list(source.vocabulary_sample(20_000, window_bytes=2_000)) and passes == [1]


def test_format_by_extension_and_folders_by_format(tmp_path: Path) -> None:
    names = ["a.txt", "b.jsonl", "c.JSON.gz", "d.jsonl.zst", "e.parquet", "f.md", "g.txt.gz", "h.csv", "i.json",
             "j.tsv"]
    for name in names:
        (tmp_path / name).write_text("x")
    assert [file_format(name, "auto") for name in names] == ["auto", "jsonl", "jsonl", "jsonl", "parquet", "auto",
                                                            "auto", "auto", "jsonl", "tsv"]
    assert file_format("e.parquet", "documents") == "documents"
    listed = {format: [path.name for path in corpus_files(tmp_path, format)]
              for format in ("auto", "sentences", "documents", "jsonl", "parquet", "tsv")}
    assert listed == {"auto": names[:5], "sentences": ["a.txt"], "documents": ["a.txt", "g.txt.gz"],
                      "jsonl": ["b.jsonl", "c.JSON.gz", "d.jsonl.zst", "i.json"], "parquet": ["e.parquet"],
                      "tsv": ["j.tsv"]}  # a folder under auto: not plain .json nor .tsv, often metadata
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no \\*.parquet files \\(those format=parquet reads\\)"):
        corpus_files(tmp_path / "empty", "parquet")
    with pytest.raises(ConfigError, match="format='csv' is not one of auto, sentences, paragraphs, documents, "
                                          "jsonl, parquet, tsv"):
        FileSource(str(tmp_path), "csv")


def _bad_line(documents: list[list[str]], line: str, at: int) -> bytes:
    data = json_lines(documents).split(b"\n")
    return b"\n".join([*data[:at], line.encode(), *data[at:]])


def test_bad_json_lines_are_named_by_file_and_line(tmp_path: Path, documents, tokenizer) -> None:
    cases = [("{\"id\": 1, \"text\": \"Cut off", "invalid JSON \\(Unterminated string starting at at column 19\\)"),
             ("[\"a list\"]", "expected a JSON object \\(\\{...\\}\\), got list"),
             ("{\"text\": 5}", "field 'text' holds a JSON int, not text \\(nor a list of strings\\)"),
             ("{\"text\": [\"a\", 5]}", "field 'text' holds a JSON list, not text")]
    for index, (line, message) in enumerate(cases):
        for suffix, compress in ((".jsonl", bytes), (".jsonl.zst", zstandard.ZstdCompressor().compress)):
            path = tmp_path / f"bad{index}{suffix}"
            path.write_bytes(compress(_bad_line(documents, line, 61)))  # in a later piece, after 61 records
            with pytest.raises(DataError, match=f"{path} line 62: {message}"):
                prepare_corpus(FileSource(str(path)), _json(tokenizer), OPTIONS, tmp_path / "share", SMALL_SHARDS)
    null = tmp_path / "null.jsonl"  # a null or blank text is no document
    null.write_bytes(_bad_line(documents, "{\"text\": null}", 3) + b"{\"text\": \"  \"}\n")
    assert [document for task in FileSource(str(null)).tasks(10**6) for document in task.read()[0]] == documents


def test_json_lines_of_split_text_are_read_as_text(tmp_path: Path) -> None:
    """Token-classification sets as published (Resume and Weibo NER: characters; CoNLL: words) serve as corpora."""
    path = tmp_path / "ner.jsonl"
    path.write_text('{"text": ["高", "勇", "：", "男", "。", "中", "国", "国", "籍", "。"], "label": ["B-NAME"]}\n'
                    '{"text": ["EU", "rejects", "German", "call", "."]}\n', encoding="utf-8")
    documents = [document for task in FileSource(str(path)).tasks(10**6) for document in task.read()[0]]
    assert documents == [["高勇：男。", "中国国籍。"], ["EU rejects German call ."]]


def test_bad_files_are_named(tmp_path: Path, documents, tokenizer) -> None:
    def prepare(path: Path, format: str = "auto") -> None:
        prepare_corpus(FileSource(str(path), format), _json(tokenizer), OPTIONS, tmp_path / "share", SMALL_SHARDS)

    table = tmp_path / "body.parquet"
    pq.write_table(pa.table({"id": [1, 2], "body": ["One.", "Two."]}), table)
    with pytest.raises(DataError, match=f"{table}: the parquet file has no column 'text' \\(its columns: 'id', "
                                        f"'body'\\); set data.text_field"):
        prepare(table)
    with pytest.raises(DataError, match=f"{table}: column 'id' holds int64, not text"):
        prepare_corpus(FileSource(str(table), text_field="id"), _json(tokenizer), OPTIONS, tmp_path / "share",
                       SMALL_SHARDS)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), empty)
    with pytest.raises(DataError, match=f"{empty}: the parquet file has no rows"):
        prepare(empty)
    labels = tmp_path / "labels.tsv"
    labels.write_text("sentence\tlabel\nOne.\t0\n")
    with pytest.raises(DataError, match=f"{labels} line 1: the header has no column 'text' \\(its columns: "
                                        f"'sentence', 'label'\\); set data.text_field"):
        prepare(labels)
    tabs = write_corpus(tmp_path, documents, "tsv")
    rows = tabs.read_text(encoding="utf-8").splitlines(keepends=True)
    tabs.write_text("".join(rows[:70]) + "A text\twith a tab.\t3\n" + "".join(rows[70:]), encoding="utf-8")
    with pytest.raises(DataError, match=f"{tabs} line 71: 3 fields where the header has 2 \\(text, label\\); a text "
                                        f"containing a tab\\?"):
        prepare(tabs)
    fake = tmp_path / "fake.parquet"
    fake.write_text("{\"text\": \"JSON, not parquet.\"}\n")
    with pytest.raises(DataError, match=f"{fake}: not a parquet file"):
        prepare(fake)
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(json_lines(documents))[:-200])
    with pytest.raises(DataError, match=f"{broken}: the file cannot be decompressed as gzip"):
        prepare(broken)
    text = tmp_path / "reviews.txt.zst"
    text.write_bytes(zstandard.ZstdCompressor().compress(b"One review.\n"))
    with pytest.raises(DataError, match=f"{text}: a compressed corpus file is read as JSON lines or as one "
                                        f"document a line; name it \\*.jsonl.zst, set data.format=documents"):
        prepare(text)
    latin = tmp_path / "latin.txt.gz"
    latin.write_bytes(gzip.compress(b"One review.\nCaf\xe9 au lait.\n"))
    with pytest.raises(DataError, match=f"{latin} line 2: byte 0xe9 at byte offset 15 is not UTF-8"):
        prepare(latin, "documents")


def test_one_document_a_line_read_as_text_points_to_the_documents_format(tmp_path: Path, documents,
                                                                         tokenizer) -> None:
    reviews = write_corpus(tmp_path, documents, "txt")  # one document a line, no blank lines: one document
    with pytest.raises(DataError, match="the corpus has 1 documents.*Give a corpus with more documents \\(separated "
                                        "by blank lines; this text looks like one document a line: set "
                                        "data.format=documents\\)"):
        prepare_corpus(FileSource(str(reviews)), _json(tokenizer), OPTIONS, tmp_path / "a", ONE_SHARD)
    assert prepare_corpus(FileSource(str(reviews), "documents"), _json(tokenizer), OPTIONS, tmp_path / "b",
                          ONE_SHARD).corpus.num_documents == 80
    records = tmp_path / "few.jsonl"
    records.write_bytes(json_lines(documents[:3]))
    with pytest.raises(DataError, match="Give a corpus with more documents \\(one a record\\)$"):
        prepare_corpus(FileSource(str(records)), _json(tokenizer), OPTIONS, tmp_path / "c", ONE_SHARD)


def test_the_chinese_reviews_and_titles_as_published(shared_data: Path, tmp_path: Path) -> None:
    """ChnSentiCorp's reviews and TNEWS's titles, their TSV files as they are: one document a row, from the `text`
    column, reviews split into sentences at 。！？ without spaces."""
    source = FileSource(str(shared_data / "chinese"), "tsv")
    assert [path.parent.name for path in source.files()] == ["chnsenticorp", "tnews"]
    tokenizer = train_wordpiece(source.vocabulary_sample(1 << 20), 3000)
    prepared = prepare_corpus(source, _json(tokenizer), OPTIONS, tmp_path / "share", ONE_SHARD)
    assert prepared.corpus.num_documents == 9_600 + 53_360
    review = tokenizer.decode(prepared.corpus.tokens[:prepared.corpus.sentence_offsets[5]]).replace(" ", "")
    assert review.endswith("还算丰富。服务吗，一般") and prepared.corpus.document_offsets[1] == 5  # the first review
    assert np.diff(prepared.corpus.document_offsets[:9_600]).mean() > 3  # most reviews hold several sentences
