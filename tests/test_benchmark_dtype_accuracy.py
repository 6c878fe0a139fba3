"""The float32 / bfloat16 fine-tuning comparison: the rows it splits, and both runs end to end on a tiny setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bertjax.benchmark.dtype_accuracy import DtypeAccuracySettings, split_rows
from bertjax.data.builtin import builtin_sentiment
from bertjax.data.readers import read_records
from bertjax.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_rows_are_split_without_overlap(tmp_path: Path) -> None:
    settings = DtypeAccuracySettings(data=str(builtin_sentiment()), model="unused", text_column="text",
                                     train_examples=40, eval_examples=20)
    train, evaluation = (read_records(path) for path in split_rows(settings, tmp_path))
    assert len(train) == 40 and len(evaluation) == 20
    assert not {record["text"] for record in train} & {record["text"] for record in evaluation}
    assert {record["label"] for record in train} == {"0", "1"}
    with pytest.raises(ConfigError, match="ask for 200000"):
        split_rows(DtypeAccuracySettings(data=str(builtin_sentiment()), model="unused", text_column="text",
                                         train_examples=100_000, eval_examples=100_000), tmp_path)


def test_both_dtypes_fine_tune_and_report(tmp_path: Path, minilm_dir: Path) -> None:
    output = tmp_path / "accuracy.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark_dtype_accuracy.py"), "--data", str(builtin_sentiment()),
         "--model", str(minilm_dir), "--text-column", "text", "--train-examples", "32", "--eval-examples", "16",
         "--batch-size", "16", "--max-seq-length", "16", "--json", str(output), "model.keep_layers=1"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    values = json.loads(output.read_text())
    assert [run["dtype"] for run in values["runs"]] == ["float32", "bfloat16"]
    assert all(0 <= run["accuracy"] <= 1 and run["seconds"] > 0 for run in values["runs"])
    assert values["difference_points"] == pytest.approx(
        100 * (values["runs"][1]["accuracy"] - values["runs"][0]["accuracy"]))
    assert "bfloat16 - float32" in completed.stdout
