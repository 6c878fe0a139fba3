"""Running a jitted function over evaluation batches: summed metrics (pretraining) or gathered outputs
(fine-tuning predictions), with padding rows dropped."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np
from jax.experimental.multihost_utils import process_allgather
from jax.sharding import Mesh

from bertjax.train.sharding import batch_sharding, compiler_options, global_batch, replicated

HostBatch = dict[str, np.ndarray]


def jit_eval(function: Callable[[Any, Any], Any], mesh: Mesh, params_shardings: Any) -> Callable[[Any, Any], Any]:
    """jit of `function(params, batch)` with the batch sharded and the outputs replicated on every process."""
    return jax.jit(function, in_shardings=(params_shardings, batch_sharding(mesh)), out_shardings=replicated(mesh),
                   compiler_options=compiler_options(mesh))


def sum_over_batches(eval_fn: Callable[[Any, Any], dict[str, jax.Array]], params: Any,
                     batches: Iterable[HostBatch], mesh: Mesh) -> dict[str, float]:
    """Adds the per-batch sums `eval_fn` returns over all batches (fetching once per batch)."""
    totals: dict[str, float] = {}
    for batch in batches:
        for key, value in jax.device_get(eval_fn(params, global_batch(batch, mesh))).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    return totals


def gather_predictions(predict_fn: Callable[[Any, Any], dict[str, jax.Array]], params: Any,
                       batches: Iterable[HostBatch], mesh: Mesh) -> dict[str, list[np.ndarray]]:
    """Each real row's (`example_mask` 1) outputs, in batch order: key -> one array per example.

    Per-example arrays, because length-bucketed batches differ in sequence length. Each process passes its own
    rows; outputs come back for the whole global batch, so the lists cover every example of every process.
    """
    outputs: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        result = jax.device_get(predict_fn(params, global_batch(batch, mesh)))
        real = np.flatnonzero(np.asarray(process_allgather(batch["example_mask"], tiled=True)) > 0)
        for key, value in result.items():
            outputs.setdefault(key, []).extend(np.asarray(value)[real])
    return outputs
