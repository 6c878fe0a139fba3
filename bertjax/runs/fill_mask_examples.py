"""What a pretrained model learnt, shown: its guesses for one masked word in each of a few held-out sentences, in
any script. Words are found as the run's whole-word masking finds them (see data.pretraining.words): the
tokenizer's words, or a word segmenter's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.data.pretraining.tokenized import sentence_encoder
from bertjax.pipelines import pipeline

SENTENCE_TOKENS = (8, 48)  # sentences of this many tokens make readable examples
LONG_WORD = 4  # letters: a word held whole by the vocabulary and this long is rarely a function word
MAX_WORD_TOKENS = 4  # the most [MASK]s an example shows


def _words(sentence: str, offsets: Sequence[tuple[int, int]], starts: np.ndarray) -> list[tuple[int, int, int]]:
    """(first character, end character, tokens) of each word of `sentence` made of letters only (the whitespace
    that byte-level tokens hold left out)."""
    firsts = np.flatnonzero(starts).tolist()
    words = []
    for first, end in zip(firsts, firsts[1:] + [len(offsets)]):
        begin, finish = offsets[first][0], offsets[end - 1][1]
        begin += len(sentence[begin:finish]) - len(sentence[begin:finish].lstrip())
        if sentence[begin:finish].isalpha():
            words.append((begin, finish, end - first))
    return words


def masked_examples(sentences: Sequence[str], tokenizer: Any, count: int = 3, word_segmenter: str | None = None
                    ) -> list[tuple[str, str]]:
    """(sentence with one word as [MASK]s, one for each of its tokens; that word) for up to `count` sentences spread
    over `sentences`, words as `word_segmenter` (or, None, the tokenizer) finds them.

    The word is the one nearest the middle among those the vocabulary holds whole (one [MASK]) of LONG_WORD letters
    or more; in a sentence without any (a script written without spaces, whose words are a character or a few),
    among its words of letters of up to MAX_WORD_TOKENS tokens. So the same sentences always give the same examples.
    """
    sentences = list(sentences)
    if not sentences:
        return []
    encoder = sentence_encoder(tokenizer.backend_tokenizer.to_str(), word_segmenter)
    encodings = encoder.backend.encode_batch(sentences, add_special_tokens=False)
    lengths = np.asarray([len(encoding.ids) for encoding in encodings], np.int64)
    tokens = np.asarray([token for encoding in encodings for token in encoding.ids], np.int64)
    starts = np.split(encoder.word_starts(sentences, tokens, lengths, encodings), np.cumsum(lengths)[:-1])
    candidates = []
    for sentence, encoding, word_starts in zip(sentences, encodings, starts):
        if not SENTENCE_TOKENS[0] <= len(encoding.ids) <= SENTENCE_TOKENS[1]:
            continue
        words = _words(sentence, encoding.offsets, word_starts)
        whole = [word for word in words if word[2] == 1 and word[1] - word[0] >= LONG_WORD]
        words = whole or [word for word in words if word[2] <= MAX_WORD_TOKENS]
        if words:
            begin, finish, pieces = min(words, key=lambda word: abs(word[0] + word[1] - len(sentence)))
            candidates.append((sentence[:begin] + tokenizer.mask_token * pieces + sentence[finish:],
                               sentence[begin:finish]))
    step = max(len(candidates) // count, 1)
    return candidates[::step][:count]


def describe_fill_mask(model_dir: str | Path, sentences: Sequence[str], tokenizer: Any, count: int = 3,
                       top_k: int = 3, word_segmenter: str | None = None) -> list[str]:
    """Lines showing the model's `top_k` tokens (with probabilities) for each [MASK] of the masked word of each
    example, the masks' guesses apart by `|`."""
    examples = masked_examples(sentences, tokenizer, count, word_segmenter)
    if not examples:
        return []
    fills = pipeline("fill-mask", model_dir)([masked for masked, _ in examples], top_k=top_k)
    lines = ["what the model predicts for a masked word of held-out sentences:"]
    for (masked, word), proposals in zip(examples, fills):
        per_mask = proposals if isinstance(proposals[0], list) else [proposals]
        guesses = " | ".join(", ".join(f"{proposal['token_str'].strip()} {proposal['score']:.2f}"
                                       for proposal in mask) for mask in per_mask)
        lines.append(f"  {masked}\n    -> {guesses} (the word: {word})")
    return lines
