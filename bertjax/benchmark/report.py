"""The benchmark's numbers: one row per implementation, printed as a table or written as JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bertjax.benchmark.steps.flops import model_flops_utilization
from bertjax.benchmark.peak import Peak
from bertjax.benchmark.timing import Measurement

REFERENCE_LABEL = "PyTorch eager"


@dataclasses.dataclass(frozen=True)
class Row:
    model: str
    workload: str
    implementation: str
    batch_size: int
    seq_len: int
    dtype: str
    device: str
    sequences_per_second: float | None  # rows per second (a packed row holds several sequences)
    tokens_per_second: float | None  # real tokens, padding not counted (synthetic batches have none)
    memory_bytes: int | None  # host: resident growth; accelerator: peak device memory of a step
    first_step_seconds: float | None  # first call: compilation included for bertjax and torch.compile
    speedup_vs_torch_eager: float | None  # this row's tokens per second over PyTorch eager's (pipeline rows:
    # transformers.pipeline's)
    mfu: float | None  # model FLOP/s (see flops.py) over the device peak
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class MeasuredGroup:
    """One model x workload's measurements and what turns them into rows (see `rows_for`)."""

    model: str
    workload: str
    batch_size: int
    seq_len: int
    measurements: list[Measurement]
    flops_per_sequence: int
    filled: dict[str, float]  # per label, the share of token slots that hold real tokens (1 where not given)
    reference: str = REFERENCE_LABEL


@dataclasses.dataclass
class Results:
    settings: dict[str, Any]
    environment: dict[str, Any]
    peak: Peak
    rows: list[Row]


def rows_for(group: MeasuredGroup, dtype: str, device: str, peak: Peak) -> list[Row]:
    """Turns one model x workload's measurements into rows, with throughput relative to the group's reference
    (PyTorch eager; transformers.pipeline for the pipeline workload)."""
    throughput = {m.label: group.batch_size / m.seconds_per_step for m in group.measurements if m.seconds_per_step}
    tokens = {label: rows * group.seq_len * group.filled.get(label, 1.0) for label, rows in throughput.items()}
    reference = tokens.get(group.reference)
    rows = []
    for measurement in group.measurements:
        sequences, real_tokens = throughput.get(measurement.label), tokens.get(measurement.label)
        rows.append(Row(
            model=group.model, workload=group.workload, implementation=measurement.label,
            batch_size=group.batch_size, seq_len=group.seq_len, dtype=dtype, device=device,
            sequences_per_second=sequences,
            tokens_per_second=real_tokens, memory_bytes=measurement.memory_bytes,
            first_step_seconds=measurement.first_step_seconds,
            speedup_vs_torch_eager=real_tokens / reference if real_tokens and reference else None,
            mfu=(model_flops_utilization(sequences * group.flops_per_sequence, peak.flops_per_second)
                 if sequences else None),
            error=measurement.error))
    return rows


def _number(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


_COLUMNS = ("workload", "model", "implementation", "batch", "dtype", "device", "rows/s", "tokens/s", "memory",
            "1st step", "vs eager", "MFU")


def format_table(results: Results) -> str:
    """A fixed-width table, then the FLOPs peak used and the reasons of any n/a row."""
    table = [list(_COLUMNS)]
    notes = []
    for row in results.rows:
        table.append([row.workload, row.model, row.implementation, f"{row.batch_size}x{row.seq_len}", row.dtype,
                      row.device, _number(row.sequences_per_second, "{:.1f}"),
                      _number(row.tokens_per_second, "{:.0f}"),
                      _number(row.memory_bytes and row.memory_bytes / 2**20, "{:.0f} MiB"),
                      _number(row.first_step_seconds, "{:.1f} s"), _number(row.speedup_vs_torch_eager, "{:.2f}x"),
                      _number(row.mfu and 100 * row.mfu, "{:.1f}%")])
        if row.error:
            notes.append(f"n/a: {row.model} {row.workload} {row.implementation}: {row.error}")
    widths = [max(len(line[column]) for line in table) for column in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    lines.append(f"tokens/s counts real tokens (pretrain-corpus rows have padding; packed rows less); "
                 f"MFU against {results.peak.source}.")
    if any(row.workload.startswith("pipeline") for row in results.rows):
        lines.append("pipeline rows: a step is one call over all the texts (batch: texts x the longest in tokens; "
                     "rows/s: texts/s; 1st step: the first call, compilation included); vs eager: against "
                     "transformers.pipeline at batch_size 1; MFU of each text at its own length.")
    return "\n".join(lines + notes)


def write_json(results: Results, path: str | Path) -> None:
    values = {"settings": results.settings, "environment": results.environment,
              "peak": dataclasses.asdict(results.peak), "rows": [dataclasses.asdict(row) for row in results.rows]}
    Path(path).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
