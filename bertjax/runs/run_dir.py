"""A run folder and what every run opens in it: its lock, devices, checkpoints, metrics, the saved effective config.

    <output_dir>/config.yaml       the effective run config (written once the run is known to be resumable)
    <output_dir>/checkpoints/      orbax checkpoints of the train state (latest K; unreadable ones are moved to
                                   checkpoints-unreadable/)
    <output_dir>/metrics/*.jsonl   train and eval metrics; tensorboard/ event files; plots/*.png
    <output_dir>/.lock, .lock-<i>  the locks of process 0 and process i while a run lasts (bertjax.folder_lock)
    <output_dir>/error.log         the full traceback of each error that stopped a run
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import socket
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
from jax.sharding import Mesh

from bertjax.errors import LOGGED_NOTE, ConfigError
from bertjax.folder_lock import folder_lock
from bertjax.run_config import save_run_config
from bertjax.train.checkpoint import Checkpointer
from bertjax.train.compilation_cache import AUTO, use_compilation_cache
from bertjax.train.metrics_log import MetricsLog, read_jsonl
from bertjax.train.sharding import distributed_settings, initialize_distributed, make_mesh

ERROR_LOG = "error.log"


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


def _make_run_folder(section: RunSection) -> Path:
    run_dir = Path(section.output_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"train.output_dir {run_dir}: cannot create the run folder ({error.strerror})") from None
    return run_dir


def _log_error(run_dir: Path, error: BaseException, process_index: int) -> Path:
    """Appends `error`'s full traceback to the run folder's error log; returns the log's path."""
    path = run_dir / ERROR_LOG
    heading = (f"=== {datetime.datetime.now().isoformat(timespec='seconds')}: process {process_index} (pid "
               f"{os.getpid()} on host {socket.gethostname()}) ===\n")
    with open(path, "a", encoding="utf-8") as log:
        log.write(heading + "".join(traceback.format_exception(error)) + "\n")
    return path


@contextlib.contextmanager
def run_folder(section: RunSection) -> Iterator[Path]:
    """The run folder of `section`, created if need be and locked while the block runs, before the hosts join.

    Each process takes its own lock (`.lock` for process 0, `.lock-<i>` for process i), so a second launch of a
    run, single- or multi-host, stops at once with FolderInUseError naming the holder, without joining the hosts
    of the first. A lock left by a killed process is taken over (and said so). An exception that ends the block has
    its full traceback appended to `error.log` in the folder, and a note naming that file.
    """
    run_dir = _make_run_folder(section)
    coordinator, _, process_id = distributed_settings(section.coordinator_address, section.num_processes,
                                                      section.process_id)
    index = process_id if coordinator is not None and process_id is not None else 0
    with folder_lock(run_dir, ".lock" if index == 0 else f".lock-{index}", wait=False, purpose="run folder",
                     advice="wait for that run to end, or choose another train.output_dir") as stale:
        if stale is not None:
            print(f"run folder {run_dir}: the run of {stale.describe()} ended without releasing it; going on",
                  flush=True)
        try:
            yield run_dir
        except Exception as error:
            error.add_note(f"{LOGGED_NOTE}{_log_error(run_dir, error, index)}")
            raise


def start_run(section: RunSection, config: Any) -> RunContext:
    """Joins the hosts, sets up the compilation cache, builds the mesh, opens the checkpoint manager and metrics
    writers of the run folder (inside `run_folder`, which holds it)."""
    initialize_distributed(section.coordinator_address, section.num_processes, section.process_id)
    use_compilation_cache(section.compilation_cache)  # after joining: it asks which backend runs
    run_dir = _make_run_folder(section)
    primary = jax.process_index() == 0
    checkpointer = Checkpointer(run_dir / "checkpoints", max_to_keep=section.keep_checkpoints,
                                say=lambda message: print(message, flush=True) if primary else None)
    return RunContext(run_dir=run_dir, mesh=make_mesh(), checkpointer=checkpointer,
                      metrics_log=MetricsLog(run_dir, enabled=primary), config=config)
