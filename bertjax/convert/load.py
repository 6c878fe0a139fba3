"""Loading a Hugging Face (or bertjax) model folder into the params of any head."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from bertjax.convert.architecture import ParamPath, check_head, expected_params, initial_params
from bertjax.convert.files import PARAMS_FILE, find_weights, read_config, read_params, read_state_dict
from bertjax.convert.names import (BUFFERS, DECODER_BIAS, DECODER_WEIGHT, MLM_BIAS, POSITION_EMBEDDINGS, StateDict,
                                   canonical_key, hf_key, state_dict_from_params, to_hf_layout)
from bertjax.errors import CheckpointError, ConfigError
from bertjax.model import BertConfig, ModelOptions
from bertjax.model.layout import stack_layers

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What did not come from the checkpoint, by Hugging Face name."""

    source: str  # the weights file read
    missing: tuple[str, ...] = ()  # weights the head needs and the checkpoint lacks: initialised as BERT does
    unexpected: tuple[str, ...] = ()  # checkpoint weights the head does not use
    reinitialised: tuple[str, ...] = ()  # classifier weights whose shape changed with new labels: initialised

    def describe(self) -> list[str]:
        """One line per kind of difference, for a run's log."""
        lines = [f"loaded {self.source}"]
        for title, names in (("initialised (not in the checkpoint)", self.missing),
                             ("initialised for the new labels", self.reinitialised),
                             ("unused checkpoint weights", self.unexpected)):
            if names:
                lines.append(f"{title}: {', '.join(names)}")
        return lines


def load_pretrained(directory: str | Path, head: str, options: ModelOptions = ModelOptions(),
                    config_changes: dict[str, Any] | None = None, seed: int = 0
                    ) -> tuple[BertConfig, Params, LoadReport]:
    """Reads a model folder (config.json + model.safetensors, pytorch_model.bin or bertjax's params.msgpack) into
    the params of `head` (a key of `bertjax.model.HEADS`, or `model` for the bare `BertModel`).

    config_changes: config fields to change, e.g. `id2label` for a classifier with new labels.
    Returns per-layer params, or stacked ones when `options.scan_layers`, in `options.param_dtype`.
    """
    check_head(head)
    directory = Path(directory)
    weights_path = find_weights(directory)
    file_config, _ = read_config(directory)
    config = _apply_changes(file_config, config_changes, directory / "config.json")
    if weights_path.name == PARAMS_FILE:
        state_dict = state_dict_from_params(read_params(weights_path))
    else:
        state_dict = read_state_dict(weights_path)
    params, report = fit_state_dict(state_dict, config, head, options, seed, source=str(weights_path),
                                    labels_changed=config.num_labels != file_config.num_labels)
    return config, params, report


def _apply_changes(config: BertConfig, changes: dict[str, Any] | None, source: Path) -> BertConfig:
    try:
        return config.replace(**(changes or {}))
    except ConfigError as error:
        raise ConfigError(f"{source} with config_changes {changes}: {error}") from None
    except TypeError as error:
        raise ConfigError(f"config_changes {changes}: {error}; use BertConfig field names") from None


def fit_state_dict(state_dict: StateDict, config: BertConfig, head: str, options: ModelOptions = ModelOptions(),
                   seed: int = 0, source: str = "checkpoint", strict: bool = False,
                   labels_changed: bool = False) -> tuple[Params, LoadReport]:
    """Hugging Face weights by name -> the params of `head`, initialising what is missing.

    strict: any missing or unused weight is an error (for folders that must hold exactly this head).
    labels_changed: the classifier may have another number of outputs than in the checkpoint; it is then initialised.
    """
    expected = expected_params(head, config, options)
    by_key = {canonical_key(hf_key(path)): path for path in expected}
    available, unexpected = _sort_names(state_dict, by_key, config)
    values: dict[ParamPath, np.ndarray] = {}
    missing, reinitialised = [], []
    for key, path in by_key.items():
        if key not in available:
            missing.append(hf_key(path))
            continue
        name, array = available[key]
        array = to_hf_layout(path, array)  # back to [in, out] for kernels
        if array.shape != expected[path].shape:
            if labels_changed and path[0] == "classifier":
                reinitialised.append(name)
                continue
            raise CheckpointError(
                f"{source}: parameter '{name}' has shape {_hf_shape(path, array.shape)}, but this {head} model "
                f"needs {_hf_shape(path, expected[path].shape)}; the checkpoint was saved with another config (check "
                f"config.json and config_changes)")
        values[path] = np.array(array, dtype=expected[path].dtype, order="C")
    report = LoadReport(source, tuple(missing), tuple(unexpected), tuple(reinitialised))
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{source}: does not hold exactly a {head} model: " + "; ".join(report.describe()[1:]))
    if missing or reinitialised:
        fresh = flatten_dict(initial_params(head, config, options, seed))
        values.update({path: fresh[path] for path in expected if path not in values})
    params = unflatten_dict(values)
    return (stack_layers(params) if options.scan_layers else params), report


def _hf_shape(path: ParamPath, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(reversed(shape)) if path[-1] == "kernel" else tuple(shape)


def _sort_names(state_dict: StateDict, expected_keys: dict[str, ParamPath], config: BertConfig
                ) -> tuple[dict[str, tuple[str, np.ndarray]], list[str]]:
    """Canonical name -> (checkpoint name, array) for the weights the head uses; the checkpoint names it does not.

    Buffers are skipped, as are the tied MLM decoder (the word embeddings) and learned position embeddings when the
    model computes sinusoidal ones. The decoder bias stands in for a missing `cls.predictions.bias`.
    """
    available: dict[str, tuple[str, np.ndarray]] = {}
    unexpected: list[str] = []
    decoder_bias = None
    uses_mlm = MLM_BIAS in expected_keys
    for name, array in state_dict.items():
        key = canonical_key(name)
        if key in BUFFERS or (key == POSITION_EMBEDDINGS and config.position_embedding_type == "sinusoidal"):
            continue
        if uses_mlm and key in (DECODER_WEIGHT, DECODER_BIAS):
            decoder_bias = (name, array) if key == DECODER_BIAS else decoder_bias
        elif key in expected_keys:
            available[key] = (name, array)
        else:
            unexpected.append(name)
    if decoder_bias is not None and MLM_BIAS not in available:
        available[MLM_BIAS] = decoder_bias
    return available, sorted(unexpected)
