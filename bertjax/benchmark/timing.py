"""The measurement protocol: every runner compiled and warmed up, then timed in alternating rounds.

Alternating rounds (A B C, A B C, ...) spread slow periods of a shared machine over all runners instead of
penalising whichever ran during them; each runner's throughput is the median over its rounds.

Every framework runs with its own default threading. Threads that spin for a while after their work ends
(PyTorch's OpenMP threads, by default) would take the cores from the runner timed next, so each timed call starts
after an untimed pause, `SETTLE_SECONDS`, in which they go to sleep. (Making PyTorch's threads sleep at once instead,
OMP_WAIT_POLICY=PASSIVE, slowed PyTorch itself: docs/performance.md.)
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time
from typing import Protocol

from bertjax.benchmark import memory

SETTLE_SECONDS = 0.2  # before each timed call: libgomp's default spin (300,000 polls) lasts milliseconds


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
    """Seconds `steps` steps take, started after `SETTLE_SECONDS` without work."""
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    runner.run(steps)
    return time.perf_counter() - start


def start_runner(runner: Runner, warmup: int, measurement: Measurement) -> None:
    """Prepares, times the first step, then warms up; the first warm-up step measures host memory.

    Host memory: what the runner keeps resident after its first step plus the largest transient growth of the
    resident set during one step. Each reading waits until the resident set has settled, free heap handed back
    to the system, so that memory one runner freed (or was still freeing) neither counts for nor hides the next
    one's growth. Timed rounds come later and never trim.
    """
    before = memory.settled_resident_bytes()
    runner.prepare()
    measurement.first_step_seconds = _timed(runner, 1)
    kept = memory.settled_resident_bytes()
    memory.reset_peak()
    runner.run(1)
    measurement.memory_bytes = runner.device_memory_bytes()
    if measurement.memory_bytes is None:
        measurement.memory_bytes = max(kept - before, 0) + max(memory.peak_bytes() - kept, 0)
    if warmup > 1:
        runner.run(warmup - 1)


def _failure(error: Exception) -> str:
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {first_line}"


def measure_alternating(runners: list[Runner], steps: int, warmup: int, rounds: int) -> list[Measurement]:
    """Measures every runner: first step, at least one warm-up step, then `rounds` timed rounds of `steps` steps
    taken in turn. A runner that raises gets its error recorded and drops out."""
    measurements = [Measurement(runner.label, steps_per_round=steps) for runner in runners]
    active: list[int] = []
    for index, runner in enumerate(runners):
        try:
            start_runner(runner, warmup, measurements[index])
            active.append(index)
        except Exception as error:  # a framework that cannot run here is reported, not fatal
            measurements[index].error = _failure(error)
            runner.close()
    for _ in range(rounds):
        for index in list(active):
            try:
                measurements[index].round_seconds.append(_timed(runners[index], steps))
            except Exception as error:
                measurements[index].error, measurements[index].round_seconds = _failure(error), []
                active.remove(index)
                runners[index].close()
    for index in active:
        runners[index].close()
    gc.collect()
    return measurements
