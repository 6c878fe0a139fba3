"""Where a pretraining corpus comes from, cut into shard tasks of bounded size: text files (read by the worker that
prepares the shard) or a tensorflow-datasets text set (read example by example here, handed over as documents).

Multi-host: process i of n takes every n-th file when there are at least n files, else every file and every
n-th document of each shard (tfds: every n-th example).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bertjax.data.pretraining.corpus import Documents, corpus_files, split_sentences, text_lines
from bertjax.data.tfds_source import load_records
from bertjax.data.pretraining.text_pieces import FileIdentity, Piece, piece_documents, plan_pieces, spread_sample
from bertjax.errors import DataError


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """Shard `index`: the documents of `pieces`, or `documents` given as they are; `text_bytes` of text."""

    index: int
    text_bytes: int
    pieces: tuple[Piece, ...] = ()
    documents: Documents | None = None
    every: tuple[int, int] = (0, 1)  # (i, n): keep every n-th document from the i-th

    def read(self) -> tuple[Documents, str]:
        """The shard's documents (this process's share of them) and a hex digest of their text."""
        if self.documents is not None:
            documents = self.documents
            digest = hashlib.blake2b(repr(documents).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        else:
            documents, digests = [], []
            for piece in self.pieces:
                piece_docs, piece_digest = piece_documents(piece)
                documents.extend(piece_docs)
                digests.append(piece_digest)
            digest = hashlib.blake2b("".join(digests).encode(), digest_size=16).hexdigest()
        first, count = self.every
        return documents[first::count], digest


@dataclasses.dataclass(frozen=True)
class FileSource:
    """Text files (a file, a folder of *.txt or a glob; see corpus.corpus_files) in `format`; this process's share."""

    source: str
    format: str = "auto"
    process_index: int = 0
    process_count: int = 1

    def files(self) -> list[Path]:
        files = corpus_files(self.source)
        return files[self.process_index::self.process_count] if self._by_file(files) else files

    def _by_file(self, files: list[Path]) -> bool:
        return len(files) >= self.process_count

    def identity(self) -> dict[str, Any]:
        """What identifies the share's text without reading it: each file's path, size and modification time."""
        return {"format": self.format, "share": [self.process_index, self.process_count],
                "files": [dataclasses.asdict(FileIdentity.of(path)) for path in self.files()]}

    def pieces(self, piece_bytes: int) -> list[Piece]:
        return [piece for path in self.files() for piece in plan_pieces(FileIdentity.of(path), self.format,
                                                                         piece_bytes)]

    def tasks(self, piece_bytes: int) -> Iterator[ShardTask]:
        """Consecutive pieces grouped until each shard holds at least `piece_bytes` of text (the last may hold
        less)."""
        every = (0, 1) if self._by_file(corpus_files(self.source)) else (self.process_index, self.process_count)
        group: list[Piece] = []
        index = 0
        for piece in self.pieces(piece_bytes):
            group.append(piece)
            size = sum(member.end - member.start for member in group)
            if size >= piece_bytes:
                yield ShardTask(index, size, tuple(group), every=every)
                group, index = [], index + 1
        if group:
            yield ShardTask(index, sum(member.end - member.start for member in group), tuple(group), every=every)

    def total_bytes(self) -> int:
        return sum(FileIdentity.of(path).size for path in self.files())

    def vocabulary_sample(self, sample_bytes: int) -> Iterator[str]:
        """Sentences of about `sample_bytes` of text spread over the whole share (see text_pieces.spread_sample)."""
        return spread_sample(self.pieces(max(sample_bytes, 1)), sample_bytes)


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """A tensorflow-datasets text set: each example's `text_feature` is one document whose non-blank lines are
    paragraphs; this process's share of the examples."""

    name: str
    split: str = "train"
    text_feature: str = "text"
    data_dir: str | None = None
    process_index: int = 0
    process_count: int = 1

    def identity(self) -> dict[str, Any]:
        return {"tfds": self.name, "split": self.split, "text_feature": self.text_feature, "data_dir": self.data_dir,
                "share": [self.process_index, self.process_count]}

    def documents(self) -> Iterator[tuple[list[str], int]]:
        """Each example's document and its text's size in bytes."""
        found = False
        for record in load_records(self.name, self.split, self.data_dir, self.process_index, self.process_count):
            if self.text_feature not in record:
                raise DataError(f"tfds {self.name!r} has no feature {self.text_feature!r}; its features are "
                                f"{sorted(record)}. Set the text feature to one of them")
            text = record[self.text_feature]
            document = [sentence for line in text_lines(text) for sentence in split_sentences(line)]
            if document:
                found = True
                yield document, len(text.encode("utf-8", "surrogatepass"))
        if not found:
            raise DataError(f"tfds {self.name!r} split {self.split!r} (shard {self.process_index} of "
                            f"{self.process_count}) has no non-blank {self.text_feature!r} text")

    def tasks(self, piece_bytes: int) -> Iterator[ShardTask]:
        documents: Documents = []
        size, index = 0, 0
        for document, text_bytes in self.documents():
            documents.append(document)
            size += text_bytes
            if size >= piece_bytes:
                yield ShardTask(index, size, documents=documents)
                documents, size, index = [], 0, index + 1
        if documents:
            yield ShardTask(index, size, documents=documents)

    def total_bytes(self) -> None:
        """Unknown until read."""
        return None

    def vocabulary_sample(self, sample_bytes: int) -> Iterator[str]:
        """Sentences of the first `sample_bytes` of text (a stream's size is not known ahead)."""
        size = 0
        for document, text_bytes in self.documents():
            yield from document
            size += text_bytes
            if size >= sample_bytes:
                return


CorpusSource = FileSource | TfdsSource
