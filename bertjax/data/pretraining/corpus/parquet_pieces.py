"""Parquet corpus files read in bounded pieces: a piece is a range of rows, one document a row (the text of its
column `text_field`).

The file is cut every `piece_bytes` of its text column, sized from the file's metadata (each row group's
uncompressed size of the column, spread evenly over its rows), so a piece spans several small row groups or a part
of a large one. A piece reads only the text column of the row groups its rows lie in, one row group at a time.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from bertjax.data.pretraining.corpus.documents import Documents, text_sentences
from bertjax.data.pretraining.corpus.text_pieces import FileIdentity
from bertjax.errors import DataError


@dataclasses.dataclass(frozen=True)
class RowGroups:
    """Where a parquet file's row groups start (rows) and how many bytes of text come before each, with the
    totals as last entries: int [row groups + 1] each."""

    row_starts: tuple[int, ...]
    byte_starts: tuple[int, ...]

    @classmethod
    def of(cls, identity: FileIdentity, text_field: str) -> RowGroups:
        """The row groups of the file; DataError when it is not parquet or has no text column `text_field`."""
        parquet = _open(identity)
        schema = parquet.schema_arrow
        if text_field not in schema.names:
            raise DataError(f"{identity.path}: the parquet file has no column {text_field!r} (its columns: "
                            f"{', '.join(map(repr, schema.names))}); set data.text_field to the one that holds the "
                            f"text")
        kind = schema.field(text_field).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)):
            raise DataError(f"{identity.path}: column {text_field!r} holds {kind}, not text; set data.text_field to "
                            f"the column that holds the text")
        metadata = parquet.metadata
        row_starts, byte_starts = [0], [0]
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            column = next(group.column(number) for number in range(group.num_columns)
                          if group.column(number).path_in_schema == text_field)
            row_starts.append(row_starts[-1] + group.num_rows)
            byte_starts.append(byte_starts[-1] + column.total_uncompressed_size)
        return cls(tuple(row_starts), tuple(byte_starts))

    @property
    def text_bytes(self) -> int:
        return self.byte_starts[-1]

    def bytes_before(self, row: int) -> int:
        """The text bytes of the rows before `row` (rows of a group taken as equally long)."""
        group = min(bisect.bisect_right(self.row_starts, row) - 1, len(self.row_starts) - 2)
        rows = self.row_starts[group + 1] - self.row_starts[group]
        size = self.byte_starts[group + 1] - self.byte_starts[group]
        return self.byte_starts[group] + (row - self.row_starts[group]) * size // max(rows, 1)

    def row_at(self, position: int) -> int:
        """The first row whose text starts at or after byte `position`."""
        group = bisect.bisect_right(self.byte_starts, position) - 1
        if group >= len(self.row_starts) - 1:
            return self.row_starts[-1]
        rows = self.row_starts[group + 1] - self.row_starts[group]
        size = self.byte_starts[group + 1] - self.byte_starts[group]
        return self.row_starts[group] + math.ceil((position - self.byte_starts[group]) * rows / size)


@dataclasses.dataclass(frozen=True)
class RowPiece:
    """Rows [start, end) of a parquet file, about `text_bytes` of text in column `text_field`."""

    file: FileIdentity
    start: int
    end: int
    text_field: str
    text_bytes: int
    layout = "parquet"

    def documents(self) -> tuple[Documents, str]:
        """The documents of the rows (a null or blank text gives none), and a hex digest of their texts."""
        if FileIdentity.of(self.file.path) != self.file:
            raise DataError(f"{self.file.path}: the file changed while the corpus was being prepared (its size or "
                            f"modification time differs); prepare the data again")
        parquet = _open(self.file)
        digest = hashlib.blake2b(digest_size=16)
        documents = []
        first = 0
        for index in range(parquet.metadata.num_row_groups):
            rows = parquet.metadata.row_group(index).num_rows
            if first < self.end and first + rows > self.start:
                low, high = max(self.start - first, 0), min(self.end - first, rows)
                column = parquet.read_row_group(index, columns=[self.text_field]).column(0).slice(low, high - low)
                for text in column.to_pylist():
                    digest.update(b"\0" if text is None else text.encode("utf-8", "surrogatepass") + b"\1")
                    if text and (sentences := text_sentences(text)):
                        documents.append(sentences)
            first += rows
        return documents, digest.hexdigest()

    def windows(self, offsets: Sequence[int], window_bytes: int) -> Iterator[list[str]]:
        """The documents of the rows of `window_bytes` of text from each of `offsets` (bytes into the piece)."""
        rows = self.end - self.start
        for offset in offsets:
            start = self.start + offset * rows // max(self.text_bytes, 1)
            end = min(start + max(math.ceil(window_bytes * rows / max(self.text_bytes, 1)), 1), self.end)
            yield from dataclasses.replace(self, start=start, end=end, text_bytes=window_bytes).documents()[0]


def plan_row_pieces(identity: FileIdentity, text_field: str, piece_bytes: int) -> list[RowPiece]:
    """The file's rows cut every `piece_bytes` bytes of text (see the module docstring)."""
    groups = RowGroups.of(identity, text_field)
    if groups.row_starts[-1] == 0:
        raise DataError(f"{identity.path}: the parquet file has no rows; remove it from the corpus or give it some")
    cuts = sorted({0, *(groups.row_at(position) for position in range(piece_bytes, groups.text_bytes, piece_bytes)),
                   groups.row_starts[-1]})
    return [RowPiece(identity, start, end, text_field, groups.bytes_before(end) - groups.bytes_before(start))
            for start, end in zip(cuts, cuts[1:])]


def _open(identity: FileIdentity) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(identity.path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{identity.path}: not a parquet file ({error}); a corpus file named *.parquet must be "
                        f"parquet, or set data.format to its format") from None
