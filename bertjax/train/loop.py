"""The training loop shared by pretraining and fine-tuning: resume, steps, periodic metrics, evaluation,
checkpoints, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from bertjax.train.checkpoint import Checkpointer
from bertjax.train.metrics_log import MetricsLog
from bertjax.train.progress import Progress
from bertjax.train.sharding import prefetch_to_device
from bertjax.train.state import TrainState, abstract_state

HostBatch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    total_steps: int
    log_every: int = 10
    eval_every: int = 0  # 0: evaluate only at the end
    checkpoint_every: int = 0  # 0: checkpoint only at the end (and on interruption)
    description: str = "train"


@dataclasses.dataclass
class LoopResult:
    state: TrainState
    step: int
    interrupted: bool
    stopped_early: bool
    resumed_from: int | None
    extra: dict[str, Any]  # what the evaluation hook keeps across restarts (best metric, patience, ...)


class _StopRequest:
    """Turns SIGTERM/SIGINT into a flag the loop checks between steps; restores the old handlers on exit."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


# Keys of the evaluation bookkeeping (`extra`) that the loop itself keeps.
EVALUATED_STEP, STOPPED_EARLY = "evaluated_step", "stopped_early"

# evaluate(state, step) -> metrics; on_evaluation(state, step, metrics, extra) -> True to stop early.
Evaluate = Callable[[TrainState, int], dict[str, float]]
OnEvaluation = Callable[[TrainState, int, dict[str, float], dict[str, Any]], bool]


def _mean_metrics(pending: list[dict[str, Any]]) -> dict[str, float]:
    """Means in float64: the same whether a step's values come from the device or back from a checkpoint."""
    fetched = jax.device_get(pending)
    return {key: float(np.mean([metrics[key] for metrics in fetched], dtype=np.float64)) for key in fetched[0]}


def run_training(config: LoopConfig, state: TrainState, train_step: Callable[[TrainState, Any], Any],
                 batch_for_step: Callable[[int], HostBatch], mesh: Mesh, checkpointer: Checkpointer,
                 metrics_log: MetricsLog, tokens_per_batch: int, evaluate: Evaluate | None = None,
                 on_evaluation: OnEvaluation | None = None, run_metadata: dict[str, Any] | None = None,
                 on_start: Callable[[int | None], None] | None = None) -> LoopResult:
    """Trains until `config.total_steps`, resuming from the newest readable checkpoint in `checkpointer` if there is
    one.

    batch_for_step(step) returns this process's rows of global batch `step`, so the data position is the step and a
    resumed run sees exactly the batches it would have seen. Metrics are fetched from the device only every
    `log_every` steps; those not yet logged are kept in each checkpoint, so a resumed run logs what a straight one
    does. Checkpoint metadata holds `run_metadata` and the evaluation hook's `extra` dict, with the step of the last
    evaluation and whether the run stopped early: a finished or early-stopped run, started again, trains and
    evaluates no further. The last checkpoint is written after the final evaluation, and a stop signal during it
    (or during any step) still ends in a checkpoint; so does an evaluation that fails (started again, the run
    evaluates its last step again).
    on_start(resumed_step) runs once the checkpoint (if any) has been restored into this run's state layout, so a
    run that cannot resume fails before it writes anything.
    """
    extra: dict[str, Any] = {}
    pending: list[dict[str, Any]] = []  # metrics of the steps since the last log line
    resumed_from = None
    restored = checkpointer.restore_newest(abstract_state(state))  # unreadable newer steps are set aside
    if restored is not None:
        resumed_from, state, metadata = restored
        extra = dict(metadata.get("extra", {}))
        pending = list(metadata.get("pending_metrics", []))
    start = int(jax.device_get(state.step))
    if on_start is not None:
        on_start(resumed_from)
    progress = Progress(config.total_steps, initial_step=start, description=config.description,
                        enabled=jax.process_index() == 0)
    if resumed_from is not None:
        progress.write(f"resumed from the checkpoint of step {resumed_from}")

    def save(step: int) -> None:
        fetched = [{key: float(value) for key, value in metrics.items()} for metrics in jax.device_get(pending)]
        checkpointer.save(step, state, {"extra": extra, "pending_metrics": fetched, **(run_metadata or {})},
                          force=True)

    def evaluate_now(step: int) -> bool:
        """Evaluates (if there is an evaluation) and records it; True when the evaluation hook stops the run."""
        if evaluate is None:
            return False
        try:
            extra[STOPPED_EARLY] = _evaluate(state, step, evaluate, on_evaluation, metrics_log, progress, extra)
        except Exception:
            if checkpointer.latest_step() != step:  # the training so far is kept; run again to evaluate again
                save(step)
                checkpointer.wait()
            raise
        extra[EVALUATED_STEP] = step
        return extra[STOPPED_EARLY]

    def batches() -> Iterator[HostBatch]:
        for step in range(start, config.total_steps):
            yield batch_for_step(step)

    step, interrupted, stopped_early = start, False, bool(extra.get(STOPPED_EARLY))
    with _StopRequest() as stop:
        for batch in () if stopped_early else prefetch_to_device(batches(), mesh):
            state, metrics = train_step(state, batch)
            pending.append(metrics)
            step += 1
            last = step == config.total_steps
            if step % config.log_every == 0 or last:
                means, steps_since_log = _mean_metrics(pending), len(pending)
                pending.clear()
                metrics_log.write("train", step, means)
                progress.update(step, means, tokens=tokens_per_batch * steps_since_log)
            if config.eval_every and step % config.eval_every == 0 and not last:
                stopped_early = evaluate_now(step)
            if config.checkpoint_every and step % config.checkpoint_every == 0 and not last:
                save(step)
            if stop.requested or stopped_early:
                interrupted = stop.requested and not last
                break
        if not interrupted and not stopped_early and extra.get(EVALUATED_STEP) != step:
            stopped_early = evaluate_now(step)
        if checkpointer.latest_step() != step:
            save(step)
        checkpointer.wait()
    progress.close()
    if interrupted:
        print(f"stopped by a signal at step {step}; the checkpoint is saved, run again to resume", flush=True)
    return LoopResult(state, step, interrupted, stopped_early, resumed_from, extra)


def _evaluate(state: TrainState, step: int, evaluate: Evaluate, on_evaluation: OnEvaluation | None,
              metrics_log: MetricsLog, progress: Progress, extra: dict[str, Any]) -> bool:
    metrics = evaluate(state, step)
    metrics_log.write("eval", step, metrics)
    progress.write(f"eval at step {step}: " + ", ".join(f"{key} {value:.4f}" for key, value in metrics.items()))
    return bool(on_evaluation(state, step, metrics, extra)) if on_evaluation is not None else False
