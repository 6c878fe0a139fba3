"""The implementations the pipeline workload runs over one list of texts: bertjax's `pipeline`, `transformers.pipeline`
and sentence-transformers' `encode`, each as its users call it, each returning predictions in one form to compare.

Predictions: text-classification {"labels": [texts] str, "scores": [texts] float}; feature-extraction
{"embeddings": [texts, hidden] float32, mean-pooled over the real tokens and normalised}.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from bertjax.data.tokenizer import load_tokenizer
from bertjax.pipelines import pipeline
from bertjax.pipelines.feature_extraction import sentence_transformers_settings

TEXT_CLASSIFICATION, FEATURE_EXTRACTION = "text-classification", "feature-extraction"
Predictions = dict[str, np.ndarray]
Predict = Callable[[list[str]], Predictions]


class PipelineRunner:
    """One implementation over fixed texts (the `timing.Runner` protocol): a step is one call over all the texts.

    make: builds the implementation (loads the model; not timed) and returns its predict function.
    """

    def __init__(self, label: str, make: Callable[[], Predict], texts: list[str]) -> None:
        self.label, self.texts, self._make = label, texts, make
        self._predict: Predict | None = None
        self.predictions: Predictions | None = None  # the last call's, kept after close for the agreement check

    def prepare(self) -> None:
        self._predict = self._make()

    def run(self, steps: int) -> None:
        assert self._predict is not None, "prepare() first"
        for _ in range(steps):
            self.predictions = self._predict(self.texts)

    def device_memory_bytes(self) -> int | None:
        return None  # a pipeline's footprint is on the host as well: tokenizer, batches, results

    def close(self) -> None:
        self._predict = None
        jax.clear_caches()  # bertjax's compiled programs; nothing else holds any


def max_seq_length(folder: Path) -> int:
    """The longest input a folder's embeddings take: its sentence-transformers limit, else its tokenizer's."""
    limit = sentence_transformers_settings(folder).get("max_seq_length")
    return int(limit or load_tokenizer(folder).model_max_length)


def token_lengths(folder: Path, texts: Sequence[str], max_length: int) -> np.ndarray:
    """[texts] tokens of each text, [CLS] and [SEP] included, after truncation to `max_length`."""
    encoding = load_tokenizer(folder)(list(texts), truncation=True, max_length=max_length)
    return np.array([len(ids) for ids in encoding["input_ids"]])


def _label_predictions(results: list[dict[str, Any]]) -> Predictions:
    """Both frameworks' text-classification results ({"label", "score"} per text) as arrays."""
    return {"labels": np.array([result["label"] for result in results]),
            "scores": np.array([result["score"] for result in results], np.float64)}


def _normalized(embeddings: np.ndarray) -> np.ndarray:
    return embeddings / np.maximum(np.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)


def bertjax_pipeline(task: str, folder: Path, batch_size: int) -> Predict:
    """bertjax's pipeline; for embeddings the folder's modules.json gives mean pooling and normalisation."""
    run = pipeline(task, folder, batch_size=batch_size, progress=False)
    if task == TEXT_CLASSIFICATION:
        return lambda texts: _label_predictions(run(texts))
    return lambda texts: {"embeddings": run(texts)}


def transformers_pipeline(task: str, folder: Path, batch_size: int, texts: Sequence[str]) -> Predict:
    """`transformers.pipeline` on the same folder. Embeddings: its token states, mean-pooled over each text's
    tokens (counted here, untimed, since a batched call returns rows padded to the longest of their batch) and
    normalised, as sentence-transformers computes them."""
    import transformers

    from bertjax.benchmark.steps.torch_reference import torch_device

    transformers.utils.logging.disable_progress_bar()
    model_class = (transformers.AutoModelForSequenceClassification if task == TEXT_CLASSIFICATION
                   else transformers.AutoModel)
    run = transformers.pipeline(task, model=model_class.from_pretrained(folder).eval(),
                                tokenizer=transformers.AutoTokenizer.from_pretrained(folder), device=torch_device(),
                                batch_size=batch_size)
    if task == TEXT_CLASSIFICATION:
        return lambda texts: _label_predictions(run(texts, truncation=True))
    limit = max_seq_length(folder)
    lengths = token_lengths(folder, texts, limit)

    def embed(texts: list[str]) -> Predictions:
        states = run(texts, return_tensors=True, tokenize_kwargs={"truncation": True, "max_length": limit})
        pooled = np.stack([state[0, :length].mean(0).numpy() for state, length in zip(states, lengths)])
        return {"embeddings": _normalized(pooled)}

    return embed


def sentence_transformers_encode(folder: Path, batch_size: int) -> Predict:
    """sentence-transformers' `encode`, which sorts its inputs by length before batching them."""
    from sentence_transformers import SentenceTransformer

    from bertjax.benchmark.steps.torch_reference import torch_device

    model = SentenceTransformer(str(folder), device=torch_device())
    return lambda texts: {"embeddings": model.encode(texts, batch_size=batch_size, show_progress_bar=False)}
