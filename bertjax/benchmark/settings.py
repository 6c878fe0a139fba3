"""What the benchmark measures and how: the settings its command line fills in."""

from __future__ import annotations

import dataclasses

from bertjax.benchmark.steps.torch_reference import TORCH_ATTENTIONS
from bertjax.benchmark.steps.workloads import WORKLOADS, model_config
from bertjax.errors import ConfigError
from bertjax.model import ModelOptions

# Batches small enough for the default run to finish in minutes on a laptop-class CPU.
CPU_BATCH_SIZES = {"bert-mini": 16, "minilm": 8, "bert-base": 4, "ettin-68m": 8, "modernbert-base": 4}
CPU_DEFAULT_BATCH_SIZE = 8
ACCELERATOR_BATCH_SIZE = 32
# The pipeline workload: real texts through bertjax's and transformers' pipelines on the real all-MiniLM-L6-v2.
PIPELINE_WORKLOAD = "pipeline"
PIPELINE_MODEL = "minilm"
PIPELINE_BATCH_SIZE = 32  # bertjax.pipeline's default


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
    torch_attention: str = "sdpa"  # transformers' attn_implementation: its default, or `eager`
    attention: str = "reference"
    attention_chunks: int | None = None  # None: ModelOptions' choice
    scan_layers: bool = False
    remat: str = "none"
    mlm_all_positions: bool = True  # the extra bertjax pretraining row with HF's vocabulary projection everywhere
    steps_per_call: int = 1  # bertjax training steps per jitted call (lax.scan); steps must be a multiple
    seed: int = 0
    isolate_memory: bool = False  # host memory of each runner read in a fresh process of its own
    pipeline_texts: int = 1000  # texts per call of the pipeline workload

    def __post_init__(self) -> None:
        for name in ("seq_len", "steps", "rounds", "compile_budget", "pipeline_texts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.steps_per_call < 1 or self.steps % self.steps_per_call:
            raise ConfigError(f"--steps ({self.steps}) must be a positive multiple of --steps-per-call "
                              f"({self.steps_per_call})")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        known = (*WORKLOADS, PIPELINE_WORKLOAD)
        unknown = [workload for workload in self.workloads if workload not in known]
        if unknown:
            raise ConfigError(f"--workloads: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
        if PIPELINE_WORKLOAD in self.workloads and PIPELINE_MODEL not in self.models:
            raise ConfigError(f"--workloads {PIPELINE_WORKLOAD} runs the real all-MiniLM-L6-v2 checkpoint: add "
                              f"{PIPELINE_MODEL} to --models")
        if PIPELINE_WORKLOAD in self.workloads and self.isolate_memory:
            raise ConfigError(f"--isolate-memory does not cover the {PIPELINE_WORKLOAD} workload; measure it in a run "
                              f"of its own without --isolate-memory")
        if self.torch_attention not in TORCH_ATTENTIONS:
            raise ConfigError(f"--torch-attention is {self.torch_attention!r}; choose one of "
                              f"{', '.join(TORCH_ATTENTIONS)}")
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
