"""The bertjax side: the library's own train step (donated state, AdamW, clipping) or jitted prediction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bertjax.benchmark.steps.flops import TRAINING_WORKLOADS, WORKLOAD_HEADS
from bertjax.benchmark.steps.pretrained import HEAD
from bertjax.benchmark.steps.workloads import pretraining_objective
from bertjax.convert import load_pretrained
from bertjax.model import HEADS, BertForSequenceClassification, ModelConfig, ModelOptions
from bertjax.tasks.finetuning import OBJECTIVES, finetuning_loss, prediction
from bertjax.tasks.pretraining import pretraining_loss
from bertjax.train.evaluation import jit_eval
from bertjax.train.losses import IGNORE_INDEX, Mean, classification_loss
from bertjax.train.optimizer import OptimizerConfig, make_optimizer
from bertjax.train.sharding import global_batch, jit_sharded, make_mesh, replicate, replicated
from bertjax.train.state import create_state
from bertjax.train.steps import make_train_step

Batch = dict[str, jax.Array]


def all_positions_pretraining_loss(model: nn.Module
                                   ) -> Callable[[Any, Batch, jax.Array], tuple[dict[str, Mean], dict[str, Mean]]]:
    """The pretraining loss computed as Hugging Face computes it by default: the vocabulary projection at every
    position, cross entropy over the positions whose label is not -100 (plus NSP where the batch has its labels).
    Same value as `pretraining_loss`, more work."""

    def loss_fn(params: Any, batch: Batch, key: jax.Array) -> tuple[dict[str, Mean], dict[str, Mean]]:
        logits = model.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                             batch["token_type_ids"], deterministic=False, rngs={"dropout": key})
        targets = jnp.where(batch["masked_lm_weights"] > 0, batch["masked_lm_ids"], IGNORE_INDEX)
        rows = jnp.arange(targets.shape[0])[:, None]
        labels = jnp.full(batch["input_ids"].shape, IGNORE_INDEX).at[rows, batch["masked_lm_positions"]].set(targets)
        mlm_loss, _ = classification_loss(logits["mlm_logits"], labels)  # [batch, seq, vocab] logits
        terms, metrics = {"mlm": mlm_loss}, {"mlm_loss": mlm_loss}
        if "next_sentence_labels" in batch:
            nsp_loss, _ = classification_loss(logits["nsp_logits"], batch["next_sentence_labels"])
            terms["nsp"], metrics["nsp_loss"] = nsp_loss, nsp_loss
        return terms, metrics

    return loss_fn


def scanned_steps(train_step: Callable[[Any, Batch], tuple[Any, Any]]) -> Callable[[Any, Batch], tuple[Any, Any]]:
    """Several train steps in one call: batches [steps, batch, ...] -> (state, metrics [steps])."""

    def steps(state: Any, batches: Batch) -> tuple[Any, Any]:
        return jax.lax.scan(train_step, state, batches)

    return steps


class BertJaxRunner:
    """One workload (`pretrain`, `finetune`, `inference`) of bertjax on a fixed batch, on every local device.

    steps_per_call: training steps per jitted call (a `lax.scan` over stacked batches). XLA on CPU maps its
    temporaries afresh at every call, so more steps per call page-fault less per step.
    pretrained: a classifier's model folder to load (`bertjax.benchmark.steps.pretrained`); None initialises the params.
    """

    def __init__(self, config: ModelConfig, workload: str, batch: dict[str, np.ndarray], options: ModelOptions,
                 mlm_all_positions: bool = False, steps_per_call: int = 1, seed: int = 0,
                 pretrained: Path | None = None) -> None:
        self.config, self.workload, self.host_batch, self.options = config, workload, batch, options
        self.pretrained = pretrained
        self.mlm_all_positions = mlm_all_positions
        self.steps_per_call = steps_per_call if workload in TRAINING_WORKLOADS else 1
        self.seed = seed
        label = "bertjax, MLM at all positions" if mlm_all_positions else "bertjax"
        if "sequence_ids" in batch:
            label = "bertjax, packed"
        self.label = label if self.steps_per_call == 1 else f"{label}, {self.steps_per_call} steps/call"
        self._step: Any = None
        self._state: Any = None
        self._batch: Batch | None = None
        self._outputs: Any = None

    def _loss(self, model: Any) -> Callable[[Any, Batch, jax.Array], Any]:
        if self.workload == "finetune":
            return finetuning_loss(model, OBJECTIVES["classification"])
        return all_positions_pretraining_loss(model) if self.mlm_all_positions else pretraining_loss(model)

    def prepare(self) -> None:
        if WORKLOAD_HEADS[self.workload] == "pretraining":
            head = HEADS[pretraining_objective(self.config).head]  # BERT's MLM + NSP, or masked LM only
        else:
            head = BertForSequenceClassification
        model = head(self.config, self.options)
        if self.pretrained is not None:
            _, params, _ = load_pretrained(self.pretrained, HEAD, self.options)
        else:
            sample = jnp.asarray(self.host_batch["input_ids"][:1])
            params = jax.jit(model.init)(jax.random.key(self.seed), sample)["params"]
        mesh = make_mesh()
        self._batch = global_batch(self.host_batch, mesh)
        if self.workload in TRAINING_WORKLOADS:
            optimizer, schedule = make_optimizer(OptimizerConfig(), params, total_steps=10_000,
                                                 num_layers=self.config.num_hidden_layers)
            self._state, shardings = create_state(params, optimizer, seed=self.seed, mesh=mesh)
            train_step = make_train_step(self._loss(model), optimizer, schedule)
            if self.steps_per_call == 1:
                self._step = jit_sharded(train_step, mesh, shardings,
                                         concurrent=self.options.chunks_attention(self.config))
            else:
                self._step = jax.jit(scanned_steps(train_step), donate_argnums=(0,))
                self._batch = jax.tree.map(lambda array: jnp.stack([array] * self.steps_per_call), self._batch)
        else:
            self._state = replicate(params, mesh)
            self._step = jit_eval(prediction(model), mesh, replicated(mesh))

    def run(self, steps: int) -> None:
        """Runs `steps` steps (at least one call: `steps_per_call` steps)."""
        # No host synchronisation inside the loop: steps are dispatched back to back.
        if self.workload in TRAINING_WORKLOADS:
            for _ in range(max(1, steps // self.steps_per_call)):
                self._state, self._outputs = self._step(self._state, self._batch)
        else:
            for _ in range(steps):
                self._outputs = self._step(self._state, self._batch)
        jax.block_until_ready((self._state, self._outputs))

    def device_memory_bytes(self) -> int | None:
        """On accelerators, the compiled step's footprint: arguments + outputs (less donated aliases) + temporaries."""
        if jax.devices()[0].platform == "cpu":
            return None
        arguments = (self._state, self._batch)
        analysis = self._step.lower(*arguments).compile().memory_analysis()
        if analysis is None:
            return None
        return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes - analysis.alias_size_in_bytes
                   + analysis.temp_size_in_bytes)

    def close(self) -> None:
        self._step = self._state = self._batch = self._outputs = None
        jax.clear_caches()
