"""Corpus files read in bounded pieces: a piece is a byte range of a file cut at document boundaries, so any file
is read a few MiB at a time and every document lies whole in exactly one piece.

A cut at byte `position` moves forward to the next line that starts a document: any line for one document a line
(the `documents`, `jsonl` and `tsv` layouts; a TSV file's header line is read again by each piece), a blank line for the `sentences` layout and for paragraphs without title
lines (blank lines end documents there), a ` = Title = ` line for paragraphs with them (the `titled` layout). The
layout of `auto` is decided from a file's first piece (for a file of one piece, from the whole file, as
`corpus.detect_format` does); so is whether paragraphs have titles.

Parquet files are cut into row ranges (parquet_pieces), compressed files into pieces streamed ahead (compressed):
every kind of piece has `file`, `layout`, `text_bytes` and `documents()`; those planned ahead also `windows()`, by
which `spread_sample` takes the vocabulary's sample.
"""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from bertjax.data.pretraining.corpus.documents import (Documents, detect_format, heading_level, json_documents,
                                             parse_documents, text_lines, tsv_column, tsv_documents)
from bertjax.errors import ConfigError, DataError

SCAN_BLOCK = 1 << 20  # bytes read at a time while looking for a cut
LINE_LAYOUTS = ("documents", "jsonl", "tsv")  # one document a line: any line start is a document boundary
_LINE_END = re.compile(rb"\n")
_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*(?=\n)")  # the \n ending the line before a blank line
_TITLE_LINE = re.compile(rb"\n[ \t]*= (?!= )[^\n]* =[ \t\r]*(?=\n|\Z)")  # the \n before a candidate title line


@dataclasses.dataclass(frozen=True)
class FileIdentity:
    """What identifies a file's content without reading it: its path, size and modification time."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | Path) -> FileIdentity:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise DataError(f"{path}: the corpus file vanished (it was listed, but no longer exists)") from None
        return cls(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@dataclasses.dataclass(frozen=True)
class Piece:
    """The documents of `file` that start in bytes [start, end), in `layout` (sentences, paragraphs, titled,
    documents, jsonl or tsv; the records of the last two hold their text in `text_field`)."""

    file: FileIdentity
    start: int
    end: int
    layout: str
    text_field: str = "text"

    @property
    def text_bytes(self) -> int:
        return self.end - self.start

    def documents(self) -> tuple[Documents, str]:
        """The documents of `read_piece`, parsed in the piece's layout, and the digest."""
        text, digest, start = read_piece(self)

        def where(index: int) -> str:
            return f"{self.file.path} line {_lines_before(self.file, start) + index + 1}"

        if self.layout == "tsv":
            header = tsv_header(self.file)
            column = tsv_column(header, self.text_field, self.file.path)
            documents = tsv_documents(text, header, column, where, skip_first=start == 0)
        else:
            documents = layout_documents(text, self.layout, self.text_field, where)
        if not documents and self.start == 0 and self.end == self.file.size:
            raise DataError(f"{self.file.path}: the file holds no text (only blank lines or empty texts); remove it "
                            f"from the corpus or give it some text")
        return documents, digest

    def windows(self, offsets: Sequence[int], window_bytes: int) -> Iterator[list[str]]:
        """The documents that start in windows of `window_bytes` from each of `offsets` (bytes into the piece)."""
        for offset in offsets:
            start = self.start + offset
            yield from dataclasses.replace(self, start=start, end=min(start + window_bytes, self.end)).documents()[0]


class SampledPiece(Protocol):
    """A piece planned ahead (see the module docstring), as `spread_sample` reads it."""

    @property
    def text_bytes(self) -> int: ...

    def documents(self) -> tuple[Documents, str]: ...

    def windows(self, offsets: Sequence[int], window_bytes: int) -> Iterator[list[str]]: ...


def layout_documents(text: str, layout: str, text_field: str, where: Callable[[int], str]) -> Documents:
    """Documents of sentences from the text of a piece in `layout`; where(i): `file line N` of the text's i-th line
    (for JSON lines' errors)."""
    if layout == "jsonl":
        return json_documents(text, text_field, where)
    return parse_documents(text, "paragraphs" if layout == "titled" else layout)


def file_layout(identity: FileIdentity, format: str, piece_bytes: int) -> str:
    """sentences, paragraphs, titled, or a layout of one document a line (LINE_LAYOUTS): `format` (for `auto`,
    detected from the file's first `piece_bytes` bytes, cut at a line end)."""
    if format in ("sentences", *LINE_LAYOUTS):
        return format
    with open(identity.path, "rb") as file:
        head = file.read(piece_bytes)
    if len(head) < identity.size:
        head = head[:head.rfind(b"\n") + 1] or head
    lines = text_lines(decode(head, identity.path, 0, lambda: 1))
    if format == "auto" and detect_format(lines) == "sentences":
        return "sentences"
    return "titled" if any(heading_level(line) == 1 for line in lines) else "paragraphs"


def plan_pieces(identity: FileIdentity, format: str, piece_bytes: int, text_field: str = "text") -> list[Piece]:
    """The file cut every `piece_bytes` bytes (each cut then moved to a document boundary when read)."""
    if identity.size == 0:
        raise DataError(f"{identity.path}: the file is empty; remove it from the corpus or give it some text")
    layout = file_layout(identity, format, piece_bytes)
    if layout == "tsv":
        tsv_column(tsv_header(identity), text_field, identity.path)  # a missing column is named before any work
    starts = range(0, identity.size, piece_bytes)
    return [Piece(identity, start, min(start + piece_bytes, identity.size), layout, text_field) for start in starts]


def tsv_header(identity: FileIdentity) -> list[str]:
    """The column names in the first line of a TSV file."""
    with open(identity.path, "rb") as file:
        line = file.readline()
    return decode(line, identity.path, 0, lambda: 1).rstrip("\r\n").split("\t")


def document_cut(file: BinaryIO, position: int, size: int, layout: str) -> int:
    """The first line start at or after `position` that begins a document in `layout` (see the module docstring)
    in `file` of `size` bytes; `size` when none."""
    if position <= 0:
        return 0
    titled = layout == "titled"
    pattern = _TITLE_LINE if titled else _LINE_END if layout in LINE_LAYOUTS else _BLANK_LINE
    scan = position - 1  # the \n before a line that starts at `position`
    while scan < size:
        file.seek(scan)
        block = file.read(SCAN_BLOCK + 4096)
        at_end = scan + len(block) >= size
        for match in pattern.finditer(block):
            if match.end() == len(block) and not at_end:
                break  # the line may go on past the block: the next scan starts before it
            if not titled or heading_level(match.group()[1:].decode("utf-8", "replace")) == 1:
                return scan + match.start() + 1
        if at_end:
            return size
        last_newline = block.rfind(b"\n", 0, SCAN_BLOCK + 1)
        scan += last_newline if last_newline > 0 else SCAN_BLOCK
    return size


def read_piece(piece: Piece) -> tuple[str, str, int]:
    """The text of the documents that start in the piece, a hex digest of its bytes, and the byte it starts at. A
    file changed since it was planned, or not UTF-8, raises DataError naming it (and the line)."""
    identity = piece.file
    if FileIdentity.of(identity.path) != identity:
        raise DataError(f"{identity.path}: the file changed while the corpus was being prepared (its size or "
                        f"modification time differs); prepare the data again")
    with open(identity.path, "rb") as file:
        start = document_cut(file, piece.start, identity.size, piece.layout)
        end = document_cut(file, piece.end, identity.size, piece.layout)
        file.seek(start)
        data = file.read(max(end - start, 0))
    text = decode(data, identity.path, start, lambda: _lines_before(identity, start) + 1)
    return text, hashlib.blake2b(data, digest_size=16).hexdigest(), start


def decode(data: bytes, path: str, offset: int, first_line: Callable[[], int]) -> str:
    """`data` (bytes from `offset` of the file's text, whose first line is line first()) as text; a byte-order mark
    at the text's start is dropped. Not UTF-8 text raises DataError naming the file, line and byte."""
    if offset == 0 and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{path}: the file is UTF-16 (it starts with UTF-16's byte-order mark); save it as UTF-8")
    null = data.find(b"\0")
    if null >= 0:
        line = first_line() + data.count(b"\n", 0, null)
        raise DataError(f"{path} line {line}: binary data (a NUL byte at byte offset {offset + null}); the file must "
                        f"be UTF-8 text")
    try:
        return data.decode("utf-8-sig" if offset == 0 else "utf-8")
    except UnicodeDecodeError as error:
        line = first_line() + data.count(b"\n", 0, error.start)
        raise DataError(f"{path} line {line}: byte {data[error.start]:#04x} at byte offset {offset + error.start} is "
                        f"not UTF-8; the file must be UTF-8 text (convert it, e.g. with iconv)") from None


def _lines_before(identity: FileIdentity, offset: int) -> int:
    """How many lines of the file end before byte `offset`."""
    before = 0
    with open(identity.path, "rb") as file:
        for _ in range(0, offset, SCAN_BLOCK):
            before += file.read(min(SCAN_BLOCK, offset - file.tell())).count(b"\n")
    return before


def spread_sample(pieces: Sequence[SampledPiece], sample_bytes: int, window_bytes: int = SCAN_BLOCK
                  ) -> Iterator[str]:
    """Sentences from about `sample_bytes` of the pieces' text: all of it when it is smaller, else windows of
    `window_bytes` spread evenly over the whole corpus (the same every time)."""
    if sample_bytes <= 0:
        raise ConfigError(f"the vocabulary sample must be above 0 bytes, got {sample_bytes}")
    total = sum(piece.text_bytes for piece in pieces)
    if total <= sample_bytes:
        for piece in pieces:
            for document in piece.documents()[0]:
                yield from document
        return
    count = max(sample_bytes // window_bytes, 1)
    starts = _cumulative_starts(pieces)
    offsets: dict[int, list[int]] = {}  # piece index -> its windows' offsets, in corpus order
    for window in range(count):
        position = window * total // count
        index = bisect.bisect_right(starts, position) - 1
        offsets.setdefault(index, []).append(position - starts[index])
    for index, piece_offsets in offsets.items():
        for document in pieces[index].windows(piece_offsets, window_bytes):
            yield from document


def _cumulative_starts(pieces: Sequence[SampledPiece]) -> list[int]:
    starts, total = [], 0
    for piece in pieces:
        starts.append(total)
        total += piece.text_bytes
    return starts
