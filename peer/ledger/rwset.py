"""Read/write sets as domain values, and their Fabric wire form.

The endorser's simulator builds a `TxRWSet` and encodes it to the bytes of a Fabric
`rwset.TxReadWriteSet` (data model KV, one `NsReadWriteSet` per namespace whose
`rwset` is a serialised `kvrwset.KVRWSet`); the validator decodes those bytes back.

Canonical form (what `encode` produces, so equal inputs give equal bytes):
namespaces sorted by name; within one, reads and writes sorted by key with one
entry per key; range queries in the order they were run; protobuf serialised with
`deterministic=True`. `decode` accepts any well-formed set and keeps its order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common.errors import ScfError
from peer.ledger.types import Namespace, Version, Write
from protos.ledger.rwset import rwset_pb2
from protos.ledger.rwset.kvrwset import kv_rwset_pb2


class RWSetError(ScfError):
    """Bytes that are not a KV read/write set (the validator's BAD_RWSET)."""

    code = "BAD_RWSET"


@dataclass(frozen=True)
class Read:
    """A key read at simulation; `version is None` means the key did not exist."""

    key: str
    version: Version | None


@dataclass(frozen=True)
class RangeQuery:
    """A range query over `[start, end)` (empty `end` = to the namespace's end) and
    the keys it returned, ascending. `exhausted` says the caller read to the end;
    when it did not, only the keys up to the last one read were seen."""

    start: str
    end: str
    exhausted: bool
    reads: tuple[Read, ...]


@dataclass(frozen=True)
class NsRWSet:
    namespace: Namespace
    reads: tuple[Read, ...] = ()
    range_queries: tuple[RangeQuery, ...] = ()
    writes: tuple[Write, ...] = ()


@dataclass(frozen=True)
class TxRWSet:
    namespaces: tuple[NsRWSet, ...] = ()

    def writes(self) -> tuple[Write, ...]:
        return tuple(write for ns in self.namespaces for write in ns.writes)


def encode(rwset: TxRWSet) -> bytes:
    """The Fabric `TxReadWriteSet` bytes of `rwset`, in canonical form."""
    message = rwset_pb2.TxReadWriteSet(data_model=rwset_pb2.TxReadWriteSet.KV)
    for ns in sorted(rwset.namespaces, key=lambda n: n.namespace):
        message.ns_rwset.append(
            rwset_pb2.NsReadWriteSet(namespace=ns.namespace, rwset=_encode_kv(ns))
        )
    return message.SerializeToString(deterministic=True)


def _encode_kv(ns: NsRWSet) -> bytes:
    kv = kv_rwset_pb2.KVRWSet()
    reads = {read.key: read for read in ns.reads}
    for key in sorted(reads):
        kv.reads.append(_kv_read(reads[key]))
    for query in ns.range_queries:
        info = kv_rwset_pb2.RangeQueryInfo(
            start_key=query.start, end_key=query.end, itr_exhausted=query.exhausted
        )
        # raw_reads is a oneof member: set it even when empty so it is present.
        info.raw_reads.SetInParent()
        info.raw_reads.kv_reads.extend(_kv_read(read) for read in query.reads)
        kv.range_queries_info.append(info)
    writes = {write.key: write for write in ns.writes}
    for key in sorted(writes):
        write = writes[key]
        kv.writes.append(
            kv_rwset_pb2.KVWrite(key=key, is_delete=write.value is None, value=write.value or b"")
        )
    return kv.SerializeToString(deterministic=True)


def _kv_read(read: Read) -> kv_rwset_pb2.KVRead:
    if read.version is None:
        return kv_rwset_pb2.KVRead(key=read.key)
    return kv_rwset_pb2.KVRead(
        key=read.key,
        version=kv_rwset_pb2.Version(block_num=read.version.block_num, tx_num=read.version.tx_num),
    )


def decode(raw: bytes) -> TxRWSet:
    """Parse `TxReadWriteSet` bytes; raises `RWSetError` when they are malformed,
    use another data model, or summarise a range query by Merkle hashes."""
    try:
        message = rwset_pb2.TxReadWriteSet.FromString(raw)
    except Exception as exc:  # protobuf's DecodeError is a plain Exception subclass
        raise RWSetError(f"cannot parse TxReadWriteSet: {exc}") from None
    if message.data_model != rwset_pb2.TxReadWriteSet.KV:
        raise RWSetError(f"unsupported data model {message.data_model}")
    return TxRWSet(tuple([_decode_ns(ns) for ns in message.ns_rwset]))


def _decode_ns(ns: rwset_pb2.NsReadWriteSet) -> NsRWSet:
    namespace = Namespace(ns.namespace)
    try:
        kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
    except Exception as exc:
        raise RWSetError(f"namespace {ns.namespace!r}: cannot parse KVRWSet: {exc}") from None
    queries = []
    for info in kv.range_queries_info:
        if info.WhichOneof("reads_info") == "reads_merkle_hashes":
            raise RWSetError(f"namespace {ns.namespace!r}: Merkle range summaries unsupported")
        queries.append(
            RangeQuery(
                start=info.start_key,
                end=info.end_key,
                exhausted=info.itr_exhausted,
                reads=_reads(info.raw_reads.kv_reads),
            )
        )
    return NsRWSet(
        namespace=namespace,
        reads=_reads(kv.reads),
        range_queries=tuple(queries),
        writes=tuple(
            [Write(namespace, w.key, None if w.is_delete else w.value) for w in kv.writes]
        ),
    )


def _reads(reads: Iterable[kv_rwset_pb2.KVRead]) -> tuple[Read, ...]:
    # One comprehension per set, not a call per read: the validator decodes every
    # transaction's reads once per peer.
    return tuple(
        [
            Read(r.key, Version(r.version.block_num, r.version.tx_num))
            if r.HasField("version")
            else Read(r.key, None)
            for r in reads
        ]
    )
