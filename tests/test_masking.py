"""Batched masking against a sequence-by-sequence reference of Google's algorithm, on the same random draws."""

from __future__ import annotations

import numpy as np
import pytest

from bertjax.data.pretraining.masking import (MASK_TOKEN_FRACTION, RANDOM_TOKEN_FRACTION, MaskingVocabulary, _take_words,
                                              mask_rows, prediction_budget, random_bits, sequence_keys, uniform)

VOCAB_SIZE = 60
SPECIAL = 5  # ids below are special ([PAD], [UNK], [CLS], [SEP], [MASK])
CONTINUATION = 40  # ids from here on continue a word (as `##` pieces)
MASK_ID = 4
CHOICE, ACTION, REPLACEMENT, DRAWS = range(4)


@pytest.fixture(scope="module")
def vocabulary() -> MaskingVocabulary:
    is_special = np.arange(VOCAB_SIZE) < SPECIAL
    return MaskingVocabulary(MASK_ID, is_special, np.flatnonzero(~is_special).astype(np.int32))


def reference_mask(sequence: np.ndarray, key: np.uint64, vocabulary: MaskingVocabulary, whole_word: bool,
                   max_predictions: int, split: tuple[float, float]) -> tuple[np.ndarray, list[int]]:
    """Google's create_masked_lm_predictions in a Python loop, with the draws of bertjax.data.pretraining.masking."""
    positions = np.arange(len(sequence), dtype=np.uint64)
    keys = np.full(len(sequence), key, np.uint64)
    words: list[list[int]] = []
    for position, token in enumerate(sequence.tolist()):
        if vocabulary.is_special[token]:
            continue
        continues = whole_word and token >= CONTINUATION and words and words[-1][-1] == position - 1
        if continues:
            words[-1].append(position)
        else:
            words.append([position])
    budget = int(prediction_budget(sum(map(len, words)), 0.15, max_predictions))
    draws = random_bits(keys, positions * np.uint64(DRAWS) + np.uint64(CHOICE))
    chosen: list[int] = []
    for word in sorted(words, key=lambda word: int(draws[word[0]])):
        if len(chosen) >= budget:
            break
        if len(chosen) + len(word) <= budget:
            chosen += word
    chosen.sort()
    masked = sequence.copy()
    for position in chosen:
        counter = np.array([position * DRAWS], np.uint64)
        action = uniform(keys[:1], counter + np.uint64(ACTION))[0]
        if action < split[0]:
            masked[position] = vocabulary.mask_token_id
        elif action < split[0] + split[1]:
            pick = uniform(keys[:1], counter + np.uint64(REPLACEMENT))[0]
            masked[position] = vocabulary.replacement_ids[int(pick * len(vocabulary.replacement_ids))]
    return masked, chosen


def random_sequence(rng: np.random.Generator, length: int) -> np.ndarray:
    """[CLS] tokens (words and `##` pieces, some [UNK]) [SEP] ... [SEP]"""
    tokens = rng.integers(SPECIAL, VOCAB_SIZE, length)
    tokens[rng.random(length) < 0.03] = 1  # [UNK]: special, never masked
    tokens[0], tokens[-1], tokens[length // 2] = 2, 3, 3
    return tokens.astype(np.int32)


def packed_rows(seed: int, rows: int = 40, length: int = 96, width: int = 3
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int, np.ndarray, np.uint64]]]:
    """Rows of 1 to `width` random sequences: input_ids, slots, positions, keys, and each sequence's (row, offset,
    tokens, key)."""
    rng = np.random.default_rng(seed)
    input_ids = np.zeros((rows, length), np.int32)
    slots = np.zeros((rows, length), np.int64)
    positions = np.zeros((rows, length), np.int64)
    keys = sequence_keys(7, 3, rng.integers(0, 10_000, (rows, width)))
    sequences = []
    for row in range(rows):
        offset = 0
        for slot in range(rng.integers(1, width + 1)):
            sequence = random_sequence(rng, int(rng.integers(4, 32)))
            span = slice(offset, offset + len(sequence))
            input_ids[row, span], slots[row, span], positions[row, span] = sequence, slot + 1, np.arange(len(sequence))
            sequences.append((row, offset, sequence, keys[row, slot]))
            offset += len(sequence)
    return input_ids, slots, positions, keys, sequences


# [MASK] and random shares of the chosen tokens: BERT's, NeoBERT's (all [MASK]), and another.
SPLITS = [(MASK_TOKEN_FRACTION, RANDOM_TOKEN_FRACTION), (1.0, 0.0), (0.5, 0.3)]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("whole_word", [False, True])
def test_rows_of_packed_sequences_match_the_reference(vocabulary: MaskingVocabulary, whole_word: bool,
                                                      split: tuple[float, float]) -> None:
    rows, max_predictions = 40, 40
    input_ids, slots, positions, keys, sequences = packed_rows(0, rows)
    word_starts = input_ids < CONTINUATION if whole_word else None
    result = mask_rows(input_ids, word_starts, slots, positions, keys, vocabulary, 0.15, max_predictions, *split)
    expected_ids = input_ids.copy()
    expected_positions: list[list[int]] = [[] for _ in range(rows)]
    for row, offset, sequence, key in sequences:
        masked, chosen = reference_mask(sequence, key, vocabulary, whole_word, max_predictions, split)
        expected_ids[row, offset:offset + len(sequence)] = masked
        expected_positions[row] += [offset + position for position in chosen]
    np.testing.assert_array_equal(result.input_ids, expected_ids)
    for row in range(rows):
        count = len(expected_positions[row])
        np.testing.assert_array_equal(result.masked_lm_positions[row, :count], expected_positions[row])
        np.testing.assert_array_equal(result.masked_lm_ids[row, :count], input_ids[row, expected_positions[row]])
        np.testing.assert_array_equal(result.masked_lm_weights[row], np.arange(max_predictions) < count)
        assert not result.masked_lm_positions[row, count:].any() and not result.masked_lm_ids[row, count:].any()
    assert sum(map(len, expected_positions)) > 100


@pytest.mark.parametrize("split", SPLITS)
def test_the_chosen_tokens_are_split_as_asked(vocabulary: MaskingVocabulary, split: tuple[float, float]) -> None:
    """Over about 26,000 chosen tokens (30% of the tokens), the shares shown as [MASK], as another token and as
    themselves are the asked ones within five standard deviations of a binomial count; replacements are never special
    tokens, and the split leaves which tokens are chosen unchanged."""
    input_ids, slots, positions, keys, _ = packed_rows(1, rows=3000)
    result = mask_rows(input_ids, None, slots, positions, keys, vocabulary, 0.3, 40, *split)
    row, column = np.nonzero(result.masked_lm_weights)
    chosen = result.masked_lm_positions[row, column]
    shown, original = result.input_ids[row, chosen], result.masked_lm_ids[row, column]
    count = len(chosen)
    assert count > 25_000
    replaced = (shown != original) & (shown != MASK_ID)
    # A random pick is the original token once in (VOCAB_SIZE - SPECIAL) times, and then counts as kept.
    random_share = split[1] * (1 - 1 / (VOCAB_SIZE - SPECIAL))
    for observed, expected in ((np.mean(shown == MASK_ID), split[0]), (np.mean(replaced), random_share),
                               (np.mean(shown == original), 1 - split[0] - random_share)):
        assert abs(observed - expected) <= 5 * np.sqrt(expected * (1 - expected) / count) + 1e-12
    assert not vocabulary.is_special[shown[replaced]].any()
    unmasked = np.ones_like(input_ids, bool)
    unmasked[row, chosen] = False
    np.testing.assert_array_equal(result.input_ids[unmasked], input_ids[unmasked])
    bert = mask_rows(input_ids, None, slots, positions, keys, vocabulary, 0.3, 40)
    np.testing.assert_array_equal(result.masked_lm_positions, bert.masked_lm_positions)
    np.testing.assert_array_equal(result.masked_lm_ids, bert.masked_lm_ids)


def test_take_words_is_the_greedy_of_google() -> None:
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 6, (300, 30))
    counts = rng.integers(0, 31, 300)  # words per sequence; the rest is padding
    sizes[np.arange(30) >= counts[:, None]] = np.iinfo(np.int32).max
    budgets = rng.integers(0, 25, 300)
    taken = _take_words(sizes, budgets)
    for sequence in range(300):
        total, expected = 0, []
        for word in range(counts[sequence]):
            fits = total + sizes[sequence, word] <= budgets[sequence]
            expected.append(fits)
            total += sizes[sequence, word] if fits else 0
        assert taken[sequence].tolist() == expected + [False] * (30 - counts[sequence])


def test_draws_are_uniform_and_keyed() -> None:
    counters = np.arange(200_000, dtype=np.uint64)
    draws = uniform(sequence_keys(12345, 3, 0, 0, 17), counters)
    assert draws.min() >= 0 and draws.max() < 1
    histogram = np.bincount((draws * 20).astype(np.int64), minlength=20)
    chi_square = np.sum((histogram - 10_000) ** 2 / 10_000)
    assert chi_square < 50  # 19 degrees of freedom: the 0.9999 quantile is about 50
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 0.01  # neighbours are independent
    np.testing.assert_array_equal(draws, uniform(sequence_keys(12345, 3, 0, 0, 17), counters))
    for other in (sequence_keys(12345, 3, 0, 0, 18), sequence_keys(12345, 3, 0, 1, 17),
                  sequence_keys(12346, 3, 0, 0, 17)):
        assert np.mean(uniform(other, counters) == draws) == 0
    assert len(np.unique(sequence_keys(1, 2, np.arange(100_000)))) == 100_000
