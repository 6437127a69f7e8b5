"""Random, truncated and mutated protobuf at every public gRPC method (hypothesis).

Each endpoint of `support.ENDPOINTS` gets `SCF_FUZZ_CASES` inputs (200 by default;
`SCF_FUZZ_CASES=10000` for the long profile): random bytes, a valid request cut short,
and a valid request with one byte changed. Every input must be refused (an error
status, or a refusal in the answer), none may crash a handler (UNKNOWN) or the node,
and afterwards the ledger state is unchanged, /healthz is OK everywhere and an honest
evaluate is served (the `unharmed` fixture).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from protos.gateway import gateway_pb2
from tests.security.conftest import Net
from tests.security.support import ENDPOINTS, Endpoint, call_raw, judge

CASES = int(os.environ.get("SCF_FUZZ_CASES", "200"))
"""Inputs per endpoint: 200 (the short profile, in `make test`); the long profile is
`SCF_FUZZ_CASES=10000 .venv/bin/pytest tests/security/test_fuzz.py`."""

pytestmark = [pytest.mark.integration, pytest.mark.timeout(max(1800, CASES))]


def _target(net: Net, ep: Endpoint) -> grpc.Channel:
    outsider = net.client_tls("supplier1")  # a client TLS cert, not a consenter's
    if ep.target == "orderer":
        return net.channel(net.orderer_address(0), outsider)
    if ep.target == "cluster":  # an orderer-org TLS cert that is no consenter's
        return net.channel(net.cluster_address(0), net.client_tls("orderer", "Admin"))
    org = ep.target.split(":", 1)[1]
    return net.channel(net.peer_address(org), outsider)


def _flip(data: bytes, at: int, xor: int) -> bytes:
    if not data:
        return bytes([xor])
    at %= len(data)
    return data[:at] + bytes([data[at] ^ xor]) + data[at + 1 :]


def _same_signed_core(ep: Endpoint, valid: bytes, mutant: bytes) -> bool:
    """A gateway request whose signed part survived the mutation (only unsigned outer
    fields changed) is the honest request again, not an attack."""
    kinds: dict[str, tuple[Any, str]] = {
        "gateway.Evaluate": (gateway_pb2.EvaluateRequest, "proposed_transaction"),
        "gateway.Endorse": (gateway_pb2.EndorseRequest, "proposed_transaction"),
        "gateway.Submit": (gateway_pb2.SubmitRequest, "prepared_transaction"),
    }
    if ep.name not in kinds:
        return mutant == valid
    cls, field = kinds[ep.name]
    try:
        a, b = cls.FromString(valid), cls.FromString(mutant)
    except Exception:
        return False
    return bool(getattr(a, field) == getattr(b, field))


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_fuzz_endpoint(net: Net, unharmed: None, name: str) -> None:
    ep = ENDPOINTS[name]
    signer = net.user("supplier1")
    valid = ep.build(signer)
    channel = _target(net, ep)
    failures: list[str] = []

    inputs = st.one_of(
        st.binary(max_size=1024),
        st.integers(0, len(valid) - 1).map(lambda n: valid[:n]),
        st.tuples(st.integers(0, len(valid)), st.integers(1, 255)).map(lambda t: _flip(valid, *t)),
    )

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=CASES <= 1000,  # the short profile replays the same cases
        suppress_health_check=list(HealthCheck),
    )
    @given(messages=st.lists(inputs, min_size=1, max_size=3 if ep.streaming else 1))
    def run(messages: list[bytes]) -> None:
        assume(not any(_same_signed_core(ep, valid, m) for m in messages))
        send: Callable[[], list[bytes]] = lambda: call_raw(channel, ep, messages, timeout=5)  # noqa: E731
        verdict = judge(ep, send)
        if verdict != "refused":
            failures.append(f"{verdict}: {[m.hex()[:120] for m in messages]}")

    try:
        run()
    finally:
        channel.close()
    assert not failures, f"{len(failures)} inputs not refused at {name}: {failures[:5]}"
