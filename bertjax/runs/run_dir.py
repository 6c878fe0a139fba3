"""A run folder and what every run opens in it: devices, checkpoints, metrics, the saved effective config.

    <output_dir>/config.yaml       the effective run config (written once the run is known to be resumable)
    <output_dir>/checkpoints/      orbax checkpoints of the train state (latest K)
    <output_dir>/metrics/*.jsonl   train and eval metrics; tensorboard/ event files; plots/*.png
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
from jax.sharding import Mesh

from bertjax.errors import ConfigError
from bertjax.run_config import save_run_config
from bertjax.train.checkpoint import Checkpointer
from bertjax.train.compilation_cache import AUTO, use_compilation_cache
from bertjax.train.metrics_log import MetricsLog, read_jsonl
from bertjax.train.sharding import initialize_distributed, make_mesh


def check_at_least(section: Any, **minimums: int) -> None:
    """Raises ConfigError naming the first of the section's integer fields below its minimum."""
    for name, minimum in minimums.items():
        value = getattr(section, name)
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")


@dataclasses.dataclass(frozen=True)
class RunSection:
    """Where a run writes and how it steps; shared by pretraining and fine-tuning."""

    output_dir: str = "runs/run"
    batch_size: int = 32
    accumulation_steps: int = 1
    steps: int = 500
    log_every: int = 10
    eval_every: int = 0  # 0: only at the end
    eval_batches: int = 20  # pretraining: evaluation batches of held-out text
    checkpoint_every: int = 0  # 0: only at the end and on interruption
    keep_checkpoints: int = 3
    seed: int = 0
    # Multi-host: all three, or none for a single process (the BERTJAX_* environment variables also work).
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    # JAX's persistent compilation cache: "auto" (a user cache folder on accelerators, none on CPU), off, or a
    # folder (bertjax.train.compilation_cache).
    compilation_cache: str | bool = AUTO

    def __post_init__(self) -> None:
        if self.compilation_cache == "":
            raise ConfigError('compilation_cache must be "auto", "off" or a folder, got an empty value')
        check_at_least(self, batch_size=1, accumulation_steps=1, steps=0, log_every=1, eval_every=0,
                       eval_batches=1, checkpoint_every=0, keep_checkpoints=1)


@dataclasses.dataclass
class RunContext:
    run_dir: Path
    mesh: Mesh
    checkpointer: Checkpointer
    metrics_log: MetricsLog
    config: Any

    @property
    def primary(self) -> bool:
        return jax.process_index() == 0

    def say(self, message: str) -> None:
        if self.primary:
            print(message, flush=True)

    def save_config(self, resumed_step: int | None, write: bool = True) -> None:
        """Saves the effective config (unless not `write`) and drops metrics logged after the checkpoint resumed
        from; called once the checkpoint (if any) is known to fit this config."""
        self.metrics_log.truncate_after(resumed_step or 0)
        if self.primary and write:
            save_run_config(self.config, self.run_dir / "config.yaml")

    def metrics(self, split: str) -> list[dict[str, float]]:
        path = self.run_dir / "metrics" / f"{split}.jsonl"
        return read_jsonl(path) if path.is_file() else []

    def finish(self, plot: Callable[[Path], Any]) -> None:
        self.checkpointer.close()
        self.metrics_log.close()
        if self.primary:
            plot(self.run_dir)


def start_run(section: RunSection, config: Any) -> RunContext:
    """Joins the hosts, sets up the compilation cache, builds the mesh, opens the checkpoint manager and metrics
    writers of the run folder."""
    initialize_distributed(section.coordinator_address, section.num_processes, section.process_id)
    use_compilation_cache(section.compilation_cache)  # after joining: it asks which backend runs
    run_dir = Path(section.output_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"train.output_dir {run_dir}: cannot create the run folder ({error.strerror})") from None
    primary = jax.process_index() == 0
    return RunContext(run_dir=run_dir, mesh=make_mesh(),
                      checkpointer=Checkpointer(run_dir / "checkpoints", max_to_keep=section.keep_checkpoints),
                      metrics_log=MetricsLog(run_dir, enabled=primary), config=config)
