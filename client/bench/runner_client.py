"""One load client of `scf bench run` (`client.bench.runner`, step 3): a process with
its own gateway connection that sends its workload's calls under its share of the
rate control, recording one sample per transaction."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.bench.errors import BenchError
from client.bench.procs import client_process_setup, wait_for_start
from client.bench.voucher_pool import outcome_code
from client.bench.workloads import (
    Call,
    FixedLoad,
    FixedRate,
    KeyPool,
    RateControl,
    kv_call,
    query_key,
)
from client.contract import Contract
from client.gateway import Gateway
from client.identity import Identity
from client.profile import load_profile

__all__ = ["ClientOutcome", "ClientSpec", "connect", "load_client"]

VOUCHER_CHAINCODE = "receivable"
VOUCHER_PIECE = 1_000
VOUCHER_LEAF = 1_000_000
VOUCHER_MAX_DEPTH = 5
FINANCIER = "BankMSP"


def connect(
    profile_path: Path, org: str, peer_name: str | None = None, *, batching: bool = False
) -> Gateway:
    """`Gateway.from_profile` as `User1` of `org`, through `peer_name` (one of the
    org's peers or gateway peers) instead of the first when given; with `batching`,
    in the SDK's batching mode (`client.batching`)."""
    profile = load_profile(profile_path)
    org_profile = profile.org(org)
    user = org_profile.user("User1")
    if user.cert is not None and user.key is not None:
        identity = Identity.from_files(org_profile.mspid, user.cert, user.key)
    else:
        assert user.msp_dir is not None
        identity = Identity.from_msp_dir(user.msp_dir, org_profile.mspid)
    peer = profile.peers[peer_name] if peer_name else profile.gateway_peer(org)
    return Gateway.connect(
        peer.address,
        identity=identity,
        tls_root=peer.tls_ca if peer.tls else None,
        client_cert=user.tls_cert if peer.tls else None,
        client_key=user.tls_key if peer.tls else None,
        server_name=peer.server_name,
        batching=batching,
    )


# ------------------------------------------------------------------ a load client


@dataclass(frozen=True)
class ClientSpec:
    index: int
    profile: str
    org: str
    peer: str
    workload: str
    run: str
    control: RateControl
    value_size: int
    stop_after_s: float | None
    tx_count: int | None
    chaincode: str
    channel: str
    to_mspid: str = ""
    leaves: tuple[tuple[str, int], ...] = ()
    batching: bool = True


@dataclass
class ClientOutcome:
    index: int
    samples: list[tuple[float, float, str, str, float, float]] = field(default_factory=list)
    late: int = 0
    error: str = ""
    first_failure: str = ""


def _send(contract: Contract, call: Call) -> tuple[str, float, float]:
    """Run one call; returns (code, endorse s, submit s). Never raises."""
    if call.kind == "evaluate":
        try:
            contract.evaluate(call.function, json.dumps(call.args))
            return "OK", 0.0, 0.0
        except Exception as exc:  # every failure is a figure
            return outcome_code(exc), 0.0, 0.0
    t = time.monotonic()
    try:
        transaction = contract.new_proposal(call.function, json.dumps(call.args)).endorse()
        t1 = time.monotonic()
        commit = transaction.submit()
        t2 = time.monotonic()
        status = commit.status()
        return ("VALID" if status.successful else status.code_name), t1 - t, t2 - t1
    except Exception as exc:
        return outcome_code(exc), 0.0, 0.0


class _Tickets:
    """Sequence numbers for a client's sends, bounded by a count and a deadline."""

    def __init__(self, limit: int | None, deadline: float) -> None:
        self._n = itertools.count()
        self._lock = threading.Lock()
        self._limit = limit
        self._deadline = deadline

    def take(self) -> int | None:
        if time.monotonic() >= self._deadline:
            return None
        with self._lock:
            n = next(self._n)
        return None if self._limit is not None and n >= self._limit else n


def _kv_calls(spec: ClientSpec, slot: int) -> Iterator[Call]:
    for seq in itertools.count():
        yield kv_call(
            spec.workload,
            run=spec.run,
            client=spec.index,
            slot=slot,
            seq=seq,
            value_size=spec.value_size,
        )


def _voucher_calls(spec: ClientSpec, leaves: list[tuple[str, int]]) -> Generator[Call, str, None]:
    """Transfer a piece / request financing of a piece, alternating down each tree;
    needs `.send(code)` after each call to learn whether to follow the rest child."""
    chain = iter(leaves)
    rotation = collections.deque(itertools.islice(chain, 4))
    step = 0
    while rotation:
        voucher_id, depth = rotation.popleft()
        step += 1
        if step % 2:
            call = Call(
                "TransferVoucher",
                {
                    "request_id": f"vf-{spec.run}-{spec.index}-{step}-{voucher_id}",
                    "voucher_id": voucher_id,
                    "to": spec.to_mspid,
                    "amount": VOUCHER_PIECE,
                },
            )
        else:
            call = Call(
                "RequestFinancing",
                {
                    "request_id": f"vf-{spec.run}-{spec.index}-{step}-{voucher_id}",
                    "voucher_id": voucher_id,
                    "financier": FINANCIER,
                    "amount": VOUCHER_PIECE,
                },
            )
        code = yield call
        if code == "VALID" and depth + 1 < VOUCHER_MAX_DEPTH:
            rotation.append((f"{voucher_id}-2", depth + 1))
        else:
            rotation.extend(itertools.islice(chain, 1))


def load_client(spec: ClientSpec, go: Any, start_at: Any, out: Any) -> None:
    """One load client process (module docstring, step 3)."""
    client_process_setup()
    result = ClientOutcome(spec.index)
    lock = threading.Lock()

    def record(call: Call, sent: float, code: str, endorse_s: float, submit_s: float) -> None:
        latency = time.monotonic() - sent
        with lock:
            result.samples.append((sent, latency, code, call.function, endorse_s, submit_s))
            if code not in ("VALID", "OK") and not result.first_failure:
                what = call.args.get("key") or call.args.get("voucher_id", "")
                result.first_failure = f"{call.function} {what}: {code}"

    try:
        with connect(Path(spec.profile), spec.org, spec.peer, batching=spec.batching) as gateway:
            contract = gateway.network(spec.channel).contract(spec.chaincode)
            if spec.workload == "query":
                for k in range(8):
                    contract.submit(
                        "Put", json.dumps({"key": query_key(spec.run, spec.index, k), "value": "q"})
                    )
            # Warm the connection (TLS handshake, channel) before the clock starts.
            warm = "GetVoucher" if spec.workload == "voucher-flow" else "Get"
            with contextlib.suppress(Exception):  # a missing voucher is fine: the link is up
                contract.evaluate(warm, json.dumps({"key": "warm", "voucher_id": "warm"}))
            out.put(("ready", spec.index))
            t0 = wait_for_start(go, start_at)
            deadline = t0 + spec.stop_after_s if spec.stop_after_s is not None else math.inf
            tickets = _Tickets(spec.tx_count, deadline)
            if isinstance(spec.control, FixedLoad):
                _closed_loop(spec, contract, tickets, record)
            else:
                result.late = _open_loop(spec, spec.control, contract, t0, tickets, record)
    except Exception as exc:  # reported to the parent, which fails the run
        result.error = f"{type(exc).__name__}: {exc}"
    with lock:
        out.put(("result", result))


def _closed_loop(
    spec: ClientSpec,
    contract: Contract,
    tickets: _Tickets,
    record: Callable[[Call, float, str, float, float], None],
) -> None:
    assert isinstance(spec.control, FixedLoad)
    slots = spec.control.in_flight

    def kv_slot(slot: int) -> None:
        calls = _kv_calls(spec, slot)
        while tickets.take() is not None:
            call = next(calls)
            sent = time.monotonic()
            record(call, sent, *_send(contract, call))

    def voucher_slot(slot: int) -> None:
        gen = _voucher_calls(spec, list(spec.leaves[slot::slots]))
        try:
            call = next(gen)
            while tickets.take() is not None:
                sent = time.monotonic()
                code, e, s = _send(contract, call)
                record(call, sent, code, e, s)
                call = gen.send(code)
        except StopIteration:
            pass

    target = voucher_slot if spec.workload == "voucher-flow" else kv_slot
    threads = [threading.Thread(target=target, args=(s,), daemon=True) for s in range(slots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _open_loop(
    spec: ClientSpec,
    control: FixedRate,
    contract: Contract,
    t0: float,
    tickets: _Tickets,
    record: Callable[[Call, float, str, float, float], None],
) -> int:
    """Sends at `control.rate`; returns how many sends found the cap reached."""
    if spec.workload == "voucher-flow":
        raise BenchError("voucher-flow runs under a fixed in-flight load only")
    calls = _kv_calls(spec, 0)
    keys = KeyPool(f"rmw.{spec.run}.{spec.index}")
    keys_lock = threading.Lock()
    room = threading.BoundedSemaphore(control.cap)
    late = 0

    def task(call: Call, sent: float) -> None:
        try:
            record(call, sent, *_send(contract, call))
        finally:
            if spec.workload == "read-modify-write":
                with keys_lock:
                    keys.give(call.args["key"], time.monotonic())
            room.release()

    with ThreadPoolExecutor(max_workers=control.cap) as pool:
        i = 0
        while True:
            due = control.due(i, t0)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if tickets.take() is None:
                break
            if not room.acquire(blocking=False):
                late += 1
                room.acquire()
            call = next(calls)
            if spec.workload == "read-modify-write":
                with keys_lock:
                    key = keys.take(time.monotonic())
                call = Call(call.function, {**call.args, "key": key}, call.kind)
            pool.submit(task, call, time.monotonic())
            i += 1
    return late
