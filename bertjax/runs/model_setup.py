"""Building the model of a run: a fresh one from a preset or config file, or one loaded from a checkpoint."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from bertjax.convert import load_pretrained
from bertjax.errors import ConfigError
from bertjax.model import HEADS, ModelConfig, ModelOptions, preset, read_config_file
from bertjax.model.layout import keep_first_layers


@dataclasses.dataclass(frozen=True)
class ModelSection:
    """Which model to train (BERT or ModernBERT) and how to compute it.

    config_file: a config.json (of any family bertjax implements) instead of a preset;
    init_from: a Hugging Face or bertjax model directory to start from (its architecture wins over preset);
    changes: config fields to change (e.g. hidden_dropout_prob), applied to a fresh or loaded config;
    keep_layers: keep only the first K encoder layers of the (loaded) model: smaller and faster.
    """

    preset: str = "bert-tiny"
    config_file: str | None = None
    init_from: str | None = None
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)
    keep_layers: int | None = None
    dtype: str = "float32"
    param_dtype: str = "float32"
    attention: str = "reference"
    scan_layers: bool = False
    remat: str = "none"
    attention_chunks: int | None = None  # batch slices of the reference attention; None: ModelOptions' choice

    def options(self) -> ModelOptions:
        return ModelOptions.from_names(self.dtype, self.param_dtype, attention=self.attention,
                                       scan_layers=self.scan_layers, remat=self.remat,
                                       attention_chunks=self.attention_chunks)


@dataclasses.dataclass
class BuiltModel:
    config: ModelConfig
    model: nn.Module
    params: Any
    notes: list[str]  # what the user should know: initialised heads, unused weights

    def take_params(self) -> Any:
        """Hands the parameters over and forgets them, so that a training state built from them is the only copy
        that lives through the run (at bert-base, 440 MB less)."""
        params, self.params = self.params, None
        return params


def build_model(section: ModelSection, head: str, seed: int, **config_changes: Any) -> BuiltModel:
    """The model for `head` (a key of HEADS); `config_changes` (e.g. vocab_size, id2label) come from the data."""
    options = section.options()
    changes = {**section.changes, **config_changes}
    if section.init_from:
        config, params, report = load_pretrained(section.init_from, head, options=options,
                                                 config_changes=changes, seed=seed)
        built = BuiltModel(config, HEADS[head](config, options), params, report.describe())
    else:
        built = _fresh_model(section, head, seed, options, changes)
    count = section.keep_layers
    if count is None or count == built.config.num_hidden_layers:
        return built
    if not 1 <= count <= built.config.num_hidden_layers:
        raise ConfigError(f"model.keep_layers must be between 1 and the model's {built.config.num_hidden_layers} "
                          f"layers, got {count}")
    config = built.config.with_first_layers(count)
    return BuiltModel(config, HEADS[head](config, options), keep_first_layers(built.params, count),
                      [*built.notes, f"kept the first {count} of {built.config.num_hidden_layers} layers"])


def _fresh_model(section: ModelSection, head: str, seed: int, options: ModelOptions, changes: dict[str, Any]
                 ) -> BuiltModel:
    try:
        if section.config_file:
            config = read_config_file(section.config_file).replace(**changes)
        else:
            config = preset(section.preset, **changes)
    except TypeError as error:
        raise ConfigError(f"model.changes: {error}") from None
    model = HEADS[head](config, options)
    sample = jnp.ones((1, 3, 8) if head == "multiple_choice" else (1, 8), jnp.int32)
    params = jax.jit(lambda key: model.init(key, sample)["params"])(jax.random.key(seed))
    return BuiltModel(config, model, params, [f"initialised a new {head} model ({describe(config)})"])


def describe(config: ModelConfig) -> str:
    return (f"{config.model_type} L{config.num_hidden_layers}/H{config.hidden_size}/A{config.num_attention_heads}, "
            f"vocab {config.vocab_size}")
