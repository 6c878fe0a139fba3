"""Corpus files read in bounded pieces: a piece is a byte range of a file cut at document boundaries, so any file
is read a few MiB at a time and every document lies whole in exactly one piece.

A cut at byte `position` moves forward to the next line that starts a document: a blank line for the `sentences`
layout and for paragraphs without title lines (blank lines end documents there), a ` = Title = ` line for
paragraphs with them (the `titled` layout). The layout of `auto` is decided from a file's first piece (for a file
of one piece, from the whole file, as `corpus.detect_format` does); so is whether paragraphs have titles.
"""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from bertjax.data.pretraining.corpus import Documents, detect_format, heading_level, parse_documents, text_lines
from bertjax.errors import ConfigError, DataError

SCAN_BLOCK = 1 << 20  # bytes read at a time while looking for a cut
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
    """The documents of `file` that start in bytes [start, end), in `layout` (sentences, paragraphs or titled)."""

    file: FileIdentity
    start: int
    end: int
    layout: str


def file_layout(identity: FileIdentity, format: str, piece_bytes: int) -> str:
    """sentences, paragraphs or titled: `format` (for `auto`, detected), from the file's first `piece_bytes` bytes
    (cut at a line end)."""
    if format == "sentences":
        return format
    with open(identity.path, "rb") as file:
        head = file.read(piece_bytes)
    if len(head) < identity.size:
        head = head[:head.rfind(b"\n") + 1] or head
    lines = text_lines(decode(head, identity, 0))
    if format == "auto" and detect_format(lines) == "sentences":
        return "sentences"
    return "titled" if any(heading_level(line) == 1 for line in lines) else "paragraphs"


def plan_pieces(identity: FileIdentity, format: str, piece_bytes: int) -> list[Piece]:
    """The file cut every `piece_bytes` bytes (each cut then moved to a document boundary when read)."""
    if identity.size == 0:
        raise DataError(f"{identity.path}: the file is empty; remove it from the corpus or give it some text")
    layout = file_layout(identity, format, piece_bytes)
    starts = range(0, identity.size, piece_bytes)
    return [Piece(identity, start, min(start + piece_bytes, identity.size), layout) for start in starts]


def document_cut(file: BinaryIO, position: int, size: int, titled: bool) -> int:
    """The first line start at or after `position` that begins a document (see the module docstring) in `file` of
    `size` bytes; `size` when none."""
    if position <= 0:
        return 0
    pattern = _TITLE_LINE if titled else _BLANK_LINE
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


def read_piece(piece: Piece) -> tuple[str, str]:
    """The text of the documents that start in the piece, and a hex digest of its bytes. A file changed since it
    was planned, or not UTF-8, raises DataError naming it (and the line)."""
    identity = piece.file
    if FileIdentity.of(identity.path) != identity:
        raise DataError(f"{identity.path}: the file changed while the corpus was being prepared (its size or "
                        f"modification time differs); prepare the data again")
    titled = piece.layout == "titled"
    with open(identity.path, "rb") as file:
        start = document_cut(file, piece.start, identity.size, titled)
        end = document_cut(file, piece.end, identity.size, titled)
        file.seek(start)
        data = file.read(max(end - start, 0))
    return decode(data, identity, start), hashlib.blake2b(data, digest_size=16).hexdigest()


def piece_documents(piece: Piece) -> tuple[Documents, str]:
    """The documents of `read_piece`, parsed in the piece's layout, and the digest."""
    text, digest = read_piece(piece)
    documents = parse_documents(text, "sentences" if piece.layout == "sentences" else "paragraphs")
    if not documents and piece.start == 0 and piece.end == piece.file.size:
        raise DataError(f"{piece.file.path}: the file holds no text (only blank lines); remove it from the corpus "
                        f"or give it some text")
    return documents, digest


def decode(data: bytes, identity: FileIdentity, offset: int) -> str:
    """`data` (bytes from `offset` of the file) as text; a byte-order mark at the file's start is dropped. Not
    UTF-8 text raises DataError naming the file, line and byte."""
    if offset == 0 and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{identity.path}: the file is UTF-16 (it starts with UTF-16's byte-order mark); save it as "
                        f"UTF-8")
    null = data.find(b"\0")
    if null >= 0:
        raise DataError(f"{identity.path} line {_line_of(identity, offset, data, null)}: binary data (a NUL byte at "
                        f"byte offset {offset + null}); the file must be UTF-8 text")
    try:
        return data.decode("utf-8-sig" if offset == 0 else "utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{identity.path} line {_line_of(identity, offset, data, error.start)}: byte "
                        f"{data[error.start]:#04x} at byte offset {offset + error.start} is not UTF-8; the file must "
                        f"be UTF-8 text (convert it, e.g. with iconv)") from None


def _line_of(identity: FileIdentity, offset: int, data: bytes, index: int) -> int:
    """The 1-based line of byte `index` of `data`, which starts at byte `offset` of the file."""
    before = 0
    with open(identity.path, "rb") as file:
        for _ in range(0, offset, SCAN_BLOCK):
            before += file.read(min(SCAN_BLOCK, offset - file.tell())).count(b"\n")
    return before + data.count(b"\n", 0, index) + 1


def spread_sample(pieces: Sequence[Piece], sample_bytes: int, window_bytes: int = SCAN_BLOCK) -> Iterator[str]:
    """Sentences from about `sample_bytes` of the pieces' text: all of it when it is smaller, else windows of
    `window_bytes` spread evenly over the whole corpus (the same every time)."""
    if sample_bytes <= 0:
        raise ConfigError(f"the vocabulary sample must be above 0 bytes, got {sample_bytes}")
    total = sum(piece.end - piece.start for piece in pieces)
    if total <= sample_bytes:
        chosen = list(pieces)
    else:
        count = max(sample_bytes // window_bytes, 1)
        chosen = []
        starts = _cumulative_starts(pieces)
        for window in range(count):
            position = window * total // count
            index = bisect.bisect_right(starts, position) - 1
            piece = pieces[index]
            offset = piece.start + position - starts[index]
            chosen.append(dataclasses.replace(piece, start=offset, end=min(offset + window_bytes, piece.end)))
    for piece in chosen:
        for document in piece_documents(piece)[0]:
            yield from document


def _cumulative_starts(pieces: Sequence[Piece]) -> list[int]:
    starts, total = [], 0
    for piece in pieces:
        starts.append(total)
        total += piece.end - piece.start
    return starts
