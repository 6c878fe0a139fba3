"""tensorflow-datasets access: records decoded to Python values, and a clear error without TensorFlow."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from bertjax.data import tfds_source
from bertjax.errors import DependencyError


def test_missing_tensorflow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` raise ImportError
    with pytest.raises(DependencyError, match=r"bertjax\[tf\]"):
        list(tfds_source.load_records("glue/sst2", "train"))


def test_values_are_decoded_to_python() -> None:
    decoded = tfds_source._decode({"text": b"caf\xc3\xa9", "label": np.int64(1), "tokens": np.array([b"a", b"b"]),
                                   "answers": {"text": [b"x"], "answer_start": np.array([3])}})
    assert decoded == {"text": "café", "label": 1, "tokens": ["a", "b"], "answers": {"text": ["x"], "answer_start": [3]}}
