"""bertjax's own model folder, the starting point for fine-tuning and the convert script's output.

    config.json      Hugging Face's config of the family; `architectures` names the head's class (e.g. BertForMaskedLM)
    params.msgpack   `flax.serialization.msgpack_serialize` of the per-layer params
    tokenizer files  tokenizer.json, vocab.txt, ... when a tokenizer was given
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax

from bertjax.convert.architecture import check_params, head_for_architectures
from bertjax.convert.files import CONFIG_FILE, PARAMS_FILE, read_config, read_params, write_params
from bertjax.convert.load import fit_state_dict
from bertjax.convert.names import state_dict_from_params
from bertjax.convert.save import write_model_folder
from bertjax.errors import CheckpointError
from bertjax.model import ModelConfig, ModelOptions
from bertjax.model.layout import unstack_layers

Params = dict[str, Any]


def save_model_dir(directory: str | Path, config: ModelConfig, params: Params, head: str,
                   tokenizer: Any = None) -> Path:
    """Writes a bertjax model folder atomically; params may be per-layer or stacked."""
    params = jax.device_get(unstack_layers(params))
    check_params(params, config, head)
    return write_model_folder(directory, config, head, tokenizer, PARAMS_FILE,
                              lambda path: write_params(path, params))


def load_model_dir(directory: str | Path, options: ModelOptions = ModelOptions()
                   ) -> tuple[ModelConfig, str, Params]:
    """Reads a bertjax model folder: (config, head, params), stacked when `options.scan_layers`."""
    directory = Path(directory)
    params_path = directory / PARAMS_FILE
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such directory; pass a folder written by save_model_dir")
    if not params_path.is_file():
        raise CheckpointError(
            f"{directory}: not a bertjax model folder (no {PARAMS_FILE}); read Hugging Face folders with "
            f"load_pretrained")
    config, architectures = read_config(directory)
    head = head_for_architectures(architectures, str(directory / CONFIG_FILE))
    state_dict = state_dict_from_params(read_params(params_path), config.architecture.family)
    params, _ = fit_state_dict(state_dict, config, head, options, source=str(params_path), strict=True)
    return config, head, params
