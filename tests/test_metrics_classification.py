"""Classification and regression metrics equal scikit-learn/scipy; baselines; GLUE's metric per task."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics

from bertjax.errors import ConfigError
from bertjax.metrics.classification import classification_metrics, classification_report, glue_metrics, \
    majority_baseline, mean_baseline, regression_metrics

LABELS = np.asarray([0, 1, 2, 2, 1, 0, 2, 2, 1, 0])
PREDICTIONS = np.asarray([0, 2, 2, 2, 1, 0, 1, 2, 1, 1])
BINARY_LABELS = np.asarray([1, 0, 1, 1, 0, 1, 0, 0])
BINARY_PREDICTIONS = np.asarray([1, 0, 0, 1, 1, 1, 0, 0])
TARGETS = np.asarray([0.0, 1.5, 2.0, 3.5, 5.0, 4.2])
GUESSES = np.asarray([0.5, 1.0, 2.5, 3.0, 4.0, 4.8])


def test_multiclass_equals_scikit_learn():
    scores = classification_metrics(LABELS, PREDICTIONS, ("a", "b", "c"))
    assert scores == pytest.approx({
        "accuracy": 0.7,  # 7 of 10, by hand
        "f1_weighted": metrics.f1_score(LABELS, PREDICTIONS, average="weighted"),
        "f1_macro": metrics.f1_score(LABELS, PREDICTIONS, average="macro"),
        "matthews": metrics.matthews_corrcoef(LABELS, PREDICTIONS),
    })


def test_binary_adds_the_f1_of_class_one():
    scores = classification_metrics(BINARY_LABELS, BINARY_PREDICTIONS)
    assert scores["f1"] == pytest.approx(0.75)  # 3 correct positives of 4 predicted and 4 true
    assert scores["matthews"] == pytest.approx(metrics.matthews_corrcoef(BINARY_LABELS, BINARY_PREDICTIONS))
    assert scores["accuracy"] == pytest.approx(0.75)


def test_report_counts_and_confusion_matrix():
    report = classification_report(LABELS, PREDICTIONS, ("a", "b", "c"))
    # by hand: rows true a/b/c, columns predicted
    assert report["confusion_matrix"] == {"labels": ["a", "b", "c"], "counts": [[2, 1, 0], [0, 2, 1], [0, 1, 3]]}
    assert report["per_class"]["c"] == pytest.approx({"support": 4, "predicted": 4, "correct": 3, "precision": 0.75,
                                                      "recall": 0.75, "f1": 0.75})
    assert report["per_class"]["a"]["recall"] == pytest.approx(metrics.recall_score(LABELS, PREDICTIONS,
                                                                                     average=None)[0])


def test_regression_equals_scipy():
    scores = regression_metrics(TARGETS, GUESSES)
    assert scores == pytest.approx({"pearson": stats.pearsonr(TARGETS, GUESSES)[0],
                                    "spearman": stats.spearmanr(TARGETS, GUESSES)[0],
                                    "mse": np.mean((TARGETS - GUESSES) ** 2)})
    assert scores["spearman"] == pytest.approx(1 - 6 * 2 / (6 * 35))  # by hand: two ranks swapped


def test_majority_baseline():
    scores = majority_baseline(np.asarray([0, 1, 1, 2]), np.asarray([1, 0, 1]), ("a", "b", "c"))
    assert scores["accuracy"] == pytest.approx(2 / 3) and scores["matthews"] == 0.0
    assert scores["f1_macro"] == pytest.approx(metrics.f1_score([1, 0, 1], [1, 1, 1], average="macro",
                                                                zero_division=0))


def test_mean_baseline():
    scores = mean_baseline(np.asarray([1.0, 2.0, 6.0]), np.asarray([2.0, 4.0]))
    assert scores["mse"] == pytest.approx(((2 - 3) ** 2 + (4 - 3) ** 2) / 2)
    assert np.isnan(scores["pearson"]) and np.isnan(scores["spearman"])


def test_glue_picks_the_task_metrics():
    assert glue_metrics("cola", BINARY_LABELS, BINARY_PREDICTIONS) == pytest.approx(
        {"matthews": metrics.matthews_corrcoef(BINARY_LABELS, BINARY_PREDICTIONS)})
    assert glue_metrics("glue/mrpc", BINARY_LABELS, BINARY_PREDICTIONS) == pytest.approx({"f1": 0.75,
                                                                                         "accuracy": 0.75})
    assert set(glue_metrics("qqp", BINARY_LABELS, BINARY_PREDICTIONS)) == {"f1", "accuracy"}
    assert glue_metrics("stsb", TARGETS, GUESSES) == pytest.approx(
        {"pearson": stats.pearsonr(TARGETS, GUESSES)[0], "spearman": stats.spearmanr(TARGETS, GUESSES)[0]})
    assert glue_metrics("mnli", LABELS, PREDICTIONS) == pytest.approx({"accuracy": 0.7})
    for task in ("sst2", "qnli", "rte", "wnli"):
        assert set(glue_metrics(task, BINARY_LABELS, BINARY_PREDICTIONS)) == {"accuracy"}
    with pytest.raises(ConfigError, match="unknown GLUE task"):
        glue_metrics("squad", LABELS, PREDICTIONS)
