"""Classification and regression metrics (scikit-learn, scipy), trivial baselines, and GLUE's metric per task."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn import metrics

from bertjax.data.finetuning.glue import glue_task


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, label_names: Sequence[str] | None = None
                           ) -> dict[str, float]:
    """accuracy, f1_weighted, f1_macro, matthews; for two classes also f1 of class 1 (GLUE's MRPC/QQP F1).

    labels, predictions: [examples] class ids. label_names: the classes (their number decides binary; None: the
    largest id seen + 1). Per-class counts and the confusion matrix are in `classification_report`.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    num_labels = len(label_names) if label_names is not None else int(max(labels.max(), predictions.max())) + 1
    scores = {
        "accuracy": metrics.accuracy_score(labels, predictions),
        "f1_weighted": metrics.f1_score(labels, predictions, average="weighted", zero_division=0),
        "f1_macro": metrics.f1_score(labels, predictions, average="macro", zero_division=0),
        "matthews": metrics.matthews_corrcoef(labels, predictions),
    }
    if num_labels == 2:
        scores["f1"] = metrics.f1_score(labels, predictions, pos_label=1, zero_division=0)
    return {name: float(value) for name, value in scores.items()}


def classification_report(labels: np.ndarray, predictions: np.ndarray, label_names: Sequence[str]
                          ) -> dict[str, Any]:
    """Per-class counts and scores, and the confusion matrix (rows: true class, columns: predicted), by name."""
    ids = list(range(len(label_names)))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        labels, predictions, labels=ids, zero_division=0)
    confusion = metrics.confusion_matrix(labels, predictions, labels=ids)
    per_class = {name: {"support": int(support[index]), "predicted": int(confusion[:, index].sum()),
                        "correct": int(confusion[index, index]), "precision": float(precision[index]),
                        "recall": float(recall[index]), "f1": float(f1[index])}
                 for index, name in enumerate(label_names)}
    return {"per_class": per_class, "confusion_matrix": {"labels": list(label_names), "counts": confusion.tolist()}}


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """pearson, spearman (NaN when either side is constant) and mse; targets, predictions: [examples]."""
    targets, predictions = np.asarray(targets, np.float64), np.asarray(predictions, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # a constant side is reported as NaN
        pearson = stats.pearsonr(targets, predictions).statistic
        spearman = stats.spearmanr(targets, predictions).statistic
    return {"pearson": float(pearson), "spearman": float(spearman),
            "mse": float(metrics.mean_squared_error(targets, predictions))}


def majority_baseline(train_labels: np.ndarray, eval_labels: np.ndarray, label_names: Sequence[str] | None = None
                      ) -> dict[str, float]:
    """`classification_metrics` of always predicting the training data's most frequent class (lowest id on ties)."""
    majority = int(np.bincount(np.asarray(train_labels)).argmax())
    return classification_metrics(eval_labels, np.full(len(eval_labels), majority), label_names)


def mean_baseline(train_targets: np.ndarray, eval_targets: np.ndarray) -> dict[str, float]:
    """`regression_metrics` of always predicting the training targets' mean (correlations are then NaN)."""
    return regression_metrics(eval_targets, np.full(len(eval_targets), float(np.mean(train_targets))))


def glue_metrics(task: str, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """The metrics GLUE reports for `task` on one evaluation split (MNLI: call once per matched/mismatched)."""
    preset = glue_task(task)
    scores = regression_metrics(labels, predictions) if preset.regression else \
        classification_metrics(labels, predictions, preset.labels)
    return {name: scores[name] for name in preset.metrics}
