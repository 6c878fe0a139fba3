"""The measurement protocol: every runner compiled and warmed up, then timed in alternating rounds.

Alternating rounds (A B C, A B C, ...) spread slow periods of a shared machine over all runners instead of
penalising whichever ran during them; each runner's throughput is the median over its rounds.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time
from typing import Protocol

from bertjax.benchmark import memory


class Runner(Protocol):
    """One framework running one workload on one fixed batch."""

    label: str

    def prepare(self) -> None:
        """Builds the model, optimizer state and the device batch (not timed)."""

    def run(self, steps: int) -> None:
        """Runs `steps` steps and returns once their results are computed (synchronised)."""

    def device_memory_bytes(self) -> int | None:
        """Peak accelerator memory of a step, or None on CPU (host memory is measured instead)."""

    def close(self) -> None:
        """Releases the model, state and compiled programs."""


@dataclasses.dataclass
class Measurement:
    label: str
    first_step_seconds: float | None = None  # compilation included where the runner compiles
    round_seconds: list[float] = dataclasses.field(default_factory=list)
    steps_per_round: int = 0
    memory_bytes: int | None = None
    error: str | None = None  # why this runner produced no numbers

    @property
    def seconds_per_step(self) -> float | None:
        if not self.round_seconds:
            return None
        return statistics.median(self.round_seconds) / self.steps_per_round


def _timed(runner: Runner, steps: int) -> float:
    start = time.perf_counter()
    runner.run(steps)
    return time.perf_counter() - start


def _start(runner: Runner, warmup: int, measurement: Measurement) -> int:
    """Prepares, times the first step and warms up; returns the resident bytes the runner keeps."""
    memory.release_free_memory()
    before = memory.resident_bytes()
    runner.prepare()
    measurement.first_step_seconds = _timed(runner, 1)
    if warmup:
        runner.run(warmup)
    memory.release_free_memory()
    return max(memory.resident_bytes() - before, 0)


def _failure(error: Exception) -> str:
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {first_line}"


def measure_alternating(runners: list[Runner], steps: int, warmup: int, rounds: int) -> list[Measurement]:
    """Measures every runner; a runner that raises gets its error recorded and drops out.

    Host memory (when the runner has no device memory): what the runner keeps resident after warm-up plus the
    largest transient growth of the resident set during one of its rounds.
    """
    measurements = [Measurement(runner.label, steps_per_round=steps) for runner in runners]
    kept = [0] * len(runners)
    active: list[int] = []
    for index, runner in enumerate(runners):
        try:
            kept[index] = _start(runner, warmup, measurements[index])
            active.append(index)
        except Exception as error:  # a framework that cannot run here is reported, not fatal
            measurements[index].error = _failure(error)
            runner.close()
    for _ in range(rounds):
        for index in list(active):
            measurement = measurements[index]
            memory.release_free_memory()
            memory.reset_peak()
            before = memory.resident_bytes()
            try:
                measurement.round_seconds.append(_timed(runners[index], steps))
            except Exception as error:
                measurement.error, measurement.round_seconds = _failure(error), []
                active.remove(index)
                continue
            transient = max(memory.peak_bytes() - before, 0)
            measurement.memory_bytes = max(measurement.memory_bytes or 0, kept[index] + transient)
    for index in active:
        device_bytes = runners[index].device_memory_bytes()
        if device_bytes is not None:
            measurements[index].memory_bytes = device_bytes
        runners[index].close()
    gc.collect()
    return measurements
