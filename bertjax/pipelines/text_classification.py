"""text-classification: labels with probabilities for texts or text pairs; a one-output model gives its value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from bertjax.data.windows import check_stride, window_stride
from bertjax.pipelines.common import batch_of, check_pairs, softmax
from bertjax.pipelines.model import Pipeline, PredictionModel
from bertjax.pipelines.packing import encoder_inputs

HEAD = "sequence_classification"


def _packed_logits(module: Any) -> Any:
    """fn(params, packed rows) -> {"logits": [rows, slots, labels]}: the head on each packed text, pooled from its
    own tokens ([CLS] at its start, or the mean over it; `bertjax.pipelines.packing`)."""

    def logits(params: Any, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        return module.apply({"params": params}, *encoder_inputs(batch), deterministic=True,
                            pooled_positions=batch["starts"])

    return logits


class TextClassificationPipeline(Pipeline):
    """`classify(texts, text_pair=None, top_k=1)`; scores are softmax probabilities, or the raw value of a
    regression model (one output), as `transformers.pipeline("text-classification")` gives them.

    A text longer than `max_seq_length` is read in overlapping windows, consecutive ones sharing `stride` tokens (by
    default a quarter of a window), and its scores are the mean of its windows'; with `truncation` it is cut to
    `max_seq_length` instead, as transformers' pipeline cuts it. Text pairs are cut, the longer text first.

    Texts (each window a text) run packed several to a row (`bertjax.pipelines.packing`): each attends to itself
    alone with positions of its own, so its scores are those it has alone in a row, while almost no token is
    padding.
    """

    task = "text-classification"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 progress: bool | None = None, stride: int | None = None, truncation: bool = False) -> None:
        super().__init__(model, _packed_logits(model.module()), batch_size, max_seq_length, progress)
        self.labels = model.labels
        self.regression = model.config.num_labels == 1
        self.stride = window_stride(self.max_seq_length, stride, truncation)
        check_stride(model.tokenizer, self.max_seq_length, self.stride)

    def scores(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        """[texts, labels] probabilities, or [texts, 1] values for regression, each a mean over the text's
        windows."""
        check_pairs(texts, text_pairs, "texts", "text pairs")
        if not texts:
            return np.zeros((0, len(self.labels)), np.float32)
        windows = self._tokenize(texts, text_pairs, stride=None if text_pairs is not None else self.stride)
        logits = np.stack(self._run_packed(windows.features)["logits"]).astype(np.float64)  # [windows, labels]
        return windows.mean_over_windows(logits if self.regression else softmax(logits))

    def __call__(self, texts: str | Sequence[str], text_pair: str | Sequence[str] | None = None,
                 top_k: int | None = 1) -> Any:
        """One text: {"label", "score"} (top_k=1) or the top_k best of them (top_k=None: every label), best first;
        a list of texts: one such result each."""
        single, text_list = batch_of(texts)
        pairs = None if text_pair is None else batch_of(text_pair)[1]
        results = [self._result(row, top_k) for row in self.scores(text_list, pairs)]
        return results[0] if single else results

    def _result(self, scores: np.ndarray, top_k: int | None) -> Any:
        ranked = [{"label": self.labels[index], "score": float(scores[index])}
                  for index in np.argsort(-scores, kind="stable")]
        return ranked[0] if top_k == 1 else ranked[:top_k]
