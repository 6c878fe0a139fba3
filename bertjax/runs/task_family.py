"""What a fine-tuning task family (classification, token classification, ...) provides to the fine-tuning run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bertjax.data.batching import BucketedDataset, bucket_lengths
from bertjax.data.windows import check_stride, window_stride
from bertjax.errors import ConfigError
from bertjax.pipelines import PredictionModel
from bertjax.tasks.finetuning import Objective


@dataclasses.dataclass(frozen=True)
class TaskSection:
    """The task of a fine-tuning run and its data.

    type: classification | regression | token_classification | question_answering | multiple_choice
    train_file: CSV/TSV/JSON lines (or CoNLL, SQuAD JSON) file; `builtin`: the sentiment data shipped with bertjax.
    eval_file: None -> a held-out `eval_fraction` of the training file (seeded), unless tfds gives a split.
    tfds: a tensorflow-datasets name (glue/sst2, conll2003, squad/v1.1, ...) instead of files.
    glue: a GLUE task name (cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli): its columns, labels and metrics.
    """

    type: str = "classification"
    train_file: str | None = "builtin"
    eval_file: str | None = None
    predict_file: str | None = None
    eval_fraction: float = 0.2
    tfds: str | None = None
    tfds_train_split: str = "train"
    tfds_eval_split: str | None = None  # None: the data set's usual evaluation split(s)
    tfds_data_dir: str | None = None
    glue: str | None = None
    format: str | None = None  # by file extension when None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    tag_column: int = -1  # CoNLL: which whitespace-separated column holds the tag
    tag_scheme: str = "auto"  # token classification: auto (from the tags), iob1, iob2, bios, bioes or bmes
    max_seq_length: int = 128
    # every batch padded to max_seq_length: one program per step function instead of one per length bucket (less
    # compilation, more padding), as Hugging Face's run_glue.py --pad_to_max_length
    pad_to_max_length: bool = False
    # classification, token classification: texts longer than max_seq_length are evaluated and predicted on in
    # windows sharing `stride` tokens (None: a quarter of max_seq_length), or cut to it with `truncation`
    stride: int | None = None
    truncation: bool = False
    # question answering
    version_2: bool = False
    doc_stride: int = 32  # context tokens consecutive windows share; fits 128 tokens (SQuAD's usual: 384 and 128)
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    null_score_diff_threshold: float = 0.0
    # multiple choice
    num_choices: int = 4

    def bucket_lengths(self) -> tuple[int, ...]:
        """The lengths batches are padded to: `bucket_lengths` of max_seq_length, or max_seq_length alone."""
        return (self.max_seq_length,) if self.pad_to_max_length else bucket_lengths(self.max_seq_length)


def section_stride(section: TaskSection, tokenizer: Any) -> int | None:
    """The stride of the windows a classification or token classification run reads long texts in (`stride`, by
    default a quarter of max_seq_length), or None (texts cut) with `truncation`."""
    stride = window_stride(section.max_seq_length, section.stride, section.truncation)
    try:
        check_stride(tokenizer, section.max_seq_length, stride)
    except ConfigError as error:
        raise ConfigError(f"task.stride: {error}") from None
    return stride


@dataclasses.dataclass
class PreparedData:
    """A family's data, ready for batching: train and evaluation splits, and the label names if any."""

    train: BucketedDataset
    evaluation: BucketedDataset
    labels: tuple[str, ...] | None
    texts: list[str]  # training texts, to train a vocabulary when the model starts from scratch


class TaskFamily(Protocol):
    objective: Objective
    primary_metric: str  # the metric that picks the best checkpoint and drives early stopping (higher is better)

    def prepare(self, section: TaskSection, tokenizer: Any, seed: int, fold: tuple[int, int] | None) -> PreparedData:
        """Reads and encodes the data; fold (k, K): train on all but the k-th of K folds, evaluate on it."""

    def training_texts(self, section: TaskSection) -> list[str]:
        """Texts to train a WordPiece vocabulary on when no tokenizer is given."""

    def evaluate(self, outputs: dict[str, list[np.ndarray]]) -> dict[str, float]:
        """Task metrics and the trivial baseline's (prefixed `baseline_`) from evaluation outputs in file order."""

    def report(self, outputs: dict[str, list[np.ndarray]], run_dir: Path) -> list[str]:
        """Writes the detailed report (per-class table, confusion matrix plot, ...); returns lines to print."""

    def predict(self, section: TaskSection, model: PredictionModel, path: Path) -> int:
        """Writes predictions for `section.predict_file` to `path`, made by the task's pipeline on `model`.

        `path` ends in `family.prediction_suffix(section)` (e.g. ".json") when the family has that method, else in
        .csv for a .csv input and .jsonl otherwise.
        """
