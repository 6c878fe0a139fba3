"""Masked-LM (+ next-sentence) pretraining batches from documents: deterministic, resumable, multi-host.

Every random choice is a pure function of the seed and a position: numpy Generators seeded by [seed, stream, ...]
choose which documents are held out, the sequences of each split and each epoch's order; the masks of instance i in
epoch e (static masking: always epoch 0) are hashed from [seed, stream, split, e, i] (see masking). So any batch can
be rebuilt from its step alone, and each batch is built with whole-batch numpy operations, not row by row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

from bertjax.data.batching import _host_rows
from bertjax.data.instances import Instances, concatenate_instances, create_instances
from bertjax.data.masking import MaskingVocabulary, mask_rows, prediction_budget, sequence_keys
from bertjax.data.packing import Packs, pack_sequences, row_layout
from bertjax.data.token_cache import TokenizedCorpus, load_or_tokenize
from bertjax.errors import ConfigError, DataError

Batch = dict[str, np.ndarray]
# Independent random streams: the second entry of every Generator seed.
HOLDOUT_STREAM, INSTANCE_STREAM, SHUFFLE_STREAM, MASK_STREAM = range(4)
TRAIN, EVAL = 0, 1


@dataclasses.dataclass(frozen=True)
class PretrainingOptions:
    """How sequences are cut and masked (BERT's create_pretraining_data flags, plus RoBERTa's variants).

    next_sentence: False drops NSP and packs full sentences across documents (RoBERTa).
    dynamic_masking: fresh masks every epoch (RoBERTa) instead of one fixed mask per sequence (BERT).
    dupe_factor: how many times the corpus is cut into sequences (each time with other cuts and masks).
    eval_documents: documents held out for evaluation; None: eval_fraction of them.
    packing: several sequences per row with attention kept within each (see packing); without NSP, sequences then
    stop at document ends instead of running on into the next document.
    max_sequences_per_pack: the most sequences in one packed row.
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    next_sentence: bool = True
    whole_word_masking: bool = False
    dynamic_masking: bool = False
    dupe_factor: int = 1
    packing: bool = False
    max_sequences_per_pack: int = 4
    eval_fraction: float = 0.05
    eval_documents: int | None = None
    seed: int = 12345

    def __post_init__(self) -> None:
        minimum_length = 5 if self.next_sentence else 4  # room for specials and two tokens to cut
        checks = [
            ("max_seq_length", self.max_seq_length >= minimum_length, f"at least {minimum_length}"),
            ("max_predictions_per_seq", self.max_predictions_per_seq >= 1, "at least 1"),
            ("masked_lm_prob", 0 < self.masked_lm_prob <= 1, "in (0, 1]"),
            ("short_seq_prob", 0 <= self.short_seq_prob <= 1, "in [0, 1]"),
            ("dupe_factor", self.dupe_factor >= 1, "at least 1"),
            ("max_sequences_per_pack", self.max_sequences_per_pack >= 1, "at least 1"),
            ("eval_fraction", 0 <= self.eval_fraction < 1, "in [0, 1)"),
            ("eval_documents", self.eval_documents is None or self.eval_documents >= 0, "None or at least 0"),
            ("seed", self.seed >= 0, "at least 0"),
        ]
        for field, valid, requirement in checks:
            if not valid:
                raise ConfigError(f"pretraining option {field}={getattr(self, field)!r} must be {requirement}")


def split_documents(num_documents: int, options: PretrainingOptions) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the training and the held-out documents, a seeded random choice."""
    per_split = 2 if options.next_sentence else 1  # NSP draws random next segments from another document
    held_out = options.eval_documents
    if held_out is None:
        held_out = max(round(options.eval_fraction * num_documents), per_split) if options.eval_fraction else 0
    if num_documents - held_out < per_split or 0 < held_out < per_split:
        raise DataError(f"the corpus has {num_documents} documents; holding out {held_out} for evaluation leaves "
                        f"{num_documents - held_out} to train on, and each split needs at least {per_split}"
                        f"{' for next-sentence prediction' if options.next_sentence else ''}. Give a corpus with more "
                        f"documents (separated by blank lines)" + (
                            " or hold out fewer (a lower eval_fraction)" if num_documents >= 2 * per_split else ""))
    order = np.random.default_rng([options.seed, HOLDOUT_STREAM]).permutation(num_documents)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


class PretrainingDataset:
    """Training and evaluation batches of pretraining sequences built from `documents` (lists of sentences).

    The corpus is tokenized once and cached in `cache_dir` (see token_cache). The sequences of each split are laid
    out in rows: one per row, or several with `packing`. Training: global batch `step` is rows
    [step % per_epoch * B, ... + B) of epoch step // per_epoch's shuffled rows (the last partial batch is dropped);
    process h of H gets the contiguous rows [h*B/H, (h+1)*B/H). Evaluation: every held-out row once, with fixed
    masks, the last batch padded with rows whose `example_mask` is 0.
    Batches: input_ids, token_type_ids, attention_mask int32 [rows, max_seq_length]; masked_lm_positions,
    masked_lm_ids int32 and masked_lm_weights float32 [rows, max_predictions_per_seq]; with NSP,
    next_sentence_labels int32 [rows] (1: B is random). Packed batches also have sequence_ids int32 [rows,
    max_seq_length] (1, 2, ... for the row's sequences, 0 for padding) and position_ids (restarting at each
    sequence), and with NSP next_sentence_labels, next_sentence_positions (where each [CLS] is) int32 and
    next_sentence_weights float32 [rows, max_sequences_per_pack].
    """

    def __init__(self, documents: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase,
                 options: PretrainingOptions, cache_dir: str | Path | None = None) -> None:
        self.options = options
        self.cls_token_id, self.sep_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.pad_token_id = tokenizer.pad_token_id
        self.vocabulary = MaskingVocabulary.from_tokenizer(tokenizer)
        corpus = load_or_tokenize(documents, tokenizer, cache_dir)
        train_documents, eval_documents = split_documents(corpus.num_documents, options)
        self.num_documents, self.num_eval_documents = corpus.num_documents, len(eval_documents)
        self.num_tokens = len(corpus.tokens)
        # Each split keeps its own copy of its documents' tokens, so the whole corpus can be let go.
        self.train = self._instances(corpus.select(train_documents), TRAIN)
        self.train_rows = self._rows(self.train)
        self.eval = self._instances(corpus.select(eval_documents), EVAL) if len(eval_documents) else None
        self.eval_rows = self._rows(self.eval) if self.eval is not None else None
        self._epoch_order: tuple[int, np.ndarray] | None = None

    def _instances(self, corpus: TokenizedCorpus, split: int) -> Instances:
        options = self.options
        return concatenate_instances([
            create_instances(corpus, options.max_seq_length, options.short_seq_prob, options.next_sentence,
                             np.random.default_rng([options.seed, INSTANCE_STREAM, split, duplicate]),
                             cross_documents=not options.packing)
            for duplicate in range(options.dupe_factor)])

    def _rows(self, instances: Instances) -> Packs:
        options = self.options
        if not options.packing:
            return Packs.one_per_row(len(instances))
        # The most tokens each sequence can mask: rows are filled so that their predictions always fit.
        predictions = prediction_budget(instances.corpus_tokens(), options.masked_lm_prob,
                                        options.max_predictions_per_seq)
        return pack_sequences(instances.lengths(), predictions, options.max_seq_length,
                              options.max_predictions_per_seq, options.max_sequences_per_pack)

    def padding_fraction(self) -> float:
        """The share of the training rows' token slots that are padding."""
        used = int(self.train.lengths().sum())
        return 1.0 - used / max(len(self.train_rows) * self.options.max_seq_length, 1)

    def describe(self) -> str:
        options = self.options
        objective = "MLM + NSP" if options.next_sentence else "MLM on full sentences"
        masking = f"{'whole-word ' if options.whole_word_masking else ''}" \
                  f"{'dynamic' if options.dynamic_masking else 'static'} masking"
        layout = f"packed into {len(self.train_rows):,} rows, " if options.packing else ""
        return (f"{self.num_documents:,} documents ({self.num_eval_documents:,} held out), "
                f"{self.num_tokens:,} tokens -> {len(self.train):,} training and "
                f"{len(self.eval) if self.eval else 0:,} evaluation sequences of up to {options.max_seq_length} "
                f"tokens ({layout}{self.padding_fraction():.0%} padding); {objective}, {masking}")

    def batches_per_epoch(self, global_batch_size: int) -> int:
        return len(self.train_rows) // global_batch_size

    def check_batch_size(self, global_batch_size: int, process_count: int = 1) -> None:
        """A global batch must split evenly over processes and the corpus must fill at least one."""
        _check_divisible(global_batch_size, process_count)
        if self.batches_per_epoch(global_batch_size) == 0:
            packed = f" packed into {len(self.train_rows)} rows" if self.options.packing else ""
            raise DataError(f"the corpus made {len(self.train)} training sequences of up to "
                            f"{self.options.max_seq_length} tokens{packed}, but one batch needs {global_batch_size}; "
                            f"use a larger corpus, a smaller batch size or a shorter max_seq_length")

    def _order(self, epoch: int) -> np.ndarray:
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            order = np.random.default_rng([self.options.seed, SHUFFLE_STREAM, epoch]).permutation(len(self.train_rows))
            self._epoch_order = (epoch, order)
        return self._epoch_order[1]

    def train_batch(self, step: int, global_batch_size: int, process_index: int = 0, process_count: int = 1) -> Batch:
        """This process's rows of global training batch `step` (any step; epochs follow one another)."""
        self.check_batch_size(global_batch_size, process_count)
        epoch, index = divmod(step, self.batches_per_epoch(global_batch_size))
        rows = self._order(epoch)[index * global_batch_size:(index + 1) * global_batch_size]
        mask_epoch = epoch if self.options.dynamic_masking else 0
        return self._batch(self.train, self.train_rows, TRAIN, _host_rows(rows, process_index, process_count),
                           mask_epoch)

    def eval_batch_count(self, global_batch_size: int) -> int:
        """How many evaluation batches `eval_batches` yields (0 without held-out documents)."""
        return 0 if self.eval_rows is None else -(-len(self.eval_rows) // global_batch_size)

    def eval_batches(self, global_batch_size: int, process_index: int = 0, process_count: int = 1,
                     max_batches: int | None = None) -> Iterator[Batch]:
        """This process's rows of each evaluation batch, with `example_mask` float32 [rows]; the first
        `max_batches` batches when given."""
        if self.eval is None or self.eval_rows is None:
            raise ConfigError("no documents are held out for evaluation (eval_fraction and eval_documents are 0); "
                              "set one of them to evaluate")
        _check_divisible(global_batch_size, process_count)
        count = self.eval_batch_count(global_batch_size)
        for batch_index in range(count if max_batches is None else min(count, max_batches)):
            rows = np.arange(batch_index * global_batch_size, (batch_index + 1) * global_batch_size)
            rows[rows >= len(self.eval_rows)] = -1  # padding rows
            host = _host_rows(rows, process_index, process_count)
            batch = self._batch(self.eval, self.eval_rows, EVAL, host, mask_epoch=0)
            batch["example_mask"] = (host >= 0).astype(np.float32)
            yield batch

    def _batch(self, instances: Instances, layout: Packs, split: int, rows: np.ndarray, mask_epoch: int) -> Batch:
        """Rows `rows` of `layout` (-1: an all-padding row), masked with the masks of `mask_epoch`; the whole batch
        is built at once."""
        options = self.options
        members = layout.slots(rows, options.max_sequences_per_pack if options.packing else 1)  # [rows, width]
        real = members >= 0
        members = np.maximum(members, 0)
        placed = row_layout(np.where(real, instances.lengths()[members], 0), options.max_seq_length)
        inside = placed.slots > 0  # [rows, seq]
        sequences = np.take_along_axis(members, np.maximum(placed.slots - 1, 0), axis=1)
        input_ids, token_type_ids = instances.tokens_at(sequences[inside], placed.positions[inside],
                                                        self.cls_token_id, self.sep_token_id)
        batch = {"input_ids": np.full(inside.shape, self.pad_token_id, np.int32),
                 "token_type_ids": np.zeros(inside.shape, np.int32), "attention_mask": inside.astype(np.int32)}
        batch["input_ids"][inside], batch["token_type_ids"][inside] = input_ids, token_type_ids
        # Each sequence's masks depend on its index and the epoch alone, not on its row or batch.
        keys = sequence_keys(options.seed, MASK_STREAM, split, mask_epoch, members)
        masked = mask_rows(batch["input_ids"], placed.slots, placed.positions, keys, self.vocabulary,
                           options.masked_lm_prob, options.max_predictions_per_seq, options.whole_word_masking)
        batch |= {"input_ids": masked.input_ids, "masked_lm_positions": masked.masked_lm_positions,
                  "masked_lm_ids": masked.masked_lm_ids, "masked_lm_weights": masked.masked_lm_weights}
        if options.packing:
            batch |= {"sequence_ids": placed.slots.astype(np.int32), "position_ids": placed.positions.astype(np.int32)}
        if options.next_sentence:
            labels = (real & instances.is_random_next[members]).astype(np.int32)  # [rows, width]
            if not options.packing:
                batch["next_sentence_labels"] = labels[:, 0]
            else:
                batch |= {"next_sentence_labels": labels,
                          "next_sentence_positions": np.where(real, placed.starts, 0).astype(np.int32),
                          "next_sentence_weights": real.astype(np.float32)}
        return batch


def _check_divisible(global_batch_size: int, process_count: int) -> None:
    if global_batch_size < 1 or global_batch_size % process_count:
        raise ConfigError(f"batch size {global_batch_size} must be positive and divisible by the {process_count} "
                          f"processes")
