"""Signed regulator requests: who may ask, and how a request is signed.

A `SignedRegulatorRequest` carries the serialised `RegulatorRequest`, the caller's
serialised identity and its signature over exactly those request bytes (never a
re-serialisation). `Authorizer.authorize` accepts it only when, on EVERY channel
the request reads:

1. the identity is a valid member (certificate chain, expiry, CRL: the MSP);
2. the signature verifies over the request bytes;
3. the identity's org is of kind `regulator` in that channel's config;
4. it satisfies the channel's `Readers` policy;

and the request's timestamp is within `max_skew_seconds` of the injected clock
(bounds replay of a captured request). Any failure is `RequestDenied`
(gRPC PERMISSION_DENIED) with a message saying which check failed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from common.config.bundle import ChannelBundle
from common.crypto import CryptoError
from common.errors import ScfError
from common.msp import MspError
from common.txutil import Signer
from protos.scf import regulator_pb2

REGULATOR_KIND = "regulator"
READERS = "Readers"


class RequestDenied(ScfError):
    code = "PERMISSION_DENIED"


class BadRequest(ScfError):
    code = "INVALID_ARGUMENT"


def sign_request(
    signer: Signer, request: regulator_pb2.RegulatorRequest, *, now: float | None = None
) -> regulator_pb2.SignedRegulatorRequest:
    """Stamp (timestamp, nonce unless set), serialise deterministically and sign.
    What a regulator client does before every call."""
    stamped = regulator_pb2.RegulatorRequest()
    stamped.CopyFrom(request)
    if not stamped.timestamp:
        stamped.timestamp = int(time.time() if now is None else now)
    if not stamped.nonce:
        stamped.nonce = os.urandom(16)
    raw = stamped.SerializeToString(deterministic=True)
    return regulator_pb2.SignedRegulatorRequest(
        request=raw, identity=signer.serialize(), signature=signer.sign(raw)
    )


class Authorizer:
    """Checks signed requests against the channels' bundles (see module docstring)."""

    def __init__(
        self,
        bundle_of: Callable[[str], ChannelBundle | None],
        *,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: int = 300,
    ) -> None:
        self._bundle_of = bundle_of
        self._clock = clock
        self._max_skew = max_skew_seconds

    def authorize(
        self,
        signed: regulator_pb2.SignedRegulatorRequest,
        body: str,
        channels: Callable[[regulator_pb2.RegulatorRequest], Sequence[str]],
    ) -> tuple[regulator_pb2.RegulatorRequest, list[str]]:
        """The parsed request and the channels it reads, once authorised.
        `channels(request)` names them (never empty: PERMISSION_DENIED then)."""
        if not signed.request or not signed.identity or not signed.signature:
            raise RequestDenied("request, identity and signature are all required")
        try:
            request = regulator_pb2.RegulatorRequest.FromString(signed.request)
        except Exception:
            raise BadRequest("request is not a RegulatorRequest") from None
        which = request.WhichOneof("body")
        if which != body:
            raise BadRequest(f"this call takes a {body} body, got {which or 'none'}")
        skew = abs(self._clock() - request.timestamp)
        if skew > self._max_skew:
            raise RequestDenied(
                f"request timestamp is {int(skew)}s away from the server clock "
                f"(allowed {self._max_skew}s)"
            )
        names = list(channels(request))
        if not names:
            raise RequestDenied("no channel to read")
        for channel in names:
            bundle = self._bundle_of(channel)
            if bundle is None:
                raise RequestDenied(f"channel {channel!r} is unknown or not readable here")
            self._check(bundle, signed)
        return request, names

    def _check(self, bundle: ChannelBundle, signed: regulator_pb2.SignedRegulatorRequest) -> None:
        channel = bundle.channel_id
        try:
            identity = bundle.deserialize_identity(signed.identity)
        except MspError as exc:
            raise RequestDenied(f"not a valid member of channel {channel}: {exc}") from None
        try:
            identity.verify(signed.request, signed.signature)
        except CryptoError:
            raise RequestDenied("the signature does not verify over the request") from None
        kind = bundle.config.org_kinds().get(identity.mspid)
        if kind != REGULATOR_KIND:
            raise RequestDenied(
                f"{identity.mspid} is a {kind or 'unknown'} org on channel {channel}; "
                "the regulator service answers regulator identities only"
            )
        result = bundle.evaluate_verified(READERS, identity)
        if not result.satisfied:
            raise RequestDenied(
                f"{identity.mspid} does not satisfy {channel}'s Readers: {result.reason}"
            )
