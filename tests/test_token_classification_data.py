"""Tagged sentences from CoNLL files, JSON lines (the field names people use, CLUENER's spans) and tfds; their tag
scheme; labels on first sub-tokens and back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_classification_data import mock_tfds  # one tfds mock for every data test

from bertjax.data.finetuning.token_classification import TaggedSentences, encode_token_classification, entity_types, \
    load_tagged_sentences, load_tfds_tagged_sentences, predictions_to_words, with_scheme
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
    assert entity_types(sentences) == {"MISC", "ORG", "PER"}


def test_json_lines(tmp_path):
    path = write(tmp_path, "train.jsonl", '{"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"]}\n'
                                          '{"tokens": ["in", "Paris"], "tags": ["O", "B-LOC"]}\n')
    sentences = load_tagged_sentences(path)
    assert sentences.words[1] == ["in", "Paris"] and sentences.tags[1] == ["O", "B-LOC"]
    assert sentences.where == [f"{path} line 1", f"{path} line 2"]
    short = write(tmp_path, "short.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n')
    with pytest.raises(DataError, match=f"{short} line 2: 2 words but 1 tags"):
        load_tagged_sentences(short)


@pytest.mark.parametrize("record", [
    {"tokens": ["高", "勇"], "tags": ["B-NAME", "I-NAME"]},
    {"id": 7, "tokens": ["高", "勇"], "ner_tags": ["B-NAME", "I-NAME"]},
    {"text": ["高", "勇"], "label": ["B-NAME", "I-NAME"]},  # Resume, Weibo, MSRA
    {"words": ["高", "勇"], "labels": ["B-NAME", "I-NAME"]},
    {"text": "高勇", "label": {"NAME": {"高勇": [[0, 1]]}}},  # CLUENER
])
def test_json_lines_field_names_people_use(tmp_path, record):
    path = write(tmp_path, "train.json", json.dumps(record, ensure_ascii=False) + "\n")
    sentences = load_tagged_sentences(path)
    assert sentences.words == [["高", "勇"]] and sentences.tags == [["B-NAME", "I-NAME"]]


def test_a_record_missing_its_fields_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "train.json", '{"text": ["a"], "label": ["O"]}\n\n{"text": ["b"]}\n')
    with pytest.raises(DataError, match=f"{path} line 3: no field 'label'; every record needs the fields text/label, "
                                        f"as {path} line 1 has them"):
        load_tagged_sentences(path)
    unknown = write(tmp_path, "other.jsonl", '{"sentence": "a b", "entities": []}\n')
    with pytest.raises(DataError, match=f"{unknown} line 1: no fields holding words and their tags; bertjax reads "
                                        f"tokens/tags, tokens/ner_tags, words/labels, text/label \\(the record has: "
                                        f"'sentence', 'entities'\\)"):
        load_tagged_sentences(unknown)
    numbers = write(tmp_path, "ids.jsonl", '{"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}\n')
    with pytest.raises(DataError, match=f"{numbers} line 1: .* must be lists of strings \\(the tags are numbers"):
        load_tagged_sentences(numbers)


def test_cluener_spans(tmp_path):
    """CLUENER: `{type: {entity text: [[first, last], ...]}}`, both offsets included; each character a word."""
    text = "浙商银行企业信贷部叶老桂博士则从另一个角度对五道门槛进行了解读。叶老桂认为"
    record = {"text": text, "label": {"name": {"叶老桂": [[9, 11], [32, 34]]}, "company": {"浙商银行": [[0, 3]]}}}
    path = write(tmp_path, "train.json", json.dumps(record, ensure_ascii=False) + "\n")
    sentences = load_tagged_sentences(path)
    assert sentences.words == [list(text)]
    tags = sentences.tags[0]
    assert tags[:5] == ["B-company", "I-company", "I-company", "I-company", "O"]
    assert tags[9:13] == ["B-name", "I-name", "I-name", "O"] and tags[32:] == ["B-name", "I-name", "I-name", "O", "O"]
    for label, message in [({"name": {"叶老桂": [[9, 12]]}}, r"the name entity '叶老桂' at \[9, 12\] is not the text "
                                                            r"there \('叶老桂博'\); CLUENER's offsets are the first"),
                           ({"name": {"叶老桂": [[9, 11]]}, "person": {"老桂": [[10, 11]]}},
                            r"the person entity '老桂' at \[10, 11\] overlaps another entity"),
                           ({"name": {"叶老桂": [9, 11]}},
                            r"the name entity '叶老桂' needs a list of \[first, last\] character offsets"),
                           ({"name": [[9, 11]]}, r"the name entities must be \{entity text: ")]:
        bad = write(tmp_path, "bad.json", json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        with pytest.raises(DataError, match=f"{bad} line 1: {message}"):
            load_tagged_sentences(bad)


def test_scheme_of_files_read_together(tmp_path):
    """BIOS training data and an evaluation file whose tags happen to hold no S- (Resume NER's test.json) are
    BIOS; IOB1 comes back as IOB2; a named scheme checks every tag, and so does one scheme for all files."""
    train = write(tmp_path, "train.json", json.dumps({"text": list("高勇汉族"), "label": ["B-NAME", "I-NAME",
                                                                                       "S-RACE", "O"]}) + "\n")
    test = write(tmp_path, "test.json", json.dumps({"text": list("高勇"), "label": ["B-NAME", "I-NAME"]}) + "\n")
    scheme, (read_train, read_test) = with_scheme("auto", load_tagged_sentences(train), load_tagged_sentences(test))
    assert scheme == "bios" and read_test.tags == [["B-NAME", "I-NAME"]]
    assert with_scheme("auto", load_tagged_sentences(test))[0] == "iob2"
    iob1 = write(tmp_path, "eng.train", "EU NNP I-ORG\nrejects VBZ O\nPeter NNP I-PER\nJohn NNP B-PER\n")
    for requested in ("auto", "iob1", "iob2"):
        scheme, (sentences,) = with_scheme(requested, load_tagged_sentences(iob1))
        assert scheme == "iob2" and sentences.tags == [["B-ORG", "O", "B-PER", "B-PER"]]
    with pytest.raises(DataError, match=f"{train} line 1: tag 'S-RACE' is not IOB2 \\(O, B-TYPE, I-TYPE\\)"):
        load_tagged_sentences(train, tag_scheme="iob2")
    bmes = write(tmp_path, "bmes.json", json.dumps({"text": list("高勇"), "label": ["B-NAME", "E-NAME"]}) + "\n"
                 + json.dumps({"text": list("高勇汉"), "label": ["B-NAME", "M-NAME", "E-NAME"]}) + "\n")
    with pytest.raises(DataError, match=f"{train} line 1, word 2 \\('勇'\\): tag 'I-NAME' is not BMES .*must all "
                                        f"be of one scheme \\(the scheme their prefixes show\\)"):
        with_scheme("auto", load_tagged_sentences(train), load_tagged_sentences(bmes))
    with pytest.raises(ConfigError, match="task.tag_scheme is 'bio'; choose auto or one of iob1, iob2, bios, bioes"):
        load_tagged_sentences(train, tag_scheme="bio")


@pytest.mark.parametrize("text, line, message", [
    ("EU B-ORG\nrejects OUT\n", 2, "tag 'OUT' is not O or a prefix B-, I-, S-, E- or M- followed by a type"),
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
    assert encoded.word_ids[0].tolist() == [-1, 0, 1, 1, 1, 2, 3, 4, -1]
    assert encoded.features["token_type_ids"][0].tolist() == [0] * 9 and encoded.truncated_words == 0
    predicted = np.asarray([0, 2, 3, 1, 1, 0, 1, 0, 0, 3, 3])  # padded past the sentence; only first sub-tokens count
    assert predictions_to_words([predicted], encoded, labels, "iob2") == [["B-PER", "I-PER", "O", "B-LOC", "O"]]


def test_truncated_words_are_counted_and_predicted_outside(tokenizer):
    labels = ("O", "B-LOC", "B-PER", "I-PER")
    sentences = TaggedSentences([["Peter", "Zwingmann", "visited", "Brussels"]], [["B-PER", "I-PER", "O", "B-LOC"]],
                                ["hand-made"])
    encoded = encode_token_classification(sentences, tokenizer, max_seq_length=5, label_names=labels)
    assert encoded.features["input_ids"][0].tolist() == [101, 2848, 1062, 9328, 102]
    assert encoded.truncated_words == 2 and encoded.num_words == [4]
    assert predictions_to_words([np.asarray([0, 2, 3, 0, 0])], encoded, labels, "iob2") == \
        [["B-PER", "I-PER", "O", "O"]]


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
        assert load_tfds_tagged_sentences("conll2003", "dev").tags == [["I-ORG", "O"]]  # as in the data


def test_real_conll2003_sentences(shared_data, tokenizer):
    sentences = load_tagged_sentences(shared_data / "conll2003" / "train.txt")
    assert len(sentences) == 14_041
    assert sentences.words[0][:3] == ["EU", "rejects", "German"] and sentences.tags[0][:3] == ["B-ORG", "O", "B-MISC"]
    labels = ("O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER")
    assert with_scheme("auto", sentences)[0] == "iob2" and entity_types(sentences) == {"LOC", "MISC", "ORG", "PER"}
    first = TaggedSentences(sentences.words[:200], sentences.tags[:200], sentences.where[:200])
    encoded = encode_token_classification(first, tokenizer, max_seq_length=128, label_names=labels)
    assert encoded.truncated_words == 0
    # the gold labels, read back through the first sub-tokens, give every word its tag
    gold = [np.maximum(token_labels, 0) for token_labels in encoded.features["labels"]]
    assert predictions_to_words(gold, encoded, labels, "iob2") == first.tags
