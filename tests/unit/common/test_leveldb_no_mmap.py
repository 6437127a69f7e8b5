"""The nodes' LevelDB reads table files with pread, not mmap, so the pages that reads
and compactions touch stay out of a node's RSS (`common.leveldb`). `make setup`
builds plyvel that way (`tools/build-plyvel.sh`); the PyPI wheel maps up to 1000 table
files and fails here — remove `.venv/.installed` and run `make setup` to rebuild."""

from __future__ import annotations

from pathlib import Path

import plyvel

from common.leveldb import open_db


def mapped_files(under: Path) -> set[str]:
    """The files below `under` that this process has mapped (`/proc/self/maps`)."""
    files: set[str] = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
        if len(fields) == 6 and fields[5].startswith(f"{under}/"):
            files.add(fields[5])
    return files


def _value(i: int) -> bytes:
    return b"%06d" % i * 170  # 1,020 bytes


def test_table_files_are_read_without_mmap(tmp_path: Path) -> None:
    path = tmp_path / "db"
    db = open_db(path)
    try:
        for i in range(6000):  # ≈ 6 MB, more than one 4 MiB memtable
            db.put(b"key-%06d" % i, _value(i))
        db.compact_range()  # everything into table files
        assert list(path.glob("*.ldb"))
        for i in range(0, 6000, 7):
            assert db.get(b"key-%06d" % i) == _value(i)
        assert db.get(b"key-absent") is None
        assert sum(1 for _ in db.iterator()) == 6000
        mapped = mapped_files(path)
    finally:
        db.close()
    tables = sorted(f for f in mapped if f.endswith(".ldb"))
    assert not tables, f"LevelDB maps table files (plyvel is not the no-mmap build): {tables}"


def test_snappy_tables_still_read_and_write(tmp_path: Path) -> None:
    # Databases written before compression was turned off hold snappy tables; a
    # LevelDB built without snappy cannot read them (and writes snappy uncompressed).
    value = b"certificate-" + b"A" * 4000
    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True, compression="snappy")
    try:
        db.put(b"key", value)
        db.compact_range()
        assert db.get(b"key") == value
    finally:
        db.close()
    tables = list((tmp_path / "db").glob("*.ldb"))
    assert tables
    assert not any(value in t.read_bytes() for t in tables)
