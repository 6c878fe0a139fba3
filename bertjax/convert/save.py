"""Saving params as a Hugging Face folder that transformers' `BertFor<Head>` or `ModernBertFor<Head>` loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertjax.atomic import atomic_directory
from bertjax.convert.architecture import ENCODER, check_params
from bertjax.convert.files import CONFIG_FILE, SAFETENSORS_FILE, write_config, write_state_dict
from bertjax.convert.names import NAMINGS, state_dict_from_params
from bertjax.data.tokenizer import save_tokenizer
from bertjax.model import ModelConfig, sinusoidal_table
from bertjax.model.layout import unstack_layers

Params = dict[str, Any]


def save_pretrained(directory: str | Path, config: ModelConfig, params: Params, head: str,
                    tokenizer: Any = None) -> Path:
    """Writes config.json, model.safetensors and (given a `PreTrainedTokenizerFast`) the tokenizer files.

    params may be per-layer or stacked. A sinusoidal model's fixed table is written as learned position embeddings,
    which transformers computes alike. The folder appears complete or not at all.
    """
    params = unstack_layers(params)
    check_params(params, config, head)
    family = config.architecture.family
    state_dict = state_dict_from_params(params, family)
    if config.architecture.positions == "sinusoidal":
        name = NAMINGS[family].position_embeddings
        name = name.removeprefix(f"{NAMINGS[family].encoder}.") if head == ENCODER else name
        word_embeddings = state_dict[name.replace("position_embeddings", "word_embeddings")]
        table = sinusoidal_table(config.max_position_embeddings, config.hidden_size)
        state_dict[name] = table.astype(word_embeddings.dtype)
    return write_model_folder(directory, config, head, tokenizer, SAFETENSORS_FILE,
                              lambda path: write_state_dict(path, state_dict))


def write_model_folder(directory: str | Path, config: ModelConfig, head: str, tokenizer: Any, weights_name: str,
                       write_weights: Callable[[Path], None]) -> Path:
    """Writes config.json, the weights file (by `write_weights`) and the tokenizer files, atomically."""
    with atomic_directory(directory) as folder:
        write_config(folder / CONFIG_FILE, config, head)
        write_weights(folder / weights_name)
        if tokenizer is not None:
            # vocab.txt too, which transformers 5 no longer writes
            save_tokenizer(tokenizer, folder, max_length=config.max_position_embeddings)
    return Path(directory)
