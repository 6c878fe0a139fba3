"""Loading a Hugging Face (or bertjax) model folder into the params of any head."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from flax.traverse_util import flatten_dict

from bertjax.convert.architecture import ParamPath, check_head, expected_params, initial_params
from bertjax.convert.files import PARAMS_FILE, find_weights, read_config, read_params, read_state_dict
from bertjax.convert.names import NAMINGS, StateDict, canonical_key, hf_key, state_dict_from_params, to_hf_layout
from bertjax.convert.placement import DevicePlacement
from bertjax.errors import CheckpointError, ConfigError
from bertjax.model import ModelConfig, ModelOptions, sinusoidal_table

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What did not come from the checkpoint, by Hugging Face name."""

    source: str  # the weights file read
    missing: tuple[str, ...] = ()  # weights the head needs and the checkpoint lacks: initialised as transformers does
    unexpected: tuple[str, ...] = ()  # checkpoint weights the head does not use
    reinitialised: tuple[str, ...] = ()  # classifier weights whose shape changed with new labels: initialised

    def describe(self) -> list[str]:
        """One line per kind of difference, for a run's log."""
        lines = [f"loaded {self.source}"]
        for title, names in (("initialised as transformers does (not in the checkpoint)", self.missing),
                             ("initialised for the new labels", self.reinitialised),
                             ("unused checkpoint weights", self.unexpected)):
            if names:
                lines.append(f"{title}: {', '.join(names)}")
        return lines


def load_pretrained(directory: str | Path, head: str, options: ModelOptions = ModelOptions(),
                    config_changes: dict[str, Any] | None = None, seed: int = 0
                    ) -> tuple[ModelConfig, Params, LoadReport]:
    """Reads a model folder (config.json + model.safetensors, pytorch_model.bin or bertjax's params.msgpack) of any
    family bertjax implements (BERT, ModernBERT) into the params of `head` (a key of `bertjax.model.HEADS`, or
    `model` for the bare encoder).

    config_changes: config fields to change, e.g. `id2label` for a classifier with new labels.
    Returns per-layer params, or stacked ones when `options.scan_layers`, in `options.param_dtype`, on JAX's default
    device. The weights are read, converted and placed one at a time: at most one of them is on the host beside the
    placed parameters.
    """
    check_head(head)
    directory = Path(directory)
    weights_path = find_weights(directory)
    file_config, _ = read_config(directory)
    config = _apply_changes(file_config, config_changes, directory / "config.json")
    check_head(head, config)
    if weights_path.name == PARAMS_FILE:
        state_dict = state_dict_from_params(read_params(weights_path), config.architecture.family)
    else:
        state_dict = read_state_dict(weights_path)
    if file_config.architecture.positions == config.architecture.positions == "sinusoidal":
        _check_sinusoidal_table(state_dict, config, str(weights_path))
    params, report = fit_state_dict(state_dict, config, head, options, seed, source=str(weights_path),
                                    labels_changed=config.num_labels != file_config.num_labels)
    return config, params, report


def _apply_changes(config: ModelConfig, changes: dict[str, Any] | None, source: Path) -> ModelConfig:
    try:
        return config.replace(**(changes or {}))
    except ConfigError as error:
        raise ConfigError(f"{source} with config_changes {changes}: {error}") from None
    except TypeError as error:
        raise ConfigError(f"config_changes {changes}: {error}; use {type(config).__name__} field names") from None


def fit_state_dict(state_dict: StateDict, config: ModelConfig, head: str, options: ModelOptions = ModelOptions(),
                   seed: int = 0, source: str = "checkpoint", strict: bool = False,
                   labels_changed: bool = False) -> tuple[Params, LoadReport]:
    """Hugging Face weights by name -> the params of `head` on JAX's default device, initialising what is missing.

    Each weight is looked up once, so a lazy `state_dict` (`read_state_dict`) is read one weight at a time.

    strict: any missing or unused weight is an error (for folders that must hold exactly this head).
    labels_changed: the classifier may have another number of outputs than in the checkpoint; it is then initialised.
    """
    family = config.architecture.family
    expected = expected_params(head, config, options)
    names = {path: hf_key(path, family) for path in expected}
    keys = {path: canonical_key(name, family) for path, name in names.items()}
    available, unexpected = _sort_names(state_dict.keys(), set(keys.values()), config)
    missing = [path for path, key in keys.items() if key not in available]
    if strict and (missing or unexpected):
        report = LoadReport(source, tuple(names[path] for path in missing), tuple(unexpected))
        raise CheckpointError(
            f"{source}: does not hold exactly a {head} model: " + "; ".join(report.describe()[1:]))
    placement = DevicePlacement(config.num_hidden_layers if options.scan_layers else None,
                                config.architecture.first_scanned_layer)
    reinitialised: dict[ParamPath, str] = {}
    for path in placement.order(expected):
        if keys[path] not in available:
            continue
        name = available[keys[path]]
        array = to_hf_layout(path, state_dict[name])  # back to [in, out] for kernels
        if array.shape != expected[path].shape:
            if labels_changed and path[0] == "classifier":
                reinitialised[path] = name
                continue
            raise CheckpointError(
                f"{source}: parameter '{name}' has shape {_hf_shape(path, array.shape)}, but this {head} model "
                f"needs {_hf_shape(path, expected[path].shape)}; the checkpoint was saved with another config (check "
                f"config.json and config_changes)")
        placement.add(path, np.asarray(array, dtype=expected[path].dtype))
    if missing or reinitialised:
        fresh = initial_params(head, config, options, seed, paths=[*missing, *reinitialised])
        for path, value in flatten_dict(fresh).items():
            placement.add(path, value)
    report = LoadReport(source, tuple(names[path] for path in missing), tuple(unexpected),
                        tuple(reinitialised.values()))
    return placement.params(), report


def _check_sinusoidal_table(state_dict: StateDict, config: ModelConfig, source: str) -> None:
    """A checkpoint saved as a sinusoidal model holds its fixed table, as `save_pretrained` writes it, or no position
    embeddings. In transformers that table is a weight like any other: one trained there would be dropped. (A
    learned table dropped on purpose, with config_changes to sinusoidal positions, is not checked.)"""
    family = config.architecture.family
    position_embeddings = NAMINGS[family].position_embeddings
    name = next((name for name in state_dict.keys() if canonical_key(name, family) == position_embeddings), None)
    if name is None:
        return
    weight = np.asarray(state_dict[name])
    table = sinusoidal_table(config.max_position_embeddings, config.hidden_size)
    if weight.shape != table.shape or not np.array_equal(weight, table.astype(weight.dtype)):
        raise CheckpointError(
            f"{source}: '{name}' is not the sinusoidal table that config.json (bertjax_position_embedding_type) "
            f"asks for, so it was trained since it was written; load it as learned positions with "
            f"config_changes={{'position_embedding_type': 'absolute'}} (model.changes in a run config)")


def _hf_shape(path: ParamPath, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(reversed(shape)) if path[-1] == "kernel" else tuple(shape)


def _sort_names(names: Iterable[str], expected_keys: Collection[str], config: ModelConfig
                ) -> tuple[dict[str, str], list[str]]:
    """Canonical name -> checkpoint name for the weights the head uses; the checkpoint names it does not.

    Buffers are skipped, as are the tied MLM decoder (the word embeddings) and learned position embeddings when the
    model computes others. BERT's decoder bias stands in for a missing `cls.predictions.bias`.
    """
    family = config.architecture.family
    naming = NAMINGS[family]
    available: dict[str, str] = {}
    unexpected: list[str] = []
    decoder_bias = None
    uses_mlm = naming.mlm_bias in expected_keys
    for name in names:
        key = canonical_key(name, family)
        if key in naming.buffers or (key == naming.position_embeddings and config.architecture.positions != "absolute"):
            continue
        if uses_mlm and key == naming.tied_decoder:
            continue
        if uses_mlm and key == naming.decoder_bias:
            decoder_bias = name
        elif key in expected_keys:
            available[key] = name
        else:
            unexpected.append(name)
    if decoder_bias is not None and naming.mlm_bias not in available:
        available[naming.mlm_bias] = decoder_bias
    return available, sorted(unexpected)
