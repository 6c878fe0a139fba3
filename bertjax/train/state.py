"""The training state: step, parameters, optimizer state and the dropout RNG, as one pytree."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from bertjax.train.sharding import replicate, replicated_shardings


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: optimizer updates done
    params: Any
    opt_state: Any
    rng: jax.Array  # typed PRNG key; each step's dropout key is derived from it and the step

    def dropout_key(self) -> jax.Array:
        return jax.random.fold_in(self.rng, self.step)


def create_state(params: Any, optimizer: optax.GradientTransformation, seed: int, mesh: Mesh
                 ) -> tuple[TrainState, Any]:
    """A replicated train state on the mesh, and its shardings (for jit and checkpoint restore).

    params: a pytree identical on every process, e.g. freshly initialised or loaded by `load_pretrained`.
    The state's parameters take over the buffers of their placed copy (donated), so placing them costs one copy,
    not two; arrays already placed on the mesh's devices are themselves donated, so callers must not use `params`
    after this call (nor keep them alive beside the state).
    """
    def build(params: Any) -> TrainState:
        return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params),
                          rng=jax.random.key(seed))

    abstract = jax.eval_shape(build, params)
    shardings = replicated_shardings(abstract, mesh)
    state = jax.jit(build, out_shardings=shardings, donate_argnums=0)(replicate(params, mesh))
    return state, shardings


def abstract_state(state: Any) -> Any:
    """ShapeDtypeStructs with the shardings of `state`: the target that a checkpoint is restored into."""
    return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding), state)
