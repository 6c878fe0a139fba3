"""The pretraining objective: masked LM (only at the predicted positions) plus optional next-sentence prediction.

Batches are those of `bertjax.data.pretraining.dataset`: one sequence per row, or packed rows (with `sequence_ids`), whose
attention stays within each sequence and whose NSP is predicted at every sequence's [CLS].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from bertjax.model.attention import packed_attention_mask
from bertjax.train.losses import IGNORE_INDEX, Mean, classification_loss, masked_lm_loss

Batch = dict[str, jax.Array]
Means = dict[str, Mean]


def _logits(model: nn.Module, params: Any, batch: Batch, deterministic: bool, key: jax.Array | None
            ) -> dict[str, jax.Array]:
    rngs = {} if key is None else {"dropout": key}
    if "sequence_ids" in batch:
        attention_mask = packed_attention_mask(batch["sequence_ids"])
    else:
        attention_mask = batch["attention_mask"]
    return model.apply({"params": params}, batch["input_ids"], attention_mask, batch["token_type_ids"],
                       batch.get("position_ids"), deterministic=deterministic,
                       masked_positions=batch["masked_lm_positions"],
                       next_sentence_positions=batch.get("next_sentence_positions"), rngs=rngs)


def _next_sentence_targets(batch: Batch) -> tuple[jax.Array, jax.Array]:
    """NSP labels and weights: [rows], or [rows, sequences per pack] in packed batches (weight 0: no sequence)."""
    labels = batch["next_sentence_labels"]
    return labels, batch.get("next_sentence_weights", jnp.ones(labels.shape, jnp.float32))


def pretraining_loss(model: nn.Module) -> Callable[[Any, Batch, jax.Array], tuple[Means, Means]]:
    """loss_fn(params, batch, dropout_key) for `make_train_step`: MLM loss + NSP loss (when the batch has labels),
    each the mean over its own predictions."""

    def loss_fn(params: Any, batch: Batch, key: jax.Array) -> tuple[Means, Means]:
        logits = _logits(model, params, batch, deterministic=False, key=key)
        mlm_loss, mlm_accuracy = masked_lm_loss(logits["mlm_logits"], batch["masked_lm_ids"],
                                                batch["masked_lm_weights"])
        terms, metrics = {"mlm": mlm_loss}, {"mlm_loss": mlm_loss, "mlm_accuracy": mlm_accuracy}
        if "next_sentence_labels" in batch:
            labels, weights = _next_sentence_targets(batch)
            nsp_loss, nsp_accuracy = classification_loss(logits["nsp_logits"], jnp.where(weights > 0, labels,
                                                                                           IGNORE_INDEX))
            terms["nsp"] = nsp_loss
            metrics |= {"nsp_loss": nsp_loss, "nsp_accuracy": nsp_accuracy}
        return terms, metrics

    return loss_fn


def pretraining_eval_sums(model: nn.Module) -> Callable[[Any, Batch], dict[str, jax.Array]]:
    """eval_fn(params, batch) -> sums and counts over real rows (`example_mask`), to be added over batches."""

    def eval_fn(params: Any, batch: Batch) -> dict[str, jax.Array]:
        logits = _logits(model, params, batch, deterministic=True, key=None)
        rows = batch["example_mask"].astype(jnp.float32)
        weights = batch["masked_lm_weights"].astype(jnp.float32) * rows[:, None]
        mlm_logits = logits["mlm_logits"].astype(jnp.float32)
        mlm_losses = optax.softmax_cross_entropy_with_integer_labels(mlm_logits, batch["masked_lm_ids"])
        mlm_correct = jnp.argmax(mlm_logits, -1) == batch["masked_lm_ids"]
        sums = {"mlm_loss": jnp.sum(mlm_losses * weights), "mlm_correct": jnp.sum(mlm_correct * weights),
                "mlm_count": jnp.sum(weights)}
        if "next_sentence_labels" in batch:
            nsp_logits = logits["nsp_logits"].astype(jnp.float32)
            labels, weights = _next_sentence_targets(batch)
            weights = weights * rows.reshape(rows.shape + (1,) * (labels.ndim - 1))
            sums |= {"nsp_loss": jnp.sum(optax.softmax_cross_entropy_with_integer_labels(nsp_logits, labels) * weights),
                     "nsp_correct": jnp.sum((jnp.argmax(nsp_logits, -1) == labels) * weights),
                     "nsp_count": jnp.sum(weights)}
        return sums

    return eval_fn


def summarize_pretraining_eval(sums: dict[str, float]) -> dict[str, float]:
    """Sums over the evaluation set -> mean losses and accuracies."""
    summary = {"mlm_loss": sums["mlm_loss"] / sums["mlm_count"], "mlm_accuracy": sums["mlm_correct"] / sums["mlm_count"]}
    if "nsp_count" in sums:
        summary |= {"nsp_loss": sums["nsp_loss"] / sums["nsp_count"],
                    "nsp_accuracy": sums["nsp_correct"] / sums["nsp_count"]}
        summary["loss"] = summary["mlm_loss"] + summary["nsp_loss"]
    else:
        summary["loss"] = summary["mlm_loss"]
    return summary
