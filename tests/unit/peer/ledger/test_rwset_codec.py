"""`rwset.decode` gives back exactly what `encode` was given (canonical form):
reads with and without a version, range queries and their reads, writes and
deletes, several namespaces; malformed bytes are BAD_RWSET."""

from __future__ import annotations

import pytest

from peer.ledger import Namespace, Version, Write, rwset
from protos.ledger.rwset import rwset_pb2


def _ns(name: str) -> rwset.NsRWSet:
    ns = Namespace(name)
    return rwset.NsRWSet(
        ns,
        reads=(
            rwset.Read("a", Version(3, 1)),
            rwset.Read("b", None),
            rwset.Read("c", Version(0, 0)),
        ),
        range_queries=(
            rwset.RangeQuery("a", "d", True, (rwset.Read("a", Version(3, 1)),)),
            rwset.RangeQuery("x", "", False, ()),
        ),
        writes=(Write(ns, "a", b"1"), Write(ns, "k\x00comp\x00", None), Write(ns, "z", b"")),
    )


def test_round_trip_keeps_every_field() -> None:
    value = rwset.TxRWSet((_ns("cc1"), _ns("cc2")))
    decoded = rwset.decode(rwset.encode(value))
    assert decoded == value
    assert decoded.namespaces[0].reads[1].version is None
    assert decoded.namespaces[1].writes[1].value is None  # a delete
    assert decoded.namespaces[1].writes[2].value == b""  # an empty value is not a delete
    assert [w.namespace for w in decoded.writes()] == ["cc1"] * 3 + ["cc2"] * 3


def test_malformed_sets_are_bad_rwset() -> None:
    with pytest.raises(rwset.RWSetError):
        rwset.decode(b"\xff\xff")
    bad_ns = rwset_pb2.TxReadWriteSet(
        data_model=rwset_pb2.TxReadWriteSet.KV,
        ns_rwset=[rwset_pb2.NsReadWriteSet(namespace="cc", rwset=b"\xff\xff")],
    )
    with pytest.raises(rwset.RWSetError):
        rwset.decode(bad_ns.SerializeToString())
