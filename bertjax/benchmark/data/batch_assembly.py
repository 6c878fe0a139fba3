"""How fast pretraining batches are assembled on the host: rows per second of `PretrainingDataset.train_batch`
for MLM + NSP one sequence a row, packed, with whole-word and with dynamic masking.

The corpus is the built-in one repeated to size, written to a temporary file that is removed afterwards (nothing is
downloaded); its vocabulary is learnt from the built-in corpus once.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from bertjax.benchmark.host import cpu_threads, host_cpu
from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents
from bertjax.data.pretraining.dataset import PretrainingDataset, PretrainingOptions
from bertjax.data.tokenizer import train_wordpiece

VOCAB_SIZE = 8000  # as the built-in pretraining run
# name -> the options that differ from BERT's defaults (MLM + NSP, static masking, one sequence a row)
VARIANTS = {"mlm+nsp": {}, "packed": {"packing": True}, "whole-word": {"whole_word_masking": True},
            "dynamic": {"dynamic_masking": True}}


@dataclasses.dataclass(frozen=True)
class AssemblySettings:
    batch_size: int = 256
    seq_len: int = 128
    max_predictions: int = 20
    repeats: int = 8  # copies of the built-in corpus (about 0.25 MB each)
    steps: int = 40  # timed batches per round
    rounds: int = 3  # the best round counts
    variants: tuple[str, ...] = tuple(VARIANTS)
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class AssemblyRow:
    variant: str
    rows_per_second: float
    sequences_per_second: float  # a packed row holds several sequences
    batch_size: int
    seq_len: int


def write_corpus(path: Path, repeats: int) -> Path:
    """The built-in corpus `repeats` times, documents kept apart by blank lines."""
    text = builtin_corpus().read_text(encoding="utf-8").strip("\n") + "\n\n"
    path.write_text(text * repeats, encoding="utf-8")
    return path


def time_batches(dataset: PretrainingDataset, settings: AssemblySettings) -> float:
    """Seconds per batch: the best of `rounds` rounds of `steps` consecutive batches, after one untimed round (the
    first batches of a process also map the corpus's pages in and grow its heap)."""
    for step in range(settings.steps):
        dataset.train_batch(step, settings.batch_size)
    best = float("inf")
    for round_index in range(settings.rounds):
        first = (1 + round_index) * settings.steps
        start = time.perf_counter()
        for step in range(first, first + settings.steps):
            dataset.train_batch(step, settings.batch_size)
        best = min(best, (time.perf_counter() - start) / settings.steps)
    return best


def measure(settings: AssemblySettings) -> list[AssemblyRow]:
    """One row per variant of `settings.variants`."""
    documents = read_documents(builtin_corpus())
    tokenizer = train_wordpiece((sentence for document in documents for sentence in document), VOCAB_SIZE)
    with tempfile.TemporaryDirectory(prefix="bertjax-batch-assembly-") as scratch:
        documents = read_documents(write_corpus(Path(scratch) / "corpus.txt", settings.repeats))
    rows = []
    for variant in settings.variants:
        options = PretrainingOptions(max_seq_length=settings.seq_len, max_predictions_per_seq=settings.max_predictions,
                                     eval_fraction=0, seed=settings.seed, **VARIANTS[variant])
        dataset = PretrainingDataset.from_documents(documents, tokenizer, options)
        seconds = time_batches(dataset, settings)
        per_row = len(dataset.train) / len(dataset.train_rows)
        rows.append(AssemblyRow(variant, settings.batch_size / seconds, per_row * settings.batch_size / seconds,
                                settings.batch_size, settings.seq_len))
    return rows


def environment() -> dict[str, object]:
    return {"cpu": host_cpu(), "cpu_threads": cpu_threads(), "python": platform.python_version(),
            "numpy": np.__version__}


def format_table(rows: list[AssemblyRow]) -> str:
    lines = [f"{'variant':<12}{'batch':>9}{'rows/s':>11}{'sequences/s':>14}"]
    lines += [f"{row.variant:<12}{f'{row.batch_size}x{row.seq_len}':>9}{row.rows_per_second:>11,.0f}"
              f"{row.sequences_per_second:>14,.0f}" for row in rows]
    return "\n".join(lines)


def write_json(settings: AssemblySettings, rows: list[AssemblyRow], path: str | Path) -> None:
    values = {"settings": dataclasses.asdict(settings), "environment": environment(),
              "rows": [dataclasses.asdict(row) for row in rows]}
    Path(path).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
