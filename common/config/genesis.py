"""Genesis (config) blocks: build one from a channel config, read the config back.

A config block holds exactly one envelope whose payload has a `CONFIG` channel
header and, as data, an `scf.ConfigEnvelope`. The genesis envelope is unsigned,
as Fabric's is; a genesis block carries no orderer signature either (every node
is handed it out of band, and its header hash anchors the chain).
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from common import block as blk
from common.config.channel import ChannelConfig, ChannelConfigError
from protos.common import common_pb2
from protos.scf import config_pb2


def genesis_block(
    config: config_pb2.ChannelConfig, *, timestamp_seconds: int = 0
) -> common_pb2.Block:
    """Block 0 of a channel: its configuration, validated first."""
    ChannelConfig.from_proto(config)
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.CONFIG, version=1, channel_id=config.channel_id, epoch=0
    )
    channel_header.timestamp.seconds = timestamp_seconds
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=channel_header.SerializeToString(deterministic=True),
            signature_header=common_pb2.SignatureHeader().SerializeToString(),
        ),
        data=config_pb2.ConfigEnvelope(config=config).SerializeToString(deterministic=True),
    )
    envelope = common_pb2.Envelope(payload=payload.SerializeToString(deterministic=True))
    block = blk.new_block(0, b"", [envelope.SerializeToString(deterministic=True)])
    last_config = common_pb2.LastConfig(index=0).SerializeToString()
    block.metadata.metadata[common_pb2.LAST_CONFIG] = common_pb2.Metadata(
        value=last_config
    ).SerializeToString()
    return block


def config_from_block(block: common_pb2.Block) -> ChannelConfig:
    """The channel configuration carried by a config block."""
    if len(block.data.data) != 1:
        raise ChannelConfigError(
            f"block {block.header.number} is not a config block: {len(block.data.data)} envelopes"
        )
    try:
        envelope = common_pb2.Envelope.FromString(block.data.data[0])
        payload = common_pb2.Payload.FromString(envelope.payload)
        channel_header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if channel_header.type != common_pb2.CONFIG:
            raise ChannelConfigError(
                f"block {block.header.number} carries a {channel_header.type} envelope, not CONFIG"
            )
        config = config_pb2.ConfigEnvelope.FromString(payload.data).config
    except DecodeError as exc:
        raise ChannelConfigError(f"block {block.header.number}: malformed config: {exc}") from None
    blk.verify_data_hash(block)
    result = ChannelConfig.from_proto(config)
    if result.channel_id != channel_header.channel_id:
        raise ChannelConfigError(
            f"config block for channel {channel_header.channel_id} holds config of "
            f"{result.channel_id}"
        )
    return result
