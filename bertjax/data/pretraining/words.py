"""Where words start: for each token of a tokenized sentence, whether it begins a word (whole-word masking masks
the tokens of a word together). Every sentence's first token starts a word. The rest come from the tokenizer, or
from a word segmenter for text written without spaces between words.

From the tokenizer (`WordMarks`, read off its vocabulary, so the fastest batch encoding, which gives ids alone,
serves):
- a continuing-subword prefix (WordPiece's `##`): a token starts a word unless it carries the prefix, as in
  Google's BERT (punctuation is a word of its own there, since the pre-tokenizer splits it off);
- whitespace kept inside the tokens (byte-level BPE's `Ġ`, SentencePiece's `▁`): a word is a run of text after
  whitespace; a token starts one when it begins with whitespace or follows a token that ends a word (in a newline,
  a tab, or as a token split off before pre-tokenizing, such as ModernBERT's runs of spaces), as fairseq's RoBERTa
  and transformers' DataCollatorForLanguageModeling see words;
- an end-of-word suffix (BPE's `</w>`): a token starts a word when the token before it ends one;
- none of these (e.g. a word-level vocabulary): every token is a word.
From a segmenter (`jieba`, for Chinese): a token starts a word when the segmenter's word holding its first character
is not the one holding the previous token's; the tokenizer's own marks are not used. Chinese-BERT-wwm does the same
with LTP's words (Hugging Face's run_mlm_wwm.py reads them from a reference file of continuation positions).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders

from bertjax.errors import DependencyError

SEGMENTERS = ("jieba",)
JIEBA_REQUIREMENT = "jieba>=0.42.1,<0.43"


def _component_types(component: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The components of a tokenizer.json pre-tokenizer or decoder by type, those of a Sequence included."""
    if not component:
        return {}
    found = {component["type"]: component}
    for inner in component.get("pretokenizers", []) + component.get("decoders", []):
        found |= _component_types(inner)
    return found


@dataclasses.dataclass(frozen=True)
class WordMarks:
    """What a tokenizer's tokens say about words, by token id."""

    opens: np.ndarray  # bool [vocab]: the token starts a word wherever it stands
    closes: np.ndarray  # bool [vocab]: the token ends a word, so the token after it starts one

    @classmethod
    def of(cls, backend: Tokenizer) -> WordMarks:
        """The marks of `backend`'s vocabulary (see the module docstring)."""
        spec = json.loads(backend.to_str())
        model = spec["model"]
        size = backend.get_vocab_size(with_added_tokens=True)
        opens, closes = np.ones(size, bool), np.zeros(size, bool)
        prefix, suffix = model.get("continuing_subword_prefix"), model.get("end_of_word_suffix")
        kinds = _component_types(spec.get("pre_tokenizer")) | _component_types(spec.get("decoder"))
        pieces = backend.get_vocab(with_added_tokens=False)
        if prefix:
            for piece, index in pieces.items():
                opens[index] = not piece.startswith(prefix)
        elif "ByteLevel" in kinds or "Metaspace" in kinds:
            byte_level = decoders.ByteLevel()
            space = kinds.get("Metaspace", {}).get("replacement", "▁")
            for piece, index in pieces.items():
                text = byte_level.decode([piece]) if "ByteLevel" in kinds else piece.replace(space, " ")
                # A last plain space belongs to the next piece's word: the pre-tokenizer glues one space to the
                # word after it (" x"), so a piece ending in it is followed by that word's other pieces.
                opens[index], closes[index] = text[:1].isspace(), text[-1:].isspace() and text[-1] != " "
            for added in spec.get("added_tokens") or []:  # split off before pre-tokenizing, their text as written
                content = added["content"]
                opens[added["id"]], closes[added["id"]] = content[:1].isspace(), content[-1:].isspace()
        elif suffix:
            for piece, index in pieces.items():
                opens[index], closes[index] = False, piece.endswith(suffix)
            for added in spec.get("added_tokens") or []:
                opens[added["id"]] = True
        return cls(opens, closes)

    def starts(self, ids: np.ndarray, first: np.ndarray) -> np.ndarray:
        """bool [tokens]: where words start in `ids` int [tokens], sentences one after another, `first` bool
        [tokens] marking each sentence's first token."""
        starts = self.opens[ids] | first
        starts[1:] |= self.closes[ids[:-1]]
        return starts


class JiebaSegmenter:
    """Chinese words by jieba (its default dictionary, accurate mode with HMM for unknown words); other scripts
    are split at spaces and punctuation."""

    def __init__(self) -> None:
        try:
            import jieba
        except ImportError:
            raise DependencyError(f'data.word_segmenter=jieba needs the jieba package: pip install -e ".[zh]" '
                                  f'(or pip install "{JIEBA_REQUIREMENT}")') from None
        jieba.setLogLevel(logging.WARNING)  # else it announces loading its dictionary on stderr
        self._jieba = jieba.Tokenizer()
        self.identity = f"jieba {jieba.__version__}"

    def word_lengths(self, sentence: str) -> list[int]:
        """The characters of each word of `sentence`, in order."""
        return [len(word) for word in self._jieba.lcut(sentence)]


def load_segmenter(name: str | None) -> JiebaSegmenter | None:
    """The word segmenter `name` (one of SEGMENTERS), None for None."""
    if name is None:
        return None
    if name != "jieba":
        raise ValueError(f"unknown word segmenter {name!r}")
    return JiebaSegmenter()


def segmented_starts(sentences: Sequence[str], offsets: Sequence[Sequence[tuple[int, int]]],
                     segmenter: JiebaSegmenter) -> np.ndarray:
    """bool [tokens]: where words start among the tokens of `sentences` (one after another), by `segmenter`'s words;
    `offsets`: each sentence's tokens' character spans."""
    lengths = np.fromiter(map(len, sentences), np.int64, count=len(sentences))
    bases = np.concatenate([[0], np.cumsum(lengths)])
    word_firsts: list[int] = []  # every word's first character, sentences one after another; sentences share none
    for sentence, base in zip(sentences, bases.tolist()):
        word_firsts.extend(itertools.accumulate(segmenter.word_lengths(sentence)[:-1], initial=base))
    boundaries = np.zeros(int(bases[-1]) + 1, np.int64)
    boundaries[word_firsts] = 1
    word_of_character = np.cumsum(boundaries)
    counts = np.fromiter(map(len, offsets), np.int64, count=len(offsets))
    token_starts = np.fromiter((start for spans in offsets for start, _ in spans), np.int64, count=int(counts.sum()))
    words = word_of_character[token_starts + np.repeat(bases[:-1], counts)]
    starts = np.ones(len(words), bool)
    starts[1:] = words[1:] != words[:-1]
    return starts
