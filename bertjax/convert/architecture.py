"""Head names: their module, their Hugging Face class in each family, and the parameters (shapes, initial values)
they need."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from bertjax.errors import CheckpointError, ConfigError
from bertjax.model import HEADS, BertModel, ModelConfig, ModelOptions

Params = dict[str, Any]
ParamPath = tuple[str, ...]

# The bare encoder (Hugging Face's `BertModel` or `ModernBertModel`): its parameters sit at the top level, not under
# `bert` or `model`, as in a `BertModel` checkpoint such as sentence-embedding models.
ENCODER = "model"

HF_CLASS_NAMES: dict[str, str] = {  # BERT's
    ENCODER: "BertModel",
    "pretraining": "BertForPreTraining",
    "masked_lm": "BertForMaskedLM",
    "next_sentence": "BertForNextSentencePrediction",
    "sequence_classification": "BertForSequenceClassification",
    "token_classification": "BertForTokenClassification",
    "question_answering": "BertForQuestionAnswering",
    "multiple_choice": "BertForMultipleChoice",
}
# Each family's transformers classes; ModernBERT has no next-sentence head, so neither `pretraining` (MLM + NSP)
# nor `next_sentence`.
FAMILY_CLASS_NAMES: dict[str, dict[str, str]] = {
    "bert": HF_CLASS_NAMES,
    "modernbert": {ENCODER: "ModernBertModel", "masked_lm": "ModernBertForMaskedLM",
                   "sequence_classification": "ModernBertForSequenceClassification",
                   "token_classification": "ModernBertForTokenClassification",
                   "question_answering": "ModernBertForQuestionAnswering",
                   "multiple_choice": "ModernBertForMultipleChoice"},
}


def check_head(head: str, config: ModelConfig | None = None) -> None:
    """Raises ConfigError unless `head` is a head bertjax knows (and one that `config`'s family has)."""
    if head not in HF_CLASS_NAMES:
        raise ConfigError(f"unknown head {head!r}; choose one of: {', '.join(HF_CLASS_NAMES)}")
    if config is not None and head not in FAMILY_CLASS_NAMES[config.architecture.family]:
        family = FAMILY_CLASS_NAMES[config.architecture.family]
        raise ConfigError(f"a {config.architecture.family} model has no {head} head (transformers has none either); "
                          f"choose one of: {', '.join(family)}"
                          + ("; pretrain it with masked_lm (data.next_sentence: false)" if head == "pretraining"
                             else ""))


def hf_class_name(config: ModelConfig, head: str) -> str:
    """The transformers class of `head` in `config`'s family (e.g. `ModernBertForMaskedLM`)."""
    check_head(head, config)
    return FAMILY_CLASS_NAMES[config.architecture.family][head]


def head_module(head: str, config: ModelConfig, options: ModelOptions = ModelOptions()) -> nn.Module:
    """The module for `head`: a key of `bertjax.model.HEADS`, or `model` for the bare encoder."""
    check_head(head, config)
    return BertModel(config, options) if head == ENCODER else HEADS[head](config, options)


def head_for_architectures(architectures: Sequence[str] | None, source: str) -> str:
    """The head named by a config.json `architectures` list (e.g. ["BertForMaskedLM"] -> `masked_lm`)."""
    heads = {class_name: head for names in FAMILY_CLASS_NAMES.values() for head, class_name in names.items()}
    for name in architectures or ():
        if name in heads:
            return heads[name]
    raise ConfigError(
        f"{source}: 'architectures' is {architectures!r}, which names no head bertjax knows; pass the head "
        f"explicitly (one of: {', '.join(HF_CLASS_NAMES)})")


def _sample_inputs(head: str) -> jax.Array:
    """The smallest input that builds every parameter: [1, 1], or [1, 1, 1] (batch, choices, seq)."""
    return jnp.zeros((1, 1, 1) if head == "multiple_choice" else (1, 1), jnp.int32)


def _unstacked(options: ModelOptions) -> ModelOptions:
    # Conversion works on the per-layer layout; how the model computes does not change its parameters.
    return dataclasses.replace(options, scan_layers=False, remat="none")


def expected_params(head: str, config: ModelConfig, options: ModelOptions = ModelOptions()
                    ) -> dict[ParamPath, jax.ShapeDtypeStruct]:
    """Flattened per-layer parameter paths of `head` -> shape and dtype (nothing is computed)."""
    module = head_module(head, config, _unstacked(options))
    shapes = jax.eval_shape(module.init, jax.random.key(0), _sample_inputs(head))
    return flatten_dict(shapes["params"])


def initial_params(head: str, config: ModelConfig, options: ModelOptions = ModelOptions(), seed: int = 0,
                   paths: Collection[ParamPath] | None = None) -> Params:
    """Freshly initialised per-layer parameters of `head`, as numpy arrays on the host.

    paths: only these parameters (e.g. a new classifier); the others are not computed. Each has the value it has
    when all are initialised.
    """
    module = head_module(head, config, _unstacked(options))

    def initialise(key: jax.Array) -> Params:
        params = module.init(key, _sample_inputs(head))["params"]
        if paths is None:
            return params
        flat = flatten_dict(params)
        return unflatten_dict({path: flat[path] for path in paths})

    return jax.tree.map(np.asarray, jax.device_get(jax.jit(initialise)(jax.random.key(seed))))


def check_params(params: Params, config: ModelConfig, head: str) -> None:
    """Raises CheckpointError unless per-layer `params` have exactly the paths and shapes `head` needs."""
    expected = expected_params(head, config)
    given = flatten_dict(params)
    problems = [f"missing {'/'.join(path)}" for path in expected if path not in given]
    problems += [f"unexpected {'/'.join(path)}" for path in given if path not in expected]
    problems += [f"{'/'.join(path)} has shape {tuple(np.shape(given[path]))}, expected {expected[path].shape}"
                 for path in expected if path in given and tuple(np.shape(given[path])) != expected[path].shape]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(
            f"the params do not fit a {head} model with this config ({shown}); pass the head and config they "
            f"were built with")
