"""AdamW as BERT trains it (warmup then decay, global-norm clipping, no decay on biases and norms, optional
layer-wise learning-rate decay and frozen lower layers), and the modern recipe's options: a warmup-stable-decay
schedule, weight decay decoupled from the learning rate, and StableAdamW's per-tensor update clipping."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from bertjax.errors import ConfigError

SCHEDULES = ("linear", "cosine", "constant", "warmup_stable_decay")
DECAY_SHAPES = ("linear", "1-sqrt")
_LAYER_KEY = re.compile(r"layer_(\d+)$")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer settings; defaults are BERT's (Adam betas 0.9/0.999, epsilon 1e-6, weight decay 0.01).

    schedule `warmup_stable_decay`: linear warmup, the peak held, then a decay over the last `decay_fraction` of
    the steps to `end_learning_rate_fraction` of the peak, linear or `1-sqrt` (ModernBERT, Ettin).
    decoupled_weight_decay: each step multiplies a parameter by 1 - weight_decay * lr / peak lr (the recipe's
    "decoupled" value, e.g. 1e-5) instead of 1 - weight_decay * lr (AdamW's, e.g. 0.01).
    update_clipping: StableAdamW: each tensor's step is divided by max(1, RMS(g² / max(v̂, epsilon²))), which
    damps the steps of tensors whose gradient jumps far above its running second moment.
    """

    learning_rate: float = 1e-4
    schedule: str = "linear"
    warmup_fraction: float = 0.1
    warmup_steps: int | None = None  # overrides warmup_fraction when set
    end_learning_rate_fraction: float = 0.0
    decay_fraction: float = 0.1  # warmup_stable_decay: the share of the steps spent decaying
    decay_shape: str = "linear"  # warmup_stable_decay: `linear` or `1-sqrt`
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    decoupled_weight_decay: bool = False
    update_clipping: bool = False
    max_grad_norm: float | None = 1.0
    layerwise_lr_decay: float = 1.0  # learning rate of layer i (of L) scaled by decay ** (L + 1 - i); 1 = off
    freeze_embeddings: bool = False
    freeze_layers: int = 0  # the lowest N encoder layers get no updates

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optimizer.schedule is {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"optimizer.learning_rate must be positive, got {self.learning_rate}")
        if not 0 <= self.warmup_fraction <= 1:
            raise ConfigError(f"optimizer.warmup_fraction must be in [0, 1], got {self.warmup_fraction}")
        if not 0 <= self.decay_fraction <= 1:
            raise ConfigError(f"optimizer.decay_fraction must be in [0, 1], got {self.decay_fraction}")
        if self.decay_shape not in DECAY_SHAPES:
            raise ConfigError(f"optimizer.decay_shape is {self.decay_shape!r}; choose one of {', '.join(DECAY_SHAPES)}")
        if not 0 < self.layerwise_lr_decay <= 1:
            raise ConfigError(f"optimizer.layerwise_lr_decay must be in (0, 1], got {self.layerwise_lr_decay}")


def learning_rate_schedule(config: OptimizerConfig, total_steps: int) -> optax.Schedule:
    """Linear warmup from 0 to the peak, then linear or cosine decay, constant, or held then decayed
    (`warmup_stable_decay`) until total_steps."""
    warmup = config.warmup_steps if config.warmup_steps is not None else int(config.warmup_fraction * total_steps)
    warmup = min(warmup, total_steps)
    decay_steps = max(total_steps - warmup, 1)
    peak, end = config.learning_rate, config.learning_rate * config.end_learning_rate_fraction
    if config.schedule == "linear":
        decay = optax.linear_schedule(peak, end, decay_steps)
    elif config.schedule == "cosine":
        decay = optax.cosine_decay_schedule(peak, decay_steps, alpha=config.end_learning_rate_fraction)
    elif config.schedule == "warmup_stable_decay":
        decay = _stable_then_decay(config, peak, end, decay_steps,
                                   min(round(config.decay_fraction * total_steps), decay_steps))
    else:
        decay = optax.constant_schedule(peak)
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def _stable_then_decay(config: OptimizerConfig, peak: float, end: float, steps: int, decay_steps: int
                       ) -> optax.Schedule:
    """The peak for steps - decay_steps steps, then a linear or 1 - sqrt decay to `end` over decay_steps."""
    stable_steps = steps - decay_steps

    def schedule(count: jax.Array) -> jax.Array:
        progress = jnp.clip((count - stable_steps) / max(decay_steps, 1), 0.0, 1.0)
        remaining = 1.0 - (jnp.sqrt(progress) if config.decay_shape == "1-sqrt" else progress)
        return end + (peak - end) * remaining

    return schedule


def _path_names(path: tuple[Any, ...]) -> list[str]:
    return [str(getattr(entry, "key", getattr(entry, "name", entry))) for entry in path]


def weight_decay_mask(params: Any) -> Any:
    """True where weight decay applies: every parameter except biases and norms' parameters (BERT's `LayerNorm`,
    a modern encoder's `norm`, `attn_norm`, `final_norm`, ...)."""
    def decays(path: tuple[Any, ...], _: Any) -> bool:
        names = _path_names(path)
        return names[-1] != "bias" and not any("norm" in name.lower() for name in names)

    return jax.tree_util.tree_map_with_path(decays, params)


def update_scales(params: Any, config: OptimizerConfig, num_layers: int) -> Any:
    """Per-parameter multipliers of the update: 0 for frozen parameters, layer-wise decay factors otherwise.

    Depth 0 is the embeddings, depth i + 1 encoder layer i, depth L + 1 everything above (pooler, heads).
    Scanned (stacked) layers get a vector with one factor per layer, broadcast over the leading axis.
    """
    decay = config.layerwise_lr_decay

    def scale(path: tuple[Any, ...], leaf: jax.Array) -> jax.Array:
        names = _path_names(path)
        if "embeddings" in names:
            factor = 0.0 if config.freeze_embeddings else decay ** (num_layers + 1)
            return jnp.asarray(factor, jnp.float32)
        if "encoder" in names:
            layer = next((m for m in map(_LAYER_KEY.match, names) if m), None)
            if layer is None:  # stacked layers (the last ones): one factor per layer along the leading axis
                stacked = leaf.shape[0]
                depths = jnp.arange(num_layers - stacked + 1, num_layers + 1)
                factors = jnp.where(depths <= config.freeze_layers, 0.0, decay ** (num_layers + 1 - depths))
                return factors.reshape((stacked,) + (1,) * (leaf.ndim - 1)).astype(jnp.float32)
            depth = int(layer.group(1)) + 1
            factor = 0.0 if depth <= config.freeze_layers else decay ** (num_layers + 1 - depth)
            return jnp.asarray(factor, jnp.float32)
        return jnp.asarray(1.0, jnp.float32)

    return jax.tree_util.tree_map_with_path(scale, params)


def _scale_updates(scales: Any) -> optax.GradientTransformation:
    def update(updates: Any, state: optax.EmptyState, params: Any = None) -> tuple[Any, optax.EmptyState]:
        del params
        return jax.tree.map(lambda update, factor: update * factor.astype(update.dtype), updates, scales), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
    """Scales all gradients by max_norm / norm when their global norm exceeds max_norm (`optax.clip_by_global_norm`).

    One scalar factor multiplies every gradient, so XLA fuses the clipping into AdamW's moment updates; optax's
    select between the gradient and a divided copy makes XLA write that copy of every gradient first.
    """

    def update(updates: Any, state: optax.EmptyState, params: Any = None) -> tuple[Any, optax.EmptyState]:
        del params
        norm = optax.tree.norm(updates)
        factor = jnp.where(norm < max_norm, 1.0, max_norm / norm)
        return jax.tree.map(lambda update: update * factor.astype(update.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


class ScaleByStableAdamState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any


def stable_adamw_direction(b1: float, b2: float, eps: float, weight_decay: float, mask: Callable[[Any], Any]
                           ) -> optax.GradientTransformation:
    """StableAdamW's step before the learning rate (optimi's `StableAdamW`, which ModernBERT trains with): Adam's
    m̂ / (√v̂ + eps) plus weight_decay × parameter where `mask` says, the whole divided per tensor by
    max(1, RMS(g² / max(v̂, eps²))). `mask(params)` says which parameters decay."""

    def init(params: Any) -> ScaleByStableAdamState:
        return ScaleByStableAdamState(jnp.zeros([], jnp.int32), optax.tree.zeros_like(params),
                                      optax.tree.zeros_like(params))

    def update(gradients: Any, state: ScaleByStableAdamState, params: Any = None
               ) -> tuple[Any, ScaleByStableAdamState]:
        count = optax.safe_int32_increment(state.count)
        mu = optax.tree.update_moment(gradients, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(gradients, state.nu, b2, 2)
        mu_hat, nu_hat = optax.tree.bias_correction(mu, b1, count), optax.tree.bias_correction(nu, b2, count)
        decays = mask(params)

        def step(gradient: jax.Array, first: jax.Array, second: jax.Array, param: jax.Array, decay: bool
                 ) -> jax.Array:
            rms = jnp.sqrt(jnp.mean(jnp.square(gradient) / jnp.maximum(second, eps * eps)))
            direction = first / (jnp.sqrt(second) + eps) + (weight_decay * param if decay else 0.0)
            return direction / jnp.maximum(1.0, rms)

        updates = jax.tree.map(step, gradients, mu_hat, nu_hat, params, decays)
        return updates, ScaleByStableAdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def _adamw(config: OptimizerConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    """AdamW or StableAdamW at `schedule`; decoupled weight decay is weight_decay / peak inside the step, so that
    the learning rate's factor leaves weight_decay × lr / peak."""
    weight_decay = config.weight_decay / config.learning_rate if config.decoupled_weight_decay else config.weight_decay
    if config.update_clipping:
        return optax.chain(
            stable_adamw_direction(config.adam_beta1, config.adam_beta2, config.adam_epsilon, weight_decay,
                                   weight_decay_mask),
            optax.scale_by_learning_rate(schedule))
    return optax.adamw(schedule, b1=config.adam_beta1, b2=config.adam_beta2, eps=config.adam_epsilon,
                       weight_decay=weight_decay, mask=weight_decay_mask)


def make_optimizer(config: OptimizerConfig, params: Any, total_steps: int, num_layers: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax chain and its learning-rate schedule.

    Frozen parameters' gradients are zeroed before clipping (so they do not count in the global norm) and their
    updates zeroed after AdamW (so weight decay does not move them either).
    """
    schedule = learning_rate_schedule(config, total_steps)
    adamw = _adamw(config, schedule)
    steps: list[optax.GradientTransformation] = []
    scales = update_scales(params, config, num_layers)
    trivial = config.layerwise_lr_decay == 1.0 and not config.freeze_embeddings and config.freeze_layers == 0
    if not trivial:
        frozen = jax.tree.map(lambda factor: (factor > 0).astype(jnp.float32), scales)
        steps.append(_scale_updates(frozen))
    if config.max_grad_norm:
        steps.append(clip_by_global_norm(config.max_grad_norm))
    steps.append(adamw)
    if not trivial:
        steps.append(_scale_updates(scales))
    return optax.chain(*steps), schedule
