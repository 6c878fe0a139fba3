"""The preparation benchmark: corpora of the size asked for, memory of a process tree, and a smoke run of every
measurement on a 1 MiB corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bertjax.benchmark.data.preparation import MIB, _tree_rss, format_table, write_corpus, write_json_lines
from bertjax.data.pretraining.corpus.documents import read_documents

ROOT = Path(__file__).resolve().parents[1]


def test_corpus_is_the_size_asked_for_and_whole_documents(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt", 3)
    assert corpus.stat().st_size == 3 * MIB
    documents = read_documents(corpus)
    assert len(documents) > 100 and all(documents)
    json_lines = write_json_lines(tmp_path / "corpus.jsonl", 3)
    records = [json.loads(line)["text"] for line in json_lines.read_text(encoding="utf-8").splitlines()]
    assert records[:len(documents) - 1] == [" ".join(document) for document in documents[:-1]]  # the same documents
    assert 3 * MIB <= sum(len(text.encode()) + 2 for text in records) < 3 * MIB + 10_000


def test_tree_memory_counts_the_children() -> None:
    allocate = "import time; data = b'x' * (200 << 20); print('ready', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", allocate], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        assert 200 * MIB < _tree_rss(child.pid) < 300 * MIB
        assert _tree_rss(os.getpid()) > _tree_rss(child.pid) + 20 * MIB  # this process and its child
    finally:
        child.kill()
        child.wait()


def test_smoke_run_measures_everything(tmp_path: Path) -> None:
    output = tmp_path / "preparation.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark_preparation.py"), "--sizes", "1",
                           "--restart", "1", "--assembly", "1", "--vocabulary", "1", "--methods", "bertjax,bertjax-jsonl,tokenizers",
                           "--json", str(output)], capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    results = json.loads(output.read_text())
    assert [(row["method"], row["size_mb"]) for row in results["rows"]] == [
        ("bertjax", 1), ("bertjax-jsonl", 1), ("tokenizers", 1)]
    assert all(row["seconds"] > 0 and row["peak_rss_mib"] > 50 and row["cpu_seconds"] > 0.5
               for row in results["rows"])
    bertjax, json_lines, tokenizers = results["rows"]
    assert bertjax["detail"]["sequences"] > 100 and tokenizers["detail"]["tokens"] > bertjax["detail"]["tokens"] / 2
    # The same documents as JSON lines: the same text, within the last document the text corpus cuts off.
    assert abs(json_lines["detail"]["tokens"] / bertjax["detail"]["tokens"] - 1) < 0.01
    restart = results["restart"]
    assert restart["unpacked"]["seconds_to_first_batch"] > 0
    assert restart["packed"]["rows"] < restart["packed"]["sequences"]  # several sequences in some rows
    assert restart["packed_preparation"]["mb_per_second"] > 0
    assert set(results["assembly"]) == {"mlm+nsp", "packed", "whole-word", "dynamic"}
    assert results["vocabulary"]["vocab_size"] > 1000 and results["environment"]["cpu_threads"] >= 1
    assert "of limit" in done.stdout and format_table(results) in done.stdout


def test_a_corpus_of_other_text_is_cut_after_a_whole_character(tmp_path: Path) -> None:
    source = tmp_path / "chinese.txt"
    # 51 bytes a document, 3 a character: 3 MiB ends inside the last document's 。
    source.write_text("酒店的服务非常好。\n房间也很干净。\n\n" * 30_000, encoding="utf-8")
    corpus = write_corpus(tmp_path / "corpus.txt", 3, source)
    assert corpus.stat().st_size == 3 * MIB
    documents = read_documents(corpus)
    assert len(documents) == 3 * MIB // 51 + 1 and documents[0] == ["酒店的服务非常好。", "房间也很干净。"]
    assert documents[-1] == ["酒店的服务非常好。", "房间也很干净"]
