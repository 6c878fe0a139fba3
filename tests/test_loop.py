"""The training loop on a toy problem: what a stop signal, an early stop or a finished run leave behind, and what a
run started again in the same folder does with it."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from checkpoint_damage import DAMAGES
from bertjax.train.checkpoint import Checkpointer
from bertjax.train.losses import Mean
from bertjax.train.loop import LoopConfig, LoopResult, run_training
from bertjax.train.metrics_log import MetricsLog, read_jsonl
from bertjax.train.sharding import jit_sharded, make_mesh
from bertjax.train.state import create_state
from bertjax.train.steps import make_train_step

TOTAL_STEPS = 10


def _loss(params: Any, batch: dict[str, jax.Array], key: jax.Array) -> tuple[dict[str, Mean], dict[str, Mean]]:
    error = batch["x"] @ params["w"] - batch["y"]
    count = jnp.asarray(error.size, jnp.float32)
    return {"squared_error": Mean(jnp.sum(error ** 2), count)}, {"abs_error": Mean(jnp.sum(jnp.abs(error)), count)}


def _batch(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(step)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    return {"x": x, "y": x @ np.asarray([1.0, -2.0, 0.5], np.float32)}


class _Run:
    """One attempt of a run in `run_dir`; records the batches it asked for (a few ahead of training) and the
    evaluations it made."""

    def __init__(self, run_dir: Path, stop_at_step: int | None = None, stop_in_evaluation_at: int | None = None,
                 stop_early_at: int | None = None, fail_in_evaluation_at: int | None = None) -> None:
        self.run_dir, self.batches, self.evaluated = run_dir, [], []
        self.fail_in_evaluation_at = fail_in_evaluation_at
        self.stop_at_step, self.stop_in_evaluation_at, self.stop_early_at = (stop_at_step, stop_in_evaluation_at,
                                                                            stop_early_at)

    def batch_for_step(self, step: int) -> dict[str, np.ndarray]:
        if step == self.stop_at_step:
            os.kill(os.getpid(), signal.SIGTERM)
        self.batches.append(step)
        return _batch(step)

    def evaluate(self, state: Any, step: int) -> dict[str, float]:
        if step == self.stop_in_evaluation_at:
            os.kill(os.getpid(), signal.SIGTERM)
        if step == self.fail_in_evaluation_at:
            raise ValueError("evaluation failed")
        self.evaluated.append(step)
        return {"w0": float(state.params["w"][0])}

    def on_evaluation(self, state: Any, step: int, metrics: dict[str, float], extra: dict[str, Any]) -> bool:
        return step == self.stop_early_at

    def __call__(self, log_every: int = 4, eval_every: int = 4, checkpoint_every: int = 0) -> LoopResult:
        mesh = make_mesh()
        optimizer = optax.adam(0.1)
        state, shardings = create_state({"w": jnp.zeros(3)}, optimizer, seed=0, mesh=mesh)
        step = jit_sharded(make_train_step(_loss, optimizer, optax.constant_schedule(0.1)), mesh, shardings)
        checkpointer = Checkpointer(self.run_dir / "checkpoints")
        metrics_log = MetricsLog(self.run_dir)
        try:
            return run_training(LoopConfig(TOTAL_STEPS, log_every, eval_every, checkpoint_every), state, step,
                                self.batch_for_step, mesh, checkpointer, metrics_log, tokens_per_batch=4,
                                evaluate=self.evaluate, on_evaluation=self.on_evaluation,
                                on_start=lambda resumed: metrics_log.truncate_after(resumed or 0))
        finally:
            checkpointer.close()
            metrics_log.close()


def _log(run_dir: Path, split: str) -> list[dict[str, float]]:
    return read_jsonl(run_dir / "metrics" / f"{split}.jsonl")


def _run_straight(tmp_path: Path, **settings: int) -> Path:
    _Run(tmp_path / "straight")(**settings)
    return tmp_path / "straight"


@pytest.mark.parametrize("checkpoint_every", [0, 3])
def test_a_stopped_and_resumed_run_logs_what_a_straight_run_logs(tmp_path: Path, checkpoint_every: int) -> None:
    """The steps since the last log line are kept in the checkpoint: the first line after the restart averages the
    same steps as the straight run's line."""
    straight = _run_straight(tmp_path, checkpoint_every=checkpoint_every)
    stopped = _Run(tmp_path / "resumed", stop_at_step=5)(checkpoint_every=checkpoint_every)
    assert stopped.interrupted and stopped.step < TOTAL_STEPS
    second = _Run(tmp_path / "resumed")
    assert second(checkpoint_every=checkpoint_every).resumed_from == stopped.step
    assert second.batches == list(range(stopped.step, TOTAL_STEPS))
    assert _log(tmp_path / "resumed", "train") == _log(straight, "train")
    assert _log(tmp_path / "resumed", "eval") == _log(straight, "eval")


def test_a_damaged_newest_checkpoint_costs_only_the_steps_since_the_one_before(tmp_path: Path) -> None:
    """A run stopped after step 6 (at 7 or 8), whose newest checkpoint then loses its metadata file, resumes from the
    checkpoint before it, as a run stopped there does, and ends as the straight run does. (The toy's arrays are too
    small for array files of their own: tests/test_pretraining_run.py truncates one.)"""
    straight = _run_straight(tmp_path, checkpoint_every=3)
    stopped = _Run(tmp_path / "run", stop_at_step=9)(checkpoint_every=3)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert Checkpointer(checkpoints).all_steps() == [3, 6, stopped.step] and stopped.step > 6
    DAMAGES["removed metadata file"](checkpoints / str(stopped.step))
    again = _Run(tmp_path / "run")
    assert again(checkpoint_every=3).resumed_from == 6
    assert again.batches == list(range(6, TOTAL_STEPS))
    assert _log(tmp_path / "run", "train") == _log(straight, "train")
    assert _log(tmp_path / "run", "eval") == _log(straight, "eval")
    assert (tmp_path / "run" / "checkpoints-unreadable" / str(stopped.step) / "state").is_dir()


def test_a_stop_during_the_final_evaluation_ends_in_a_checkpoint(tmp_path: Path) -> None:
    straight = _run_straight(tmp_path)
    first = _Run(tmp_path / "run", stop_in_evaluation_at=TOTAL_STEPS)
    result = first()
    assert not result.interrupted and first.evaluated[-1] == TOTAL_STEPS
    assert Checkpointer(tmp_path / "run" / "checkpoints").all_steps() == [TOTAL_STEPS]
    again = _Run(tmp_path / "run")
    again()
    assert again.batches == [] and again.evaluated == []  # finished: nothing is trained or evaluated twice
    assert _log(tmp_path / "run", "eval") == _log(straight, "eval")


@pytest.mark.parametrize("failing_step", [4, TOTAL_STEPS])
def test_a_failed_evaluation_keeps_the_training_before_it(tmp_path: Path, failing_step: int) -> None:
    """The trained steps are checkpointed before the error propagates; started again, a run whose final evaluation
    failed only evaluates, and one that failed mid-run trains on from there."""
    straight = _run_straight(tmp_path)
    with pytest.raises(ValueError, match="evaluation failed"):
        _Run(tmp_path / "run", fail_in_evaluation_at=failing_step)()
    assert Checkpointer(tmp_path / "run" / "checkpoints").latest_step() == failing_step
    again = _Run(tmp_path / "run")
    again()
    assert again.batches == list(range(failing_step, TOTAL_STEPS)) and again.evaluated[-1] == TOTAL_STEPS
    assert _log(tmp_path / "run", "train") == _log(straight, "train")


def test_an_early_stopped_run_started_again_trains_no_further(tmp_path: Path) -> None:
    first = _Run(tmp_path / "run", stop_early_at=4)()
    assert first.stopped_early and first.step == 4
    again = _Run(tmp_path / "run")
    result = again()
    assert result.stopped_early and result.step == 4 and again.batches == [] and again.evaluated == []
    assert [entry["step"] for entry in _log(tmp_path / "run", "eval")] == [4]
