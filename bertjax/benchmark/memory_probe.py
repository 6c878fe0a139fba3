"""Host memory of one runner read in a fresh process of its own.

In the suite's shared process a runner can reuse heap that earlier runners freed and the allocator kept, so its
reading depends on the order the runners ran in. A child process that starts only the framework this runner uses,
then only the runner, reads what the runner needs on its own. The request goes in as JSON on stdin; the reading
comes back as the last line of stdout.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from bertjax.benchmark.steps.runners import runners_for, start_frameworks
from bertjax.benchmark.settings import BenchmarkSettings
from bertjax.benchmark.timing import Measurement, start_runner
from bertjax.benchmark.steps.torch_reference import TorchRunner
from bertjax.train.host_allocator import reuse_freed_host_memory

_CHILD = "from bertjax.benchmark.memory_probe import main; main()"


class ProbeError(RuntimeError):
    """The child process produced no reading."""


def isolated_memory_bytes(settings: BenchmarkSettings, model: str, workload: str, batch_size: int,
                          pretrained: Path | None, label: str, timeout: float = 900.0) -> int:
    """The host memory of the runner called `label`, measured as `start_runner` does, in a fresh process."""
    request = {"settings": dataclasses.asdict(settings), "model": model, "workload": workload,
               "batch_size": batch_size, "pretrained": None if pretrained is None else str(pretrained),
               "label": label}
    try:
        completed = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(request), capture_output=True,
                                   text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise ProbeError(f"the memory probe of {label} took longer than {timeout:g} s") from error
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProbeError(f"the memory probe of {label} exited with {completed.returncode}: {detail}")
    try:
        return int(json.loads(lines[-1])["memory_bytes"])
    except (ValueError, KeyError, TypeError) as error:
        raise ProbeError(f"the memory probe of {label} printed {lines[-1]!r}, not a reading") from error


def _settings(fields: dict) -> BenchmarkSettings:
    """Settings back from JSON, whose arrays arrive as lists."""
    return BenchmarkSettings(**{name: tuple(value) if isinstance(value, list) else value
                                for name, value in fields.items()})


def main() -> None:
    """The child: reads one request from stdin, prints `{"memory_bytes": N}`."""
    reuse_freed_host_memory()  # as the benchmark's own process sets it, before JAX and PyTorch start
    request = json.loads(sys.stdin.read())
    settings = _settings(request["settings"])
    pretrained = None if request["pretrained"] is None else Path(request["pretrained"])
    runners, _ = runners_for(settings, request["model"], request["workload"], request["batch_size"], pretrained)
    runner = next(runner for runner in runners if runner.label == request["label"])
    start_frameworks(dataclasses.replace(settings, torch=isinstance(runner, TorchRunner)))  # only what it uses
    measurement = Measurement(runner.label)
    start_runner(runner, 0, measurement)
    runner.close()
    print(json.dumps({"memory_bytes": measurement.memory_bytes}), flush=True)
