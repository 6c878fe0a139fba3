"""Sentence and sentence-pair classification or regression examples: from CSV/TSV/JSON-lines files or tfds, to
unpadded token features."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertjax.data.batching import Features
from bertjax.data.finetuning.glue import glue_task
from bertjax.data.readers import Record, read_records
from bertjax.data.tfds_source import load_records
from bertjax.data.windows import Windows, tokenize_windows
from bertjax.errors import ConfigError, DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclasses.dataclass(frozen=True)
class ClassificationTask:
    """Where an example's texts and label are, and what the labels are.

    labels: the label values in id order (saved with the model as `id2label`); None for regression.
    label_column None: the examples have no labels (data to predict on).
    """

    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str | None = "label"
    regression: bool = False
    labels: tuple[str, ...] | None = None

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels or ()))

    @property
    def num_labels(self) -> int:
        """Outputs of the classifier: 1 for regression."""
        return 1 if self.regression else len(self.labels or ())


@dataclasses.dataclass(frozen=True)
class ClassificationExamples:
    """Texts and labels of one split, in file order."""

    texts: list[str]
    text_pairs: list[str] | None
    labels: np.ndarray | None  # [examples] int32 label ids, or float32 targets for regression; None: unlabelled
    task: ClassificationTask

    def __len__(self) -> int:
        return len(self.texts)


def sorted_labels(values: set[str]) -> tuple[str, ...]:
    """Numerically sorted when every value is an integer (so labels 0..K-1 keep their ids), else alphabetically."""
    try:
        return tuple(sorted(values, key=int))
    except ValueError:
        return tuple(sorted(values))


def _text(record: Record, column: str) -> str:
    value = record[column]
    if not isinstance(value, str):
        raise DataError(f"{record.where}: column {column!r} must hold text, got {value!r}")
    return value


def _label_value(record: Record, column: str) -> str:
    value = record[column]
    if isinstance(value, (list, dict)):
        raise DataError(f"{record.where}: the label column {column!r} must hold one label, got {value!r}")
    value = "" if value is None else str(value).strip()  # JSON's null is no label, not a class named 'None'
    if not value:
        raise DataError(f"{record.where}: the label column {column!r} is empty; every row needs a label")
    return value


def _target(record: Record, column: str) -> float:
    try:
        value = float(record[column])
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise DataError(f"{record.where}: the regression target in column {column!r} must be a number, got "
                        f"{record[column]!r}")
    return value


def _label_ids(records: list[Record], column: str, labels: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    values = [_label_value(record, column) for record in records]
    labels = tuple(labels) if labels is not None else sorted_labels(set(values))
    ids = {label: index for index, label in enumerate(labels)}
    for record, value in zip(records, values):
        if value not in ids:
            raise DataError(f"{record.where}: label {value!r} is not one of the labels "
                            f"{', '.join(map(repr, labels))} (those of the training data); fix the row or the "
                            f"label list")
    return np.asarray([ids[value] for value in values], np.int32), labels


def load_classification_examples(path: str | Path, text_column: str = "text", label_column: str | None = "label",
                                 text_pair_column: str | None = None, labels: Sequence[str] | None = None,
                                 regression: bool = False, format: str | None = None,
                                 fieldnames: Sequence[str] | None = None,
                                 columns_from_options: bool = True) -> ClassificationExamples:
    """Reads classification (or regression) examples from a CSV, TSV or JSON-lines file.

    labels: the allowed label values in id order; None infers them from this file (the training file), sorted
      numerically when they are integers, else alphabetically. Load evaluation files with the training file's
      `task.labels`, e.g. `load_classification_examples(dev, **dataclasses.asdict(train.task))`.
    format, fieldnames: as `read_records` (fieldnames for files without a header row).
    columns_from_options: whether the column names are the user's `task.*_column` options, so that the error for
      a missing column names the option to set; False for fixed layouts such as GLUE's.
    """
    named = {column: option for column, option in ((text_column, "text_column"),
                                                      (text_pair_column, "text_pair_column"),
                                                      (label_column, "label_column")) if column is not None}
    required = named if columns_from_options else list(named)
    records = read_records(path, format=format, columns=required, fieldnames=fieldnames)
    texts = [_text(record, text_column) for record in records]
    text_pairs = None if text_pair_column is None else [_text(record, text_pair_column) for record in records]
    label_array, label_names = None, None
    if label_column is not None and regression:
        label_array = np.asarray([_target(record, label_column) for record in records], np.float32)
    elif label_column is not None:
        label_array, label_names = _label_ids(records, label_column, labels)
    elif labels is not None:
        label_names = tuple(labels)
    task = ClassificationTask(text_column, text_pair_column, label_column, regression, label_names)
    return ClassificationExamples(texts, text_pairs, label_array, task)


def load_tfds_split(name: str, split: str, features: Sequence[str], data_dir: str | None = None
                    ) -> list[dict[str, Any]]:
    """Every example of a tfds split, checked to be non-empty and to have `features`."""
    records = list(load_records(name, split, data_dir))
    if not records:
        raise DataError(f"tensorflow-datasets {name!r} split {split!r} has no examples")
    missing = [feature for feature in features if feature not in records[0]]
    if missing:
        raise DataError(f"tensorflow-datasets {name!r} has no feature {missing[0]!r}; its features are: "
                        f"{', '.join(records[0])}")
    return records


def tfds_label_names(name: str, feature: str, data_dir: str | None = None) -> tuple[str, ...] | None:
    """The class names of a tfds ClassLabel feature (or of a sequence of them); None for any other feature.

    Call after `load_tfds_split`: it has checked that tensorflow-datasets can be used.
    """
    import tensorflow_datasets as tfds

    info_feature: Any = tfds.builder(name, data_dir=data_dir).info.features[feature]
    info_feature = getattr(info_feature, "feature", info_feature)  # Sequence(ClassLabel) -> ClassLabel
    return tuple(info_feature.names) if isinstance(info_feature, tfds.features.ClassLabel) else None


def load_tfds_classification(name: str, split: str, text_column: str | None = None,
                             text_pair_column: str | None = None, label_column: str = "label",
                             data_dir: str | None = None) -> ClassificationExamples:
    """Reads a tfds classification split, e.g. `glue/mrpc` `validation` (text columns default to the GLUE preset's).

    Labels are tfds's ClassLabel ids with its names as the label list; a float label feature means regression.
    Splits whose labels are all -1 (GLUE's test splits) come back unlabelled.
    """
    if text_column is None:
        if not name.startswith("glue/"):
            raise ConfigError(f"name the text feature(s) of {name!r}: only GLUE's are known")
        preset = glue_task(name)
        text_column, text_pair_column = preset.tfds_text_column, preset.tfds_text_pair_column
    columns = [column for column in (text_column, text_pair_column, label_column) if column is not None]
    records = load_tfds_split(name, split, columns, data_dir)
    label_names = tfds_label_names(name, label_column, data_dir)
    texts = [record[text_column] for record in records]
    text_pairs = None if text_pair_column is None else [record[text_pair_column] for record in records]
    values = np.asarray([record[label_column] for record in records], np.int32 if label_names else np.float32)
    label_array = None if np.all(values == -1) else values
    task = ClassificationTask(text_column, text_pair_column, label_column, label_names is None, label_names)
    return ClassificationExamples(texts, text_pairs, label_array, task)


def encode_classification(examples: ClassificationExamples, tokenizer: PreTrainedTokenizerBase,
                          max_seq_length: int, stride: int | None = None) -> tuple[Features, Windows]:
    """Tokenizes each example into unpadded int32 arrays `input_ids`, `token_type_ids`, `attention_mask` ([tokens]
    each), plus `labels` ([rows]) when labelled: a row per example cut to `max_seq_length` (pairs longest-first),
    or with a `stride` a row per window of a single text longer than that (`bertjax.data.windows`; pairs are still
    cut). Returns the features and the windows, which map rows back to examples."""
    windows = tokenize_windows(tokenizer, examples.texts, max_seq_length,
                               None if examples.text_pairs is not None else stride, examples.text_pairs)
    features: dict[str, Any] = dict(windows.features)
    if examples.labels is not None:
        features["labels"] = examples.labels[windows.text_index]
    return features, windows
