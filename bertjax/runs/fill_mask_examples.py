"""What a pretrained model learnt, shown: its guesses for one masked word in each of a few held-out sentences."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bertjax.pipelines import pipeline

WORD = re.compile(r"[A-Za-z]{4,}")  # 4 letters or more: fewer function words
SENTENCE_WORDS = (6, 30)  # sentences of this many words make readable examples


def masked_examples(sentences: Sequence[str], tokenizer: Any, count: int = 3) -> list[tuple[str, str]]:
    """(sentence with one word as [MASK], that word) for up to `count` sentences spread over `sentences`.

    The word is the candidate nearest the middle among those the vocabulary holds whole (one [MASK] stands for
    one token), so the same sentences always give the same examples.
    """
    vocabulary = tokenizer.get_vocab()
    lowercase = tokenizer("A", add_special_tokens=False).tokens()[:1] == ["a"]
    candidates = []
    for sentence in sentences:
        if not SENTENCE_WORDS[0] <= len(sentence.split()) <= SENTENCE_WORDS[1]:
            continue
        words = [match for match in WORD.finditer(sentence)
                 if (match.group().lower() if lowercase else match.group()) in vocabulary]
        if words:
            middle = min(words, key=lambda match: abs(match.start() + match.end() - len(sentence)))
            masked = sentence[:middle.start()] + tokenizer.mask_token + sentence[middle.end():]
            candidates.append((masked, middle.group()))
    step = max(len(candidates) // count, 1)
    return candidates[::step][:count]


def describe_fill_mask(model_dir: str | Path, sentences: Sequence[str], tokenizer: Any, count: int = 3,
                       top_k: int = 3) -> list[str]:
    """Lines showing the model's `top_k` tokens (with probabilities) for the masked word of each example."""
    examples = masked_examples(sentences, tokenizer, count)
    if not examples:
        return []
    fills = pipeline("fill-mask", model_dir)([masked for masked, _ in examples], top_k=top_k)
    lines = ["what the model predicts for a masked word of held-out sentences:"]
    for (masked, word), proposals in zip(examples, fills):
        guesses = ", ".join(f"{proposal['token_str']} {proposal['score']:.2f}" for proposal in proposals)
        lines.append(f"  {masked}\n    -> {guesses} (the word: {word})")
    return lines
