"""Masked-LM (+ next-sentence) pretraining batches from documents: deterministic, resumable, multi-host.

Every random choice is a pure function of the seed and a position: numpy Generators seeded by [seed, stream, ...]
choose which documents are held out, the sequences of each split and each epoch's order; the masks of instance i in
epoch e (static masking: always epoch 0) are hashed from [seed, stream, split, e, i] (see masking). So any batch can
be rebuilt from its step alone, and each batch is built with whole-batch numpy operations, not row by row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from bertjax.data.batching import _host_rows
from bertjax.data.pretraining.instances import Instances
from bertjax.data.pretraining.masking import MaskingVocabulary, mask_rows, sequence_keys
from bertjax.data.pretraining.packing import Packs, row_layout
from bertjax.data.pretraining.options import MASK_STREAM, SHUFFLE_STREAM, PretrainingOptions
from bertjax.data.pretraining.shards import PreparedCorpus, build_shard
from bertjax.data.pretraining.tokenized import sentence_encoder
from bertjax.errors import ConfigError, DataError

Batch = dict[str, np.ndarray]
TRAIN, EVAL = 0, 1


class PretrainingDataset:
    """Training and evaluation batches of the pretraining sequences of a prepared corpus (see shards and prepare).

    The sequences of each split are laid out in rows: one per row, or several with `packing`. Training: global
    batch `step` is rows [step % per_epoch * B, ... + B) of epoch step // per_epoch's shuffled rows (the last
    partial batch is dropped); process h of H gets the contiguous rows [h*B/H, (h+1)*B/H). Evaluation: every
    held-out row once, with fixed masks, the last batch padded with rows whose `example_mask` is 0.
    Batches: input_ids, token_type_ids, attention_mask int32 [rows, max_seq_length]; masked_lm_positions,
    masked_lm_ids int32 and masked_lm_weights float32 [rows, max_predictions_per_seq]; with NSP,
    next_sentence_labels int32 [rows] (1: B is random). Packed batches also have sequence_ids int32 [rows,
    max_seq_length] (1, 2, ... for the row's sequences, 0 for padding) and position_ids (restarting at each
    sequence), and with NSP next_sentence_labels, next_sentence_positions (where each [CLS] is) int32 and
    next_sentence_weights float32 [rows, max_sequences_per_pack].
    """

    def __init__(self, prepared: PreparedCorpus, tokenizer: PreTrainedTokenizerBase,
                 options: PretrainingOptions) -> None:
        self.options = options
        missing = [name for name in ("cls_token", "sep_token", "pad_token", "mask_token")
                   if getattr(tokenizer, f"{name}_id") is None]
        if missing:
            raise ConfigError(f"the tokenizer has no {', '.join(missing)}; pretraining needs BERT's special tokens "
                              f"([CLS], [SEP], [PAD], [MASK]): give a tokenizer that names them in its "
                              f"tokenizer_config.json, or let the run train a vocabulary")
        self.cls_token_id, self.sep_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.pad_token_id = tokenizer.pad_token_id
        self.vocabulary = MaskingVocabulary.from_tokenizer(tokenizer)
        self.prepared = prepared
        self.num_documents = prepared.corpus.num_documents
        self.num_eval_documents = prepared.num_eval_documents
        self.num_tokens = len(prepared.corpus.tokens)
        if options.packing != (prepared.train_rows is not None):
            raise ConfigError(f"packing={options.packing}, but the corpus was prepared "
                              f"{'without' if options.packing else 'with'} packing; prepare it with this value")
        self.train = prepared.train
        self.train_rows = _rows(prepared.train_rows, self.train)
        self.eval = prepared.eval if len(prepared.eval) else None
        self.eval_rows = _rows(prepared.eval_rows, self.eval) if self.eval is not None else None
        self._epoch_order: tuple[int, np.ndarray] | None = None

    @classmethod
    def from_documents(cls, documents: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase,
                       options: PretrainingOptions) -> PretrainingDataset:
        """The dataset of `documents` (lists of sentences) prepared in memory, as one shard."""
        encoder = sentence_encoder(tokenizer.backend_tokenizer.to_str(), options.word_segmenter)
        return cls(build_shard(documents, encoder, options), tokenizer, options)

    def padding_fraction(self) -> float:
        """The share of the training rows' token slots that are padding."""
        used = int(self.train.lengths().sum())
        return 1.0 - used / max(len(self.train_rows) * self.options.max_seq_length, 1)

    def describe(self) -> str:
        options = self.options
        objective = "MLM + NSP" if options.next_sentence else "MLM on full sentences"
        kept = 1 - options.mask_token_fraction - options.random_token_fraction
        masking = f"{'whole-word ' if options.whole_word_masking else ''}" \
                  f"{'dynamic' if options.dynamic_masking else 'static'} masking of {options.masked_lm_prob:.0%} " \
                  f"({options.mask_token_fraction:.0%} [MASK], {options.random_token_fraction:.0%} random, " \
                  f"{kept:.0%} kept)"
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
        width = options.max_sequences_per_pack if options.packing else 1
        members = layout.slots(rows, width)  # [rows, width]
        real = members >= 0
        members = np.maximum(members, 0)
        placed = row_layout(np.where(real, instances.lengths()[members], 0), options.max_seq_length)
        inside = placed.slots > 0  # [rows, seq]
        member_of_token = (np.arange(len(rows))[:, None] * width + placed.slots - 1)[inside]  # in members.ravel()
        input_ids, token_type_ids, word_starts = instances.tokens_at(members.ravel(), member_of_token,
                                                                     placed.positions[inside], self.cls_token_id,
                                                                     self.sep_token_id)
        batch = {"input_ids": np.full(inside.shape, self.pad_token_id, np.int32),
                 "token_type_ids": np.zeros(inside.shape, np.int32), "attention_mask": inside.astype(np.int32)}
        batch["input_ids"][inside], batch["token_type_ids"][inside] = input_ids, token_type_ids
        # Each sequence's masks depend on its index and the epoch alone, not on its row or batch.
        keys = sequence_keys(options.seed, MASK_STREAM, split, mask_epoch, members)
        row_word_starts = None
        if options.whole_word_masking:
            row_word_starts = np.zeros(inside.shape, bool)
            row_word_starts[inside] = word_starts
        masked = mask_rows(batch["input_ids"], row_word_starts, placed.slots, placed.positions, keys, self.vocabulary,
                           options.masked_lm_prob, options.max_predictions_per_seq, options.mask_token_fraction,
                           options.random_token_fraction)
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


def _rows(packed: Packs | None, instances: Instances) -> Packs:
    """The rows the prepared corpus packed `instances` into, or one sequence per row."""
    return packed if packed is not None else Packs.one_per_row(len(instances))


def _check_divisible(global_batch_size: int, process_count: int) -> None:
    if global_batch_size < 1 or global_batch_size % process_count:
        raise ConfigError(f"batch size {global_batch_size} must be positive and divisible by the {process_count} "
                          f"processes")
