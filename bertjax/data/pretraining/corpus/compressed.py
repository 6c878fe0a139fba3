"""Compressed corpus files (gzip `.gz`, zstandard `.zst`) of one document a line (JSON lines, `documents`).

Such a file cannot be read from a position, so the preparing process streams it once, decompressing, and cuts it at
line ends into pieces that carry their text to the workers (decompressing runs far faster than tokenizing, and
only the pieces in flight are held). The vocabulary's sample reads windows spread over the compressed bytes, all
in one pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import zlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import zstandard

from bertjax.data.pretraining.corpus.documents import Documents
from bertjax.data.pretraining.corpus.text_pieces import FileIdentity, decode, layout_documents
from bertjax.errors import DataError

READ_BYTES = 1 << 20  # decompressed bytes read at a time (at most)
_ZSTD_READ = 1 << 14  # compressed bytes zstandard reads at a time: how finely the sample's windows are placed


@dataclasses.dataclass(frozen=True)
class StreamedPiece:
    """Whole lines of `file`'s decompressed text from its byte `start` and line `first_line` on, read ahead into
    `data`."""

    file: FileIdentity
    start: int
    first_line: int
    data: bytes
    layout: str
    text_field: str

    @property
    def text_bytes(self) -> int:
        return len(self.data)

    def documents(self) -> tuple[Documents, str]:
        text = decode(self.data, self.file.path, self.start, lambda: self.first_line)
        documents = layout_documents(text, self.layout, self.text_field,
                                     lambda index: f"{self.file.path} line {self.first_line + index}")
        return documents, hashlib.blake2b(self.data, digest_size=16).hexdigest()


@dataclasses.dataclass(frozen=True)
class CompressedFile:
    """A compressed corpus file in `layout` (documents or jsonl); as a piece of the vocabulary's sample, its
    `text_bytes` are its compressed size."""

    file: FileIdentity
    compression: str  # gzip or zstd
    layout: str
    text_field: str = "text"

    def __post_init__(self) -> None:
        if self.layout not in ("documents", "jsonl"):
            raise DataError(f"{self.file.path}: a compressed corpus file is read as JSON lines or as one document a "
                            f"line; name it *.jsonl{_SUFFIX[self.compression]}, set data.format=documents, or "
                            f"decompress it")

    @property
    def text_bytes(self) -> int:
        return self.file.size

    def pieces(self, piece_bytes: int) -> Iterator[StreamedPiece]:
        """The file's text in pieces of at least `piece_bytes` (the last may hold less), cut at line ends."""
        data: list[bytes] = []
        start, size, first_line, lines = 0, 0, 1, 0
        for _, block in self._blocks(min(READ_BYTES, piece_bytes)):
            data.append(block)
            size += len(block)
            lines += block.count(b"\n")
            if size >= piece_bytes:
                yield self._piece(start, first_line, data)
                start, size, first_line, lines, data = start + size, 0, first_line + lines, 0, []
        if data:
            yield self._piece(start, first_line, data)
        elif start == 0:
            raise DataError(f"{self.file.path}: the file holds no text once decompressed; remove it from the corpus "
                            f"or give it some text")

    def documents(self) -> tuple[Documents, str]:
        """Every document of the file (the vocabulary's sample of a small corpus)."""
        documents, digests = [], []
        for piece in self.pieces(16 * READ_BYTES):
            piece_documents, digest = piece.documents()
            documents.extend(piece_documents)
            digests.append(digest)
        return documents, hashlib.blake2b("".join(digests).encode(), digest_size=16).hexdigest()

    def windows(self, offsets: Sequence[int], window_bytes: int) -> Iterator[list[str]]:
        """The documents of `window_bytes` of text from the first line decompressed past each of `offsets`
        (compressed bytes into the file, ascending), all in one pass over the file."""
        index = 0
        taken: list[bytes] | None = None
        start = first_line = decompressed = lines = 0
        for position, block in self._blocks(min(READ_BYTES, window_bytes)):
            if taken is None and index < len(offsets) and position > offsets[index]:
                taken, start, first_line = [], decompressed, lines + 1
            if taken is not None:
                taken.append(block)
                if sum(map(len, taken)) >= window_bytes:
                    yield from self._piece(start, first_line, taken).documents()[0]
                    taken, index = None, index + 1
            decompressed += len(block)
            lines += block.count(b"\n")
            if taken is None and index == len(offsets):
                return
        if taken:
            yield from self._piece(start, first_line, taken).documents()[0]

    def _piece(self, start: int, first_line: int, data: list[bytes]) -> StreamedPiece:
        return StreamedPiece(self.file, start, first_line, b"".join(data), self.layout, self.text_field)

    def _blocks(self, read_bytes: int) -> Iterator[tuple[int, bytes]]:
        """Whole lines of the decompressed text, about `read_bytes` at a time, each with how far the compressed file
        had been read by then."""
        if FileIdentity.of(self.file.path) != self.file:
            raise DataError(f"{self.file.path}: the file changed while the corpus was being prepared (its size or "
                            f"modification time differs); prepare the data again")
        rest = b""
        with self._open() as (raw, stream):
            while True:
                block = self._read(stream, read_bytes)
                if not block:
                    break
                block = rest + block
                cut = block.rfind(b"\n") + 1
                rest = block[cut:]
                if cut:
                    yield raw.tell(), block[:cut]
            if rest:
                yield raw.tell(), rest

    @contextlib.contextmanager
    def _open(self) -> Iterator[tuple[BinaryIO, BinaryIO]]:
        """The raw file and its decompressed stream."""
        with open(self.file.path, "rb") as raw:
            if self.compression == "gzip":
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            else:
                stream = zstandard.ZstdDecompressor().stream_reader(raw, read_size=_ZSTD_READ, read_across_frames=True,
                                                                    closefd=False)
            with stream:
                yield raw, stream

    def _read(self, stream: BinaryIO, read_bytes: int) -> bytes:
        try:
            return stream.read(read_bytes)
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as error:
            raise DataError(f"{self.file.path}: the file cannot be decompressed as {self.compression} ({error}); "
                            f"check that it is whole and that its extension names its compression") from None


_SUFFIX = {"gzip": ".gz", "zstd": ".zst"}
