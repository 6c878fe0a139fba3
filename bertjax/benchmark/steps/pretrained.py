"""Saved weights for the workloads that start from a pretrained model (fine-tuning, inference).

Their users load a pretrained folder, they do not initialise one: each framework loads the same Hugging Face folder
(config.json + model.safetensors) its own way, `transformers`' `from_pretrained` and bertjax's `load_pretrained`.
The folder is written before anything is measured, so neither framework is charged for making the weights.
"""

from __future__ import annotations

from pathlib import Path

from bertjax.convert import save_pretrained
from bertjax.convert.architecture import initial_params
from bertjax.model import ModelConfig

PRETRAINED_WORKLOADS = ("finetune", "inference")
HEAD = "sequence_classification"  # the head both workloads run: a two-label classifier


def write_pretrained(directory: Path, config: ModelConfig, seed: int) -> Path:
    """Freshly initialised classifier weights as a Hugging Face model folder in `directory`."""
    return save_pretrained(directory, config, initial_params(HEAD, config, seed=seed), HEAD)
