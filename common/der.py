"""The few ASN.1 DER encodings Fabric's block header hash needs.

Fabric hashes a block header as SHA-256 over the DER encoding of
`SEQUENCE { number INTEGER, previous_hash OCTET STRING, data_hash OCTET STRING }`
(Go's `asn1.Marshal` of its `asn1Header`), not over the protobuf bytes.
"""

from __future__ import annotations

_INTEGER = 0x02
_OCTET_STRING = 0x04
_SEQUENCE = 0x30


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def integer(value: int) -> bytes:
    """DER INTEGER of a non-negative value: minimal big-endian two's complement
    (a leading zero byte when the top bit would otherwise be set)."""
    if value < 0:
        raise ValueError("only non-negative integers are encoded here")
    size = value.bit_length() // 8 + 1
    return _tlv(_INTEGER, value.to_bytes(size, "big"))


def octet_string(value: bytes) -> bytes:
    return _tlv(_OCTET_STRING, value)


def sequence(*encoded_members: bytes) -> bytes:
    return _tlv(_SEQUENCE, b"".join(encoded_members))
