"""SWAG-style multiple choice: a context and N candidate endings per row of a CSV or JSON-lines file, encoded as
N (context, ending) pairs per example, and the accuracy of the chosen endings."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertjax.data.batching import padding_values
from bertjax.data.readers import Record, read_records
from bertjax.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclasses.dataclass(frozen=True)
class MultipleChoiceExamples:
    """contexts: [examples] the first segment, shared by the choices.
    choices: [examples][choices] the second segments: the start of the ending (if any), a space, the ending.
    labels: [examples] int32 index of the right choice; None: unlabelled (data to predict on).
    where: [examples] `file line N` of each example, for error messages.
    """

    contexts: list[str]
    choices: list[list[str]]
    labels: np.ndarray | None
    where: list[str]

    def __len__(self) -> int:
        return len(self.contexts)


def _text(record: Record, column: str, what: str) -> str:
    value = record[column]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{record.where}: the {what} column {column!r} is empty; every row needs its {what}")
    if not isinstance(value, str):
        raise DataError(f"{record.where}: the {what} column {column!r} must hold text, got {value!r}")
    return value


def _label(record: Record, column: str, num_choices: int) -> int:
    value = record.get(column)
    try:
        label = int(str(value).strip())
    except ValueError:
        raise DataError(f"{record.where}: the label {value!r} in column {column!r} is not a choice index; it must be "
                        f"an integer in [0, {num_choices})") from None
    if not 0 <= label < num_choices:
        raise DataError(f"{record.where}: the label {label} is outside [0, {num_choices}); it must index one of the "
                        f"{num_choices} endings")
    return label


def load_multiple_choice_examples(path: str | Path, num_choices: int = 4, context_column: str = "sent1",
                                  start_column: str | None = "sent2", ending_prefix: str = "ending",
                                  label_column: str = "label", format: str | None = None) -> MultipleChoiceExamples:
    """Reads SWAG-style rows from a CSV or JSON-lines file: context, optional start of the ending, endings
    `{ending_prefix}0`..`{ending_prefix}{num_choices-1}`, and a label (the file is unlabelled when its first row
    has no `label_column`).

    start_column: None for files whose endings are whole sentences.
    format: csv, tsv or jsonl; None: from the extension.
    """
    ending_columns = [f"{ending_prefix}{index}" for index in range(num_choices)]
    required = [context_column, *([start_column] if start_column else []), *ending_columns]
    records = read_records(path, format=format, columns=required)
    labelled = label_column in records[0]
    contexts, choices, labels = [], [], []
    for record in records:
        contexts.append(_text(record, context_column, "context"))
        start = str(record[start_column] or "").strip() if start_column else ""
        endings = [_text(record, column, "ending") for column in ending_columns]
        choices.append([f"{start} {ending}" if start else ending for ending in endings])
        if labelled:
            labels.append(_label(record, label_column, num_choices))
    label_array = np.asarray(labels, np.int32) if labelled else None
    return MultipleChoiceExamples(contexts, choices, label_array, [record.where for record in records])


def encode_multiple_choice(examples: MultipleChoiceExamples, tokenizer: PreTrainedTokenizerBase,
                           max_seq_length: int) -> dict[str, Any]:
    """Tokenizes every (context, choice) pair, truncated longest-first to max_seq_length.

    Returns `input_ids`, `token_type_ids`, `attention_mask`: per example an int32 [choices, seq] array, its choices
    padded to the longest of them (`BucketedDataset` pads the last axis further); `labels` [examples] int32 when
    labelled.
    """
    num_choices = len(examples.choices[0])
    encoding = tokenizer([context for context in examples.contexts for _ in range(num_choices)],
                         [choice for choices in examples.choices for choice in choices], truncation="longest_first",
                         max_length=max_seq_length, return_token_type_ids=True, return_attention_mask=True)
    pad_values = padding_values(tokenizer.pad_token_id)
    features: dict[str, Any] = {key: [] for key in pad_values}
    for example in range(len(examples)):
        rows = range(example * num_choices, (example + 1) * num_choices)
        length = max(len(encoding["input_ids"][row]) for row in rows)
        for key, pad_value in pad_values.items():
            array = np.full((num_choices, length), pad_value, np.int32)  # [choices, seq]
            for choice, row in enumerate(rows):
                array[choice, :len(encoding[key][row])] = encoding[key][row]
            features[key].append(array)
    if examples.labels is not None:
        features["labels"] = examples.labels
    return features


def multiple_choice_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose highest-scoring choice is the labelled one. logits [examples, choices]."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0] or labels.shape[0] == 0:
        raise DataError(f"multiple choice accuracy needs logits [examples, choices] and labels [examples] for at "
                        f"least one example; got {logits.shape} and {labels.shape}")
    return float(np.mean(np.argmax(logits, axis=-1) == labels))
