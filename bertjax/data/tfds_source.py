"""Loading tensorflow-datasets splits as plain Python records, with a clear error when TensorFlow is missing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bertjax.errors import DataError, DependencyError, first_line

INSTALL_HINT = "install the TensorFlow extra: pip install 'bertjax[tf]'"


def _tfds() -> Any:
    try:
        import tensorflow  # noqa: F401  (tfds registers most builders, glue and squad among them, only with it)
    except ImportError:
        raise DependencyError(f"tensorflow-datasets needs TensorFlow for this data set; {INSTALL_HINT}") from None
    import tensorflow_datasets as tfds

    return tfds


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items()}
    if hasattr(value, "tolist"):
        return _decode(value.tolist())
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def load_records(name: str, split: str, data_dir: str | None = None, shard_index: int = 0,
                 shard_count: int = 1) -> Iterator[dict[str, Any]]:
    """Yields the examples of a tfds data set split as dicts of Python values (bytes decoded to str).

    shard_index/shard_count: read only every shard_count-th example starting at shard_index (one host's share).
    """
    tfds = _tfds()
    try:
        dataset = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=False, download=True)
    except Exception as error:  # tfds raises many unrelated types; the message is what matters to the user
        raise DataError(f"tensorflow-datasets could not load {name!r} split {split!r}: {first_line(error)}") from None
    if shard_count > 1:
        dataset = dataset.shard(shard_count, shard_index)
    for example in tfds.as_numpy(dataset):
        yield _decode(example)
