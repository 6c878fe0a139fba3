"""A corpus tokenized into flat numpy arrays: every sentence's WordPiece ids, and where sentences and documents start.

`tokens` (int32 or uint16 [tokens], no special tokens: a `[SEP]` written in the text is plain text, as in Google's
create_pretraining_data), `sentence_offsets` (int64 [sentences + 1], where each sentence starts in `tokens`) and
`document_offsets` (int64 [documents + 1], where each document starts in the sentences). Sentences that tokenize
to nothing and documents left empty are dropped.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

ENCODE_CHUNK = 10_000  # sentences per tokenizer call: bounds the memory of the tokenizer's Encoding objects


@dataclasses.dataclass(frozen=True)
class TokenizedCorpus:
    """Token ids of documents of sentences, flat; see the module docstring for the arrays."""

    tokens: np.ndarray  # int32 or uint16 [tokens]
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
        return TokenizedCorpus(self.tokens[offsets[0]:offsets[-1]], offsets - offsets[0], sentences - sentences[0])

    def select(self, document_indices: np.ndarray) -> TokenizedCorpus:
        """The documents `document_indices`, in that order, as a corpus of their own."""
        token_starts = self.document_token_starts()
        sentence_lengths = np.diff(self.sentence_offsets)
        tokens, lengths, sizes = [], [], []
        for index in document_indices:
            tokens.append(self.tokens[token_starts[index]:token_starts[index + 1]])
            lengths.append(sentence_lengths[self.document_offsets[index]:self.document_offsets[index + 1]])
            sizes.append(self.document_offsets[index + 1] - self.document_offsets[index])
        return TokenizedCorpus(tokens=np.concatenate(tokens or [np.zeros(0, self.tokens.dtype)]),
                               sentence_offsets=offsets_of(np.concatenate(lengths or [np.zeros(0, np.int64)])),
                               document_offsets=offsets_of(np.asarray(sizes, np.int64)))


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """int64 [len(lengths) + 1]: starts of consecutive runs of `lengths`, then the end of the last."""
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


def sentence_encoder(tokenizer_json: str) -> Tokenizer:
    """The tokenizer of `tokenizer_json` (a tokenizers JSON string) set to encode whole corpus sentences: no
    truncation or padding (sentences keep all their tokens), and special tokens in the text as plain text."""
    backend = Tokenizer.from_str(tokenizer_json)
    backend.no_truncation()
    backend.no_padding()
    backend.encode_special_tokens = True  # "[SEP]" in the corpus is the text "[", "sep", "]", not a separator
    return backend


def encode_sentences(sentences: Sequence[str], backend: Tokenizer) -> list[list[int]]:
    """WordPiece ids of each sentence, without special tokens."""
    return [encoding.ids for encoding in backend.encode_batch_fast(list(sentences), add_special_tokens=False)]


def tokenize_documents(documents: Sequence[Sequence[str]], backend: Tokenizer) -> tuple[TokenizedCorpus, np.ndarray]:
    """Tokenizes every sentence with `backend` (see `sentence_encoder`), in chunks of ENCODE_CHUNK sentences,
    dropping empty sentences and documents; and the indices of the documents kept, int64 [documents kept]."""
    sentences = [sentence for document in documents for sentence in document]
    document_of_sentence = np.repeat(np.arange(len(documents)), [len(document) for document in documents])
    token_lists: list[list[int]] = []
    for start in range(0, len(sentences), ENCODE_CHUNK):
        token_lists.extend(encode_sentences(sentences[start:start + ENCODE_CHUNK], backend))
    lengths = np.fromiter(map(len, token_lists), np.int64, count=len(token_lists))
    kept = lengths > 0
    document_sizes = np.bincount(document_of_sentence[kept], minlength=len(documents))
    kept_documents = np.flatnonzero(document_sizes)
    tokens = np.fromiter(itertools.chain.from_iterable(token_lists), np.int32, count=int(lengths.sum()))
    return TokenizedCorpus(tokens=tokens, sentence_offsets=offsets_of(lengths[kept]),
                           document_offsets=offsets_of(document_sizes[kept_documents])), kept_documents
