"""Runs pretraining steps of a tiny BERT over every visible device (and process) on a fixed synthetic batch,
then writes the losses and the final parameters to an .npz file. Used by the data-parallel tests.

usage: data_parallel_step.py OUTPUT.npz [STEPS] [ACCUMULATION_STEPS] [DROPOUT]
(multi-host: set BERTJAX_COORDINATOR, BERTJAX_NUM_PROCESSES, BERTJAX_PROCESS_ID)
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from bertjax.model import BertForPreTraining, preset
from bertjax.tasks.pretraining import pretraining_loss
from bertjax.train.optimizer import OptimizerConfig, make_optimizer
from bertjax.train.sharding import global_batch, host_rows, initialize_distributed, jit_sharded, make_mesh
from bertjax.train.state import create_state
from bertjax.train.steps import make_train_step

BATCH, SEQ, PREDICTIONS, VOCAB = 16, 24, 4, 97


def synthetic_batch(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(step)
    lengths = rng.integers(8, SEQ + 1, size=BATCH)
    attention_mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    positions = np.stack([np.sort(rng.choice(np.arange(1, length - 1), PREDICTIONS, replace=False))
                          for length in lengths]).astype(np.int32)
    return {
        "input_ids": (rng.integers(5, VOCAB, size=(BATCH, SEQ)) * attention_mask).astype(np.int32),
        "token_type_ids": ((np.arange(SEQ)[None, :] >= lengths[:, None] // 2) * attention_mask).astype(np.int32),
        "attention_mask": attention_mask,
        "masked_lm_positions": positions,
        "masked_lm_ids": rng.integers(5, VOCAB, size=(BATCH, PREDICTIONS)).astype(np.int32),
        # 1 to PREDICTIONS real predictions a row: the MLM loss averages over unequal counts per micro-batch.
        "masked_lm_weights": (np.arange(PREDICTIONS)[None, :] < rng.integers(1, PREDICTIONS + 1, (BATCH, 1))
                              ).astype(np.float32),
        "next_sentence_labels": rng.integers(0, 2, size=BATCH).astype(np.int32),
    }


def main() -> None:
    output = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    accumulation = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    dropout = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
    initialize_distributed()
    mesh = make_mesh()
    config = preset("bert-tiny", vocab_size=VOCAB, max_position_embeddings=SEQ, hidden_size=32,
                    num_attention_heads=4, intermediate_size=64, hidden_dropout_prob=dropout,
                    attention_probs_dropout_prob=dropout)
    model = BertForPreTraining(config)
    sample = synthetic_batch(0)
    params = model.init(jax.random.key(0), sample["input_ids"])["params"]
    optimizer, schedule = make_optimizer(OptimizerConfig(learning_rate=1e-3, warmup_steps=0), params, 10,
                                         config.num_hidden_layers)
    state, shardings = create_state(params, optimizer, seed=1, mesh=mesh)
    step_fn = jit_sharded(make_train_step(pretraining_loss(model), optimizer, schedule, accumulation), mesh,
                          shardings)
    losses = []
    for step in range(steps):
        rows = host_rows(BATCH)
        host_batch = {key: value[rows] for key, value in synthetic_batch(step).items()}
        state, metrics = step_fn(state, global_batch(host_batch, mesh))
        losses.append(float(metrics["loss"]))
    flat = {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(jax.device_get(leaf))
            for path, leaf in jax.tree_util.tree_leaves_with_path(state.params)}
    if jax.process_index() == 0:
        np.savez(output, losses=np.asarray(losses), devices=jax.device_count(), **flat)


if __name__ == "__main__":
    main()
