"""feature-extraction: sentence embeddings (mean, CLS or max pooling, optionally normalised, as sentence-transformers
computes them) or every token's hidden state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bertjax.convert import ENCODER
from bertjax.errors import ConfigError
from bertjax.model.encoder import attended_mean
from bertjax.pipelines.common import batch_of
from bertjax.pipelines.model import Pipeline, PredictionModel
from bertjax.pipelines.packing import encoder_inputs

HEAD = ENCODER
POOLINGS = ("mean", "cls", "max", "none")


def _normalized(embeddings: jax.Array, normalize: bool) -> jax.Array:
    return embeddings / jnp.maximum(jnp.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12) if normalize else \
        embeddings


def _token_states(module: Any, normalize: bool) -> Any:
    """fn(params, batch) -> {"embeddings": [batch, seq, hidden]}: every token's state (pooling `none`), divided by
    its norm when `normalize`."""

    def states(params: Any, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        hidden = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"], deterministic=True).last_hidden_state.astype(jnp.float32)
        return {"embeddings": _normalized(hidden, normalize)}

    return states


def _pooled(module: Any, pooling: str, normalize: bool) -> Any:
    """fn(params, packed rows) -> {"embeddings": [rows, slots, hidden]}: each packed text's token states pooled
    (`mean`, `cls` or `max` over its own tokens; `bertjax.pipelines.packing`), divided by their norm when
    `normalize`."""

    def pooled(params: Any, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        inputs = encoder_inputs(batch)
        hidden = module.apply({"params": params}, *inputs,
                              deterministic=True).last_hidden_state.astype(jnp.float32)  # [rows, length, hidden]
        slots = batch["starts"].shape[1]
        if pooling == "mean":  # each text's first token attends to the text's tokens alone
            embeddings = attended_mean(hidden, inputs[1], batch["starts"])
        elif pooling == "cls":
            embeddings = jnp.take_along_axis(hidden, batch["starts"][..., None], axis=1)
        else:  # the largest value of each feature over a text's tokens: a segment per slot, padding in one more
            rows, _, width = hidden.shape
            sequence_ids = batch["sequence_ids"]
            segments = jnp.where(sequence_ids > 0, jnp.arange(rows)[:, None] * slots + sequence_ids - 1, rows * slots)
            embeddings = jax.ops.segment_max(hidden.reshape(-1, width), segments.reshape(-1),
                                             num_segments=rows * slots + 1)[:-1].reshape(rows, slots, width)
        return {"embeddings": _normalized(embeddings, normalize)}

    return pooled


def sentence_transformers_settings(directory: str | Path) -> dict[str, Any]:
    """The pooling, normalisation and max_seq_length a sentence-transformers folder (modules.json) declares;
    empty for other folders."""
    directory = Path(directory)
    modules_file = directory / "modules.json"
    if not modules_file.is_file():
        return {}
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        settings: dict[str, Any] = {"normalize": any(module["type"].endswith(".Normalize") for module in modules)}
        for module in modules:
            if module["type"].endswith(".Pooling"):
                pooling = json.loads((directory / module["path"] / "config.json").read_text(encoding="utf-8"))
                modes = [mode for mode in ("mean", "cls", "max") if pooling.get(f"pooling_mode_{mode}_tokens" if
                         mode != "cls" else "pooling_mode_cls_token")]
                settings["pooling"] = modes[0] if len(modes) == 1 else None
        if (directory / "sentence_bert_config.json").is_file():
            limit = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
            settings["max_seq_length"] = limit.get("max_seq_length")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{directory}: cannot read its sentence-transformers settings (modules.json, the pooling "
                          f"config.json, sentence_bert_config.json): {error}") from None
    if settings.get("pooling", "mean") is None:
        raise ConfigError(f"{directory}: its pooling combines several modes, which bertjax does not compute; pass "
                          f"pooling= one of {', '.join(POOLINGS)}")
    return {key: value for key, value in settings.items() if value is not None}


class FeatureExtractionPipeline(Pipeline):
    """`embed(texts)` -> [texts, hidden] float32 (one text: [hidden]); with pooling `none` a list of [tokens,
    hidden] arrays (one text: one array). Texts longer than `max_seq_length` are truncated.

    Pooled embeddings are computed on texts packed several to a row (`bertjax.pipelines.packing`): each text
    attends to itself alone with positions of its own, so its vector is the one it has alone in a row, while almost
    no token is padding and a call runs one program."""

    task = "feature-extraction"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 pooling: str = "mean", normalize: bool = False, progress: bool | None = None) -> None:
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling is {pooling!r}; choose one of {', '.join(POOLINGS)}")
        function = _token_states(model.module(), normalize) if pooling == "none" else \
            _pooled(model.module(), pooling, normalize)
        super().__init__(model, function, batch_size, max_seq_length, progress)
        self.pooling, self.normalize = pooling, normalize

    def __call__(self, texts: str | Sequence[str]) -> Any:
        single, text_list = batch_of(texts)
        if not text_list:
            return [] if self.pooling == "none" else np.zeros((0, self.model.config.hidden_size), np.float32)
        features = self._tokenize(text_list).features
        if self.pooling == "none":
            embeddings = [states[:len(ids)] for states, ids in zip(self._run(features)["embeddings"],
                                                                   features["input_ids"])]
            return embeddings[0] if single else embeddings
        embeddings = self._run_packed(features)["embeddings"]
        stacked = np.stack(embeddings).astype(np.float32)
        return stacked[0] if single else stacked
