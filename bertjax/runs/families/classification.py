"""Sequence classification and regression (single sentences or pairs; GLUE; the built-in sentiment data)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.atomic import write_text_atomically
from bertjax.data.batching import BucketedDataset, padding_values
from bertjax.data.builtin import builtin_sentiment
from bertjax.data.finetuning.classification import (ClassificationExamples, encode_classification, load_classification_examples,
                                         load_tfds_classification)
from bertjax.data.finetuning.glue import GlueTask, glue_task
from bertjax.errors import ConfigError, DataError
from bertjax.metrics.classification import (classification_metrics, classification_report, glue_metrics,
                                            majority_baseline, mean_baseline, regression_metrics)
from bertjax.data.windows import Windows
from bertjax.pipelines import PredictionModel, TextClassificationPipeline
from bertjax.pipelines.common import softmax
from bertjax.runs.families.splits import evaluation_rows
from bertjax.runs.task_family import PreparedData, TaskSection, section_stride
from bertjax.tasks.finetuning import OBJECTIVES
from bertjax.train.plots import plot_confusion_matrix


def _subset(examples: ClassificationExamples, indices: np.ndarray) -> ClassificationExamples:
    return ClassificationExamples(
        texts=[examples.texts[index] for index in indices],
        text_pairs=None if examples.text_pairs is None else [examples.text_pairs[index] for index in indices],
        labels=None if examples.labels is None else examples.labels[indices], task=examples.task)


def _glue_preset(section: TaskSection) -> GlueTask | None:
    """The GLUE task of a run: `task.glue`, or a tfds name `glue/<task>`."""
    if section.glue:
        return glue_task(section.glue)
    if section.tfds and section.tfds.startswith("glue/"):
        return glue_task(section.tfds)
    return None


class ClassificationFamily:
    """Classification (cross entropy over labels) or regression (one output, mean squared error)."""

    def __init__(self, section: TaskSection) -> None:
        self.glue = _glue_preset(section)
        self.regression = section.type == "regression" or bool(self.glue and self.glue.regression)
        self.objective = OBJECTIVES["regression" if self.regression else "classification"]
        if self.glue:
            self.primary_metric = self.glue.metrics[0]
        else:
            self.primary_metric = "pearson" if self.regression else "accuracy"
        self._train_labels: np.ndarray | None = None
        self._eval: ClassificationExamples | None = None
        self._eval_windows: Windows | None = None  # the evaluation rows of each example

    def _file_examples(self, section: TaskSection, path: str, labels: tuple[str, ...] | None,
                       labelled: bool = True) -> ClassificationExamples:
        """Examples of a task file; with `task.glue`, in the columns of GLUE's TSV files (whose test files, read
        unlabelled, have a header). A file to predict on needs the training file's text columns: a missing one is
        not fixed by a `task.*_column` option, which renames the training file's too."""
        text, pair, label, fieldnames = section.text_column, section.text_pair_column, section.label_column, None
        if section.glue:
            text, pair, label = self.glue.tsv_text_column, self.glue.tsv_text_pair_column, self.glue.tsv_label_column
            fieldnames, labels = self.glue.tsv_fieldnames if labelled else None, labels or self.glue.labels
        source = builtin_sentiment() if path == "builtin" else path
        return load_classification_examples(source, text_column=text, label_column=label if labelled else None,
                                            text_pair_column=pair, labels=labels, regression=self.regression,
                                            format=section.format, fieldnames=fieldnames,
                                            columns_from_options=labelled and not section.glue)

    def _tfds_examples(self, section: TaskSection, split: str) -> ClassificationExamples:
        """A tfds split; GLUE's in its preset's features, any other in the task's columns."""
        columns = {} if section.tfds.startswith("glue/") else dict(
            text_column=section.text_column, text_pair_column=section.text_pair_column,
            label_column=section.label_column)
        examples = load_tfds_classification(section.tfds, split, data_dir=section.tfds_data_dir, **columns)
        if examples.task.regression != self.regression:
            kind = "a number (regression)" if examples.task.regression else "a class"
            raise ConfigError(f"tensorflow-datasets {section.tfds!r}: its label is {kind}; set task.type="
                              f"{'regression' if examples.task.regression else 'classification'}")
        return examples

    def _sources(self, section: TaskSection) -> tuple[ClassificationExamples, ClassificationExamples | None]:
        """The training examples and the given evaluation examples (None: none given)."""
        if section.tfds:
            eval_split = section.tfds_eval_split or (self.glue.eval_splits[0] if self.glue else "validation")
            return (self._tfds_examples(section, section.tfds_train_split),
                    self._tfds_examples(section, eval_split))
        if not section.train_file:
            raise ConfigError("task.train_file (or task.tfds) is needed to fine-tune")
        train = self._file_examples(section, section.train_file, None)
        if section.eval_file:
            return train, self._file_examples(section, section.eval_file, train.task.labels)
        return train, None

    def _splits(self, section: TaskSection, seed: int, fold: tuple[int, int] | None = None
                ) -> tuple[ClassificationExamples, ClassificationExamples]:
        train, evaluation = self._sources(section)
        rows = evaluation_rows(len(train), evaluation is not None, section.eval_fraction, seed, fold)
        return (train, evaluation) if rows is None else (_subset(train, rows[0]), _subset(train, rows[1]))

    def training_texts(self, section: TaskSection) -> list[str]:
        train, _ = self._splits(section, seed=0)
        return train.texts + (train.text_pairs or [])

    def prepare(self, section: TaskSection, tokenizer: Any, seed: int, fold: tuple[int, int] | None
                ) -> PreparedData:
        train, evaluation = self._splits(section, seed, fold)
        if train.labels is None or evaluation.labels is None:
            raise DataError("fine-tuning needs labelled training and evaluation examples")
        if self.regression and len(evaluation) < 2:
            source = (f"{section.eval_file}" if section.eval_file else f"the evaluation split of {section.tfds}"
                      if section.tfds else f"task.eval_fraction={section.eval_fraction} of {section.train_file}")
            raise DataError(f"regression needs at least 2 evaluation examples for its correlations; {source} gives "
                            f"{len(evaluation)}: give a larger task.eval_file or raise task.eval_fraction")
        self._train_labels, self._eval = train.labels, evaluation
        stride = section_stride(section, tokenizer)
        train_features, _ = encode_classification(train, tokenizer, section.max_seq_length)
        eval_features, self._eval_windows = encode_classification(evaluation, tokenizer, section.max_seq_length,
                                                                  stride)
        buckets = section.bucket_lengths()
        padding = padding_values(tokenizer.pad_token_id)
        return PreparedData(BucketedDataset(train_features, padding, buckets, seed=seed),
                            BucketedDataset(eval_features, padding, buckets, seed=seed),
                            None if self.regression else train.task.labels, train.texts)

    def _predictions(self, outputs: dict[str, list[np.ndarray]]) -> np.ndarray:
        """Each evaluation example's prediction: the mean of its windows' values or probabilities."""
        logits = np.stack(outputs["logits"]).astype(np.float64)  # [rows, labels]
        scores = self._eval_windows.mean_over_windows(logits if self.regression else softmax(logits))
        return scores[:, 0] if self.regression else scores.argmax(-1)

    def evaluate(self, outputs: dict[str, list[np.ndarray]]) -> dict[str, float]:
        labels, predictions = self._eval.labels, self._predictions(outputs)
        if self.regression:
            scores, baseline = regression_metrics(labels, predictions), mean_baseline(self._train_labels, labels)
        else:
            names = self._eval.task.labels
            scores = classification_metrics(labels, predictions, names)
            baseline = majority_baseline(self._train_labels, labels, names)
        if self.glue:
            scores |= glue_metrics(self.glue.name, labels, predictions)
        # A constant baseline has no correlation (NaN): it is left out rather than reported as a number.
        return scores | {f"baseline_{name}": value for name, value in baseline.items()
                         if name in scores and not np.isnan(value)}

    def report(self, outputs: dict[str, list[np.ndarray]], run_dir: Path) -> list[str]:
        if self.regression:
            return []
        names = list(self._eval.task.labels)
        report = classification_report(self._eval.labels, self._predictions(outputs), names)
        (run_dir / "classification_report.json").write_text(json.dumps(report, indent=2) + "\n")
        plot_confusion_matrix(np.asarray(report["confusion_matrix"]["counts"]), names,
                              run_dir / "plots" / "confusion_matrix.png")
        lines = [f"{'label':>12} {'support':>8} {'precision':>9} {'recall':>7} {'f1':>6}"]
        for name, row in report["per_class"].items():
            lines.append(f"{name:>12} {row['support']:>8} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                         f"{row['f1']:>6.3f}")
        return lines

    def predict(self, section: TaskSection, model: PredictionModel, path: Path) -> int:
        classify = TextClassificationPipeline(model, max_seq_length=section.max_seq_length, stride=section.stride,
                                              truncation=section.truncation)
        examples = self._file_examples(section, section.predict_file, None if self.regression else
                                       tuple(classify.labels), labelled=False)
        scores = classify.scores(examples.texts, examples.text_pairs)  # [texts, labels], or values [texts, 1]
        rows = []
        for index, text in enumerate(examples.texts):
            row: dict[str, Any] = {"text": text}
            if examples.text_pairs is not None:
                row["text_pair"] = examples.text_pairs[index]
            if self.regression:
                row["prediction"] = float(scores[index, 0])
            else:
                row["label"] = classify.labels[int(scores[index].argmax())]
                row |= {f"probability_{name}": float(p) for name, p in zip(classify.labels, scores[index])}
            rows.append(row)
        write_rows(rows, path)
        return len(rows)


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """CSV when `path` ends in .csv, JSON lines otherwise; written atomically."""
    if path.suffix == ".csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["text"])
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomically(path, text.getvalue())
    else:
        write_text_atomically(path, "".join(json.dumps(row) + "\n" for row in rows))

