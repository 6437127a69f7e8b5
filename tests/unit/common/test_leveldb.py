"""Every LevelDB of a node is opened with a bloom filter (`common.leveldb`), so a
lookup of an absent key (the block store's per-txid index check) does not read, and
keep resident, a data block of every table — the RSS creep of long runs."""

from __future__ import annotations

from pathlib import Path

from common import block as blk
from common.blockstore import LevelBlockStore
from common.leveldb import open_db
from protos.common import common_pb2

BLOOM = b"filter.leveldb.BuiltinBloomFilter2"


def tables_have_bloom_filter(path: Path) -> bool:
    """Whether the database at `path` has table files and each carries the filter."""
    tables = list(path.glob("*.ldb")) + list(path.glob("*.sst"))
    return bool(tables) and all(BLOOM in t.read_bytes() for t in tables)


def _envelope(txid: str) -> bytes:
    header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION, channel_id="trade", tx_id=txid
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=header.SerializeToString())
    )
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def test_open_db_writes_tables_with_a_bloom_filter(tmp_path: Path) -> None:
    db = open_db(tmp_path / "db")
    try:
        for i in range(1000):
            db.put(b"k%06d" % i, b"v")
        db.compact_range()  # memtable → table file
    finally:
        db.close()
    assert tables_have_bloom_filter(tmp_path / "db")


def test_block_store_tables_have_a_bloom_filter(tmp_path: Path) -> None:
    store = LevelBlockStore.open(str(tmp_path / "blocks"))
    try:
        previous = b""
        for number in range(5):
            block = blk.new_block(
                number, previous, [_envelope(f"tx{number}-{i}") for i in range(50)]
            )
            store.append(block)
            previous = blk.header_hash(block.header)
        store._db.compact_range()
        assert store.tx_location("tx3-7") is not None
        assert store.tx_location("absent") is None
    finally:
        store.close()
    assert tables_have_bloom_filter(tmp_path / "blocks")


def test_a_database_written_without_a_filter_still_opens_and_reads(tmp_path: Path) -> None:
    import plyvel

    old = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    old.put(b"a", b"1")
    old.compact_range()
    old.close()
    db = open_db(tmp_path / "db")
    try:
        assert db.get(b"a") == b"1"
        assert db.get(b"b") is None
    finally:
        db.close()


def test_open_db_writes_tables_uncompressed(tmp_path: Path) -> None:
    # A highly compressible value appears verbatim in the table file only when
    # compression is off (snappy would shrink the run of 4,000 equal bytes).
    value = b"certificate-" + b"A" * 4000
    db = open_db(tmp_path / "db")
    try:
        db.put(b"key", value)
        db.compact_range()
    finally:
        db.close()
    tables = list((tmp_path / "db").glob("*.ldb"))
    assert tables
    assert any(value in t.read_bytes() for t in tables)


def test_a_database_written_with_snappy_reads_the_same_with_open_db(tmp_path: Path) -> None:
    import plyvel

    path = tmp_path / "db"
    old = plyvel.DB(str(path), create_if_missing=True, compression="snappy")
    try:
        for i in range(2000):
            old.put(b"k%06d" % i, b"value-%06d-" % i + b"B" * 500)
        old.compact_range()
    finally:
        old.close()
    db = open_db(path)
    try:
        assert db.get(b"k001234") == b"value-001234-" + b"B" * 500
        db.put(b"new", b"N" * 100)
        db.compact_range()  # rewrites old tables without compression
        assert sum(1 for _ in db.iterator()) == 2001
    finally:
        db.close()


def _memory_usage(store: LevelBlockStore) -> int:
    return int(store._db.get_property(b"leveldb.approximate-memory-usage"))


def test_txid_lookups_leave_the_block_cache_alone(tmp_path: Path) -> None:
    """Txid lookups (present keys, and absent ones) read data blocks without keeping
    them in the block cache: txids are random, so a cached block is never read again
    and the cache would only grow a node's heap (`common.blockstore.leveldb`)."""
    path = str(tmp_path / "blocks")
    txids = [f"{n:064x}" for n in range(4000)]  # ≈ 80 index entries per 4 KiB block
    store = LevelBlockStore.open(path)
    try:
        previous = b""
        for number in range(40):
            chunk = txids[number * 100 : (number + 1) * 100]
            block = blk.new_block(number, previous, [_envelope(txid) for txid in chunk])
            store.append(block)
            previous = blk.header_hash(block.header)
        store._db.compact_range()
    finally:
        store.close()
    store = LevelBlockStore.open(path)  # an empty block cache
    try:
        before = _memory_usage(store)
        assert all(store.tx_location(txid) is not None for txid in txids)
        assert all(store.tx_location(f"{n:064x}") is None for n in range(4000, 8000))
        after_lookups = _memory_usage(store)
        for txid in txids:  # the same reads through the cache: the test's control
            store._db.get(b"t" + txid.encode())
        after_cached_reads = _memory_usage(store)
    finally:
        store.close()
    assert after_lookups - before < 16 << 10
    assert after_cached_reads - after_lookups > 64 << 10
