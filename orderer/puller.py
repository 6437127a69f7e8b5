"""`BlockPuller` over the other consenters' `AtomicBroadcast/Deliver` (gRPC, TLS).

A follower that installed a snapshot for blocks it lacks pulls them from whichever
consenter answers first. Each pulled block is checked before the driver appends it:
data hash (here), chain link (the block store), and the orderer signature against
the channel's BlockValidation policy (here), so a lying consenter cannot make this
node append a forged block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import grpc

from common import block as blk
from common import tls
from common.config.bundle import ChannelBundle
from common.config.channel import Consenter
from common.policies import SignedData
from common.txutil import Signer, build_seek_envelope, seek_info
from protos.common import common_pb2
from protos.orderer import ab_pb2, ab_pb2_grpc

log = logging.getLogger("orderer.puller")


class PullError(Exception):
    """No consenter could serve the requested blocks."""


class GrpcBlockPuller:
    def __init__(
        self,
        bundle: ChannelBundle,
        consenters: Sequence[Consenter],
        signer: Signer,
        client_tls: tls.ClientTls | None,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self._bundle = bundle
        self._consenters = list(consenters)
        self._signer = signer
        self._tls = client_tls
        self._timeout_s = timeout_s
        self._next = 0

    def pull(self, start: int, stop: int) -> Iterator[common_pb2.Block]:
        errors: list[str] = []
        for _ in range(len(self._consenters)):
            consenter = self._consenters[self._next % len(self._consenters)]
            self._next += 1
            try:
                got = False
                for block in self._pull_from(consenter.address, start, stop):
                    got = True
                    yield block
                if got:
                    return
                errors.append(f"{consenter.address}: no blocks")
            except grpc.RpcError as exc:
                errors.append(f"{consenter.address}: {exc}")
        raise PullError(f"blocks [{start}, {stop}): " + "; ".join(errors))

    def _pull_from(self, address: str, start: int, stop: int) -> Iterator[common_pb2.Block]:
        options = tls.channel_options()
        channel = (
            grpc.secure_channel(address, self._tls.credentials(), options=options)
            if self._tls is not None
            else grpc.insecure_channel(address, options=options)
        )
        with channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)  # type: ignore[no-untyped-call]
            request = build_seek_envelope(
                self._bundle.channel_id,
                seek_info(start, stop - 1, block_until_ready=False),
                self._signer,
            )
            response: ab_pb2.DeliverResponse
            for response in stub.Deliver(iter([request]), timeout=self._timeout_s):
                if response.WhichOneof("Type") != "block":
                    return
                block = response.block
                blk.verify_data_hash(block)
                self._verify_signature(block)
                yield block

    def _verify_signature(self, block: common_pb2.Block) -> None:
        signed = [
            SignedData(s.creator, s.signed_bytes, s.signature) for s in blk.block_signatures(block)
        ]
        result = self._bundle.evaluate("BlockValidation", signed)
        if not result.satisfied:
            raise blk.BlockError(
                f"pulled block {block.header.number} fails BlockValidation: {result.reason}"
            )
