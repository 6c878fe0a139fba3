"""Where a pretraining corpus comes from, cut into shard tasks of bounded size: corpus files (see corpus for their
formats; read by the worker that prepares the shard, except compressed ones, which are streamed here) or a
tensorflow-datasets text set (read example by example here, handed over as documents).

Multi-host: process i of n takes every n-th file when there are at least n files, else every file and every
n-th document of each shard (tfds: every n-th example).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bertjax.data.pretraining.corpus.compressed import CompressedFile, StreamedPiece
from bertjax.data.pretraining.corpus.documents import (Documents, check_format, compression_of, corpus_files, file_format,
                                             text_sentences)
from bertjax.data.pretraining.corpus.parquet_pieces import RowGroups, RowPiece, plan_row_pieces
from bertjax.data.pretraining.corpus.text_pieces import (SCAN_BLOCK, FileIdentity, Piece, SampledPiece, plan_pieces,
                                                  spread_sample)
from bertjax.data.tfds_source import load_records
from bertjax.errors import DataError

CorpusPiece = Piece | RowPiece | StreamedPiece
# How each layout separates documents, for the error of a corpus with too few.
_SEPARATED = {"sentences": "separated by blank lines", "paragraphs": "separated by blank lines",
              "titled": "each under a ` = Title = ` line", "documents": "one a line", "jsonl": "one a record",
              "parquet": "one a row", "tsv": "one a row"}
# Text separated by blank lines whose documents hold this many lines (or sentences) each on average, yet too few
# documents, looks like one document a line.
_LINES_PER_DOCUMENT_HINT = 10


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """Shard `index`: the documents of `pieces`, or `documents` given as they are; `text_bytes` of text."""

    index: int
    text_bytes: int
    pieces: tuple[CorpusPiece, ...] = ()
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
                piece_docs, piece_digest = piece.documents()
                documents.extend(piece_docs)
                digests.append(piece_digest)
            digest = hashlib.blake2b("".join(digests).encode(), digest_size=16).hexdigest()
        first, count = self.every
        return documents[first::count], digest

    def wanted_documents(self, documents: Documents) -> str:
        """What a corpus of too few documents needs more of, in words for its format (see split_documents)."""
        layouts = {piece.layout for piece in self.pieces}
        if not layouts:
            return "documents (examples with text)"
        if len(layouts) > 1:
            return "documents"
        (layout,) = layouts
        lines = sum(map(len, documents))
        if layout in ("sentences", "paragraphs") and lines >= _LINES_PER_DOCUMENT_HINT * max(len(documents), 1):
            return (f"documents ({_SEPARATED[layout]}; this text looks like one document a line: set "
                    f"data.format=documents)")
        return f"documents ({_SEPARATED[layout]})"


@dataclasses.dataclass(frozen=True)
class FileSource:
    """Corpus files (a file, a folder or a glob; see corpus.corpus_files) in `format`, their records' or rows' text
    in `text_field` (JSON lines, parquet, TSV); this process's share."""

    source: str
    format: str = "auto"
    text_field: str = "text"
    process_index: int = 0
    process_count: int = 1

    def __post_init__(self) -> None:
        check_format(self.format)

    def files(self) -> list[Path]:
        files = corpus_files(self.source, self.format)
        return files[self.process_index::self.process_count] if self._by_file(files) else files

    def _by_file(self, files: list[Path]) -> bool:
        return len(files) >= self.process_count

    def identity(self) -> dict[str, Any]:
        """What identifies the share's text without reading it: the format, the text field, and each file's path,
        size and modification time."""
        return {"format": self.format, "text_field": self.text_field, "share": [self.process_index, self.process_count],
                "files": [dataclasses.asdict(FileIdentity.of(path)) for path in self.files()]}

    def _file_pieces(self, path: Path, piece_bytes: int, sampled: bool) -> Iterable[CorpusPiece | SampledPiece]:
        """The pieces of one file: planned ahead, or for a compressed file streamed (as a whole when `sampled`)."""
        identity = FileIdentity.of(path)
        format = file_format(path, self.format)
        if format == "parquet":
            return plan_row_pieces(identity, self.text_field, piece_bytes)
        compression = compression_of(path)
        if compression:
            compressed = CompressedFile(identity, compression, format, self.text_field)
            return [compressed] if sampled else compressed.pieces(piece_bytes)
        return plan_pieces(identity, format, piece_bytes, self.text_field)

    def tasks(self, piece_bytes: int) -> Iterator[ShardTask]:
        """Consecutive pieces grouped until each shard holds at least `piece_bytes` of text (the last may hold
        less)."""
        every = (0, 1) if self._by_file(corpus_files(self.source, self.format)) else (self.process_index,
                                                                                      self.process_count)
        group: list[CorpusPiece] = []
        index = 0
        for path in self.files():
            for piece in self._file_pieces(path, piece_bytes, sampled=False):
                group.append(piece)
                size = sum(member.text_bytes for member in group)
                if size >= piece_bytes:
                    yield ShardTask(index, size, tuple(group), every=every)
                    group, index = [], index + 1
        if group:
            yield ShardTask(index, sum(member.text_bytes for member in group), tuple(group), every=every)

    def total_bytes(self) -> int | None:
        """The share's bytes of text (a parquet file's from its metadata); None with compressed files."""
        total = 0
        for path in self.files():
            if file_format(path, self.format) == "parquet":
                total += RowGroups.of(FileIdentity.of(path), self.text_field).text_bytes
            elif compression_of(path):
                return None
            else:
                total += FileIdentity.of(path).size
        return total

    def vocabulary_sample(self, sample_bytes: int, window_bytes: int = SCAN_BLOCK) -> Iterator[str]:
        """Sentences of about `sample_bytes` of text spread over the whole share in windows of `window_bytes` (see
        text_pieces.spread_sample; a compressed file weighs as much as its compressed size)."""
        pieces = [piece for path in self.files()
                  for piece in self._file_pieces(path, max(sample_bytes, 1), sampled=True)]
        return spread_sample(pieces, sample_bytes, window_bytes)


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
            document = text_sentences(text)
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
