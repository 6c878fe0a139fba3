"""Classification examples from files and tfds, GLUE presets, and their token features."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bertjax.data.finetuning.classification import ClassificationExamples, ClassificationTask, encode_classification, \
    load_classification_examples, load_tfds_classification
from bertjax.data.finetuning.glue import GLUE_TASKS, glue_task
from bertjax.errors import ConfigError, DataError


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_text_label_csv_needs_no_options(tmp_path):
    examples = load_classification_examples(write(tmp_path, "sentiment.csv",
                                                  'text,label\n"Great, really great",1\nawful,0\nfine,1\n'))
    assert examples.texts == ["Great, really great", "awful", "fine"] and examples.text_pairs is None
    assert examples.labels.dtype == np.int32 and examples.labels.tolist() == [1, 0, 1]
    assert examples.task.labels == ("0", "1") and examples.task.id2label == {0: "0", 1: "1"}
    assert examples.task.num_labels == 2 and len(examples) == 3


def test_integer_labels_sort_numerically_and_string_labels_alphabetically(tmp_path):
    numbers = load_classification_examples(write(tmp_path, "n.csv", "text,label\na,10\nb,2\nc,1\n"))
    assert numbers.task.labels == ("1", "2", "10") and numbers.labels.tolist() == [2, 1, 0]
    names = load_classification_examples(write(tmp_path, "s.jsonl", '{"text": "a", "label": "positive"}\n'
                                                                    '{"text": "b", "label": "negative"}\n'))
    assert names.task.labels == ("negative", "positive") and names.labels.tolist() == [1, 0]


def test_evaluation_file_uses_the_training_labels(tmp_path):
    train = load_classification_examples(write(tmp_path, "train.csv", "text,label\na,neutral\nb,entailment\n"))
    dev = load_classification_examples(write(tmp_path, "dev.csv", "text,label\nc,neutral\n"),
                                       **dataclasses.asdict(train.task))
    assert dev.labels.tolist() == [1] and dev.task == train.task


def test_label_outside_the_label_set_names_file_line_and_labels(tmp_path):
    path = write(tmp_path, "dev.csv", "text,label\nc,neutral\nd,contradiction\n")
    with pytest.raises(DataError) as error:
        load_classification_examples(path, labels=("entailment", "neutral"))
    assert f"{path} line 3" in str(error.value)
    assert "'contradiction' is not one of the labels 'entailment', 'neutral'" in str(error.value)


def test_empty_label_names_the_line(tmp_path):
    path = write(tmp_path, "train.csv", "text,label\na,1\nb,\n")
    with pytest.raises(DataError, match=f"{path} line 3: the label column 'label' is empty"):
        load_classification_examples(path)


@pytest.mark.parametrize("label, message", [("null", "is empty"), ('["pos"]', "must hold one label")])
def test_json_null_or_list_label_names_the_line(tmp_path, label, message):
    """JSON's null is a missing label, not a class named 'None'."""
    path = write(tmp_path, "train.jsonl", f'{{"text": "a", "label": "pos"}}\n{{"text": "b", "label": {label}}}\n')
    with pytest.raises(DataError, match=f"{path} line 2: the label column 'label' {message}"):
        load_classification_examples(path)


def test_regression_targets(tmp_path):
    path = write(tmp_path, "sts.tsv", "sentence1\tsentence2\tscore\na\tb\t3.8\nc\td\t0\n")
    examples = load_classification_examples(path, text_column="sentence1", text_pair_column="sentence2",
                                            label_column="score", regression=True)
    assert examples.labels.dtype == np.float32 and examples.labels.tolist() == pytest.approx([3.8, 0.0])
    assert examples.text_pairs == ["b", "d"] and examples.task.num_labels == 1 and examples.task.labels is None
    bad = write(tmp_path, "bad.tsv", "sentence1\tsentence2\tscore\na\tb\t3.8\nc\td\thigh\n")
    with pytest.raises(DataError, match=f"{bad} line 3: the regression target in column 'score' must be a number"):
        load_classification_examples(bad, text_column="sentence1", label_column="score", regression=True)


def test_missing_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\na\t1\n")
    with pytest.raises(DataError) as error:
        load_classification_examples(path)
    assert (f"{path} line 1: no column 'text'; the columns are: 'sentence', 'label'. Set text_column to the column "
            f"that holds it (task.text_column=NAME") in str(error.value)


def test_unlabelled_file(tmp_path):
    examples = load_classification_examples(write(tmp_path, "test.csv", "text\na\n"), label_column=None,
                                            labels=("0", "1"))
    assert examples.labels is None and examples.task.labels == ("0", "1")


def test_glue_tsv_files_with_the_presets(tmp_path):
    mrpc = glue_task("glue/mrpc")
    path = write(tmp_path, "dev.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                      "1\t1\t2\tHe said so .\tSo he said .\n0\t3\t4\tA cat .\tA dog .\n")
    examples = load_classification_examples(path, mrpc.tsv_text_column, mrpc.tsv_label_column,
                                            mrpc.tsv_text_pair_column, mrpc.labels)
    assert examples.text_pairs == ["So he said .", "A dog ."] and examples.labels.tolist() == [1, 0]
    cola = GLUE_TASKS["cola"]
    path = write(tmp_path, "train.tsv", "gj04\t1\t\tOur friends won't buy this .\ngj04\t0\t*\tThey drank .\n")
    examples = load_classification_examples(path, cola.tsv_text_column, cola.tsv_label_column, labels=cola.labels,
                                            fieldnames=cola.tsv_fieldnames)
    assert examples.texts[1] == "They drank ." and examples.labels.tolist() == [1, 0]
    mnli = glue_task("MNLI")
    path = write(tmp_path, "dev_matched.tsv", "sentence1\tsentence2\tgold_label\na\tb\tcontradiction\n")
    examples = load_classification_examples(path, mnli.tsv_text_column, mnli.tsv_label_column,
                                            mnli.tsv_text_pair_column, mnli.labels)
    assert examples.labels.tolist() == [2]  # tfds's ClassLabel order: entailment, neutral, contradiction


def test_glue_presets():
    assert set(GLUE_TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"}
    assert glue_task("stsb").regression and glue_task("stsb").num_labels == 1
    assert glue_task("mnli").num_labels == 3 and glue_task("qqp").num_labels == 2
    assert glue_task("mnli").eval_splits == ("validation_matched", "validation_mismatched")
    assert glue_task("mnli").test_splits == ("test_matched", "test_mismatched")
    assert (glue_task("mnli").tfds_text_column, glue_task("mnli").tfds_text_pair_column) == ("premise", "hypothesis")
    assert (glue_task("qqp").tfds_text_column, glue_task("qnli").tfds_text_pair_column) == ("question1", "sentence")
    assert glue_task("rte").tfds_name == "glue/rte"
    with pytest.raises(ConfigError, match="unknown GLUE task 'squad'"):
        glue_task("squad")


def test_encode_single_sentences_and_pairs(tokenizer):
    words = "one two three four five six seven eight nine ten".split()
    examples = ClassificationExamples(["hello world", " ".join(words)], ["a pair here", "it is"],
                                      np.asarray([1, 0], np.int32), ClassificationTask())
    features, windows = encode_classification(examples, tokenizer, max_seq_length=10, stride=2)
    assert list(windows.text_index) == [0, 1]  # pairs are cut, not windowed
    ids = tokenizer.convert_tokens_to_ids
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    # hand-checked: "hello world" is 7592 2088; longest-first truncation cuts the 10-word text to 10 - 3 - 2 = 5
    assert features["input_ids"][0].tolist() == [cls, 7592, 2088, sep, *ids(["a", "pair", "here"]), sep]
    assert features["input_ids"][1].tolist() == [cls, *ids(words[:5]), sep, *ids(["it", "is"]), sep]
    assert features["token_type_ids"][1].tolist() == [0] * 7 + [1] * 3
    assert all(mask.tolist() == [1] * len(tokens) for mask, tokens in zip(features["attention_mask"],
                                                                          features["input_ids"]))
    assert features["input_ids"][0].dtype == np.int32 and features["labels"].tolist() == [1, 0]
    unlabelled = ClassificationExamples(["hello world"], None, None, ClassificationTask())
    assert set(encode_classification(unlabelled, tokenizer, 8)[0]) == {"input_ids", "token_type_ids",
                                                                       "attention_mask"}


def test_encode_long_texts_as_windows(tokenizer):
    words = "one two three four five six seven eight nine ten".split()
    examples = ClassificationExamples(["hello world", " ".join(words)], None, np.asarray([1, 0], np.int32),
                                      ClassificationTask())
    features, windows = encode_classification(examples, tokenizer, max_seq_length=6, stride=1)
    ids = tokenizer.convert_tokens_to_ids
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    # windows of 4 words starting every 3: one two three four | four five six seven | seven eight nine ten
    assert [row.tolist() for row in features["input_ids"]] == [
        [cls, 7592, 2088, sep], *([cls, *ids(words[start:start + 4]), sep] for start in (0, 3, 6))]
    assert windows.text_index.tolist() == [0, 1, 1, 1] and features["labels"].tolist() == [1, 0, 0, 0]
    cut, _ = encode_classification(examples, tokenizer, max_seq_length=6)
    assert [row.tolist() for row in cut["input_ids"]] == [[cls, 7592, 2088, sep], [cls, *ids(words[:4]), sep]]


def mock_tfds(rows_by_split: dict[str, list[dict]]):
    """tfds.load returns these rows (scalars or lists), whatever the data set, without the network or disk."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    types = {str: tf.string, int: tf.int64, float: tf.float32}

    def spec(value):
        return tf.TensorSpec([None], types[type(value[0])]) if isinstance(value, list) else \
            tf.TensorSpec([], types[type(value)])

    def as_dataset(builder, split, **kwargs):
        rows = rows_by_split[split]
        signature = {key: spec(value) for key, value in rows[0].items()}
        return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)

    return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def test_tfds_glue_sst2():
    pytest.importorskip("tensorflow")
    rows = {"train": [{"sentence": "a fine film", "label": 1, "idx": 0}, {"sentence": "dull", "label": 0, "idx": 1}],
            "test": [{"sentence": "unseen", "label": -1, "idx": 0}]}
    with mock_tfds(rows):
        train = load_tfds_classification("glue/sst2", "train")
        test = load_tfds_classification("glue/sst2", "test")
        with pytest.raises(DataError, match="'glue/sst2' has no feature 'text'; its features are: sentence, label"):
            load_tfds_classification("glue/sst2", "train", text_column="text")
    assert train.texts == ["a fine film", "dull"] and train.text_pairs is None
    assert train.labels.tolist() == [1, 0] and train.labels.dtype == np.int32
    assert train.task.labels == ("negative", "positive") and not train.task.regression
    assert test.labels is None and test.texts == ["unseen"]


def test_tfds_glue_mrpc_pairs():
    pytest.importorskip("tensorflow")
    rows = {"validation": [{"sentence1": "He said so .", "sentence2": "So he said .", "label": 1, "idx": 7}]}
    with mock_tfds(rows):
        examples = load_tfds_classification("glue/mrpc", "validation")
    assert (examples.texts, examples.text_pairs) == (["He said so ."], ["So he said ."])
    assert examples.task.labels == ("not_equivalent", "equivalent") and examples.labels.tolist() == [1]
    assert (examples.task.text_column, examples.task.text_pair_column) == ("sentence1", "sentence2")


def test_tfds_needs_text_features_outside_glue():
    with pytest.raises(ConfigError, match="name the text feature"):
        load_tfds_classification("imdb_reviews", "train")


def test_real_sst2_rows_parse(shared_data, tokenizer):
    examples = load_classification_examples(shared_data / "sst2" / "train.tsv", text_column="sentence")
    assert examples.task.labels == ("0", "1") and len(examples) > 60_000
    assert examples.texts[0] == "when are bears bears and " and examples.labels[:4].tolist() == [1, 1, 1, 0]
    first = ClassificationExamples(examples.texts[:100], None, examples.labels[:100], examples.task)
    features, _ = encode_classification(first, tokenizer, max_seq_length=64)
    assert len(features["input_ids"]) == 100 and max(len(ids) for ids in features["input_ids"]) <= 64


def test_tfds_glue_stsb_is_regression_without_task_glue(tokenizer):
    """`--tfds glue/stsb` alone is GLUE's STS-B: regression (one output, MSE) scored by Pearson's r."""
    pytest.importorskip("tensorflow")
    from bertjax.runs.families.classification import ClassificationFamily
    from bertjax.runs.task_family import TaskSection
    from bertjax.tasks.finetuning import OBJECTIVES

    rows = [{"sentence1": f"a man plays {index}", "sentence2": f"a man is playing {index}", "label": index / 4,
             "idx": index} for index in range(20)]
    section = TaskSection(tfds="glue/stsb")
    family = ClassificationFamily(section)
    assert family.regression and family.objective is OBJECTIVES["regression"] and family.primary_metric == "pearson"
    with mock_tfds({"train": rows, "validation": rows}):
        data = family.prepare(section, tokenizer, seed=0, fold=None)
    assert data.labels is None and data.train.features["labels"].dtype == np.float32
    scores = family.evaluate({"logits": [np.asarray([index / 4 + 0.1], np.float32) for index in range(20)]})
    assert scores["pearson"] == pytest.approx(1.0)


def test_tfds_outside_glue_reads_the_task_columns(tokenizer):
    pytest.importorskip("tensorflow")
    from bertjax.runs.families.classification import ClassificationFamily
    from bertjax.runs.task_family import TaskSection

    rows = [{"review": f"film number {index}", "label": index % 2} for index in range(10)]
    section = TaskSection(tfds="imdb_reviews", text_column="review")
    with mock_tfds({"train": rows, "test": rows}):
        data = ClassificationFamily(section).prepare(dataclasses.replace(section, tfds_eval_split="test"),
                                                     tokenizer, seed=0, fold=None)
        assert data.labels == ("neg", "pos") and data.texts[:2] == ["film number 0", "film number 1"]
        regression = dataclasses.replace(section, type="regression")
        with pytest.raises(ConfigError, match="its label is a class; set task.type=classification"):
            ClassificationFamily(regression).prepare(regression, tokenizer, seed=0, fold=None)


def test_glue_predictions_read_glues_test_files(tmp_path, tokenizer):
    """With task.glue, a file to predict on is read in the preset's columns, as GLUE's test.tsv is laid out."""
    from bertjax.convert.architecture import initial_params
    from bertjax.model import BertConfig
    from bertjax.pipelines import PredictionModel
    from bertjax.runs.families.classification import ClassificationFamily
    from bertjax.runs.task_family import TaskSection

    header = "#1 String\t#2 String\tQuality\n"
    train = write(tmp_path, "train.tsv", header + "".join(f"a {index}\tb {index}\t{index % 2}\n" for index in range(8)))
    test = write(tmp_path, "test.tsv", "index\t#1 String\t#2 String\n0\tfirst\tsecond\n1\tthird\tfourth\n")
    section = TaskSection(train_file=str(train), glue="mrpc", predict_file=str(test))
    family = ClassificationFamily(section)
    data = family.prepare(section, tokenizer, seed=0, fold=None)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                        intermediate_size=8, id2label=dict(enumerate(data.labels)))
    params = initial_params("sequence_classification", config)
    params["classifier"] = {"kernel": np.zeros((8, 2), np.float32), "bias": np.asarray([0.0, 1.0], np.float32)}
    model = PredictionModel(config, params, tokenizer, "sequence_classification")
    assert family.predict(section, model, tmp_path / "predictions.jsonl") == 2
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [(row["text"], row["text_pair"], row["label"]) for row in rows] == [("first", "second", "1"),
                                                                              ("third", "fourth", "1")]


def test_glue_file_missing_a_column_lists_the_presets_columns(tmp_path, tokenizer):
    """GLUE's columns are fixed by the preset, so the error names them instead of an option to set."""
    from bertjax.runs.families.classification import ClassificationFamily
    from bertjax.runs.task_family import TaskSection

    train = write(tmp_path, "train.tsv", "#1 String\tQuality\na\t1\nb\t0\n")
    section = TaskSection(train_file=str(train), glue="mrpc")
    with pytest.raises(DataError) as error:
        ClassificationFamily(section).prepare(section, tokenizer, seed=0, fold=None)
    assert str(error.value) == (f"{train} line 1: no column '#2 String'; the columns are: '#1 String', 'Quality'. "
                                f"The file needs the columns '#1 String', '#2 String', 'Quality'")
