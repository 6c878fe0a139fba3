"""fill-mask: the most probable tokens for each [MASK] of a text, as `transformers.pipeline("fill-mask")` gives
them; for pretraining runs and any masked-LM checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bertjax.errors import DataError
from bertjax.pipelines.common import batch_of
from bertjax.pipelines.model import Pipeline, PredictionModel

HEAD = "masked_lm"


def _top_tokens(module: Any, mask_token_id: int) -> Any:
    """fn(params, batch, masks, top_k) -> the `top_k` best tokens and their probabilities at each row's first
    `masks` [MASK] positions; only those positions reach the vocabulary projection."""

    def top_tokens(params: Any, batch: dict[str, jax.Array], masks: int, top_k: int) -> dict[str, jax.Array]:
        input_ids = batch["input_ids"]  # [batch, seq]
        positions = jnp.argsort(input_ids != mask_token_id, axis=1, stable=True)[:, :masks]  # [batch, masks]
        logits = module.apply({"params": params}, input_ids, batch["attention_mask"], batch["token_type_ids"],
                              deterministic=True, masked_positions=positions)["mlm_logits"]  # [batch, masks, vocab]
        scores, token_ids = jax.lax.top_k(jax.nn.softmax(logits.astype(jnp.float32), axis=-1), top_k)
        return {"scores": scores, "token_ids": token_ids}  # [batch, masks, top_k]

    return top_tokens


class FillMaskPipeline(Pipeline):
    """`fill(texts, top_k=5)`: per [MASK] the top_k {"score", "token", "token_str", "sequence"}; a text with one
    [MASK] gives one such list, with several a list per [MASK] (the others left masked in `sequence`)."""

    task = "fill-mask"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 progress: bool | None = None) -> None:
        super().__init__(model, _top_tokens(model.module(), model.tokenizer.mask_token_id), batch_size,
                         max_seq_length, progress, static=("masks", "top_k"))

    def __call__(self, texts: str | Sequence[str], top_k: int = 5) -> Any:
        single, text_list = batch_of(texts)
        if not text_list:
            return []
        tokenizer = self.model.tokenizer
        top_k = min(top_k, self.model.config.vocab_size)
        features = self._tokenize(text_list).features
        mask_counts = [int(np.sum(ids == tokenizer.mask_token_id)) for ids in features["input_ids"]]
        unmasked = next((index for index, count in enumerate(mask_counts) if count == 0), None)
        if unmasked is not None:
            raise DataError(f"text {unmasked} ({text_list[unmasked][:60]!r}) has no {tokenizer.mask_token} within "
                            f"its first {self.max_seq_length} tokens; put {tokenizer.mask_token} where a word is to "
                            f"be predicted")
        masks = 1 << (max(mask_counts) - 1).bit_length()  # a power of two: a handful of programs
        outputs = self._run(features, masks=masks, top_k=top_k)
        results = [self._fills(ids, count, scores, token_ids) for ids, count, scores, token_ids in
                   zip(features["input_ids"], mask_counts, outputs["scores"], outputs["token_ids"])]
        return results[0] if single else results

    def _fills(self, input_ids: np.ndarray, count: int, scores: np.ndarray, token_ids: np.ndarray) -> Any:
        """One text's proposals: scores and token_ids [masks (padded), top_k]."""
        tokenizer = self.model.tokenizer
        positions = np.flatnonzero(input_ids == tokenizer.mask_token_id)
        rows = []
        for mask, position in enumerate(positions[:count]):
            row = []
            for score, token in zip(scores[mask].tolist(), token_ids[mask].tolist()):
                filled = input_ids.copy()
                filled[position] = token
                row.append({"score": score, "token": token, "token_str": tokenizer.decode([token]),
                            "sequence": tokenizer.decode(filled, skip_special_tokens=count == 1)})
            rows.append(row)
        return rows[0] if count == 1 else rows
