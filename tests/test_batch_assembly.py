"""The batch-assembly benchmark: its corpus, its rows and a minuscule run of its script."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bertjax.benchmark.data.batch_assembly import VARIANTS, write_corpus
from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents

ROOT = Path(__file__).resolve().parents[1]


def test_corpus_is_the_builtin_one_repeated(tmp_path: Path) -> None:
    once = read_documents(builtin_corpus())
    assert read_documents(write_corpus(tmp_path / "corpus.txt", 3)) == once * 3


def test_script_measures_every_variant_and_leaves_no_corpus(tmp_path: Path) -> None:
    output = tmp_path / "data.json"
    before = set(Path(tempfile.gettempdir()).glob("bertjax-batch-assembly-*"))
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark_data.py"), "--batch-size", "8", "--seq-len", "64",
         "--repeats", "1", "--steps", "2", "--rounds", "1", "--json", str(output)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads(output.read_text())
    rows = {row["variant"]: row for row in results["rows"]}
    assert set(rows) == set(VARIANTS)
    assert all(row["rows_per_second"] > 0 and (row["batch_size"], row["seq_len"]) == (8, 64) for row in rows.values())
    assert rows["packed"]["sequences_per_second"] > rows["packed"]["rows_per_second"]  # several sequences a row
    assert rows["mlm+nsp"]["sequences_per_second"] == rows["mlm+nsp"]["rows_per_second"]
    assert results["environment"]["cpu"] and results["environment"]["cpu_threads"] >= 1
    assert "rows/s" in completed.stdout
    assert set(Path(tempfile.gettempdir()).glob("bertjax-batch-assembly-*")) == before
