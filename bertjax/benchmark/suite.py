"""The benchmark suite: for every model and workload, bertjax and PyTorch measured side by side on one batch."""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
from pathlib import Path

import jax

from bertjax.benchmark import report
from bertjax.benchmark.bertjax_runner import BertJaxRunner
from bertjax.benchmark.corpus_batches import corpus_batches
from bertjax.benchmark.flops import flops_per_sequence
from bertjax.benchmark.peak import Peak, device_peak
from bertjax.benchmark.pretrained import PRETRAINED_WORKLOADS, write_pretrained
from bertjax.benchmark.timing import Runner, measure_alternating
from bertjax.benchmark.workloads import WORKLOADS, model_config, predictions_per_sequence, synthetic_batch
from bertjax.errors import ConfigError
from bertjax.model import ModelOptions

# Batches small enough for the default run to finish in minutes on a laptop-class CPU.
CPU_BATCH_SIZES = {"bert-mini": 16, "minilm": 8, "bert-base": 4}
CPU_DEFAULT_BATCH_SIZE = 8
ACCELERATOR_BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class BenchmarkSettings:
    """What to measure and how; `batch_size` None picks a per-model default for the device."""

    models: tuple[str, ...] = ("bert-mini", "bert-base")
    workloads: tuple[str, ...] = WORKLOADS
    seq_len: int = 128
    batch_size: int | None = None
    dtype: str = "float32"
    steps: int = 1  # per timed round
    warmup: int = 1
    rounds: int = 3
    torch: bool = True
    compile: bool = True
    compile_budget: int = 120  # seconds torch.compile may spend on its first step before it is reported n/a
    attention: str = "reference"
    attention_chunks: int | None = None  # None: ModelOptions' choice
    scan_layers: bool = False
    remat: str = "none"
    mlm_all_positions: bool = True  # the extra bertjax pretraining row with HF's vocabulary projection everywhere
    steps_per_call: int = 1  # bertjax training steps per jitted call (lax.scan); steps must be a multiple
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("seq_len", "steps", "rounds", "compile_budget"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.steps_per_call < 1 or self.steps % self.steps_per_call:
            raise ConfigError(f"--steps ({self.steps}) must be a positive multiple of --steps-per-call "
                              f"({self.steps_per_call})")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        unknown = [workload for workload in self.workloads if workload not in WORKLOADS]
        if unknown:
            raise ConfigError(f"--workloads: unknown {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"--dtype is {self.dtype!r}; choose float32 or bfloat16")
        for name in self.models:
            model_config(name)
        self.options()

    def options(self) -> ModelOptions:
        return ModelOptions.from_names(self.dtype, attention=self.attention, attention_chunks=self.attention_chunks,
                                       scan_layers=self.scan_layers, remat=self.remat)

    def batch_size_for(self, model: str, platform_name: str) -> int:
        if self.batch_size is not None:
            return self.batch_size
        if platform_name != "cpu":
            return ACCELERATOR_BATCH_SIZE
        return CPU_BATCH_SIZES.get(model, CPU_DEFAULT_BATCH_SIZE)


def cpu_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


VECTOR_EXTENSIONS = ("avx2", "avx512f", "amx_tile")  # the ISA levels that decide CPU matmul speed


def host_cpu(cpuinfo: str | None = None) -> str:
    """The processor's name and which of `VECTOR_EXTENSIONS` it has, from /proc/cpuinfo where there is one: CPU
    ratios differ between machine types (PyTorch's sgemm uses AVX-512 where XLA's CPU dot is slower)."""
    if cpuinfo is None:
        cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)}
    name = fields.get("model name") or platform.processor() or platform.machine()
    extensions = [extension for extension in VECTOR_EXTENSIONS if extension in fields.get("flags", "").split()]
    return f"{name} ({', '.join(extensions)})" if extensions else name


def _runners(settings: BenchmarkSettings, model: str, workload: str, batch_size: int, pretrained: Path | None
             ) -> tuple[list[Runner], dict[str, float]]:
    """The runners of one model x workload, and the share of each one's token slots that hold real tokens (only
    below 1 for the corpus workload, whose rows have real padding). `pretrained`: the model folder that the
    workloads starting from a pretrained model load."""
    config = model_config(model)
    options = settings.options()
    if workload not in PRETRAINED_WORKLOADS:
        pretrained = None

    def bertjax(batch: dict, **variant: bool) -> BertJaxRunner:
        return BertJaxRunner(config, workload, batch, options, steps_per_call=settings.steps_per_call,
                             seed=settings.seed, pretrained=pretrained, **variant)

    if workload == "pretrain-corpus":
        plain, packed = corpus_batches(config, batch_size, settings.seq_len,
                                       predictions_per_sequence(settings.seq_len), settings.seed)
        batch, filled = plain.batch, plain.filled
        runners: list[Runner] = [bertjax(batch), bertjax(packed.batch)]
        filled_by_label = {runners[1].label: packed.filled}
    else:
        batch, filled = synthetic_batch(config, workload, batch_size, settings.seq_len, settings.seed), 1.0
        runners, filled_by_label = [bertjax(batch)], {}
    if workload == "pretrain" and settings.mlm_all_positions:
        runners.append(bertjax(batch, mlm_all_positions=True))
    if settings.torch:
        from bertjax.benchmark.torch_reference import TorchRunner

        runners.append(TorchRunner(config, workload, batch, settings.dtype, seed=settings.seed, pretrained=pretrained))
        if settings.compile:
            runners.append(TorchRunner(config, workload, batch, settings.dtype, compiled=True,
                                       compile_budget_seconds=settings.compile_budget, seed=settings.seed,
                                       pretrained=pretrained))
    return runners, {runner.label: filled_by_label.get(runner.label, filled) for runner in runners}


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

        from bertjax.benchmark.torch_reference import torch_device

        values |= {"torch": torch.__version__, "transformers": transformers.__version__,
                   "torch_device": torch_device(), "torch_threads": torch.get_num_threads()}
    return values


def _best_peak(current: Peak | None, dtype: str) -> Peak:
    """On CPU the peak is measured, and other work on the machine lowers it: keep the best measurement."""
    measured = device_peak(dtype)
    if current is None or (measured.flops_per_second or 0) > (current.flops_per_second or 0):
        return measured
    return current


def run_benchmark(settings: BenchmarkSettings, progress: bool = True) -> report.Results:
    """Measures every model x workload and returns the rows of the report."""
    if settings.torch:
        from bertjax.benchmark.torch_reference import set_torch_threads, warm_up

        set_torch_threads(cpu_threads())  # as many as XLA's CPU client uses
        warm_up()
    env = environment(settings)
    on_cpu = env["platform"] == "cpu"
    peak = _best_peak(None, settings.dtype)
    groups = []
    for model in settings.models:
        config = model_config(model)
        with tempfile.TemporaryDirectory(prefix="bertjax-benchmark-") as scratch:
            pretrained = None
            if set(settings.workloads) & set(PRETRAINED_WORKLOADS):
                pretrained = write_pretrained(Path(scratch) / model, config, settings.seed)
            for workload in settings.workloads:
                batch_size = settings.batch_size_for(model, str(env["platform"]))
                if progress:
                    print(f"measuring {model} {workload}, batch {batch_size} x {settings.seq_len} ...", flush=True)
                flops = flops_per_sequence(config, workload, settings.seq_len,
                                           predictions_per_sequence(settings.seq_len))
                runners, filled = _runners(settings, model, workload, batch_size, pretrained)
                measurements = measure_alternating(runners, settings.steps, settings.warmup, settings.rounds)
                groups.append((model, workload, batch_size, measurements, flops, filled))
        if on_cpu:
            peak = _best_peak(peak, settings.dtype)
    rows = [row for model, workload, batch_size, measurements, flops, filled in groups
            for row in report.rows_for(model, workload, batch_size, settings.seq_len, settings.dtype,
                                       str(env["device"]), measurements, flops, peak, filled)]
    return report.Results(settings=dataclasses.asdict(settings), environment=env, peak=peak, rows=rows)
