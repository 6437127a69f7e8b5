"""`MSPManager`: the identity deserializer every stage uses (creator, endorsers, signers).

It maps mspid → `MSP`, parses Fabric's `SerializedIdentity`, dispatches to the MSP named
in it, and caches the validated `Identity` by the exact serialized bytes in a bounded
LRU. Validation (chain walk, signature checks, CRL lookups) happens once per distinct
identity; a cache hit only re-checks the chain's validity window against the clock, so
an identity that expires while cached is still rejected.

A manager is immutable in what it trusts: a config update (new CRL, new org) builds a
new manager, which starts with an empty cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from google.protobuf.message import DecodeError

from common.msp.errors import MspError
from common.msp.identity import Identity, MspId
from common.msp.msp import MSP
from protos.msp import identities_pb2

__all__ = ["DEFAULT_CACHE_SIZE", "MSPManager", "utc_now"]

DEFAULT_CACHE_SIZE = 4096


def utc_now() -> datetime:
    """The wall clock, timezone-aware UTC (identity validation is not chaincode)."""
    return datetime.now(UTC)


class MSPManager:
    """Deserializes and validates identities of a fixed set of MSPs. Thread-safe."""

    def __init__(
        self,
        msps: Iterable[MSP],
        *,
        clock: Callable[[], datetime] = utc_now,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._msps: dict[MspId, MSP] = {}
        for msp in msps:
            if msp.mspid in self._msps:
                raise MspError(f"MSP {msp.mspid} is configured twice", code="BAD_MSP_CONFIG")
            self._msps[msp.mspid] = msp
        self._clock = clock
        self._cache_size = max(0, cache_size)
        self._cache: OrderedDict[bytes, Identity] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def mspids(self) -> frozenset[MspId]:
        return frozenset(self._msps)

    def msp(self, mspid: str) -> MSP:
        """The MSP for `mspid`; raises `UNKNOWN_MSP`."""
        msp = self._msps.get(MspId(mspid))
        if msp is None:
            known = ", ".join(sorted(self._msps)) or "none"
            raise MspError(
                f"MSP {mspid!r} is not a member here (known: {known}); check the mspid "
                "of the identity or the channel's member orgs",
                code="UNKNOWN_MSP",
            )
        return msp

    def deserialize_identity(self, serialized: bytes) -> Identity:
        """Parse, validate and return the identity in `serialized` (SerializedIdentity).

        The same bytes return the same cached `Identity` object while it is valid.
        Raises `MspError` (`MALFORMED_IDENTITY`, `UNKNOWN_MSP`, `BAD_CERTIFICATE`,
        `UNTRUSTED_CERTIFICATE`, `CERTIFICATE_EXPIRED`, `CERTIFICATE_NOT_YET_VALID`,
        `CERTIFICATE_REVOKED`, `NO_ROLE`, ...). Failures are not cached.
        """
        key = bytes(serialized)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is not None:
            cached.check_validity(now)
            return cached
        mspid, id_bytes = _parse_serialized(key)
        identity = self.msp(mspid).deserialize(key, id_bytes, now)
        if self._cache_size:
            with self._lock:
                existing = self._cache.setdefault(key, identity)
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return existing
        return identity

    def cache_len(self) -> int:
        """Number of cached identities (for metrics and tests)."""
        with self._lock:
            return len(self._cache)


def _parse_serialized(serialized: bytes) -> tuple[str, bytes]:
    message = identities_pb2.SerializedIdentity()
    try:
        message.ParseFromString(serialized)
    except (DecodeError, ValueError) as exc:
        raise MspError(
            f"identity bytes ({len(serialized)} bytes) are not a SerializedIdentity: {exc}",
            code="MALFORMED_IDENTITY",
        ) from exc
    if not message.mspid or not message.id_bytes:
        raise MspError(
            "SerializedIdentity lacks an mspid or certificate (id_bytes); the client "
            "must send {mspid, PEM certificate}",
            code="MALFORMED_IDENTITY",
        )
    return message.mspid, bytes(message.id_bytes)
