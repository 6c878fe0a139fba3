"""How pretraining sequences are cut and masked, and which documents are held out for evaluation."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bertjax.data.pretraining.masking import MASK_TOKEN_FRACTION, RANDOM_TOKEN_FRACTION
from bertjax.data.pretraining.words import SEGMENTERS
from bertjax.errors import ConfigError, DataError

# Independent random streams: the second entry of every Generator seed.
HOLDOUT_STREAM, INSTANCE_STREAM, SHUFFLE_STREAM, MASK_STREAM = range(4)
# The options that decide which sequences a corpus gives (the others decide how they are masked and laid out;
# masks, and the [MASK]/random/kept split of the chosen tokens, are drawn as each batch is made).
PREPARATION_FIELDS = ("max_seq_length", "short_seq_prob", "next_sentence", "dupe_factor", "packing", "eval_fraction",
                      "eval_documents", "seed", "word_segmenter")
# With packing, also those that decide how sequences are packed into rows (a row's predictions must fit).
PACKING_FIELDS = ("masked_lm_prob", "max_predictions_per_seq", "max_sequences_per_pack")


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
    mask_token_fraction, random_token_fraction: of the chosen tokens, the share that becomes [MASK] and the share
    that becomes a random token (the rest stays): BERT's 0.8 and 0.1; 1.0 and 0.0 masks them all (NeoBERT).
    word_segmenter: where words start comes from this segmenter (one of words.SEGMENTERS) run on the text instead of
    the tokenizer's pieces (see words); whole_word_masking masks the words either gives.
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    mask_token_fraction: float = MASK_TOKEN_FRACTION
    random_token_fraction: float = RANDOM_TOKEN_FRACTION
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
    word_segmenter: str | None = None

    def __post_init__(self) -> None:
        minimum_length = 5 if self.next_sentence else 4  # room for specials and two tokens to cut
        checks = [
            ("max_seq_length", self.max_seq_length >= minimum_length, f"at least {minimum_length}"),
            ("max_predictions_per_seq", self.max_predictions_per_seq >= 1, "at least 1"),
            ("masked_lm_prob", 0 < self.masked_lm_prob <= 1, "in (0, 1]"),
            ("mask_token_fraction", 0 <= self.mask_token_fraction <= 1, "in [0, 1]"),
            ("random_token_fraction", 0 <= self.random_token_fraction
             and self.mask_token_fraction + self.random_token_fraction <= 1,
             "at least 0, with mask_token_fraction at most 1 in all (shares of the chosen tokens; the rest stays)"),
            ("short_seq_prob", 0 <= self.short_seq_prob <= 1, "in [0, 1]"),
            ("dupe_factor", self.dupe_factor >= 1, "at least 1"),
            ("max_sequences_per_pack", self.max_sequences_per_pack >= 1, "at least 1"),
            ("eval_fraction", 0 <= self.eval_fraction < 1, "in [0, 1)"),
            ("eval_documents", self.eval_documents is None or self.eval_documents >= 0, "None or at least 0"),
            ("seed", self.seed >= 0, "at least 0"),
            ("word_segmenter", self.word_segmenter in (None, *SEGMENTERS), f"None or one of {', '.join(SEGMENTERS)}"),
        ]
        for field, valid, requirement in checks:
            if not valid:
                raise ConfigError(f"pretraining option {field}={getattr(self, field)!r} must be {requirement}")

    def preparation(self) -> dict[str, Any]:
        """The values of PREPARATION_FIELDS, and with packing of PACKING_FIELDS."""
        fields = PREPARATION_FIELDS + (PACKING_FIELDS if self.packing else ())
        return {field: getattr(self, field) for field in fields}


def split_documents(num_documents: int, options: PretrainingOptions, shard: int = 0, lenient: bool = False,
                    wanted: str = "documents (separated by blank lines)") -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the training and the held-out documents of shard `shard`, a seeded random choice.

    lenient: a shard too small to hold documents out (one of many) holds none out instead of raising (and one
    too small to train on gives no sequences; see shards.build_shard).
    wanted: what the error of too few documents asks for more of (documents as the corpus's format separates them).
    """
    per_split = 2 if options.next_sentence else 1  # NSP draws random next segments from another document
    held_out = options.eval_documents
    if held_out is None:
        held_out = max(round(options.eval_fraction * num_documents), per_split) if options.eval_fraction else 0
    if lenient and (num_documents - held_out < per_split or 0 < held_out < per_split):
        held_out = 0  # a shard too small for both splits trains on all it has
    elif num_documents - held_out < per_split or 0 < held_out < per_split:
        raise DataError(f"the corpus has {num_documents} documents; holding out {held_out} for evaluation leaves "
                        f"{num_documents - held_out} to train on, and each split needs at least {per_split}"
                        f"{' for next-sentence prediction' if options.next_sentence else ''}. Give a corpus with more "
                        f"{wanted}" + (
                            " or hold out fewer (a lower eval_fraction)" if num_documents >= 2 * per_split else ""))
    order = np.random.default_rng([options.seed, HOLDOUT_STREAM, shard]).permutation(num_documents)
    return np.sort(order[held_out:]), np.sort(order[:held_out])
