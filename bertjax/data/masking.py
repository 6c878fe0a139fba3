"""BERT's masked-LM corruption of one sequence (create_masked_lm_predictions), on numpy arrays.

A fraction masked_lm_prob of the sequence's non-special tokens (rounded, at least 1, at most
max_predictions_per_seq) is chosen; each chosen token becomes [MASK] with probability 0.8, a random non-special
token with 0.1, and stays as it is with 0.1. Special tokens ([CLS], [SEP], [PAD], [UNK], ...) are never chosen.
Whole-word masking chooses words, not pieces: a word is a piece and the `##` pieces that follow it, and a word is
taken only if all its pieces still fit in the budget (as Google's do_whole_word_mask); the 80/10/10 choice is then
made for each piece.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from transformers import PreTrainedTokenizerBase

MASK_PROBABILITY = 0.8
RANDOM_PROBABILITY = 0.1


@dataclasses.dataclass(frozen=True)
class MaskingVocabulary:
    """What masking needs to know about the vocabulary."""

    mask_token_id: int
    is_special: np.ndarray  # bool [vocab]
    is_continuation: np.ndarray  # bool [vocab]: `##` pieces, which continue the word before them
    replacement_ids: np.ndarray  # int32 [non-special tokens]: random replacements are drawn from these

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> MaskingVocabulary:
        vocab_size = len(tokenizer)
        is_special = np.zeros(vocab_size, bool)
        is_special[tokenizer.all_special_ids] = True
        is_continuation = np.zeros(vocab_size, bool)
        for token, index in tokenizer.get_vocab().items():
            is_continuation[index] = token.startswith("##")
        return cls(tokenizer.mask_token_id, is_special, is_continuation,
                   np.flatnonzero(~is_special).astype(np.int32))


@dataclasses.dataclass(frozen=True)
class MaskedTokens:
    """One masked sequence; the predictions are sorted by position and padded with weight 0."""

    input_ids: np.ndarray  # int32 [seq]: with the chosen tokens replaced
    masked_lm_positions: np.ndarray  # int32 [max_predictions_per_seq]
    masked_lm_ids: np.ndarray  # int32 [max_predictions_per_seq]: the original tokens there
    masked_lm_weights: np.ndarray  # float32 [max_predictions_per_seq]: 1 real, 0 padding


def _whole_words(candidates: np.ndarray, input_ids: np.ndarray, vocabulary: MaskingVocabulary, budget: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Positions of whole words taken in random order while they fit in `budget` pieces."""
    # A word starts at a non-`##` piece, or after a special token (a segment may begin inside a word).
    starts = ~vocabulary.is_continuation[input_ids[candidates]] | (np.diff(candidates, prepend=-2) != 1)
    word_starts = np.flatnonzero(starts)
    word_sizes = np.diff(np.append(word_starts, len(candidates)))
    chosen, count = [], 0
    for word in rng.permutation(len(word_starts)).tolist():
        if count >= budget:
            break
        if count + word_sizes[word] <= budget:
            chosen.append(candidates[word_starts[word]:word_starts[word] + word_sizes[word]])
            count += word_sizes[word]
    return np.concatenate(chosen) if chosen else np.zeros(0, candidates.dtype)


def prediction_budget(candidates: int | np.ndarray, masked_lm_prob: float, max_predictions_per_seq: int
                      ) -> int | np.ndarray:
    """How many of `candidates` maskable tokens a sequence predicts: masked_lm_prob of them rounded, at least 1,
    at most max_predictions_per_seq (and never more than there are). Never decreases as candidates grow."""
    return np.minimum(np.minimum(max_predictions_per_seq, np.maximum(1, np.round(candidates * masked_lm_prob))),
                      candidates).astype(np.int64)


def mask_tokens(input_ids: np.ndarray, vocabulary: MaskingVocabulary, masked_lm_prob: float,
                max_predictions_per_seq: int, whole_word_masking: bool, rng: np.random.Generator) -> MaskedTokens:
    """Masks `input_ids` int32 [seq] (a sequence without padding) as in the module docstring."""
    candidates = np.flatnonzero(~vocabulary.is_special[input_ids])
    budget = int(prediction_budget(len(candidates), masked_lm_prob, max_predictions_per_seq))
    if whole_word_masking:
        positions = np.sort(_whole_words(candidates, input_ids, vocabulary, budget, rng))
    else:
        positions = np.sort(candidates[rng.permutation(len(candidates))[:budget]])
    masked = input_ids.astype(np.int32, copy=True)
    draw = rng.random(len(positions))
    masked[positions[draw < MASK_PROBABILITY]] = vocabulary.mask_token_id
    replaced = positions[(draw >= MASK_PROBABILITY) & (draw < MASK_PROBABILITY + RANDOM_PROBABILITY)]
    masked[replaced] = vocabulary.replacement_ids[rng.integers(len(vocabulary.replacement_ids), size=len(replaced))]
    count = len(positions)
    padded_positions = np.zeros(max_predictions_per_seq, np.int32)
    padded_positions[:count] = positions
    labels = np.zeros(max_predictions_per_seq, np.int32)
    labels[:count] = input_ids[positions]
    weights = np.zeros(max_predictions_per_seq, np.float32)
    weights[:count] = 1.0
    return MaskedTokens(masked, padded_positions, labels, weights)
