"""Tagged sentences from CoNLL files, JSON lines and tfds; IOB2 checks; labels on first sub-tokens and back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_classification_data import mock_tfds  # one tfds mock for every data test

from bertjax.data.finetuning.token_classification import TaggedSentences, encode_token_classification, iob1_to_iob2, \
    iob2_error, label_list, load_tagged_sentences, load_tfds_tagged_sentences, predictions_to_words
from bertjax.errors import ConfigError, DataError

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_file(tmp_path):
    path = write(tmp_path, "train.txt", CONLL)
    sentences = load_tagged_sentences(path)
    assert sentences.words == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert sentences.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
    assert sentences.where == [f"{path} line 3", f"{path} line 7"]
    chunks = load_tagged_sentences(path, tag_column=2)
    assert chunks.tags[1] == ["B-NP", "I-NP"]
    assert label_list(sentences) == ("O", "B-MISC", "B-ORG", "B-PER", "I-PER")


def test_json_lines(tmp_path):
    path = write(tmp_path, "train.jsonl", '{"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"]}\n'
                                          '{"tokens": ["in", "Paris"], "tags": ["O", "B-LOC"]}\n')
    sentences = load_tagged_sentences(path)
    assert sentences.words[1] == ["in", "Paris"] and sentences.tags[1] == ["O", "B-LOC"]
    assert sentences.where == [f"{path} line 1", f"{path} line 2"]
    short = write(tmp_path, "short.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n')
    with pytest.raises(DataError, match=f"{short} line 2: 2 tokens but 1 tags"):
        load_tagged_sentences(short)


def test_iob1_files_convert_to_iob2(tmp_path):
    """The original CoNLL-2003 release (IOB1): an entity starts with I-, and B- only where it follows one of its
    own type."""
    iob1 = [("I-ORG", "B-ORG"), ("I-ORG", "I-ORG"), ("O", "O"), ("I-PER", "B-PER"), ("B-PER", "B-PER"),
            ("I-PER", "I-PER"), ("I-LOC", "B-LOC"), ("I-MISC", "B-MISC")]
    assert iob1_to_iob2([tag for tag, _ in iob1]) == [tag for _, tag in iob1]
    conll = write(tmp_path, "eng.train", "".join(f"w{index} NNP I-NP {tag}\n" for index, (tag, _) in enumerate(iob1)))
    jsonl = write(tmp_path, "train.jsonl", json.dumps({"tokens": ["a", "b"], "tags": ["I-ORG", "I-ORG"]}) + "\n")
    assert load_tagged_sentences(conll, tag_column=3, tag_scheme="iob1").tags == [[tag for _, tag in iob1]]
    assert load_tagged_sentences(jsonl, tag_scheme="iob1").tags == [["B-ORG", "I-ORG"]]
    with pytest.raises(DataError, match=r"eng.train line 1: tag 'I-ORG' follows 'O'.*set task.tag_scheme=iob1"):
        load_tagged_sentences(conll, tag_column=3)
    with pytest.raises(ConfigError, match="task.tag_scheme is 'bio'; choose one of iob2, iob1"):
        load_tagged_sentences(conll, tag_scheme="bio")


def test_iob2_rules():
    assert iob2_error("I-PER", "B-PER") is None and iob2_error("I-PER", "I-PER") is None
    assert iob2_error("B-LOC", "I-PER") is None and iob2_error("O", "B-PER") is None
    assert "follows 'O'" in iob2_error("I-PER", "O")
    assert "follows 'B-LOC'" in iob2_error("I-PER", "B-LOC")
    assert "not IOB2" in iob2_error("E-PER", "O") and "not IOB2" in iob2_error("B-", "O")


@pytest.mark.parametrize("text, line, message", [
    ("EU B-ORG\nrejects I-MISC\n", 2, "tag 'I-MISC' follows 'B-ORG'"),
    ("EU O\n\nUnion I-ORG\n", 3, "tag 'I-ORG' follows 'O'"),
    ("EU B-ORG\nrejects OUT\n", 2, "tag 'OUT' is not IOB2"),
    ("EU B-ORG\nrejects\n", 2, "'rejects' has no tag column"),
])
def test_bad_conll_lines_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(DataError) as error:
        load_tagged_sentences(path)
    assert f"{path} line {line}: {message}" in str(error.value)


def test_empty_and_missing_files(tmp_path):
    empty = write(tmp_path, "empty.txt", "-DOCSTART- O\n\n")
    with pytest.raises(DataError, match=f"{empty}: the file has no tagged sentences"):
        load_tagged_sentences(empty)
    with pytest.raises(DataError, match="no such file"):
        load_tagged_sentences(tmp_path / "absent.txt")


def test_labels_go_on_first_sub_tokens(tokenizer):
    labels = ("O", "B-LOC", "B-PER", "I-PER")
    sentences = TaggedSentences([["Peter", "Zwingmann", "visited", "Brussels", "."]],
                                [["B-PER", "I-PER", "O", "B-LOC", "O"]], ["hand-made"])
    encoded = encode_token_classification(sentences, tokenizer, max_seq_length=32, label_names=labels)
    # hand-checked: [CLS] peter z ##wing ##mann visited brussels . [SEP]
    assert encoded.features["input_ids"][0].tolist() == [101, 2848, 1062, 9328, 5804, 4716, 9371, 1012, 102]
    assert encoded.features["labels"][0].tolist() == [-100, 2, 3, -100, -100, 0, 1, 0, -100]
    assert encoded.word_ids[0].tolist() == [0, 1, 1, 1, 2, 3, 4]
    assert encoded.features["token_type_ids"][0].tolist() == [0] * 9 and encoded.truncated_words == 0
    predicted = np.asarray([0, 2, 3, 1, 1, 0, 1, 0, 0, 3, 3])  # padded past the sentence; only first sub-tokens count
    assert predictions_to_words([predicted], encoded, labels) == [["B-PER", "I-PER", "O", "B-LOC", "O"]]


def test_truncated_words_are_counted_and_predicted_outside(tokenizer):
    labels = ("O", "B-LOC", "B-PER", "I-PER")
    sentences = TaggedSentences([["Peter", "Zwingmann", "visited", "Brussels"]], [["B-PER", "I-PER", "O", "B-LOC"]],
                                ["hand-made"])
    encoded = encode_token_classification(sentences, tokenizer, max_seq_length=5, label_names=labels)
    assert encoded.features["input_ids"][0].tolist() == [101, 2848, 1062, 9328, 102]
    assert encoded.truncated_words == 2 and encoded.num_words == [4]
    assert predictions_to_words([np.asarray([0, 2, 3, 0, 0])], encoded, labels) == [["B-PER", "I-PER", "O", "O"]]


def test_long_sentences_in_windows_label_each_word_once(tokenizer):
    """Windows of 6 tokens, sharing 2: each word's tag sits on its first sub-token in exactly one window, the one
    its prediction is read from, and predictions read back give every word its tag."""
    labels = ("O", "B-LOC", "B-PER", "I-PER")
    words = ["Peter", "Zwingmann", "visited", "Brussels", "and", "Peter", "Zwingmann", "left", "."]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "I-PER", "O", "O"]
    encoded = encode_token_classification(TaggedSentences([words], [tags], ["hand-made"]), tokenizer,
                                          max_seq_length=6, label_names=labels, stride=2)
    # peter z ##wing ##mann | ##wing ##mann visited brussels | visited brussels and peter | and peter z ##wing | ...
    assert [row.tolist()[1:-1] for row in encoded.features["input_ids"]][:2] == [[2848, 1062, 9328, 5804],
                                                                                 [9328, 5804, 4716, 9371]]
    assert encoded.features["labels"][1].tolist() == [-100, -100, -100, 0, -100, -100]  # "visited" read here
    placed = sorted(label for row in encoded.features["labels"] for label in row.tolist() if label >= 0)
    assert placed == sorted(labels.index(tag) for tag in tags) and encoded.truncated_words == 0
    gold = [np.maximum(row, 0) for row in encoded.features["labels"]]
    assert predictions_to_words(gold, encoded, labels) == [tags]


def test_tag_missing_from_the_label_list(tokenizer):
    sentences = TaggedSentences([["Paris"]], [["B-LOC"]], ["dev.txt line 9"])
    with pytest.raises(DataError, match="dev.txt line 9: tag 'B-LOC' is not in the label list"):
        encode_token_classification(sentences, tokenizer, 16, ("O", "B-PER"))


def test_tfds_conll2003():
    pytest.importorskip("tensorflow")
    # conll2003's ClassLabel names: O B-PER I-PER B-ORG I-ORG B-LOC I-LOC B-MISC I-MISC
    rows = {"train": [{"tokens": ["Peter", "Blackburn", "in", "Paris"], "ner": [1, 2, 0, 5]}],
            "dev": [{"tokens": ["EU", "rejects"], "ner": [4, 0]}]}
    with mock_tfds(rows):
        sentences = load_tfds_tagged_sentences("conll2003", "train")
        assert sentences.tags == [["B-PER", "I-PER", "O", "B-LOC"]] and sentences.words[0][3] == "Paris"
        with pytest.raises(DataError, match="conll2003 split dev example 0: tag 'I-ORG' follows 'O'"):
            load_tfds_tagged_sentences("conll2003", "dev")


def test_real_conll2003_sentences(shared_data, tokenizer):
    sentences = load_tagged_sentences(shared_data / "conll2003" / "train.txt")
    assert len(sentences) == 14_041
    assert sentences.words[0][:3] == ["EU", "rejects", "German"] and sentences.tags[0][:3] == ["B-ORG", "O", "B-MISC"]
    labels = label_list(sentences)
    assert labels == ("O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER")
    first = TaggedSentences(sentences.words[:200], sentences.tags[:200], sentences.where[:200])
    encoded = encode_token_classification(first, tokenizer, max_seq_length=128, label_names=labels)
    assert encoded.truncated_words == 0
    # the gold labels, read back through the first sub-tokens, give every word its tag
    gold = [np.maximum(token_labels, 0) for token_labels in encoded.features["labels"]]
    assert predictions_to_words(gold, encoded, labels) == first.tags
    windowed = encode_token_classification(first, tokenizer, max_seq_length=12, label_names=labels, stride=3)
    assert len(windowed.windows) > 2 * len(first) and windowed.truncated_words == 0
    gold = [np.maximum(token_labels, 0) for token_labels in windowed.features["labels"]]
    assert predictions_to_words(gold, windowed, labels) == first.tags
