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
from bertjax.pipelines.common import batch_of
from bertjax.pipelines.model import Pipeline, PredictionModel

HEAD = ENCODER
POOLINGS = ("mean", "cls", "max", "none")


def _pooled(module: Any, pooling: str, normalize: bool) -> Any:
    """fn(params, batch) -> {"embeddings": [batch, hidden]} pooled over the real tokens (or [batch, seq, hidden]
    token states for pooling `none`), divided by their norm when `normalize`."""

    def pooled(params: Any, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        hidden = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"], deterministic=True).last_hidden_state.astype(jnp.float32)
        real = batch["attention_mask"][..., None].astype(jnp.float32)  # [batch, seq, 1]
        if pooling == "mean":
            embeddings = (hidden * real).sum(axis=1) / jnp.maximum(real.sum(axis=1), 1e-9)
        elif pooling == "cls":
            embeddings = hidden[:, 0]
        elif pooling == "max":
            embeddings = jnp.where(real > 0, hidden, -1e9).max(axis=1)
        else:
            embeddings = hidden
        if normalize:
            embeddings = embeddings / jnp.maximum(jnp.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)
        return {"embeddings": embeddings}

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
    hidden] arrays (one text: one array). Texts longer than `max_seq_length` are truncated."""

    task = "feature-extraction"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 pooling: str = "mean", normalize: bool = False, progress: bool | None = None) -> None:
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling is {pooling!r}; choose one of {', '.join(POOLINGS)}")
        super().__init__(model, _pooled(model.module(), pooling, normalize), batch_size, max_seq_length, progress)
        self.pooling, self.normalize = pooling, normalize

    def __call__(self, texts: str | Sequence[str]) -> Any:
        single, text_list = batch_of(texts)
        if not text_list:
            return [] if self.pooling == "none" else np.zeros((0, self.model.config.hidden_size), np.float32)
        features = self._tokenize(text_list).features
        embeddings = self._run(features)["embeddings"]
        if self.pooling == "none":
            embeddings = [states[:len(ids)] for states, ids in zip(embeddings, features["input_ids"])]
            return embeddings[0] if single else embeddings
        stacked = np.stack(embeddings).astype(np.float32)
        return stacked[0] if single else stacked
