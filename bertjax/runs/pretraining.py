"""Pretraining from raw text (MLM + NSP, or RoBERTa-style MLM only): the run behind `scripts/pretrain.py`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
from jax.experimental.multihost_utils import process_allgather, sync_global_devices

from bertjax.atomic import atomic_directory
from bertjax.convert import save_pretrained
from bertjax.data.builtin import builtin_corpus
from bertjax.data.corpus import read_documents, read_tfds_documents
from bertjax.data.pretraining import PretrainingDataset, PretrainingOptions, split_documents
from bertjax.data.tokenizer import load_tokenizer, save_tokenizer, train_wordpiece
from bertjax.errors import ConfigError
from bertjax.model.layout import unstack_layers
from bertjax.runs.fill_mask_examples import describe_fill_mask
from bertjax.runs.model_setup import ModelSection, build_model, describe
from bertjax.runs.run_dir import RunContext, RunSection, start_run
from bertjax.tasks.pretraining import pretraining_eval_sums, pretraining_loss, summarize_pretraining_eval
from bertjax.train.evaluation import jit_eval, sum_over_batches
from bertjax.train.loop import LoopConfig, run_training
from bertjax.train.optimizer import OptimizerConfig, make_optimizer
from bertjax.train.plots import plot_curves
from bertjax.train.sharding import check_batch_size, jit_sharded
from bertjax.train.state import create_state
from bertjax.train.steps import make_train_step


@dataclasses.dataclass(frozen=True)
class PretrainingDataSection:
    """The corpus, its tokenizer and how examples are made (BERT's create_pretraining_data options)."""

    corpus: str = "builtin"  # a file, folder or glob of text; `builtin` is the small corpus shipped with bertjax
    format: str = "auto"  # sentences (one a line, blank line between documents) | paragraphs | auto
    tfds: str | None = None  # a tensorflow-datasets text data set instead of files, e.g. wikipedia/20230601.en
    tfds_split: str = "train"
    tfds_text_feature: str = "text"
    tfds_data_dir: str | None = None
    tokenizer: str | None = None  # vocab.txt / tokenizer.json / a model folder; None: train a WordPiece vocab
    vocab_size: int = 8000
    lowercase: bool = True  # for a trained vocabulary or a bare vocab.txt; a tokenizer folder or JSON says its own
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    next_sentence: bool = True  # False: RoBERTa-style MLM only on full-sentence segments
    whole_word_masking: bool = False
    dynamic_masking: bool = False  # fresh masks every epoch (RoBERTa) instead of fixed ones (BERT)
    dupe_factor: int = 1  # how many times the corpus is cut into sequences, each time differently (BERT: 10)
    packing: bool = False  # several sequences per row, attention within each: less padding
    max_sequences_per_pack: int = 4
    eval_fraction: float = 0.05
    seed: int = 12345

    def __post_init__(self) -> None:
        if not 0 < self.eval_fraction < 1:  # the run evaluates held-out MLM (and NSP) from its first step
            raise ConfigError(f"eval_fraction must be above 0 and below 1, got {self.eval_fraction}: the run "
                              f"evaluates on held-out documents")


@dataclasses.dataclass(frozen=True)
class PretrainingConfig:
    model: ModelSection = ModelSection()
    # The built-in run (configs/pretrain-tiny.yaml): a small corpus, so fresh masks every epoch and five different
    # cuttings of it into sequences keep the tiny model from memorising its examples.
    data: PretrainingDataSection = PretrainingDataSection(dynamic_masking=True, dupe_factor=5)
    optimizer: OptimizerConfig = OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.05)
    train: RunSection = RunSection(output_dir="runs/pretrain", steps=300, eval_every=150, checkpoint_every=150)


def _documents(data: PretrainingDataSection) -> list[list[str]]:
    # Each process reads only its share (its files, or every N-th document or tfds example) and makes its rows of
    # every global batch from it.
    shard = dict(shard_index=jax.process_index(), shard_count=jax.process_count())
    if data.tfds:
        return read_tfds_documents(data.tfds, data.tfds_split, data.tfds_text_feature, data.tfds_data_dir, **shard)
    source = builtin_corpus() if data.corpus == "builtin" else data.corpus
    return read_documents(source, format=data.format, **shard)


def _tokenizer(data: PretrainingDataSection, documents: list[list[str]], run_dir: Path, resuming: bool):
    """The given vocabulary, the one trained by the attempt of this run whose checkpoint it resumes, or a new
    WordPiece vocabulary (replacing one that an attempt left without a checkpoint, whose settings may differ)."""
    if data.tokenizer:
        vocab_file = Path(data.tokenizer).is_file() and not data.tokenizer.endswith(".json")
        return load_tokenizer(data.tokenizer, lowercase=data.lowercase if vocab_file else None)
    saved = run_dir / "tokenizer"
    if not (resuming and saved.is_dir()) and jax.process_index() == 0:
        # Process 0 learns the vocabulary from its share; the others wait for it in the (shared) run folder.
        tokenizer = train_wordpiece((sentence for document in documents for sentence in document),
                                    vocab_size=data.vocab_size, lowercase=data.lowercase)
        with atomic_directory(saved) as folder:
            save_tokenizer(tokenizer, folder)
    sync_global_devices("bertjax: vocabulary saved")
    return load_tokenizer(saved)


def run_pretraining(config: PretrainingConfig) -> dict[str, float]:
    """Pretrains, evaluates on held-out documents, exports a Hugging Face checkpoint; returns the final eval."""
    if config.train.steps < 1:
        raise ConfigError(f"train.steps must be at least 1, got {config.train.steps}")
    context: RunContext = start_run(config.train, config)
    data, train = config.data, config.train
    documents = _documents(data)
    tokenizer = _tokenizer(data, documents, context.run_dir, context.checkpointer.latest_step() is not None)
    head = "pretraining" if data.next_sentence else "masked_lm"
    built = build_model(config.model, head, train.seed, vocab_size=len(tokenizer),
                        pad_token_id=tokenizer.pad_token_id)
    if data.max_seq_length > built.config.max_position_embeddings:
        raise ConfigError(f"data.max_seq_length ({data.max_seq_length}) is above the model's "
                          f"max_position_embeddings ({built.config.max_position_embeddings})")
    check_batch_size(train.batch_size, context.mesh, train.accumulation_steps, field="train.batch_size")
    dataset = PretrainingDataset(documents, tokenizer, PretrainingOptions(
        max_seq_length=data.max_seq_length, max_predictions_per_seq=data.max_predictions_per_seq,
        masked_lm_prob=data.masked_lm_prob, short_seq_prob=data.short_seq_prob, next_sentence=data.next_sentence,
        whole_word_masking=data.whole_word_masking, dynamic_masking=data.dynamic_masking,
        dupe_factor=data.dupe_factor, packing=data.packing, max_sequences_per_pack=data.max_sequences_per_pack,
        eval_fraction=data.eval_fraction, seed=data.seed),
        cache_dir=context.run_dir / "cache")
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
        on_start=context.save_config)
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
        _, held_out = split_documents(len(documents), dataset.options)
        sentences = [sentence for document in held_out for sentence in documents[document]]
        for line in describe_fill_mask(export_dir, sentences, tokenizer):
            context.say(line)
    context.say(f"Hugging Face checkpoint: {export_dir}")
    context.say(f"run folder: {context.run_dir}")
    return final
