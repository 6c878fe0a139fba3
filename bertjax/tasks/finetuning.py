"""Fine-tuning objectives: which head a task uses, its loss over the head's logits, and prediction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax

from bertjax.train.losses import Mean, classification_loss, regression_loss, span_loss

Batch = dict[str, jax.Array]
Logits = dict[str, jax.Array]
Means = dict[str, Mean]


def _classification(logits: Logits, batch: Batch) -> tuple[Means, Means]:
    loss, accuracy = classification_loss(logits["logits"], batch["labels"])
    return {"cross_entropy": loss}, {"accuracy": accuracy}


def _regression(logits: Logits, batch: Batch) -> tuple[Means, Means]:
    return {"squared_error": regression_loss(logits["logits"], batch["labels"])}, {}


def _span(logits: Logits, batch: Batch) -> tuple[Means, Means]:
    return span_loss(logits["start_logits"], logits["end_logits"], batch["start_positions"],
                     batch["end_positions"]), {}


@dataclasses.dataclass(frozen=True)
class Objective:
    """A fine-tuning task family: its head (a key of `bertjax.model.HEADS`) and its loss (terms and metrics, as
    `make_train_step` takes them)."""

    head: str
    loss: Callable[[Logits, Batch], tuple[Means, Means]]
    label_keys: tuple[str, ...]


OBJECTIVES = {
    "classification": Objective("sequence_classification", _classification, ("labels",)),
    "regression": Objective("sequence_classification", _regression, ("labels",)),
    "token_classification": Objective("token_classification", _classification, ("labels",)),
    "question_answering": Objective("question_answering", _span, ("start_positions", "end_positions")),
    "multiple_choice": Objective("multiple_choice", _classification, ("labels",)),
}


def _apply(model: nn.Module, params: Any, batch: Batch, deterministic: bool, key: jax.Array | None) -> Logits:
    rngs = {} if key is None else {"dropout": key}
    return model.apply({"params": params}, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                       deterministic=deterministic, rngs=rngs)


def finetuning_loss(model: nn.Module, objective: Objective) -> Callable[[Any, Batch, jax.Array], tuple[Means, Means]]:
    """loss_fn(params, batch, dropout_key) for `make_train_step`."""

    def loss_fn(params: Any, batch: Batch, key: jax.Array) -> tuple[Means, Means]:
        return objective.loss(_apply(model, params, batch, deterministic=False, key=key), batch)

    return loss_fn


def prediction(model: nn.Module) -> Callable[[Any, Batch], Logits]:
    """predict_fn(params, batch) -> the head's logits, without dropout."""

    def predict_fn(params: Any, batch: Batch) -> Logits:
        return _apply(model, params, batch, deterministic=True, key=None)

    return predict_fn
