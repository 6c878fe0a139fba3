"""BERT's masked-LM corruption (create_masked_lm_predictions), for whole batches of rows at once with numpy.

A fraction masked_lm_prob of each sequence's non-special tokens (rounded, at least 1, at most
max_predictions_per_seq) is chosen; each chosen token becomes [MASK] with probability mask_token_fraction (BERT's
0.8), a random non-special token with random_token_fraction (0.1), and stays as it is otherwise (0.1; NeoBERT masks
every chosen token: 1.0 and 0.0). Special tokens ([CLS], [SEP], [PAD], [UNK], ...) are never chosen.
Whole-word masking chooses words, not pieces: a word is a piece that starts one (word starts are given with the
tokens, see words: for WordPiece a piece and the `##` pieces that follow it) and the pieces after it up to the next
start or special token, and words are taken in random order, each only if all its pieces still fit in the budget
(as Google's do_whole_word_mask); the [MASK]/random/kept choice is then made for each piece. Without it every piece is a word
of its own.

Every random number is a counter-based hash (SplitMix64) of a per-sequence key and the token's position in its
sequence, so a sequence is masked the same way in any row, batch or process, and whatever its neighbours.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from transformers import PreTrainedTokenizerBase

MASK_TOKEN_FRACTION = 0.8  # BERT's split of the chosen tokens: 80% [MASK], 10% random, 10% kept
RANDOM_TOKEN_FRACTION = 0.1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# Per token, three draws: which words are chosen, [MASK]/random/kept, which random token.
_CHOICE, _ACTION, _REPLACEMENT, _DRAWS = range(4)


@dataclasses.dataclass(frozen=True)
class MaskingVocabulary:
    """What masking needs to know about the vocabulary."""

    mask_token_id: int
    is_special: np.ndarray  # bool [vocab]
    replacement_ids: np.ndarray  # int32 [non-special tokens]: random replacements are drawn from these

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> MaskingVocabulary:
        vocab_size = len(tokenizer)
        is_special = np.zeros(vocab_size, bool)
        is_special[tokenizer.all_special_ids] = True
        return cls(tokenizer.mask_token_id, is_special, np.flatnonzero(~is_special).astype(np.int32))


@dataclasses.dataclass(frozen=True)
class MaskedRows:
    """Masked rows; each row's predictions sorted by position and padded with weight 0."""

    input_ids: np.ndarray  # int32 [rows, seq]: with the chosen tokens replaced
    masked_lm_positions: np.ndarray  # int32 [rows, max_predictions_per_seq]
    masked_lm_ids: np.ndarray  # int32 [rows, max_predictions_per_seq]: the original tokens there
    masked_lm_weights: np.ndarray  # float32 [rows, max_predictions_per_seq]: 1 real, 0 padding


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (uint64 arrays; the multiplications wrap by design)."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def sequence_keys(*parts: int | np.ndarray) -> np.ndarray:
    """uint64 keys hashed from non-negative integers (broadcast together), e.g. (seed, stream, ..., sequence)."""
    key = np.zeros(np.broadcast_shapes(*(np.shape(part) for part in parts)), np.uint64)
    for part in parts:
        key = _mix(key ^ _mix(np.asarray(part).astype(np.uint64) + _GOLDEN))
    return key


def random_bits(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """uint64, a pure function of each (key, counter): SplitMix64's stream `keys` at `counters`."""
    with np.errstate(over="ignore"):
        return _mix(keys + (counters.astype(np.uint64) + np.uint64(1)) * _GOLDEN)


def uniform(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """float64 in [0, 1) from `random_bits`."""
    return (random_bits(keys, counters) >> np.uint64(11)) * 2.0 ** -53


def prediction_budget(candidates: int | np.ndarray, masked_lm_prob: float, max_predictions_per_seq: int
                      ) -> int | np.ndarray:
    """How many of `candidates` maskable tokens a sequence predicts: masked_lm_prob of them rounded, at least 1,
    at most max_predictions_per_seq (and never more than there are). Never decreases as candidates grow."""
    return np.minimum(np.minimum(max_predictions_per_seq, np.maximum(1, np.round(candidates * masked_lm_prob))),
                      candidates).astype(np.int64)


def _take_words(sizes: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Google's greedy for each sequence: words (sizes int64 [sequences, words], in random order, padded with
    sizes above any budget) taken one after another when they fit in what is left of `budgets` int64 [sequences].
    bool [sequences, words]."""
    taken = np.cumsum(sizes, axis=1) <= budgets[:, None]  # the prefix that fits is taken whatever follows
    count = np.where(taken, sizes, 0).sum(axis=1)
    first_left = taken.sum(axis=1)
    for word in range(int(first_left.min(initial=sizes.shape[1])), sizes.shape[1]):
        if np.all(count >= budgets):
            break
        fits = (word >= first_left) & (count + sizes[:, word] <= budgets)
        taken[:, word] |= fits
        count += np.where(fits, sizes[:, word], 0)
    return taken


def _choose(candidate: np.ndarray, word_starts: np.ndarray | None, groups: np.ndarray, draws: np.ndarray,
            budgets: np.ndarray) -> np.ndarray:
    """Which tokens are predicted, bool [rows, seq]. word_starts bool [rows, seq] or None (every token a word);
    groups int64 [rows, seq]: the sequence each token belongs to (nondecreasing in row-major order); draws uint64
    [rows, seq]: a word's draw is its first piece's."""
    starts = candidate.copy()
    if word_starts is not None:
        continues = ~word_starts
        continues[:, 0] = False
        continues[:, 1:] &= candidate[:, :-1]  # a word also starts after a special token
        starts &= ~continues
    flat_candidate = candidate.ravel()
    word_starts = np.flatnonzero(starts.ravel())
    word_of_token = np.cumsum(starts.ravel()) - 1
    sizes = np.bincount(word_of_token[flat_candidate], minlength=len(word_starts))
    word_groups = groups.ravel()[word_starts]
    group_sizes = np.bincount(word_groups, minlength=len(budgets))
    column = np.arange(len(word_starts)) - (np.cumsum(group_sizes) - group_sizes)[word_groups]  # within its group
    width = int(group_sizes.max(initial=0))
    # Each group's words in the order of their draws: a draw's top bits, then the word's column. Distinct keys, so
    # every sorting kernel agrees; the padding (all ones above its column) sorts after the group's words.
    column_bits = np.uint64(max((width - 1).bit_length(), 1))
    padding = ~np.uint64(0) << column_bits | np.arange(width, dtype=np.uint64)
    keys = np.repeat(padding[None], len(budgets), axis=0)
    keys[word_groups, column] = draws.ravel()[word_starts] >> column_bits << column_bits | column.astype(np.uint64)
    order = np.argsort(keys, axis=1)
    matrix = np.full((len(budgets), width), np.iinfo(np.int32).max, np.int64)
    matrix[word_groups, column] = sizes
    taken_in_order = _take_words(np.take_along_axis(matrix, order, axis=1), budgets)
    taken_matrix = np.empty_like(taken_in_order)
    np.put_along_axis(taken_matrix, order, taken_in_order, axis=1)
    taken = taken_matrix[word_groups, column]
    chosen = np.zeros(flat_candidate.shape, bool)
    chosen[flat_candidate] = taken[word_of_token[flat_candidate]]
    return chosen.reshape(candidate.shape)


def mask_rows(input_ids: np.ndarray, word_starts: np.ndarray | None, slots: np.ndarray, positions: np.ndarray,
              keys: np.ndarray, vocabulary: MaskingVocabulary, masked_lm_prob: float, max_predictions_per_seq: int,
              mask_token_fraction: float = MASK_TOKEN_FRACTION, random_token_fraction: float = RANDOM_TOKEN_FRACTION
              ) -> MaskedRows:
    """Masks rows of sequences as in the module docstring.

    input_ids int32 [rows, seq]; word_starts bool [rows, seq]: where words start (whole-word masking), or None:
    every token is a word; slots int [rows, seq]: 1, 2, ... for the row's sequences, 0 for padding;
    positions int [rows, seq]: each token's position in its own sequence; keys uint64 [rows, sequences per row]:
    each sequence's random key. A row's sequences together must never need more than max_predictions_per_seq.
    """
    rows = len(input_ids)
    in_row = np.maximum(slots - 1, 0)
    candidate = (slots > 0) & ~vocabulary.is_special[input_ids]
    groups = np.arange(rows)[:, None] * keys.shape[1] + in_row  # [rows, seq]
    budgets = prediction_budget(np.bincount(groups[candidate], minlength=keys.size), masked_lm_prob,
                                max_predictions_per_seq)
    token_keys = np.take_along_axis(keys, in_row, axis=1)
    counters = positions.astype(np.uint64) * np.uint64(_DRAWS)
    chosen = _choose(candidate, word_starts, groups, random_bits(token_keys, counters + np.uint64(_CHOICE)), budgets)
    row_of, position = np.nonzero(chosen)  # row-major: each row's positions in order
    chosen_keys, chosen_counters = token_keys[row_of, position], counters[row_of, position]
    action = uniform(chosen_keys, chosen_counters + np.uint64(_ACTION))
    replacement = uniform(chosen_keys, chosen_counters + np.uint64(_REPLACEMENT))
    original = input_ids[row_of, position]
    new = np.where(action < mask_token_fraction, vocabulary.mask_token_id, original)
    replaced = (action >= mask_token_fraction) & (action < mask_token_fraction + random_token_fraction)
    picks = (replacement[replaced] * len(vocabulary.replacement_ids)).astype(np.int64)
    new[replaced] = vocabulary.replacement_ids[picks]
    masked = input_ids.astype(np.int32, copy=True)
    masked[row_of, position] = new
    per_row = np.bincount(row_of, minlength=rows)
    index = np.arange(len(row_of)) - (np.cumsum(per_row) - per_row)[row_of]
    if len(index) and index.max() >= max_predictions_per_seq:
        raise ValueError("a row's sequences predict more tokens than max_predictions_per_seq")
    shape = (rows, max_predictions_per_seq)
    masked_positions, labels = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
    weights = np.zeros(shape, np.float32)
    masked_positions[row_of, index], labels[row_of, index], weights[row_of, index] = position, original, 1.0
    return MaskedRows(masked, masked_positions, labels, weights)
