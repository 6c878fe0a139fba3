"""Pretraining from raw text (MLM + NSP, or RoBERTa-style MLM only): the run behind `scripts/pretrain.py`."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from jax.experimental.multihost_utils import process_allgather, sync_global_devices

from bertjax.convert import save_pretrained
from bertjax.data.pretraining.dataset import PretrainingDataset
from bertjax.data.pretraining.shards import PreparedCorpus
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import ConfigError
from bertjax.model.layout import unstack_layers
from bertjax.runs.fill_mask_examples import describe_fill_mask
from bertjax.runs.model_setup import ModelSection, build_model, describe
from bertjax.runs.pretraining_data import (PretrainingDataSection, corpus_source, prepare_share, prepared_ahead,
                                           save_vocabulary)
from bertjax.runs.run_dir import RunContext, RunModel, RunSection, run_folder, start_run
from bertjax.tasks.pretraining import pretraining_eval_sums, pretraining_loss, summarize_pretraining_eval
from bertjax.train.evaluation import jit_eval, sum_over_batches
from bertjax.train.loop import LoopConfig, run_training
from bertjax.train.optimizer import OptimizerConfig, make_optimizer
from bertjax.train.plots import plot_curves
from bertjax.train.sharding import check_batch_size, jit_sharded
from bertjax.train.state import create_state
from bertjax.train.steps import make_train_step


@dataclasses.dataclass(frozen=True)
class PretrainingConfig:
    model: ModelSection = ModelSection()
    # The built-in run (configs/pretrain-tiny.yaml): a small corpus, so fresh masks every epoch and five different
    # cuttings of it into sequences keep the tiny model from memorising its examples.
    data: PretrainingDataSection = PretrainingDataSection(dynamic_masking=True, dupe_factor=5)
    optimizer: OptimizerConfig = OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.05)
    train: RunSection = RunSection(output_dir="runs/pretrain", steps=300, eval_every=150, checkpoint_every=150)


def _prepared_data(data: PretrainingDataSection, context: RunContext) -> tuple[PreparedCorpus, Any]:
    """The prepared corpus and tokenizer: from `data.prepared`, or prepared into the run folder's `data/` (read back
    on a restart), laid out as scripts/prepare_pretraining_data.py lays out a folder, vocabulary included, so that
    another run can name it as `data.prepared`. Each process prepares and reads only its share (its files, or every
    N-th document or tfds example) and makes its rows of every global batch from it."""
    share = dict(process_index=jax.process_index(), process_count=jax.process_count())
    if data.prepared:
        return prepared_ahead(data, **share)
    source = corpus_source(data, **share)
    folder = context.run_dir / "data"
    saved = folder / "tokenizer"
    resuming = context.checkpointer.latest_step() is not None and saved.is_dir()  # its model needs its vocabulary
    if jax.process_index() == 0 and not resuming:
        # Process 0 learns the vocabulary from a sample of its share; the others wait for it in the (shared) folder.
        save_vocabulary(data, source, saved)
    sync_global_devices("bertjax: vocabulary saved")
    tokenizer = load_tokenizer(saved)
    return prepare_share(data, source, tokenizer, folder, context.primary, context.say), tokenizer


def run_pretraining(config: PretrainingConfig) -> dict[str, float]:
    """Pretrains, evaluates on held-out documents, exports a Hugging Face checkpoint; returns the final eval. The
    run folder is locked meanwhile (`run_folder`)."""
    if config.train.steps < 1:
        raise ConfigError(f"train.steps must be at least 1, got {config.train.steps}")
    with run_folder(config.train):
        return _pretrain(config)


def _pretrain(config: PretrainingConfig) -> dict[str, float]:
    context: RunContext = start_run(config.train, config)
    data, train = config.data, config.train
    prepared, tokenizer = _prepared_data(data, context)
    head = "pretraining" if data.next_sentence else "masked_lm"
    built = build_model(config.model, head, train.seed, tokenizer)
    if data.max_seq_length > built.config.max_position_embeddings:
        raise ConfigError(f"data.max_seq_length ({data.max_seq_length}) is above the model's "
                          f"max_position_embeddings ({built.config.max_position_embeddings})")
    check_batch_size(train.batch_size, context.mesh, train.accumulation_steps, field="train.batch_size")
    dataset = PretrainingDataset(prepared, tokenizer, data.options())
    rows = train.batch_size // jax.process_count()  # this process's rows of each global batch
    dataset.check_batch_size(rows)
    # Every process must take part in every evaluation batch: as many as the process with the fewest has.
    eval_batches = min(train.eval_batches, int(process_allgather(np.asarray(dataset.eval_batch_count(rows))).min()))
    for note in built.notes:
        context.say(note)
    context.say(f"{dataset.describe()}; {train.steps} steps of {train.batch_size} sequences "
                f"on {jax.device_count()} device(s)")

    optimizer, schedule = make_optimizer(config.optimizer, built.params, train.steps, built.config.num_hidden_layers)
    state, shardings = create_state(built.take_params(), optimizer, train.seed, context.mesh)
    train_step = jit_sharded(make_train_step(pretraining_loss(built.model), optimizer, schedule,
                                             train.accumulation_steps), context.mesh, shardings,
                             concurrent=built.model.options.chunks_attention(built.config))
    eval_fn = jit_eval(pretraining_eval_sums(built.model), context.mesh, shardings.params)

    def evaluate(state, step: int) -> dict[str, float]:
        batches = dataset.eval_batches(rows, max_batches=eval_batches)
        return summarize_pretraining_eval(sum_over_batches(eval_fn, state.params, batches, context.mesh))

    if context.checkpointer.latest_step() is None:  # the untrained model's held-out loss: the curve's start
        context.metrics_log.write("eval", 0, evaluate(state, 0))
    result = run_training(
        LoopConfig(train.steps, train.log_every, train.eval_every, train.checkpoint_every, "pretrain"),
        state, train_step,
        lambda step: dataset.train_batch(step, rows),
        context.mesh, context.checkpointer, context.metrics_log,
        tokens_per_batch=train.batch_size * data.max_seq_length, evaluate=evaluate,
        on_start=lambda resumed_step: context.save_config(resumed_step, RunModel(built.config, head, tokenizer)))
    context.finish(plot_curves)
    if result.interrupted:
        return {}
    final = context.metrics("eval")[-1]
    export_dir = context.run_dir / "hf"
    if jax.process_index() == 0:
        params = unstack_layers(jax.device_get(result.state.params)) if config.model.scan_layers else \
            jax.device_get(result.state.params)
        save_pretrained(export_dir, built.config, params, head, tokenizer=tokenizer)
    first = context.metrics("eval")[0]
    context.say(f"model: {describe(built.config)}; held-out MLM loss {first['mlm_loss']:.3f} at step "
                f"{first['step']} -> {final['mlm_loss']:.3f} at step {final['step']} (MLM accuracy "
                f"{first['mlm_accuracy']:.3f} -> {final['mlm_accuracy']:.3f})")
    if context.primary:
        for line in describe_fill_mask(export_dir, prepared.held_out_sentences, tokenizer,
                                       word_segmenter=data.word_segmenter):
            context.say(line)
    context.say(f"Hugging Face checkpoint: {export_dir}")
    context.say(f"run folder: {context.run_dir}")
    return final
