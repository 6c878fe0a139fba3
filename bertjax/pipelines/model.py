"""A model folder ready to predict with, and the runner that puts encoded inputs through it in a few batch shapes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from bertjax.convert import head_module, hf_class_name, load_pretrained
from bertjax.convert.files import read_config
from bertjax.data.batching import BucketedDataset, bucket_lengths, padding_values
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import ConfigError
from bertjax.model import ModelConfig, ModelOptions
from bertjax.train.sharding import batch_sharding, make_mesh, replicated

Params = dict[str, Any]
Outputs = dict[str, list[np.ndarray]]
SHOW_PROGRESS_FROM = 8  # batches: shorter calls show no progress bar (progress=None)
TEXT_KEYS = ("input_ids", "token_type_ids", "attention_mask")


@dataclasses.dataclass(frozen=True)
class PredictionModel:
    """A head's config, params and tokenizer: what every pipeline runs on."""

    config: ModelConfig
    params: Params
    tokenizer: Any
    head: str  # a key of bertjax.model.HEADS, or `model` for the bare encoder
    options: ModelOptions = ModelOptions()

    @property
    def max_length(self) -> int:
        """The most tokens an input can have: the model's positions, or less where the tokenizer says so."""
        return min(self.config.max_position_embeddings, self.tokenizer.model_max_length)

    @property
    def labels(self) -> list[str]:
        """The classifier's output names: config.json's id2label, else LABEL_0, LABEL_1 as transformers names them."""
        names = self.config.id2label or {}
        return [names.get(index, f"LABEL_{index}") for index in range(self.config.num_labels)]

    def module(self) -> Any:
        return head_module(self.head, self.config, self.options)


def load_prediction_model(directory: str | Path, head: str, task: str, options: ModelOptions = ModelOptions(),
                          may_lack: Collection[str] = ()) -> PredictionModel:
    """Loads a bertjax or Hugging Face folder as `head`; a folder without that head's weights is an error.

    may_lack: prefixes of Hugging Face weight names the task does not use (e.g. the pooler for embeddings).
    """
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise ConfigError(f"{directory}: no config.json; pass a bertjax or Hugging Face model folder (e.g. a "
                          f"fine-tuning run's best/ or a pretraining run's hf/). Nothing is downloaded")
    _, architectures = read_config(directory)
    config, params, report = load_pretrained(directory, head, options)
    missing = [name for name in report.missing if not name.startswith(tuple(may_lack))]
    if missing:
        held = ", ".join(architectures or ["no architectures"])
        raise ConfigError(f"{directory}: holds {held}, without the weights {task} needs ({', '.join(missing[:4])}"
                          f"{', ...' if len(missing) > 4 else ''}); pass a folder with a {hf_class_name(config, head)}")
    return PredictionModel(config, params, load_tokenizer(directory), head, options)


def _rows_per_batch(examples: int, batch_size: int, devices: int) -> int:
    """Rows of each batch: `batch_size`, or for fewer examples the next power of two (a handful of shapes),
    rounded up to a multiple of the devices."""
    rows = min(batch_size, 1 << max(examples - 1, 0).bit_length())
    return -(-rows // devices) * devices


class BatchRunner:
    """Runs `function(params, batch) -> outputs` over per-example features on every local device.

    Examples are sorted by length and padded to a bucket length (16, 32, 64, ... up to `max_length`), batches to a
    power of two rows, so jit compiles a handful of programs whatever the inputs; outputs come back per example in
    input order, with the padding rows dropped.
    """

    def __init__(self, model: PredictionModel, function: Callable[[Params, dict[str, jax.Array]], Any],
                 batch_size: int = 32, progress: bool | None = None, description: str = "predict",
                 static: Sequence[str] = ()) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.mesh = make_mesh(jax.local_devices())
        self.params = jax.device_put(model.params, replicated(self.mesh))
        self.batch_size, self.progress, self.description = batch_size, progress, description
        self._function = jax.jit(function, static_argnames=tuple(static), out_shardings=replicated(self.mesh))

    def __call__(self, features: Mapping[str, Sequence[np.ndarray]], padding: Mapping[str, int], max_length: int,
                 **static: Any) -> Outputs:
        """features: per-example arrays (`input_ids` [seq] or [choices, seq], ...); `static`: hashable
        arguments of the function, one program each."""
        dataset = BucketedDataset(features, padding, bucket_lengths(max_length), sort_eval_by_length=True)
        rows = _rows_per_batch(dataset.num_examples, self.batch_size, self.mesh.devices.size)
        batches = -(-dataset.num_examples // rows)
        show = batches >= SHOW_PROGRESS_FROM if self.progress is None else self.progress
        outputs: Outputs = {}
        with tqdm(total=dataset.num_examples, desc=self.description, unit="input", disable=not show,
                  leave=False) as bar:
            for batch in dataset.eval_batches(rows):
                real = np.flatnonzero(batch.pop("example_mask"))
                placed = jax.device_put(batch, batch_sharding(self.mesh))
                for key, value in jax.device_get(self._function(self.params, placed, **static)).items():
                    outputs.setdefault(key, []).extend(np.asarray(value)[real])
                bar.update(len(real))
        return {key: dataset.in_input_order(values) for key, values in outputs.items()}


class Pipeline:
    """What every task's pipeline has: its model, the most tokens an input keeps, and a runner of its head."""

    task = ""
    head = ""

    def __init__(self, model: PredictionModel, function: Callable[..., Any], batch_size: int,
                 max_seq_length: int | None, progress: bool | None, static: Sequence[str] = ()) -> None:
        self.model = model
        self.max_seq_length = max_seq_length or model.max_length
        self._runner = BatchRunner(model, function, batch_size, progress, self.task, static)

    def _tokenize(self, texts: Sequence[Any], pairs: Sequence[str] | None = None, **options: Any
                  ) -> tuple[Any, dict[str, list[np.ndarray]]]:
        """The tokenizer's encoding of texts (and pairs), truncated to `max_seq_length`, and its features."""
        encoding = self.model.tokenizer(list(texts), None if pairs is None else list(pairs), truncation=True,
                                        max_length=self.max_seq_length, return_token_type_ids=True,
                                        return_attention_mask=True, **options)
        return encoding, {key: [np.asarray(values, np.int32) for values in encoding[key]] for key in TEXT_KEYS}

    def _run(self, features: Mapping[str, Sequence[np.ndarray]], **static: Any) -> Outputs:
        return self._runner(features, padding_values(self.model.tokenizer.pad_token_id), self.max_seq_length,
                            **static)
