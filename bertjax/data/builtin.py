"""The two small data sets shipped inside the package (bertjax/resources), the defaults of the run scripts."""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def _resource(name: str) -> Path:
    return Path(str(importlib.resources.files("bertjax") / "resources" / name))


def builtin_corpus() -> Path:
    """The pretraining corpus: one sentence per line, documents separated by blank lines."""
    return _resource("corpus.txt")


def builtin_sentiment() -> Path:
    """The sentiment classification CSV (`sentence,label`)."""
    return _resource("sentiment.csv")
