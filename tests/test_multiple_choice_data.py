"""SWAG-style multiple choice: reading CSV and JSON lines, bad rows, [choices, seq] features, accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertjax.data.finetuning.multiple_choice import encode_multiple_choice, load_multiple_choice_examples, \
    multiple_choice_accuracy
from bertjax.errors import DataError

SWAG_CSV = """video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0,ending1,ending2,ending3,label
anetv_1,5,"Members of the band play. They",Members of the band play.,They,gold,"sing, loudly",dance,sleep,leave the stage,0
lsmdc_2,7,x,"A man, smiling,
waves.",He,gen,walks away,sits down,waves back,jumps,3
"""


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(minilm_dir)


def test_read_swag_csv(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(SWAG_CSV, encoding="utf-8")
    examples = load_multiple_choice_examples(path)
    assert examples.contexts == ["Members of the band play.", "A man, smiling,\nwaves."]
    assert examples.choices[0] == ["They sing, loudly", "They dance", "They sleep", "They leave the stage"]
    assert examples.choices[1][3] == "He jumps"
    assert examples.labels.dtype == np.int32 and examples.labels.tolist() == [0, 3]
    assert examples.where == [f"{path} line 2", f"{path} line 3"]


def test_read_json_lines_without_labels_or_start(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [{"question": "Water boils at", "option0": "100 C", "option1": "10 C", "option2": "0 C"}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    examples = load_multiple_choice_examples(path, num_choices=3, context_column="question", start_column=None,
                                             ending_prefix="option")
    assert examples.choices == [["100 C", "10 C", "0 C"]] and examples.labels is None


def test_missing_or_empty_ending_names_file_and_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(SWAG_CSV.replace("walks away", ""), encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path} line 3: the ending column 'ending0' is empty"):
        load_multiple_choice_examples(path)
    path = tmp_path / "train.jsonl"
    rows = [{"sent1": "A", "sent2": "B", "ending0": "c", "ending1": "d", "label": 1},
            {"sent1": "A", "sent2": "B", "ending0": "c", "label": 0}]
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path} line 2: no column 'ending1'"):
        load_multiple_choice_examples(path, num_choices=2)


@pytest.mark.parametrize("label, problem", [("4", r"the label 4 is outside \[0, 4\)"), ("-1", "outside"),
                                            ("two", "is not a choice index"), ("", "is not a choice index")])
def test_bad_labels_name_file_and_line(tmp_path, label, problem):
    path = tmp_path / "train.csv"
    path.write_text(SWAG_CSV.replace("jumps,3", f"jumps,{label}"), encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path} line 3: .*{problem}"):
        load_multiple_choice_examples(path)


def test_encoding_gives_choices_by_tokens(tmp_path, tokenizer):
    path = tmp_path / "train.csv"
    path.write_text(SWAG_CSV, encoding="utf-8")
    examples = load_multiple_choice_examples(path)
    features = encode_multiple_choice(examples, tokenizer, max_seq_length=12)
    first = features["input_ids"][0]
    assert first.dtype == np.int32 and first.shape == (4, 12)  # "They leave the stage" is cut to 12 tokens
    assert tokenizer.decode(first[1][features["attention_mask"][0][1] == 1]) == \
        "[CLS] members of the band play. [SEP] they dance [SEP]"
    assert features["token_type_ids"][0][1].tolist() == [0] * 8 + [1] * 3 + [0]  # then padding
    assert features["attention_mask"][0][1].tolist() == [1] * 11 + [0]
    assert first[1][-1] == tokenizer.pad_token_id
    assert features["labels"].tolist() == [0, 3]
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        assert len(features[key]) == 2
    untruncated = encode_multiple_choice(examples, tokenizer, max_seq_length=64)["input_ids"]
    for example, input_ids in enumerate(untruncated):  # each example padded to its own longest choice
        lengths = [len(tokenizer(examples.contexts[example], choice)["input_ids"])
                   for choice in examples.choices[example]]
        assert input_ids.shape == (4, max(lengths)) and (input_ids != tokenizer.pad_token_id).sum(-1).tolist() == \
            lengths


def test_accuracy():
    logits = np.asarray([[0.1, 2.0, 0.3, 0.0], [5.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]], np.float32)
    assert multiple_choice_accuracy(logits, np.asarray([1, 0, 2])) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="logits"):
        multiple_choice_accuracy(logits[0], np.asarray([1]))
