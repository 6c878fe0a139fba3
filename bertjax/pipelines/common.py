"""What the pipelines share: one input or a list of them, paired lists, probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from bertjax.errors import ConfigError

T = TypeVar("T")


def batch_of(inputs: T | Sequence[T], single: type = str) -> tuple[bool, list[T]]:
    """(whether one input was given, the inputs as a list): a pipeline takes one input or a list of them."""
    if isinstance(inputs, single):
        return True, [inputs]
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise ConfigError(f"expected a {single.__name__} or a list of them, got {type(inputs).__name__}")
    return False, list(inputs)


def check_pairs(first: Sequence[object], second: Sequence[object] | None, first_name: str,
                second_name: str) -> None:
    """Paired inputs come in lists of one length."""
    if second is not None and len(first) != len(second):
        raise ConfigError(f"{len(first)} {first_name} but {len(second)} {second_name}; give one of each per input")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis."""
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)
