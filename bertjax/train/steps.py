"""Pure, jittable steps: `train_step(state, batch) -> (state, metrics)` with gradient accumulation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from bertjax.train.state import TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
# loss_fn(params, batch, dropout_key) -> (scalar loss, metrics averaged over the batch)
LossFn = Callable[[Any, Batch, jax.Array], tuple[jax.Array, Metrics]]


def split_micro_batches(batch: Batch, count: int) -> Batch:
    """[batch, ...] -> [count, batch / count, ...], micro-batch k taking rows k, k + count, ...

    Interleaving keeps every micro-batch spread over all devices when the batch axis is sharded.
    """
    def split(array: jax.Array) -> jax.Array:
        return jnp.swapaxes(array.reshape(array.shape[0] // count, count, *array.shape[1:]), 0, 1)

    return jax.tree.map(split, batch)


def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation, schedule: optax.Schedule,
                    accumulation_steps: int = 1) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """One optimizer update from a global batch, averaging gradients over `accumulation_steps` micro-batches.

    Metrics: the loss function's metrics (micro-batch means, averaged), `learning_rate` used by this update and
    `grad_norm` (global norm before clipping).
    """
    gradient_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def gradients(params: Any, batch: Batch, key: jax.Array) -> tuple[Any, Metrics]:
        (loss, metrics), grads = gradient_fn(params, batch, key)
        return grads, {"loss": loss, **metrics}

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = state.dropout_key()
        if accumulation_steps == 1:
            grads, metrics = gradients(state.params, batch, key)
        else:
            micro_batches = split_micro_batches(batch, accumulation_steps)

            def accumulate(totals: Any, inputs: tuple[jax.Array, Batch]) -> tuple[Any, None]:
                index, micro_batch = inputs
                results = gradients(state.params, micro_batch, jax.random.fold_in(key, index))
                return jax.tree.map(jnp.add, totals, results), None

            first = jax.tree.map(lambda array: array[0], micro_batches)
            zeros = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype),
                                 jax.eval_shape(gradients, state.params, first, key))
            totals, _ = jax.lax.scan(accumulate, zeros, (jnp.arange(accumulation_steps), micro_batches))
            grads, metrics = jax.tree.map(lambda total: total / accumulation_steps, totals)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {**metrics, "learning_rate": schedule(state.step), "grad_norm": optax.tree.norm(grads)}
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

    return train_step
