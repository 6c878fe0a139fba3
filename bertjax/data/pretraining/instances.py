"""Pretraining sequences cut from a tokenized corpus, as in BERT's create_pretraining_data.py.

With next-sentence prediction: sentences of a document are gathered into a chunk until it reaches the target length
(max_seq_length - 3, or with probability short_seq_prob a random length in [2, max_seq_length - 3]); the chunk is cut
at a random sentence boundary into A and B; with probability 0.5 (always when the chunk is one sentence) B is
replaced by a span of a different document starting at a random sentence, and the chunk's unused sentences go back
to be used by the next chunk. The pair is trimmed to max_seq_length - 3 tokens, one token at a time from the longer
segment, at its front or back at random: `[CLS] A [SEP] B [SEP]`.
Without it (RoBERTa's FULL-SENTENCES): contiguous sentences are gathered up to the target length (max_seq_length - 2,
or a random shorter one with short_seq_prob), crossing document boundaries, where a [SEP] is inserted: `[CLS] A [SEP]`;
or, when sequences are packed (see packing), stopping at each document's end (RoBERTa's DOC-SENTENCES).

Unlike the original, which draws the target length once per document, it is drawn afresh for each sequence, so a
fraction short_seq_prob of the sequences is short whatever the document lengths.
Sequences are kept as token ranges into the corpus (document boundaries inside a range become [SEP]), not as lists.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from bertjax.data.pretraining.tokenized import TokenizedCorpus


@dataclasses.dataclass(frozen=True)
class Instances:
    """Sequences over `corpus`: token ranges [start, end) of segments A and B (B empty without NSP)."""

    corpus: TokenizedCorpus
    segment_a: np.ndarray  # int64 [instances, 2]
    segment_b: np.ndarray  # int64 [instances, 2]
    is_random_next: np.ndarray  # bool [instances]

    def __len__(self) -> int:
        return len(self.segment_a)

    @functools.cached_property
    def _document_starts(self) -> np.ndarray:
        return self.corpus.document_token_starts()

    def _documents_inside(self, segments: np.ndarray) -> np.ndarray:
        """How many documents start strictly inside each [start, end) range of `segments` [n, 2]: int64 [n]."""
        starts = self._document_starts
        return np.maximum(np.searchsorted(starts, segments[:, 1], "left")
                          - np.searchsorted(starts, segments[:, 0], "right"), 0)

    def corpus_tokens(self) -> np.ndarray:
        """Tokens each instance takes from the corpus, without [CLS] and [SEP]s: int64 [instances]."""
        return np.diff(self.segment_a, axis=1)[:, 0] + np.diff(self.segment_b, axis=1)[:, 0]

    def lengths(self) -> np.ndarray:
        """Tokens of each instance's sequence, special tokens included: int64 [instances]."""
        return self._lengths

    @functools.cached_property
    def _lengths(self) -> np.ndarray:
        length_a, length_b = self._segment_lengths
        return length_a + length_b + 2 + (length_b > 0)

    @functools.cached_property
    def _separators(self) -> tuple[np.ndarray, np.ndarray]:
        """How many documents start inside segment A, and B (a [SEP] before each): int64 [instances] each."""
        return self._documents_inside(self.segment_a), self._documents_inside(self.segment_b)

    @functools.cached_property
    def _segment_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of segments A and B in the sequence, separators included: int64 [instances] each."""
        return (np.diff(self.segment_a, axis=1)[:, 0] + self._separators[0],
                np.diff(self.segment_b, axis=1)[:, 0] + self._separators[1])

    def _segment_sources(self, start: np.ndarray, offset: np.ndarray, crossing: np.ndarray) -> np.ndarray:
        """Where token `offset` of segments starting at corpus position `start` comes from in the corpus, or -1 for
        the [SEP] before each document that starts inside a `crossing` segment (all int64 or bool [n]): int64 [n]."""
        sources = start + offset
        if crossing.any():
            # In the corpus with a [SEP] before every document but the first, separator k sits at inner[k] + k.
            inner = self._document_starts[1:-1]
            separators = inner + np.arange(len(inner))
            where = start[crossing] + np.searchsorted(inner, start[crossing], "right") + offset[crossing]
            before = np.searchsorted(separators, where, "right")  # separators at or before each position
            is_separator = (before > 0) & (separators[np.maximum(before - 1, 0)] == where)
            sources[crossing] = np.where(is_separator, -1, where - before)
        return sources

    def tokens_at(self, sequences: np.ndarray, which: np.ndarray, positions: np.ndarray, cls_token_id: int,
                  sep_token_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """input_ids and token_type_ids (int32 [tokens]) and word starts (bool [tokens], False at [CLS] and [SEP])
        at `positions` int [tokens] of the sequences of instances `sequences[which]` (each position below that
        sequence's length): `[CLS] A [SEP] B [SEP]`, type 0 up to the first [SEP], 1 after it. What each sequence
        needs is looked up once per entry of `sequences` int [n]."""
        length_a, length_b = (lengths[sequences] for lengths in self._segment_lengths)
        starts = np.stack([self.segment_a[sequences, 0], self.segment_b[sequences, 0]])  # [2, n]
        crossing_segments = np.stack([separators[sequences] > 0 for separators in self._separators])
        length_a, length_b = length_a[which], length_b[which]
        b_first = length_a + 2
        in_a = (positions >= 1) & (positions <= length_a)
        in_b = (positions >= b_first) & (positions < b_first + length_b)
        sources = np.full(len(positions), -1, np.int64)
        inside = in_a | in_b
        segment, entry = in_b[inside].astype(np.intp), which[inside]
        offset = positions[inside] - np.where(segment, b_first[inside], 1)
        sources[inside] = self._segment_sources(starts[segment, entry], offset, crossing_segments[segment, entry])
        from_corpus, gathered = sources >= 0, np.maximum(sources, 0)
        input_ids = np.where(from_corpus, self.corpus.tokens[gathered],
                             np.where(positions == 0, cls_token_id, sep_token_id)).astype(np.int32)
        word_starts = from_corpus & self.corpus.word_starts[gathered]
        return input_ids, (positions >= b_first).astype(np.int32), word_starts

    def sequence(self, index: int, cls_token_id: int, sep_token_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Instance `index` as input_ids int32 [length] and token_type_ids int32 [length]."""
        positions = np.arange(self.lengths()[index])
        return self.tokens_at(np.asarray([index]), np.zeros(len(positions), np.intp), positions, cls_token_id,
                              sep_token_id)[:2]


def concatenate_instances(parts: list[Instances]) -> Instances:
    """The instances of `parts` (all over the same corpus) one after another."""
    return Instances(parts[0].corpus, np.concatenate([part.segment_a for part in parts]),
                     np.concatenate([part.segment_b for part in parts]),
                     np.concatenate([part.is_random_next for part in parts]))


def _target_length(max_tokens: int, short_seq_prob: float, rng: np.random.Generator) -> int:
    if rng.random() < short_seq_prob:
        return int(rng.integers(2, max_tokens + 1))
    return max_tokens


def _trim(segment: tuple[int, int], removals: int, rng: np.random.Generator) -> tuple[int, int]:
    """Removes `removals` tokens, each from the front or the back with equal probability."""
    front = int(rng.binomial(removals, 0.5)) if removals else 0
    return segment[0] + front, segment[1] - (removals - front)


def truncate_seq_pair(segment_a: tuple[int, int], segment_b: tuple[int, int], max_tokens: int,
                      rng: np.random.Generator) -> tuple[tuple[int, int], tuple[int, int]]:
    """BERT's truncate_seq_pair on token ranges: while too long, drop a token from the longer segment (B on a
    tie), at its front or back at random. Closed form: which segment loses how many is fixed by the lengths, and
    the front/back coin flips of one segment add up to a binomial count."""
    length_a, length_b = segment_a[1] - segment_a[0], segment_b[1] - segment_b[0]
    excess = length_a + length_b - max_tokens
    if excess <= 0:
        return segment_a, segment_b
    removals_a = min(excess, max(length_a - length_b, 0))
    removals_b = min(excess - removals_a, max(length_b - length_a, 0))
    rest = excess - removals_a - removals_b  # now equal lengths: B, A, B, A, ...
    removals_a += rest // 2
    removals_b += rest - rest // 2
    return _trim(segment_a, removals_a, rng), _trim(segment_b, removals_b, rng)


def _random_next_segment(corpus: TokenizedCorpus, document: int, target_length: int,
                         rng: np.random.Generator) -> tuple[int, int]:
    """Sentences of another document from a random one on, until `target_length` tokens or the document's end."""
    other = int(rng.integers(corpus.num_documents - 1))
    other += other >= document
    first, last = corpus.document_offsets[other], corpus.document_offsets[other + 1]
    start = int(rng.integers(first, last))
    lengths = corpus.sentence_offsets[start + 1:last + 1] - corpus.sentence_offsets[start]
    end = start + min(int(np.searchsorted(lengths, target_length)), last - 1 - start)
    return int(corpus.sentence_offsets[start]), int(corpus.sentence_offsets[end + 1])


def _next_sentence_instances(corpus: TokenizedCorpus, max_seq_length: int, short_seq_prob: float,
                             rng: np.random.Generator) -> tuple[list, list, list]:
    max_tokens = max_seq_length - 3
    offsets = corpus.sentence_offsets
    segments_a, segments_b, random_next = [], [], []
    for document in range(corpus.num_documents):
        first, last = int(corpus.document_offsets[document]), int(corpus.document_offsets[document + 1])
        target = _target_length(max_tokens, short_seq_prob, rng)
        chunk_start = sentence = first
        while sentence < last:
            if sentence == last - 1 or offsets[sentence + 1] - offsets[chunk_start] >= target:
                chunk_size = sentence + 1 - chunk_start
                a_end = chunk_start + (int(rng.integers(1, chunk_size)) if chunk_size >= 2 else 1)
                segment_a = (int(offsets[chunk_start]), int(offsets[a_end]))
                is_random = chunk_size == 1 or rng.random() < 0.5
                if is_random:
                    segment_b = _random_next_segment(corpus, document, target - (segment_a[1] - segment_a[0]), rng)
                    sentence = a_end - 1  # the chunk's sentences after A are used again
                else:
                    segment_b = (int(offsets[a_end]), int(offsets[sentence + 1]))
                segment_a, segment_b = truncate_seq_pair(segment_a, segment_b, max_tokens, rng)
                segments_a.append(segment_a)
                segments_b.append(segment_b)
                random_next.append(is_random)
                chunk_start = sentence + 1
                target = _target_length(max_tokens, short_seq_prob, rng)
            sentence += 1
    return segments_a, segments_b, random_next


def _full_sentence_instances(corpus: TokenizedCorpus, max_seq_length: int, short_seq_prob: float,
                             cross_documents: bool, rng: np.random.Generator) -> list:
    max_tokens = max_seq_length - 2
    offsets = corpus.sentence_offsets
    starts_document = np.zeros(len(offsets) - 1, bool)
    starts_document[corpus.document_offsets[:-1]] = True
    segments = []

    def emit(first_sentence: int, end_sentence: int) -> None:
        segment = (int(offsets[first_sentence]), int(offsets[end_sentence]))
        segments.append(_trim(segment, max(segment[1] - segment[0] - max_tokens, 0), rng))

    target = _target_length(max_tokens, short_seq_prob, rng)
    chunk_start, length = 0, 0
    for sentence in range(len(offsets) - 1):
        cost = int(offsets[sentence + 1] - offsets[sentence]) + int(starts_document[sentence] and length > 0)
        if length > 0 and (length + cost > target or (starts_document[sentence] and not cross_documents)):
            emit(chunk_start, sentence)
            target = _target_length(max_tokens, short_seq_prob, rng)
            chunk_start, length = sentence, cost - int(starts_document[sentence])
        else:
            length += cost
    if length > 0:
        emit(chunk_start, len(offsets) - 1)
    return segments


def create_instances(corpus: TokenizedCorpus, max_seq_length: int, short_seq_prob: float, next_sentence: bool,
                     rng: np.random.Generator, cross_documents: bool = True) -> Instances:
    """The sequences of the module docstring, in corpus order; needs two documents or more with NSP.
    cross_documents: whether full-sentence sequences (without NSP) may run on into the next document."""
    if next_sentence:
        segments_a, segments_b, random_next = _next_sentence_instances(corpus, max_seq_length, short_seq_prob, rng)
    else:
        segments_a = _full_sentence_instances(corpus, max_seq_length, short_seq_prob, cross_documents, rng)
        segments_b, random_next = [(0, 0)] * len(segments_a), [False] * len(segments_a)
    return Instances(corpus, np.asarray(segments_a, np.int64).reshape(-1, 2),
                     np.asarray(segments_b, np.int64).reshape(-1, 2), np.asarray(random_next, bool))
