"""Losses and accuracies of every head, in float32, matching PyTorch's `transformers` losses.

Each is a `Mean` kept as its sum and count, so that the means of parts of a batch (micro-batches) combine into the
mean of the whole.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

IGNORE_INDEX = -100


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Mean:
    """A mean as its sum (`total`) and the number or weight of what was summed (`count`)."""

    total: jax.Array
    count: jax.Array

    @property
    def value(self) -> jax.Array:
        return self.total / jnp.maximum(self.count, 1e-9)  # 0 where nothing was counted


def total_loss(terms: dict[str, Mean]) -> jax.Array:
    """A loss made of terms (MLM and NSP, say): the sum of their means."""
    return sum(term.value for term in terms.values())


def _weighted_cross_entropy(logits: jax.Array, labels: jax.Array, weights: jax.Array) -> tuple[Mean, Mean]:
    """Cross entropy and accuracy over entries with weight > 0. logits: [..., classes]; labels, weights: [...]."""
    logits = logits.astype(jnp.float32)
    safe_labels = jnp.where(weights > 0, labels, 0)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, safe_labels)
    correct = (jnp.argmax(logits, axis=-1) == safe_labels).astype(jnp.float32)
    count = jnp.sum(weights)
    return Mean(jnp.sum(losses * weights), count), Mean(jnp.sum(correct * weights), count)


def masked_lm_loss(mlm_logits: jax.Array, masked_lm_ids: jax.Array, masked_lm_weights: jax.Array
                   ) -> tuple[Mean, Mean]:
    """MLM loss and accuracy over the predicted positions.

    mlm_logits: [batch, predictions, vocab]; masked_lm_ids: [batch, predictions]; masked_lm_weights: [batch,
    predictions] (0 marks padding predictions).
    """
    return _weighted_cross_entropy(mlm_logits, masked_lm_ids, masked_lm_weights.astype(jnp.float32))


def classification_loss(logits: jax.Array, labels: jax.Array) -> tuple[Mean, Mean]:
    """Cross entropy and accuracy; labels equal to IGNORE_INDEX are left out (as PyTorch's ignore_index).

    logits: [..., classes]; labels: [...] integers. Serves sequence and token classification, NSP and multiple choice.
    """
    weights = (labels != IGNORE_INDEX).astype(jnp.float32)
    return _weighted_cross_entropy(logits, labels, weights)


def regression_loss(logits: jax.Array, targets: jax.Array) -> Mean:
    """Mean squared error of a single-output head. logits: [batch, 1]; targets: [batch]."""
    errors = jnp.square(logits[..., 0].astype(jnp.float32) - targets.astype(jnp.float32))
    return Mean(jnp.sum(errors), jnp.asarray(errors.size, jnp.float32))


def span_loss(start_logits: jax.Array, end_logits: jax.Array, start_positions: jax.Array,
              end_positions: jax.Array) -> dict[str, Mean]:
    """Extractive QA loss: mean of start and end cross entropies, as transformers' BertForQuestionAnswering, as
    two terms (`start`, `end`: halves of their cross entropies, each over its own positions).

    start_logits, end_logits: [batch, seq]; positions: [batch]. Positions outside the sequence are clamped to
    `seq` and ignored, as transformers does.
    """
    seq = start_logits.shape[-1]
    terms = {}
    for name, logits, positions in (("start", start_logits, start_positions), ("end", end_logits, end_positions)):
        positions = jnp.clip(positions, 0, seq)
        loss, _ = classification_loss(logits, jnp.where(positions == seq, IGNORE_INDEX, positions))
        terms[name] = Mean(loss.total / 2, loss.count)
    return terms
