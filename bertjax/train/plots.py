"""PNG plots of a run: metric curves over steps, train and eval together, and the confusion matrix.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so plotting needs no display and leaves no global
figure state behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bertjax.errors import DataError
from bertjax.train.metrics_log import read_jsonl

# Metrics ending with one of these share a plot (`loss`, `mlm_loss`, `nsp_loss`); any other metric gets its own.
FAMILY_SUFFIXES = ("loss", "accuracy")
# The trivial baseline's score of a metric (`baseline_f1`) is drawn on that metric's plot.
BASELINE_PREFIX = "baseline_"
SPLIT_LINE_STYLES = ("-", "--", ":", "-.")
# Below this many points a curve also gets markers: sparse evaluations stay visible.
MARKER_LIMIT = 40

Curves = dict[str, dict[tuple[str, str], tuple[list[float], list[float]]]]


def metric_family(name: str) -> str:
    name = name.removeprefix(BASELINE_PREFIX)
    return next((suffix for suffix in FAMILY_SUFFIXES if name.endswith(suffix)), name)


def read_curves(run_dir: str | Path) -> Curves:
    """{family: {(split, metric): (steps, values)}} from `run_dir/metrics/<split>.jsonl`."""
    curves: Curves = {}
    for path in sorted((Path(run_dir) / "metrics").glob("*.jsonl")):
        for record in read_jsonl(path):
            for name, value in record.items():
                if name == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                steps, values = curves.setdefault(metric_family(name), {}).setdefault((path.stem, name), ([], []))
                steps.append(record["step"])
                values.append(value)
    return curves


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=120)
    return path


def _readable(name: str) -> str:
    return name.replace("_", " ")


def plot_curves(run_dir: str | Path) -> list[Path]:
    """Writes `run_dir/plots/<family>.png` per metric family (loss, accuracy, learning_rate, ...); returns the paths.

    Each metric keeps its colour across splits; each split has its own line style (train solid, eval dashed).
    """
    run_dir = Path(run_dir)
    paths = []
    for family, lines in sorted(read_curves(run_dir).items()):
        metrics = sorted({metric for _, metric in lines})
        splits = sorted({split for split, _ in lines}, key=lambda split: (split != "train", split))
        figure = Figure(figsize=(7, 4.5), layout="constrained")
        axes = figure.add_subplot()
        for (split, metric), (steps, values) in sorted(lines.items(), key=lambda item: (
                splits.index(item[0][0]), item[0][1])):
            axes.plot(steps, values, label=f"{split} {metric}", color=f"C{metrics.index(metric) % 10}",
                      linestyle=SPLIT_LINE_STYLES[splits.index(split) % len(SPLIT_LINE_STYLES)],
                      marker="o" if len(steps) < MARKER_LIMIT else None, markersize=3)
        axes.set_title(f"{_readable(family)} ({run_dir.name})")
        axes.set_xlabel("step")
        axes.set_ylabel(_readable(family))
        # Small values (learning rates) read better as 2.0 x 1e-5 than as 0.00002.
        axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        axes.grid(alpha=0.3)
        axes.legend()
        paths.append(_save(figure, run_dir / "plots" / f"{family}.png"))
    return paths


def plot_confusion_matrix(matrix: np.ndarray, label_names: Sequence[str], path: str | Path) -> Path:
    """Writes the confusion matrix (rows: true class, columns: predicted; [classes, classes] counts) as a PNG.

    Cells show counts; colours show the share of each true class, so rare classes read as clearly as common ones.
    """
    counts = np.asarray(matrix)
    size = len(label_names)
    if counts.shape != (size, size):
        raise DataError(f"the confusion matrix has shape {counts.shape} but there are {size} label names; "
                        "pass one name per row and column")
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    figure = Figure(figsize=(max(4.5, 0.6 * size + 2.5), max(4.0, 0.6 * size + 2.0)), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of the true class")
    for row in range(size):
        for column in range(size):
            axes.text(column, row, f"{counts[row, column]:g}", ha="center", va="center", fontsize=8,
                      color="white" if shares[row, column] > 0.5 else "black")
    axes.set_xticks(range(size), labels=list(label_names), rotation=45, ha="right")
    axes.set_yticks(range(size), labels=list(label_names))
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title("confusion matrix")
    return _save(figure, Path(path))
