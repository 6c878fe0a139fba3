"""Losses and accuracies of every head, in float32, matching PyTorch's `transformers` losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

IGNORE_INDEX = -100


def _weighted_cross_entropy(logits: jax.Array, labels: jax.Array, weights: jax.Array
                            ) -> tuple[jax.Array, jax.Array]:
    """Mean cross entropy and accuracy over entries with weight > 0. logits: [..., classes]; labels, weights: [...]."""
    logits = logits.astype(jnp.float32)
    safe_labels = jnp.where(weights > 0, labels, 0)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, safe_labels)
    correct = (jnp.argmax(logits, axis=-1) == safe_labels).astype(jnp.float32)
    total = jnp.maximum(jnp.sum(weights), 1e-9)
    return jnp.sum(losses * weights) / total, jnp.sum(correct * weights) / total


def masked_lm_loss(mlm_logits: jax.Array, masked_lm_ids: jax.Array, masked_lm_weights: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
    """MLM loss and accuracy over the predicted positions.

    mlm_logits: [batch, predictions, vocab]; masked_lm_ids: [batch, predictions]; masked_lm_weights: [batch,
    predictions] (0 marks padding predictions).
    """
    return _weighted_cross_entropy(mlm_logits, masked_lm_ids, masked_lm_weights.astype(jnp.float32))


def classification_loss(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Cross entropy and accuracy; labels equal to IGNORE_INDEX are left out (as PyTorch's ignore_index).

    logits: [..., classes]; labels: [...] integers. Serves sequence and token classification, NSP and multiple choice.
    """
    weights = (labels != IGNORE_INDEX).astype(jnp.float32)
    return _weighted_cross_entropy(logits, labels, weights)


def regression_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean squared error of a single-output head. logits: [batch, 1]; targets: [batch]."""
    return jnp.mean(jnp.square(logits[..., 0].astype(jnp.float32) - targets.astype(jnp.float32)))


def span_loss(start_logits: jax.Array, end_logits: jax.Array, start_positions: jax.Array,
              end_positions: jax.Array) -> jax.Array:
    """Extractive QA loss: mean of start and end cross entropies, as transformers' BertForQuestionAnswering.

    start_logits, end_logits: [batch, seq]; positions: [batch]. Positions outside the sequence are clamped to
    `seq` and ignored, as transformers does.
    """
    seq = start_logits.shape[-1]
    start = jnp.clip(start_positions, 0, seq)
    end = jnp.clip(end_positions, 0, seq)
    start_loss, _ = classification_loss(start_logits, jnp.where(start == seq, IGNORE_INDEX, start))
    end_loss, _ = classification_loss(end_logits, jnp.where(end == seq, IGNORE_INDEX, end))
    return (start_loss + end_loss) / 2
