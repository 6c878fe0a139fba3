"""A corpus tokenized once into flat numpy arrays, cached on disk by content so reruns and restarts skip it.

The cache folder `tokens-<key>` holds `tokens.npy` (int32 [tokens], every sentence's WordPiece ids, no special
tokens: a `[SEP]` written in the text is plain text, as in Google's create_pretraining_data),
`sentence_offsets.npy` (int64 [sentences + 1], where each sentence starts in `tokens`) and `document_offsets.npy`
(int64 [documents + 1], where each document starts in the sentences). The key hashes the documents' text, the
tokenizer (vocabulary, normaliser, pre-tokeniser) and the cache format, so a changed corpus or vocabulary never
reads stale tokens. Sentences that tokenize to nothing and documents left empty are dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

from bertjax.errors import DataError

CACHE_FORMAT = "bertjax-tokens-v2"
ENCODE_CHUNK = 10_000  # sentences per tokenizer call: bounds the memory of the intermediate Python lists
ARRAYS = ("tokens", "sentence_offsets", "document_offsets")


@dataclasses.dataclass(frozen=True)
class TokenizedCorpus:
    """Token ids of documents of sentences, flat; see the module docstring for the arrays."""

    tokens: np.ndarray  # int32 [tokens]
    sentence_offsets: np.ndarray  # int64 [sentences + 1]
    document_offsets: np.ndarray  # int64 [documents + 1]

    @property
    def num_documents(self) -> int:
        return len(self.document_offsets) - 1

    def document_token_starts(self) -> np.ndarray:
        """int64 [documents + 1]: where each document starts in `tokens` (and where the last one ends)."""
        return self.sentence_offsets[self.document_offsets]

    def select(self, document_indices: np.ndarray) -> TokenizedCorpus:
        """The documents `document_indices`, in that order, as a corpus of their own."""
        token_starts = self.document_token_starts()
        sentence_lengths = np.diff(self.sentence_offsets)
        tokens, lengths, sizes = [], [], []
        for index in document_indices:
            tokens.append(self.tokens[token_starts[index]:token_starts[index + 1]])
            lengths.append(sentence_lengths[self.document_offsets[index]:self.document_offsets[index + 1]])
            sizes.append(self.document_offsets[index + 1] - self.document_offsets[index])
        return TokenizedCorpus(tokens=np.concatenate(tokens or [np.zeros(0, np.int32)]).astype(np.int32),
                               sentence_offsets=_offsets(np.concatenate(lengths or [np.zeros(0, np.int64)])),
                               document_offsets=_offsets(np.asarray(sizes, np.int64)))


def _offsets(lengths: np.ndarray) -> np.ndarray:
    """int64 [len(lengths) + 1]: starts of consecutive runs of `lengths`, then the end of the last."""
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


def encode_sentences(sentences: Sequence[str], backend: Tokenizer) -> list[list[int]]:
    """WordPiece ids of each sentence, without special tokens."""
    return [encoding.ids for encoding in backend.encode_batch_fast(list(sentences), add_special_tokens=False)]


def tokenize_documents(documents: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase) -> TokenizedCorpus:
    """Tokenizes every sentence (in chunks of ENCODE_CHUNK), dropping empty sentences and documents."""
    sentences = [sentence for document in documents for sentence in document]
    document_of_sentence = np.repeat(np.arange(len(documents)), [len(document) for document in documents])
    # A copy without the truncation or padding a tokenizer.json may carry: sentences must keep all their tokens.
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    backend.encode_special_tokens = True  # "[SEP]" in the corpus is the text "[", "sep", "]", not a separator
    token_lists: list[list[int]] = []
    for start in range(0, len(sentences), ENCODE_CHUNK):
        token_lists.extend(encode_sentences(sentences[start:start + ENCODE_CHUNK], backend))
    lengths = np.array([len(ids) for ids in token_lists], np.int64)
    kept = lengths > 0
    document_sizes = np.bincount(document_of_sentence[kept], minlength=len(documents))
    document_sizes = document_sizes[document_sizes > 0]
    tokens = np.fromiter((token for ids in token_lists for token in ids), np.int32, count=int(lengths.sum()))
    return TokenizedCorpus(tokens=tokens, sentence_offsets=_offsets(lengths[kept]),
                           document_offsets=_offsets(document_sizes))


def cache_key(documents: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase) -> str:
    """A hex digest of the documents' text, the tokenizer and the cache format."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(CACHE_FORMAT.encode())
    digest.update(tokenizer.backend_tokenizer.to_str().encode())
    for document in documents:  # each part after its length: no text can pass for another corpus's framing
        digest.update(len(document).to_bytes(8, "little"))
        for sentence in document:
            text = sentence.encode("utf-8", "surrogatepass")
            digest.update(len(text).to_bytes(8, "little") + text)
    return digest.hexdigest()


def load_or_tokenize(documents: Sequence[Sequence[str]], tokenizer: PreTrainedTokenizerBase,
                     cache_dir: str | Path | None = None) -> TokenizedCorpus:
    """The tokenized corpus from `cache_dir/tokens-<key>` when there, else tokenized now and written there
    atomically (a crash never leaves a half-written cache; concurrent writers keep the first complete one)."""
    if cache_dir is None:
        return tokenize_documents(documents, tokenizer)
    folder = Path(cache_dir) / f"tokens-{cache_key(documents, tokenizer)}"
    if folder.is_dir():
        return _load(folder)
    corpus = tokenize_documents(documents, tokenizer)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tokens-", dir=folder.parent))
    for name in ARRAYS:
        np.save(staging / f"{name}.npy", getattr(corpus, name))
    try:
        os.rename(staging, folder)
    except OSError:
        if not folder.is_dir():
            raise
        shutil.rmtree(staging)  # another process finished the same cache first
    return corpus


def _load(folder: Path) -> TokenizedCorpus:
    try:
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    except (OSError, ValueError) as error:
        raise DataError(f"{folder}: the token cache cannot be read ({error}); delete the folder to tokenize "
                        f"again") from None
    return TokenizedCorpus(**arrays)
