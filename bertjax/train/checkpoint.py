"""Checkpoints of the train state with orbax: one folder per step holding the state pytree and a JSON metadata dict.

    <directory>/<step>/state/      the pytree (params, optimizer state, step, typed PRNG keys), sharded arrays
    <directory>/<step>/metadata/   a JSON dict (run config, evaluation bookkeeping, ...)

orbax writes each step to a temporary folder and renames it when complete, so a crash or a failed save never leaves a
half-written step that `latest_step` would report. Every process calls `save` and `restore`; orbax decides who writes.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from bertjax.errors import CheckpointError


def _path_name(path: tuple[Any, ...]) -> str:
    """`params/bert/encoder/layer_0/...` for a jax key path, whatever the node types (dict, dataclass, tuple)."""
    parts = []
    for key in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(key, attribute):
                parts.append(str(getattr(key, attribute)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def _stored_layout(leaf: Any) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a leaf has on disk: typed PRNG keys are stored as their raw key data."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(leaf.shape, leaf.dtype))
    return tuple(leaf.shape), np.dtype(leaf.dtype)


def _json_problem(value: Any, name: str) -> str | None:
    """Describes the first part of `value` that does not survive a JSON round trip, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{name} has the key {key!r}, which is not a string"
            problem = _json_problem(item, f"{name}.{key}")
            if problem is not None:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        return next((problem for index, item in enumerate(value)
                     if (problem := _json_problem(item, f"{name}[{index}]")) is not None), None)
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    return f"{name} is a {type(value).__name__}"


class Checkpointer:
    """Saves and restores (train state, metadata dict) per step, keeping the latest `max_to_keep` steps.

    The state is any pytree of jax arrays (typed PRNG key arrays included); restore places each array with the
    sharding of the matching leaf of the abstract target. Usable as a context manager; `close` waits for saves.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 3, async_save: bool = False) -> None:
        self.directory = Path(directory).absolute()
        if self.directory.exists() and not self.directory.is_dir():
            raise CheckpointError(f"checkpoint folder {self.directory} is a file; pass a folder path")
        registry = ocp.handlers.create_default_handler_registry(
            state=ocp.StandardCheckpointHandler(), metadata=ocp.JsonCheckpointHandler())
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=async_save)
        try:
            self._manager = ocp.CheckpointManager(self.directory, options=options, handler_registry=registry)
        except (OSError, ValueError) as error:
            raise CheckpointError(f"cannot open the checkpoint folder {self.directory}: {error}") from error

    def step_directory(self, step: int) -> Path:
        return self.directory / str(step)

    def all_steps(self) -> list[int]:
        """The steps with a complete checkpoint, oldest first."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any, metadata: dict[str, Any], force: bool = False) -> bool:
        """Writes `state` and `metadata` as the checkpoint of `step`; returns whether a checkpoint was written.

        force: save even where orbax's save policy would skip this step (e.g. a preemption save).
        """
        problem = _json_problem(metadata, "metadata")
        if problem is not None:
            raise CheckpointError(f"cannot save the checkpoint of step {step} in {self.directory}: {problem}, which "
                                  "JSON cannot store; convert it (float(x), x.tolist(), str keys) before saving")
        if step in self._manager.all_steps():
            raise CheckpointError(f"checkpoint {self.step_directory(step)} already exists; each step is saved once")
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), metadata=ocp.args.JsonSave(metadata))
        try:
            return self._manager.save(step, args=args, force=force)
        except Exception as error:
            raise CheckpointError(f"saving checkpoint {self.step_directory(step)} failed ({error}); earlier "
                                  "checkpoints are intact") from error

    def wait(self) -> None:
        """Blocks until an asynchronous save has finished; raises its error if it failed."""
        try:
            self._manager.wait_until_finished()
        except Exception as error:
            raise CheckpointError(f"an asynchronous save in {self.directory} failed ({error}); earlier checkpoints "
                                  "are intact") from error

    def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """The state and metadata of `step` (default: the latest).

        abstract_state: the target pytree of `jax.ShapeDtypeStruct` (with shardings) or arrays; the checkpoint must
        have the same leaves with the same shapes and dtypes.
        """
        step = self._existing_step(step)
        self._check_layout(abstract_state, step)
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state), metadata=ocp.args.JsonRestore())
        restored = self._read(step, args)
        return restored.state, dict(restored.metadata or {})

    def restore_metadata(self, step: int | None = None) -> dict[str, Any]:
        """The metadata dict of `step` (default: the latest), without reading the arrays."""
        step = self._existing_step(step)
        return dict(self._read(step, ocp.args.Composite(metadata=ocp.args.JsonRestore())).metadata or {})

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _existing_step(self, step: int | None) -> int:
        steps = self.all_steps()
        if step is None:
            if not steps:
                raise CheckpointError(f"{self.directory} holds no checkpoint; train first or point to the folder "
                                      "that holds the step folders")
            return steps[-1]
        if step not in steps:
            raise CheckpointError(f"{self.directory} holds no checkpoint of step {step}; it holds steps {steps}")
        return step

    def _read(self, step: int, args: ocp.args.Composite) -> Any:
        try:
            return self._manager.restore(step, args=args)
        except Exception as error:
            raise CheckpointError(f"checkpoint {self.step_directory(step)} cannot be read ({error}); it is "
                                  "incomplete or corrupt: delete that folder to resume from an earlier step") from error

    def _stored_leaves(self, step: int) -> dict[str, Any]:
        try:
            stored = self._manager.metadata(step).item_metadata["state"]
        except Exception as error:
            raise CheckpointError(f"checkpoint {self.step_directory(step)} has no readable state ({error}); delete "
                                  "that folder to resume from an earlier step") from error
        if stored is None:
            raise CheckpointError(f"checkpoint {self.step_directory(step)} has no readable state; delete that folder "
                                  "to resume from an earlier step")
        return {_path_name(path): leaf for path, leaf in jax.tree_util.tree_flatten_with_path(stored.tree)[0]}

    def _check_layout(self, abstract_state: Any, step: int) -> None:
        """Raises CheckpointError naming the first leaf whose presence, shape or dtype differs from the checkpoint's."""
        stored = self._stored_leaves(step)
        differences = []
        target_names = set()
        for path, leaf in jax.tree_util.tree_flatten_with_path(abstract_state)[0]:
            name = _path_name(path)
            target_names.add(name)
            if name not in stored:
                differences.append(f"it has no {name}, which this model has")
                continue
            shape, dtype = _stored_layout(leaf)
            there = stored[name]
            if tuple(there.shape) != shape:
                differences.append(f"{name} has shape {tuple(there.shape)} there and {shape} here")
            elif np.dtype(there.dtype) != dtype:
                differences.append(f"{name} has dtype {np.dtype(there.dtype)} there and {dtype} here")
        differences += [f"it has {name}, which this model lacks" for name in sorted(set(stored) - target_names)]
        if differences:
            more = f" (and {len(differences) - 1} more differences)" if len(differences) > 1 else ""
            raise CheckpointError(f"checkpoint {self.step_directory(step)} was written by a different model: "
                                  f"{differences[0]}{more}; use a new output folder or the matching config")
