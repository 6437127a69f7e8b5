"""Block bytes in append-only files, Fabric's layout: `blockfile_000000`, `…001`, …

A block store keeps each block's bytes here and only its indexes in LevelDB, so the
database's memtables and compactions carry keys, not blocks (blocks would otherwise
be most of what LevelDB rewrites on every compaction).

Each block is written as a 4-byte big-endian length then the bytes, at the end of the
current file; a file is closed for appends once it passes `max_file_size` and the next
block starts the next file. The committed end — the (file, offset) just past the last
block the caller's index names — is owned by the caller, which stores it in the same
database batch as the block's index entries. The protocol of one append:

1. `write(data)` puts the bytes at the end and `fdatasync`s the file, and returns the
   block's `FilePosition` and the new end; nothing names them yet.
2. The caller writes its index batch (position, new end) with `sync=True`: the commit
   point. A crash before it leaves bytes past the committed end; none of them count.
3. `advance(end)` moves the in-memory end; the next write goes there.

Opening with the committed end from the index truncates anything written past it and
deletes later files (the half of a step 1 a crash interrupted). A file shorter than
the committed end means the files and the index disagree (a torn copy, a lost file):
`BlockFilesError` with code `BLOCK_STORE_CORRUPT`, never a silent repair.

Reads (`read`) are `pread`s of committed ranges, safe from any thread while the
single writer appends. They hold a lock with `close`, so a read racing the store's
closing fails (`BLOCK_STORE_CLOSED`) instead of reading a descriptor number the
process has since reused for another file.
"""

from __future__ import annotations

import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.blockstore.base import BlockStoreError

__all__ = ["MAX_FILE_SIZE", "START", "BlockFiles", "BlockFilesError", "FileEnd", "FilePosition"]

MAX_FILE_SIZE: Final = 64 << 20
"""Fabric's default block file size (`ledger.blockchain.blockfile.maxSize`)."""

_LENGTH = struct.Struct(">I")
_FILE_NAME = re.compile(r"^blockfile_(\d{6})$")
_POSITION = struct.Struct(">IQI")
_END = struct.Struct(">IQ")


@dataclass(frozen=True)
class FileEnd:
    """Just past the last committed block: file number and byte offset in it."""

    file: int
    offset: int

    def encode(self) -> bytes:
        return _END.pack(self.file, self.offset)

    @staticmethod
    def decode(raw: bytes) -> FileEnd:
        file, offset = _END.unpack(raw)
        return FileEnd(file, offset)


START: Final = FileEnd(0, 0)
"""Where an empty store's first block goes."""


class BlockFilesError(BlockStoreError):
    """The block files cannot be read or written, or disagree with the index."""


@dataclass(frozen=True)
class FilePosition:
    """A block's bytes: `length` bytes at `offset` of file `file` (after its length)."""

    file: int
    offset: int
    length: int

    def encode(self) -> bytes:
        return _POSITION.pack(self.file, self.offset, self.length)

    @staticmethod
    def decode(raw: bytes) -> FilePosition:
        file, offset, length = _POSITION.unpack(raw)
        return FilePosition(file, offset, length)


def _name(file: int) -> str:
    return f"blockfile_{file:06d}"


class BlockFiles:
    """The block files of one store in `directory` (created if missing)."""

    def __init__(
        self, directory: Path, committed: FileEnd, max_file_size: int = MAX_FILE_SIZE
    ) -> None:
        self._directory = directory
        self._max_file_size = max_file_size
        self._end = committed
        self._readers: dict[int, int] = {}
        self._readers_lock = threading.Lock()
        self._closed = False
        directory.mkdir(parents=True, exist_ok=True)
        self._discard_uncommitted(committed)
        self._writer = os.open(directory / _name(committed.file), os.O_WRONLY | os.O_CREAT, 0o644)
        self._writer_file = committed.file
        _sync_directory(directory)

    def _discard_uncommitted(self, committed: FileEnd) -> None:
        for entry in os.listdir(self._directory):
            match = _FILE_NAME.match(entry)
            if match is not None and int(match.group(1)) > committed.file:
                os.unlink(self._directory / entry)
        current = self._directory / _name(committed.file)
        size = current.stat().st_size if current.exists() else 0
        if size < committed.offset:
            raise BlockFilesError(
                f"{current} holds {size} bytes but the index names {committed.offset}: "
                "the block files and the index disagree",
                code="BLOCK_STORE_CORRUPT",
            )
        if size > committed.offset:
            with open(current, "r+b") as handle:
                handle.truncate(committed.offset)
                os.fsync(handle.fileno())

    def write(self, data: bytes) -> tuple[FilePosition, FileEnd]:
        """Append `data` durably past the committed end; see the module's protocol."""
        end = self._end
        if end.offset > 0 and end.offset + _LENGTH.size + len(data) > self._max_file_size:
            end = FileEnd(end.file + 1, 0)
        writer = self._writer_for(end.file)
        record = _LENGTH.pack(len(data)) + data
        written = os.pwrite(writer, record, end.offset)
        if written != len(record):
            raise BlockFilesError(
                f"short write to {_name(end.file)}: {written} of {len(record)} bytes",
                code="BLOCK_STORE_UNAVAILABLE",
            )
        os.fdatasync(writer)
        position = FilePosition(end.file, end.offset + _LENGTH.size, len(data))
        return position, FileEnd(end.file, end.offset + len(record))

    def _writer_for(self, file: int) -> int:
        """The descriptor to write `file` with. A write whose index batch then failed
        may have moved to the next file while the committed end stayed behind, so the
        file is chosen by the end, never assumed; a file past the committed one holds
        nothing committed and starts empty."""
        if file != self._writer_file:
            os.close(self._writer)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if file > self._end.file else 0)
            self._writer = os.open(self._directory / _name(file), flags, 0o644)
            self._writer_file = file
            _sync_directory(self._directory)
        return self._writer

    def advance(self, end: FileEnd) -> None:
        """The index now names `end` as committed."""
        self._end = end

    def read(self, position: FilePosition) -> bytes:
        with self._readers_lock:
            data = os.pread(self._reader_locked(position.file), position.length, position.offset)
        if len(data) != position.length:
            raise BlockFilesError(
                f"{_name(position.file)} ends before the block at offset {position.offset}",
                code="BLOCK_STORE_CORRUPT",
            )
        return data

    def _reader_locked(self, file: int) -> int:
        if self._closed:
            raise BlockFilesError("the block files are closed", code="BLOCK_STORE_CLOSED")
        descriptor = self._readers.get(file)
        if descriptor is None:
            try:
                descriptor = os.open(self._directory / _name(file), os.O_RDONLY)
            except FileNotFoundError:
                raise BlockFilesError(
                    f"block file {_name(file)} is missing", code="BLOCK_STORE_CORRUPT"
                ) from None
            self._readers[file] = descriptor
        return descriptor

    def close(self) -> None:
        with self._readers_lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._writer)
            for descriptor in self._readers.values():
                os.close(descriptor)
            self._readers.clear()


def _sync_directory(directory: Path) -> None:
    """Make a file's creation durable (its directory entry), as POSIX requires."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
