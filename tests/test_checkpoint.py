"""Checkpointer: exact round trips (optax state, typed PRNG keys), retention, layout checks, atomic saves, shardings,
and restoring past a step whose files were damaged (the checksums find changed bits)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from checkpoint_damage import DAMAGES, array_file, flip_a_bit, truncate
from bertjax.errors import CheckpointError
from bertjax.train.checkpoint import Checkpointer, UnreadableCheckpointError

# A read that fails (the damaged-step tests) abandons reads whose coroutines and tensorstore callbacks complain later,
# from another thread and in whichever test runs then. The checkpointer drops these complaints, but pytest puts its
# own hook in place for each test; the report is harmless and only that one is silenced.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in[\s\S]*(Event loop is closed|reading array index):"
    r"pytest.PytestUnraisableExceptionWarning")


@flax.struct.dataclass
class State:
    """Shaped like the train state: the checkpointer must take any pytree of arrays."""

    step: Any
    params: Any
    opt_state: Any
    rng: Any


def make_state(seed: int = 0, hidden: int = 4) -> State:
    """An int step, params, a stepped adamw state and a typed PRNG key."""
    keys = jax.random.split(jax.random.key(seed), 3)
    params = {"bert": {"dense": {"kernel": jax.random.normal(keys[0], (3, hidden)),
                                 "bias": jax.random.normal(keys[1], (hidden,))}}}
    optimizer = optax.adamw(1e-2)
    opt_state = optimizer.init(params)
    gradients = jax.tree.map(jnp.ones_like, params)
    _, opt_state = optimizer.update(gradients, opt_state, params)
    return State(step=jnp.asarray(7 + seed, jnp.int32), params=params, opt_state=opt_state, rng=keys[2])


def abstract(state: Any, sharding: NamedSharding | None = None) -> Any:
    return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                                          sharding=sharding or leaf.sharding), state)


def assert_trees_equal(restored: Any, expected: Any) -> None:
    assert jax.tree.structure(restored) == jax.tree.structure(expected)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(expected)):
        assert got.dtype == want.dtype
        if jax.dtypes.issubdtype(want.dtype, jax.dtypes.prng_key):
            got, want = jax.random.key_data(got), jax.random.key_data(want)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_round_trip_is_exact_in_a_new_checkpointer(tmp_path: Path) -> None:
    state = make_state()
    metadata = {"extra": {"best_accuracy": 0.75, "patience": 2}, "config": {"hidden_size": 4}}
    with Checkpointer(tmp_path) as checkpointer:
        assert checkpointer.save(10, state, metadata)
    with Checkpointer(tmp_path) as checkpointer:
        assert checkpointer.latest_step() == 10
        restored, restored_metadata = checkpointer.restore(abstract(state))
        assert checkpointer.restore_metadata(10) == metadata
    assert_trees_equal(restored, state)
    assert restored_metadata == metadata
    assert int(restored.opt_state[0].count) == 1
    # The restored key draws the same numbers as the saved one.
    np.testing.assert_array_equal(jax.random.normal(restored.rng, (5,)), jax.random.normal(state.rng, (5,)))


def test_async_save_round_trip(tmp_path: Path) -> None:
    state = make_state(seed=1)
    with Checkpointer(tmp_path, async_save=True) as checkpointer:
        checkpointer.save(3, state, {"note": "async"})
        checkpointer.wait()
        restored, metadata = checkpointer.restore(abstract(state), 3)
    assert_trees_equal(restored, state)
    assert metadata == {"note": "async"}


def test_keeps_the_last_k_steps(tmp_path: Path) -> None:
    with Checkpointer(tmp_path, max_to_keep=2) as checkpointer:
        assert checkpointer.latest_step() is None
        for step in (1, 2, 3, 4):
            checkpointer.save(step, make_state(seed=step), {"step": step})
        assert checkpointer.all_steps() == [3, 4]
        assert checkpointer.latest_step() == 4
        assert checkpointer.restore_metadata() == {"step": 4}
        restored, _ = checkpointer.restore(abstract(make_state()), 3)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["3", "4"]
    assert int(restored.step) == 7 + 3


@pytest.mark.parametrize("change, message", [
    (lambda state: make_state(hidden=5),
     "params/bert/dense/bias has shape (4,) there and (5,) here (and 5 more differences)"),
    (lambda state: state.replace(step=state.step.astype(jnp.float32)), "step has dtype int32 there and float32 here;"),
    (lambda state: state.replace(params={**state.params, "pooler": jnp.zeros(2)}),
     "it has no params/pooler, which this model has;"),
    (lambda state: state.replace(rng=None), "it has rng, which this model lacks;"),
], ids=["shape", "dtype", "missing leaf", "extra leaf"])
def test_a_different_model_is_refused_before_reading(tmp_path: Path, change: Any, message: str) -> None:
    state = make_state()
    with Checkpointer(tmp_path) as checkpointer:
        checkpointer.save(5, state, {})
        with pytest.raises(CheckpointError) as raised:
            checkpointer.restore(abstract(change(state)))
    assert f"checkpoint {tmp_path / '5'} was written by a different model" in str(raised.value)
    assert message in str(raised.value)


def test_a_metadata_value_json_cannot_store_fails_before_writing(tmp_path: Path) -> None:
    with Checkpointer(tmp_path) as checkpointer:
        checkpointer.save(1, make_state(), {})
        with pytest.raises(CheckpointError, match=r"metadata\.extra\.best is a ndarray"):
            checkpointer.save(2, make_state(seed=2), {"extra": {"best": np.ones(2)}})
        assert checkpointer.all_steps() == [1]


def test_a_save_failing_midway_leaves_the_previous_checkpoint(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    state = make_state()
    with Checkpointer(tmp_path) as checkpointer:
        checkpointer.save(1, state, {"step": 1})

        async def fail(*args: Any, **kwargs: Any) -> None:
            raise OSError("no space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(ocp.JsonCheckpointHandler, "_save_fn", fail)
            with pytest.raises(CheckpointError, match="no space left on device.*earlier checkpoints are intact"):
                checkpointer.save(2, make_state(seed=2), {"step": 2})
        assert checkpointer.latest_step() == 1
        # The half-written step lies in a temporary folder that orbax never lists as a step.
        assert not (tmp_path / "2").exists()
    with Checkpointer(tmp_path) as checkpointer:
        assert checkpointer.all_steps() == [1]
        restored, metadata = checkpointer.restore(abstract(state))
        assert_trees_equal(restored, state)
        assert metadata == {"step": 1}
        # Training goes on: the next save works once the cause is gone. (Not step 2 again: orbax may still be writing
        # the failed step's arrays into its temporary folder in the background.)
        checkpointer.save(3, make_state(seed=3), {"step": 3})
        assert checkpointer.all_steps() == [1, 3]


def test_saving_a_step_twice_is_refused(tmp_path: Path) -> None:
    with Checkpointer(tmp_path) as checkpointer:
        checkpointer.save(1, make_state(), {})
        with pytest.raises(CheckpointError, match=f"checkpoint {tmp_path / '1'} already exists"):
            checkpointer.save(1, make_state(), {})


def test_missing_and_unknown_steps(tmp_path: Path) -> None:
    with Checkpointer(tmp_path / "empty") as checkpointer:
        with pytest.raises(CheckpointError, match=f"{tmp_path / 'empty'} holds no checkpoint"):
            checkpointer.restore(abstract(make_state()))
        checkpointer.save(4, make_state(), {})
        with pytest.raises(CheckpointError, match=r"holds no checkpoint of step 9; it holds steps \[4\]"):
            checkpointer.restore_metadata(9)


def test_a_file_is_not_a_checkpoint_folder(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints"
    path.write_text("not a folder")
    with pytest.raises(CheckpointError, match=f"checkpoint folder {path} is a file"):
        Checkpointer(path)


HIDDEN = 512  # arrays larger than orbax keeps inline in its index: each has data in an array file


def _save_steps(directory: Path, steps: tuple[int, ...], hidden: int = HIDDEN) -> None:
    with Checkpointer(directory) as checkpointer:
        for step in steps:
            checkpointer.save(step, make_state(seed=step, hidden=hidden), {"step": step})


@pytest.mark.parametrize("damage", DAMAGES)
def test_an_unreadable_newest_step_is_set_aside_and_the_one_before_restored(tmp_path: Path, damage: str) -> None:
    directory = tmp_path / "checkpoints"
    _save_steps(directory, (3, 6))
    DAMAGES[damage](directory / "6")
    damaged_files = sorted(path.relative_to(directory / "6") for path in (directory / "6").rglob("*"))
    said = []
    with Checkpointer(directory, say=said.append) as checkpointer:
        step, restored, metadata = checkpointer.restore_newest(abstract(make_state(hidden=HIDDEN)))
        assert (step, metadata) == (3, {"step": 3})
        assert_trees_equal(restored, make_state(seed=3, hidden=HIDDEN))
        assert checkpointer.all_steps() == [3]
        checkpointer.save(6, make_state(seed=6, hidden=HIDDEN), {"step": 6})  # the run trains that step again
    assert len(said) == 1 and "\n" not in said[0] and len(said[0]) < 300, said
    assert said[0].startswith(f"checkpoint {directory / '6'} cannot be read (")
    assert said[0].endswith("; moved it to checkpoints-unreadable/6 and resuming from step 3")
    # Renamed, never deleted: every file of the damaged step is kept.
    aside = tmp_path / "checkpoints-unreadable" / "6"
    assert sorted(path.relative_to(aside) for path in aside.rglob("*")) == damaged_files
    with Checkpointer(directory) as checkpointer:
        assert checkpointer.restore(abstract(make_state(hidden=HIDDEN)))[1] == {"step": 6}


def test_the_checksums_find_changed_bits_that_orbax_reads_without_complaint(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _save_steps(tmp_path, (2,), hidden=4096)  # incompressible arrays: zstd stores them raw, without a check
    flip_a_bit(array_file(tmp_path / "2"))
    target = abstract(make_state(seed=2, hidden=4096))
    with Checkpointer(tmp_path) as checkpointer:
        with monkeypatch.context() as patch:
            patch.setattr(Checkpointer, "_check_checksums", lambda *arguments: None)
            unchecked, _ = checkpointer.restore(target, 2)
        with pytest.raises(UnreadableCheckpointError) as raised:
            checkpointer.restore(target, 2)
    changed = [name for name, got, want in zip(_names(unchecked), jax.tree.leaves(unchecked),
                                               jax.tree.leaves(make_state(seed=2, hidden=4096)))
               if not np.array_equal(*(jax.random.key_data(leaf) if jax.dtypes.issubdtype(leaf.dtype,
                                                                                        jax.dtypes.prng_key)
                                       else leaf for leaf in (got, want)))]
    assert len(changed) == 1
    assert str(raised.value) == (f"checkpoint {tmp_path / '2'} cannot be read ({changed[0]} does not match the "
                                 "checksum it was saved with: its files changed after they were written)")


def _names(tree: Any) -> list[str]:
    return ["/".join(str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key)))) for key in path)
            for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def test_an_unreadable_step_asked_for_is_one_line_and_stays(tmp_path: Path) -> None:
    _save_steps(tmp_path, (3, 6))
    truncate(array_file(tmp_path / "6"))
    with Checkpointer(tmp_path) as checkpointer:
        with pytest.raises(UnreadableCheckpointError) as raised:
            checkpointer.restore(abstract(make_state(hidden=HIDDEN)), 6)
        assert checkpointer.all_steps() == [3, 6]
    message = str(raised.value)
    # The first line of the innermost cause, paths inside the step folder written from there; no TensorStore spec.
    assert message.startswith(f"checkpoint {tmp_path / '6'} cannot be read (OUT_OF_RANGE: Error reading ")
    assert message.count(str(tmp_path)) == 1 and "\n" not in message and "tensorstore_spec" not in message
    assert len(message) < 250


def test_without_a_readable_step_nothing_is_moved_and_the_error_says_what_to_do(tmp_path: Path) -> None:
    directory = tmp_path / "checkpoints"
    _save_steps(directory, (3, 6))
    DAMAGES["truncated array file"](directory / "6")
    DAMAGES["removed metadata file"](directory / "3")
    with Checkpointer(directory) as checkpointer:
        with pytest.raises(CheckpointError) as raised:
            checkpointer.restore_newest(abstract(make_state(hidden=HIDDEN)))
        assert checkpointer.all_steps() == [3, 6]
    message = str(raised.value)
    assert message.startswith(f"no checkpoint in {directory} can be read (step 6: OUT_OF_RANGE: ")
    assert message.endswith("; nor the 1 older): move that folder away to start afresh")
    assert len(message) < 300 and not (tmp_path / "checkpoints-unreadable").exists()


def test_a_reader_skips_an_unreadable_step_without_moving_it(tmp_path: Path) -> None:
    _save_steps(tmp_path, (3, 6))
    truncate(array_file(tmp_path / "6"))
    said = []
    with Checkpointer(tmp_path, say=said.append, set_aside=False) as checkpointer:
        step, _, _ = checkpointer.restore_newest(abstract(make_state(hidden=HIDDEN)))
        assert step == 3 and checkpointer.all_steps() == [3, 6]
    assert said == [f"checkpoint {tmp_path / '6'} cannot be read ({said[0].split(' cannot be read (')[1]}"]
    assert said[0].endswith("; using step 3")


def test_a_step_saved_without_checksums_restores_unchecked(tmp_path: Path) -> None:
    """Checkpoints written before they had checksums still resume."""
    _save_steps(tmp_path, (3,))
    shutil.rmtree(tmp_path / "3" / "checksums")
    with Checkpointer(tmp_path) as checkpointer:
        restored, metadata = checkpointer.restore(abstract(make_state(hidden=HIDDEN)))
    assert_trees_equal(restored, make_state(seed=3, hidden=HIDDEN))
    assert metadata == {"step": 3}


@pytest.mark.parametrize("spec", [PartitionSpec(), PartitionSpec("data")])
def test_restored_arrays_take_the_target_sharding(tmp_path: Path, spec: PartitionSpec) -> None:
    mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    replicated = NamedSharding(mesh, PartitionSpec())
    state = make_state()
    with Checkpointer(tmp_path) as checkpointer:
        checkpointer.save(2, state, {})
        target = abstract(state, replicated)
        # Shard the kernel's first axis where the spec asks for it; every other leaf stays replicated.
        kernel = target.params["bert"]["dense"]["kernel"]
        target.params["bert"]["dense"]["kernel"] = jax.ShapeDtypeStruct(kernel.shape, kernel.dtype,
                                                                        sharding=NamedSharding(mesh, spec))
        restored, _ = checkpointer.restore(target)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(target)):
        assert got.sharding == want.sharding
    assert_trees_equal(restored, state)


SHARDED_ROUND_TRIP = """
import sys
import jax, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from bertjax.train.checkpoint import Checkpointer
mesh = Mesh(np.array(jax.devices()), ("data",))
sharded, replicated = NamedSharding(mesh, PartitionSpec("data")), NamedSharding(mesh, PartitionSpec())
values = np.arange(24, dtype=np.float32).reshape(4, 6)
state = {"kernel": jax.device_put(values, sharded), "rng": jax.device_put(jax.random.key(1), replicated)}
with Checkpointer(sys.argv[1]) as checkpointer:
    checkpointer.save(1, state, {})
    for sharding in (replicated, sharded):
        target = {"kernel": jax.ShapeDtypeStruct(values.shape, values.dtype, sharding=sharding),
                  "rng": jax.ShapeDtypeStruct((), state["rng"].dtype, sharding=replicated)}
        restored, _ = checkpointer.restore(target)
        assert restored["kernel"].sharding == sharding, restored["kernel"].sharding
        assert len(restored["kernel"].addressable_shards) == 2
        shard_shapes = {shard.data.shape for shard in restored["kernel"].addressable_shards}
        assert shard_shapes == ({(4, 6)} if sharding is replicated else {(2, 6)}), shard_shapes
        np.testing.assert_array_equal(np.asarray(restored["kernel"]), values)
        np.testing.assert_array_equal(jax.random.key_data(restored["rng"]), jax.random.key_data(state["rng"]))
print("restored on", len(jax.devices()), "devices")
"""


def test_arrays_sharded_over_two_devices_restore_replicated_or_sharded(tmp_path: Path) -> None:
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", SHARDED_ROUND_TRIP, str(tmp_path)], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "restored on 2 devices" in result.stdout
