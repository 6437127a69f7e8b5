"""Deliver requests: `SeekInfo` and the signed DELIVER_SEEK_INFO envelope."""

from __future__ import annotations

from common.crypto import compute_txid, new_nonce
from common.txutil.base import Signer, ser, signed_header, stamp
from common.txutil.transaction import sign_envelope
from protos.common import common_pb2
from protos.orderer import ab_pb2


def seek_info(
    start: int | None,
    stop: int | None = None,
    *,
    block_until_ready: bool = True,
) -> ab_pb2.SeekInfo:
    """SeekInfo from block `start` (None = newest) to `stop` (None = forever)."""

    def position(number: int | None, *, forever: bool) -> ab_pb2.SeekPosition:
        if number is not None:
            return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=number))
        if forever:
            # Fabric clients ask "until the end of time" with the largest block number.
            return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=2**64 - 1))
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())

    return ab_pb2.SeekInfo(
        start=position(start, forever=False),
        stop=position(stop, forever=True),
        behavior=(
            ab_pb2.SeekInfo.BLOCK_UNTIL_READY
            if block_until_ready
            else ab_pb2.SeekInfo.FAIL_IF_NOT_READY
        ),
    )


def build_seek_envelope(
    channel_id: str,
    info: ab_pb2.SeekInfo,
    signer: Signer,
    *,
    tls_cert_hash: bytes = b"",
    timestamp: tuple[int, int] | None = None,
) -> common_pb2.Envelope:
    """A signed DELIVER_SEEK_INFO envelope for the Deliver services (orderer or peer)."""
    creator = signer.serialize()
    nonce = new_nonce()
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.DELIVER_SEEK_INFO,
        channel_id=channel_id,
        tx_id=compute_txid(nonce, creator),
        tls_cert_hash=tls_cert_hash,
    )
    stamp(channel_header, timestamp)
    payload = common_pb2.Payload(
        header=signed_header(channel_header, creator, nonce),
        data=ser(info),
    )
    return sign_envelope(ser(payload), signer)
