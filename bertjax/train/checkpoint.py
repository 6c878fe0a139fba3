"""Checkpoints of the train state with orbax: one folder per step holding the state pytree and a JSON metadata dict.

    <directory>/<step>/state/       the pytree (params, optimizer state, step, typed PRNG keys), sharded arrays
    <directory>/<step>/metadata/    a JSON dict (run config, evaluation bookkeeping, ...)
    <directory>/<step>/checksums/   a checksum of each array of the state (bertjax.train.checksum)

orbax writes each step to a temporary folder and renames it when complete, so a crash or a failed save never leaves a
half-written step that `latest_step` would report. Every process calls `save` and `restore`; orbax decides who writes.
A step whose files were damaged afterwards (a truncated file, a missing one, changed bits that only the checksums
show) is found when it is restored: restoring the newest checkpoint then says so in one line, moves that step to
`<directory>-unreadable/` (renamed, never deleted) and restores the newest step that reads back whole.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental.multihost_utils import process_allgather, sync_global_devices

from bertjax.errors import CheckpointError, first_line, root_cause
from bertjax.train.checksum import tree_checksums


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


def _leaf_names(tree: Any) -> list[str]:
    """The path names of `tree`'s leaves, in `jax.tree.leaves` order."""
    return [_path_name(path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _free_name(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`, ... : the first that does not exist."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


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


class UnreadableCheckpointError(CheckpointError):
    """A step's files cannot be read back as they were written; `cause` says why, in one line."""

    def __init__(self, step_directory: Path, cause: str) -> None:
        super().__init__(f"checkpoint {step_directory} cannot be read ({cause})")
        self.cause = cause


@contextmanager
def _quiet_orbax() -> Iterator[None]:
    """orbax's own warnings about what this module reports in one line are held back while a step is read."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _is_abandoned_read(unraisable: Any) -> bool:
    """Whether an exception Python could not raise comes from the reads that a failed read of orbax abandons: its
    coroutines complain when they are collected, and their callbacks when they reach orbax's closed event loop."""
    code = getattr(unraisable.object, "cr_code", None)
    if code is not None and "orbax" in code.co_filename:
        return True
    return isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"


def _drop_abandoned_reads() -> None:
    """From the first failed read on, the abandoned reads' complaints (a traceback each, at any later moment) are
    dropped; every other exception Python could not raise still goes to the hook that was there."""
    previous = sys.unraisablehook
    if getattr(previous, "drops_abandoned_reads", False):
        return

    def hook(unraisable: Any) -> None:
        if not _is_abandoned_read(unraisable):
            previous(unraisable)

    hook.drops_abandoned_reads = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


class Checkpointer:
    """Saves and restores (train state, metadata dict) per step, keeping the latest `max_to_keep` steps.

    The state is any pytree of jax arrays (typed PRNG key arrays included); restore places each array with the
    sharding of the matching leaf of the abstract target. Usable as a context manager; `close` waits for saves.
    say: where the one-line notices about unreadable steps go.
    set_aside: move an unreadable step out of the way when an older one is restored instead; only the process that
    owns the folder (the run holding its lock) should, a reader only skips it.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 3, async_save: bool = False,
                 say: Callable[[str], None] = print, set_aside: bool = True) -> None:
        self.directory = Path(directory).absolute()
        self.say, self.set_aside = say, set_aside
        if self.directory.exists() and not self.directory.is_dir():
            raise CheckpointError(f"checkpoint folder {self.directory} is a file; pass a folder path")
        registry = ocp.handlers.create_default_handler_registry(
            state=ocp.StandardCheckpointHandler(), metadata=ocp.JsonCheckpointHandler(),
            checksums=ocp.JsonCheckpointHandler())
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=async_save)
        try:
            self._manager = ocp.CheckpointManager(self.directory, options=options, handler_registry=registry)
        except (OSError, ValueError) as error:
            raise CheckpointError(f"cannot open the checkpoint folder {self.directory}: {first_line(error)}") from error

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
        checksums = dict(zip(_leaf_names(state), tree_checksums(state)))
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), metadata=ocp.args.JsonSave(metadata),
                                  checksums=ocp.args.JsonSave(checksums))
        try:
            return self._manager.save(step, args=args, force=force)
        except Exception as error:
            raise CheckpointError(f"saving checkpoint {self.step_directory(step)} failed ({first_line(error)}); "
                                  "earlier checkpoints are intact") from error

    def wait(self) -> None:
        """Blocks until an asynchronous save has finished; raises its error if it failed."""
        try:
            self._manager.wait_until_finished()
        except Exception as error:
            raise CheckpointError(f"an asynchronous save in {self.directory} failed ({first_line(error)}); earlier "
                                  "checkpoints are intact") from error

    def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """The state and metadata of `step`, or of the newest readable step (`restore_newest`).

        abstract_state: the target pytree of `jax.ShapeDtypeStruct` (with shardings) or arrays; the checkpoint must
        have the same leaves with the same shapes and dtypes.
        """
        if step is not None:
            return self._restore_step(abstract_state, self._existing_step(step))
        restored = self.restore_newest(abstract_state)
        if restored is None:
            raise CheckpointError(f"{self.directory} holds no checkpoint; train first or point to the folder that "
                                  "holds the step folders")
        return restored[1:]

    def restore_newest(self, abstract_state: Any) -> tuple[int, Any, dict[str, Any]] | None:
        """(step, state, metadata) of the newest step that reads back whole, or None where there is no step.

        Each newer step that cannot be read is reported through `say` (its folder and the first line of the cause)
        and, with `set_aside`, moved to `<directory>-unreadable/`. Where no step can be read, nothing is moved and
        CheckpointError says what to do; one written by another model is refused as in `restore`.
        """
        unreadable: list[tuple[int, UnreadableCheckpointError]] = []
        for step in reversed(self.all_steps()):
            try:
                state, metadata = self._restore_step(abstract_state, step)
            except UnreadableCheckpointError as error:
                unreadable.append((step, error))
                continue
            self._agree_across_processes(step)
            self._skip_unreadable(unreadable, step)
            return step, state, metadata
        if not unreadable:
            return None
        newest, error = unreadable[0]
        older = f"; nor the {len(unreadable) - 1} older" if len(unreadable) > 1 else ""
        failure = CheckpointError(f"no checkpoint in {self.directory} can be read (step {newest}: {error.cause}"
                                  f"{older}): move that folder away to start afresh")
        for _, older_error in unreadable[1:]:
            failure.add_note(str(older_error))
        raise failure from error

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

    def _unreadable(self, step: int, error: BaseException | str) -> UnreadableCheckpointError:
        """The error for a step that cannot be read: its folder and why, or the first line of the innermost cause of
        `error` with the paths inside the step folder written from there (its traceback is kept as a note)."""
        if isinstance(error, str):
            return UnreadableCheckpointError(self.step_directory(step), error)
        cause = first_line(root_cause(error), limit=1000).replace(f"{self.step_directory(step)}/", "")
        unreadable = UnreadableCheckpointError(self.step_directory(step), first_line(cause, limit=100))
        unreadable.add_note("".join(traceback.format_exception(error)).rstrip())  # text: the error holds the read
        return unreadable

    def _attempt(self, step: int, read: Callable[[], Any]) -> Any:
        """read(), a failure of which is raised as the UnreadableCheckpointError of `step`."""
        with _quiet_orbax():
            try:
                return read()
            except Exception as error:
                unreadable = self._unreadable(step, error)
        _drop_abandoned_reads()
        gc.collect()  # past the except clause: the failed read and the reads it abandoned, now
        raise unreadable

    def _read(self, step: int, args: ocp.args.Composite) -> Any:
        return self._attempt(step, lambda: self._manager.restore(step, args=args))

    def _restore_step(self, abstract_state: Any, step: int) -> tuple[Any, dict[str, Any]]:
        """The state and metadata of `step`, its arrays checked against their checksums (steps written before
        checkpoints had checksums are restored unchecked)."""
        self._check_layout(abstract_state, step)
        items = dict(state=ocp.args.StandardRestore(abstract_state), metadata=ocp.args.JsonRestore())
        checked = (self.step_directory(step) / "checksums").is_dir()
        if checked:
            items["checksums"] = ocp.args.JsonRestore()
        restored = self._read(step, ocp.args.Composite(**items))
        if checked:
            self._check_checksums(step, restored.state, restored.checksums or {})
        return restored.state, dict(restored.metadata or {})

    def _check_checksums(self, step: int, state: Any, saved: dict[str, str]) -> None:
        for name, checksum in zip(_leaf_names(state), tree_checksums(state)):
            if saved.get(name) != checksum:
                raise self._unreadable(step, f"{name} does not match the checksum it was saved with: its files "
                                             "changed after they were written")

    def _agree_across_processes(self, step: int) -> None:
        """Every process must restore the same step; they read the same folder, so they only differ where it
        changed under them."""
        if jax.process_count() > 1:
            steps = sorted(set(np.asarray(process_allgather(np.asarray(step))).tolist()))
            if len(steps) > 1:
                raise CheckpointError(f"the processes of this run restored different steps of {self.directory} "
                                      f"({steps}); is another process changing it?")

    def _skip_unreadable(self, unreadable: list[tuple[int, UnreadableCheckpointError]], restored: int) -> None:
        """Reports each unreadable step newer than `restored` and, with `set_aside`, moves it out of orbax's sight
        (the first process renames; every process then reads the steps anew)."""
        for step, error in unreadable:
            if not self.set_aside:
                self.say(f"{error}; using step {restored}")
                continue
            aside = _free_name(self.directory.with_name(f"{self.directory.name}-unreadable") / str(step))
            if jax.process_index() == 0:
                try:
                    aside.parent.mkdir(exist_ok=True)
                    os.rename(self.step_directory(step), aside)
                except OSError as failure:
                    raise CheckpointError(f"{error}, nor moved to {aside} ({failure.strerror}): move it away by "
                                          f"hand") from failure
            self.say(f"{error}; moved it to {aside.relative_to(self.directory.parent)} and resuming from step "
                     f"{restored}")
        if unreadable and self.set_aside:
            if jax.process_count() > 1:
                sync_global_devices("bertjax: unreadable checkpoints set aside")
            self._manager.reload()

    def _stored_leaves(self, step: int) -> dict[str, Any]:
        stored = self._attempt(step, lambda: self._manager.metadata(step).item_metadata["state"])
        if stored is None:
            raise self._unreadable(step, "the description of its state (state/_METADATA) is missing")
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
