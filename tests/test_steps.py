"""The train step's gradient accumulation: what it costs (its equality with the full batch is in
tests/test_data_parallel.py, over devices and micro-batches with unequal MLM counts)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bertjax.benchmark.steps.workloads import synthetic_batch
from bertjax.model import BertForPreTraining, preset
from bertjax.tasks.pretraining import pretraining_loss
from bertjax.train.optimizer import OptimizerConfig, make_optimizer
from bertjax.train.state import TrainState
from bertjax.train.steps import make_train_step


def test_accumulation_computes_no_extra_forward_pass() -> None:
    """The full batch's counts are read off the loss function's output for every micro-batch at once; they depend
    on the batch alone, so XLA must drop those forward passes. XLA's cost analysis counts a loop's body once: a
    step over 4 micro-batches costs a quarter of the whole-batch step, plus the update once (measured: 0.257), and
    the dropped forward passes would add a third of the whole step (about 0.59)."""
    config = preset("bert-L2-H128", vocab_size=2000)
    model = BertForPreTraining(config)
    batch = {key: jnp.asarray(value) for key, value in synthetic_batch(config, "pretrain", 8, 64, seed=0).items()}
    params = model.init(jax.random.key(0), batch["input_ids"][:1])["params"]
    optimizer, schedule = make_optimizer(OptimizerConfig(), params, 10, config.num_hidden_layers)
    state = TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params),
                       rng=jax.random.key(1))

    def flops(accumulation_steps: int) -> float:
        step = jax.jit(make_train_step(pretraining_loss(model), optimizer, schedule, accumulation_steps),
                       compiler_options={"xla_backend_optimization_level": 0})  # counted before LLVM runs
        return step.lower(state, batch).compile().cost_analysis()["flops"]

    whole, accumulated = flops(1), flops(4)
    assert 0.25 < accumulated / whole < 0.3, accumulated / whole
