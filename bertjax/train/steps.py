"""Pure, jittable steps: `train_step(state, batch) -> (state, metrics)` with gradient accumulation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from bertjax.train.losses import Mean, total_loss
from bertjax.train.state import TrainState

Batch = dict[str, jax.Array]
Means = dict[str, Mean]
Metrics = dict[str, jax.Array]
# loss_fn(params, batch, dropout_key) -> (loss terms, metrics), both Means over the batch: the loss is the sum of the
# terms' means (MLM and NSP, say), and the metrics are reported as means.
LossFn = Callable[[Any, Batch, jax.Array], tuple[Means, Means]]


def split_micro_batches(batch: Batch, count: int) -> Batch:
    """[batch, ...] -> [count, batch / count, ...], micro-batch k taking rows k, k + count, ...

    Interleaving keeps every micro-batch spread over all devices when the batch axis is sharded.
    """
    def split(array: jax.Array) -> jax.Array:
        return jnp.swapaxes(array.reshape(array.shape[0] // count, count, *array.shape[1:]), 0, 1)

    return jax.tree.map(split, batch)


def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation, schedule: optax.Schedule,
                    accumulation_steps: int = 1) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """One optimizer update from a global batch, its gradients added up over `accumulation_steps` micro-batches.

    Each loss term is divided by its count over the whole batch (all micro-batches' MLM predictions, say), so the
    update is the full batch's however the counts fall across micro-batches.
    Metrics: `loss`, the loss function's metrics (means over the batch), `learning_rate` used by this update and
    `grad_norm` (global norm before clipping).
    """

    def objective(params: Any, batch: Batch, key: jax.Array, counts: dict[str, jax.Array] | None
                  ) -> tuple[jax.Array, tuple[Means, Means]]:
        """The loss of `batch` with each term divided by `counts` (None: its own count)."""
        terms, metrics = loss_fn(params, batch, key)
        counts = counts or {name: term.count for name, term in terms.items()}
        loss = sum(term.total / jnp.maximum(counts[name], 1e-9) for name, term in terms.items())
        return loss, (terms, metrics)

    gradient_fn = jax.grad(objective, has_aux=True)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = state.dropout_key()
        if accumulation_steps == 1:
            grads, (terms, means) = gradient_fn(state.params, batch, key, None)
        else:
            micro_batches = split_micro_batches(batch, accumulation_steps)
            # The counts depend on the batch alone, so XLA drops the rest of these forward passes as dead code.
            counts = jax.vmap(lambda micro_batch: {name: term.count for name, term in
                                                   loss_fn(state.params, micro_batch, key)[0].items()})(micro_batches)
            counts = jax.tree.map(jnp.sum, counts)

            def accumulate(totals: Any, inputs: tuple[jax.Array, Batch]) -> tuple[Any, None]:
                index, micro_batch = inputs
                results = gradient_fn(state.params, micro_batch, jax.random.fold_in(key, index), counts)
                return jax.tree.map(jnp.add, totals, results), None

            first = jax.tree.map(lambda array: array[0], micro_batches)
            zeros = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype),
                                 jax.eval_shape(gradient_fn, state.params, first, key, counts))
            (grads, (terms, means)), _ = jax.lax.scan(accumulate, zeros, (jnp.arange(accumulation_steps),
                                                                        micro_batches))
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": total_loss(terms), **{name: mean.value for name, mean in means.items()},
                   "learning_rate": schedule(state.step), "grad_norm": optax.tree.norm(grads)}
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

    return train_step
