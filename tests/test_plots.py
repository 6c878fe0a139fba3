"""Plots: metric families grouped from the JSON lines, valid non-trivial PNGs, the confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from bertjax.errors import DataError
from bertjax.train.plots import plot_confusion_matrix, plot_curves, read_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_jsonl(path: Path, records: list[dict[str, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "pretrain-tiny"
    write_jsonl(run / "metrics" / "train.jsonl", [
        {"step": step, "loss": 8.0 / step, "mlm_loss": 7.0 / step, "mlm_accuracy": 1 - 1 / step,
         "learning_rate": 1e-4 * min(step, 50) / 50} for step in range(10, 110, 10)])
    write_jsonl(run / "metrics" / "eval.jsonl", [
        {"step": 50, "loss": 0.2, "mlm_accuracy": 0.7}, {"step": 100, "loss": 0.1, "mlm_accuracy": 0.8}])
    return run


def assert_valid_png(path: Path, minimum_bytes: int = 10_000) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > minimum_bytes
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 300
    assert pixels[..., :3].std() > 0.05  # more than a blank canvas
    return pixels


def test_metrics_are_grouped_by_family(run_dir: Path) -> None:
    curves = read_curves(run_dir)
    assert sorted(curves) == ["accuracy", "learning_rate", "loss"]
    assert sorted(curves["loss"]) == [("eval", "loss"), ("train", "loss"), ("train", "mlm_loss")]
    assert sorted(curves["accuracy"]) == [("eval", "mlm_accuracy"), ("train", "mlm_accuracy")]
    assert curves["loss"][("eval", "loss")] == ([50, 100], [0.2, 0.1])
    steps, values = curves["learning_rate"][("train", "learning_rate")]
    assert steps == list(range(10, 110, 10))
    assert values[4] == pytest.approx(1e-4)


def test_baseline_scores_share_their_metric_plot(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "metrics" / "eval.jsonl", [
        {"step": 10, "f1": 0.6, "f1_macro": 0.5, "baseline_f1": 0.0, "baseline_f1_macro": 0.3,
         "baseline_accuracy": 0.49}])
    curves = read_curves(tmp_path)
    assert sorted(curves) == ["accuracy", "f1", "f1_macro"]
    assert sorted(curves["f1"]) == [("eval", "baseline_f1"), ("eval", "f1")]
    assert sorted(curves["f1_macro"]) == [("eval", "baseline_f1_macro"), ("eval", "f1_macro")]
    assert list(curves["accuracy"]) == [("eval", "baseline_accuracy")]


def test_plot_curves_writes_one_png_per_family(run_dir: Path) -> None:
    paths = plot_curves(run_dir)
    assert paths == [run_dir / "plots" / f"{family}.png" for family in ("accuracy", "learning_rate", "loss")]
    for path in paths:
        pixels = assert_valid_png(path)
        assert pixels.shape[:2] == (540, 840)  # 7 x 4.5 inches at 120 dpi


def test_plot_curves_without_metrics_writes_nothing(tmp_path: Path) -> None:
    assert plot_curves(tmp_path) == []
    assert not (tmp_path / "plots").exists()


def test_confusion_matrix_png(tmp_path: Path) -> None:
    counts = np.array([[50, 3, 0], [4, 40, 6], [0, 0, 0]])
    path = plot_confusion_matrix(counts, ["negative", "neutral", "positive"], tmp_path / "plots" / "confusion.png")
    assert path == tmp_path / "plots" / "confusion.png"
    assert_valid_png(path)


def test_confusion_matrix_needs_one_name_per_class(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"shape \(2, 2\) but there are 3 label names"):
        plot_confusion_matrix(np.eye(2), ["a", "b", "c"], tmp_path / "confusion.png")
