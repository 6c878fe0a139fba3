"""A corpus tokenized into flat numpy arrays: every sentence's token ids, where words start among them, and where
sentences and documents start.

`tokens` (int32 or uint16 [tokens], no special tokens: a `[SEP]` written in the text is plain text, as in Google's
create_pretraining_data), `word_starts` (bool [tokens], see words), `sentence_offsets` (int64 [sentences + 1], where
each sentence starts in `tokens`) and `document_offsets` (int64 [documents + 1], where each document starts in the
sentences). Sentences that tokenize to nothing and documents left empty are dropped.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
from tokenizers import Encoding, Tokenizer

from bertjax.data.pretraining.words import JiebaSegmenter, WordMarks, load_segmenter, segmented_starts

ENCODE_CHUNK = 10_000  # sentences per tokenizer call: bounds the memory of the tokenizer's Encoding objects


@dataclasses.dataclass(frozen=True)
class TokenizedCorpus:
    """Token ids of documents of sentences, flat; see the module docstring for the arrays."""

    tokens: np.ndarray  # int32 or uint16 [tokens]
    word_starts: np.ndarray  # bool [tokens]
    sentence_offsets: np.ndarray  # int64 [sentences + 1]
    document_offsets: np.ndarray  # int64 [documents + 1]

    @property
    def num_documents(self) -> int:
        return len(self.document_offsets) - 1

    def document_token_starts(self) -> np.ndarray:
        """int64 [documents + 1]: where each document starts in `tokens` (and where the last one ends)."""
        return np.asarray(self.sentence_offsets[self.document_offsets])

    def documents(self, first: int, end: int) -> TokenizedCorpus:
        """Documents [first, end) as a corpus of their own (views, no copy)."""
        sentences = self.document_offsets[first:end + 1]
        offsets = self.sentence_offsets[sentences[0]:sentences[-1] + 1]
        return TokenizedCorpus(self.tokens[offsets[0]:offsets[-1]], self.word_starts[offsets[0]:offsets[-1]],
                               offsets - offsets[0], sentences - sentences[0])

    def select(self, document_indices: np.ndarray) -> TokenizedCorpus:
        """The documents `document_indices`, in that order, as a corpus of their own."""
        token_starts = self.document_token_starts()
        sentence_lengths = np.diff(self.sentence_offsets)
        tokens, word_starts, lengths, sizes = [], [], [], []
        for index in document_indices:
            tokens.append(self.tokens[token_starts[index]:token_starts[index + 1]])
            word_starts.append(self.word_starts[token_starts[index]:token_starts[index + 1]])
            lengths.append(sentence_lengths[self.document_offsets[index]:self.document_offsets[index + 1]])
            sizes.append(self.document_offsets[index + 1] - self.document_offsets[index])
        return TokenizedCorpus(tokens=np.concatenate(tokens or [np.zeros(0, self.tokens.dtype)]),
                               word_starts=np.concatenate(word_starts or [np.zeros(0, bool)]),
                               sentence_offsets=offsets_of(np.concatenate(lengths or [np.zeros(0, np.int64)])),
                               document_offsets=offsets_of(np.asarray(sizes, np.int64)))


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """int64 [len(lengths) + 1]: starts of consecutive runs of `lengths`, then the end of the last."""
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class SentenceEncoder:
    """Encodes corpus sentences into token ids and word starts: the tokenizer's own (see words.WordMarks), or a word
    segmenter's (which needs the tokens' character offsets, so a slower encoding)."""

    backend: Tokenizer
    marks: WordMarks
    segmenter: JiebaSegmenter | None = None

    def encode(self, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sentences' token ids one after another, int32 [tokens], without special tokens; each sentence's
        count of them, int64 [sentences]; and where words start among them, bool [tokens]."""
        sentences = list(sentences)
        if self.segmenter is None:
            encodings = self.backend.encode_batch_fast(sentences, add_special_tokens=False)
        else:
            encodings = self.backend.encode_batch(sentences, add_special_tokens=False)
        ids = [encoding.ids for encoding in encodings]
        lengths = np.fromiter(map(len, ids), np.int64, count=len(ids))
        tokens = np.fromiter(itertools.chain.from_iterable(ids), np.int32, count=int(lengths.sum()))
        return tokens, lengths, self.word_starts(sentences, tokens, lengths, encodings)

    def word_starts(self, sentences: Sequence[str], tokens: np.ndarray, lengths: np.ndarray,
                    encodings: Sequence[Encoding]) -> np.ndarray:
        """bool [tokens]: where words start among `tokens` int [tokens], the ids of `sentences` one after another
        (`lengths` int [sentences] of them each), from their `encodings` (with offsets when there is a segmenter)."""
        if self.segmenter is not None:
            return segmented_starts(sentences, [encoding.offsets for encoding in encodings], self.segmenter)
        first = np.zeros(len(tokens), bool)
        first[(np.cumsum(lengths) - lengths)[lengths > 0]] = True
        return self.marks.starts(tokens, first)


def sentence_encoder(tokenizer_json: str, word_segmenter: str | None = None) -> SentenceEncoder:
    """The tokenizer of `tokenizer_json` (a tokenizers JSON string) set to encode whole corpus sentences: no
    truncation or padding (sentences keep all their tokens), and special tokens in the text as plain text; words
    from its vocabulary, or from `word_segmenter` (one of words.SEGMENTERS)."""
    backend = Tokenizer.from_str(tokenizer_json)
    backend.no_truncation()
    backend.no_padding()
    backend.encode_special_tokens = True  # "[SEP]" in the corpus is the text "[", "sep", "]", not a separator
    return SentenceEncoder(backend, WordMarks.of(backend), load_segmenter(word_segmenter))


def tokenize_documents(documents: Sequence[Sequence[str]], encoder: SentenceEncoder
                       ) -> tuple[TokenizedCorpus, np.ndarray]:
    """Tokenizes every sentence with `encoder`, in chunks of ENCODE_CHUNK sentences, dropping empty sentences and
    documents; and the indices of the documents kept, int64 [documents kept]."""
    sentences = [sentence for document in documents for sentence in document]
    document_of_sentence = np.repeat(np.arange(len(documents)), [len(document) for document in documents])
    chunks = [encoder.encode(sentences[start:start + ENCODE_CHUNK]) for start in range(0, len(sentences), ENCODE_CHUNK)]
    tokens, lengths, word_starts = (np.concatenate(parts) for parts in zip(*chunks)) if chunks else (
        np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, bool))
    kept = lengths > 0
    document_sizes = np.bincount(document_of_sentence[kept], minlength=len(documents))
    kept_documents = np.flatnonzero(document_sizes)
    return TokenizedCorpus(tokens=tokens, word_starts=word_starts, sentence_offsets=offsets_of(lengths[kept]),
                           document_offsets=offsets_of(document_sizes[kept_documents])), kept_documents
