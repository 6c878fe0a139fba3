"""What bfloat16 costs in accuracy: the same fine-tuning run (data, seed, schedule) in float32 and in bfloat16, and
each one's held-out accuracy and time.

The data is a labelled CSV/TSV/JSON-lines file (e.g. GLUE's SST-2 `train.tsv`); a seeded permutation of its rows
gives the training rows and, after them, the held-out rows, written to a temporary folder and removed afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.atomic import write_text_atomically
from bertjax.benchmark.host import cpu_threads, host_cpu
from bertjax.data.finetuning.classification import load_classification_examples
from bertjax.errors import ConfigError
from bertjax.run_config import load_run_config
from bertjax.runs.families.classification import write_rows
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning

DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class DtypeAccuracySettings:
    """The run both dtypes make: SST-2's recipe in tests/test_finetuning_run.py by default (from all-MiniLM-L6-v2,
    one epoch of 4,000 sentences, batch 32, 64 tokens, learning rate 1e-4, 10% warmup), scored on 1,000 others."""

    data: str
    model: str
    text_column: str = "sentence"
    label_column: str = "label"
    train_examples: int = 4000
    eval_examples: int = 1000
    max_seq_length: int = 64
    batch_size: int = 32
    epochs: int = 1
    learning_rate: float = 1e-4
    seed: int = 0
    overrides: tuple[str, ...] = ()  # further `section.field=value` settings for both runs

    def __post_init__(self) -> None:
        if self.train_examples < 1 or self.eval_examples < 1:
            raise ConfigError("--train-examples and --eval-examples must be at least 1")


@dataclasses.dataclass(frozen=True)
class DtypeRun:
    dtype: str
    accuracy: float
    seconds: float  # the whole run: preparation, compilation, training, evaluations


def split_rows(settings: DtypeAccuracySettings, folder: Path) -> tuple[Path, Path]:
    """The training and held-out rows of `settings.data`, in a seeded order, as two JSON-lines files."""
    examples = load_classification_examples(settings.data, text_column=settings.text_column,
                                            label_column=settings.label_column)
    needed = settings.train_examples + settings.eval_examples
    if len(examples) < needed:
        raise ConfigError(f"{settings.data} has {len(examples)} rows; --train-examples and --eval-examples ask for "
                          f"{needed}")
    order = np.random.default_rng(settings.seed).permutation(len(examples))
    names = examples.task.labels
    paths = []
    for name, rows in (("train", order[:settings.train_examples]), ("eval", order[settings.train_examples:needed])):
        path = folder / f"{name}.jsonl"
        write_rows([{"text": examples.texts[row], "label": names[examples.labels[row]]} for row in rows], path)
        paths.append(path)
    return paths[0], paths[1]


def finetune(settings: DtypeAccuracySettings, dtype: str, train: Path, evaluation: Path, folder: Path) -> DtypeRun:
    config = load_run_config(FinetuningConfig, None, [
        f"model.init_from={settings.model}", f"model.dtype={dtype}", f"task.train_file={train}",
        f"task.eval_file={evaluation}", f"task.max_seq_length={settings.max_seq_length}",
        f"train.batch_size={settings.batch_size}", f"train.epochs={settings.epochs}", f"train.seed={settings.seed}",
        f"optimizer.learning_rate={settings.learning_rate}", "optimizer.warmup_fraction=0.1",
        "optimizer.weight_decay=0.01", f"train.output_dir={folder / dtype}", "train.log_every=50",
        *settings.overrides])
    start = time.perf_counter()
    summary = run_finetuning(config)
    return DtypeRun(dtype, float(summary["best"]["accuracy"]), time.perf_counter() - start)


def measure(settings: DtypeAccuracySettings) -> list[DtypeRun]:
    """Both runs, float32 first."""
    with tempfile.TemporaryDirectory(prefix="bertjax-dtype-accuracy-") as scratch:
        folder = Path(scratch)
        train, evaluation = split_rows(settings, folder)
        return [finetune(settings, dtype, train, evaluation, folder) for dtype in DTYPES]


def report(settings: DtypeAccuracySettings, runs: list[DtypeRun]) -> dict[str, Any]:
    """The numbers and the machine; `difference` is bfloat16's accuracy less float32's, in points."""
    return {"settings": dataclasses.asdict(settings), "environment": {"cpu": host_cpu(), "cpu_threads": cpu_threads()},
            "runs": [dataclasses.asdict(run) for run in runs],
            "difference_points": 100 * (runs[1].accuracy - runs[0].accuracy)}


def write_json(values: dict[str, Any], path: str) -> None:
    write_text_atomically(Path(path), json.dumps(values, indent=2) + "\n")
