"""`scf verify`: re-check a channel's whole chain on every peer and compare the peers.

For each peer in a connection profile, the chain is fetched through the peer's Deliver
service (a SeekInfo `[0, newest]` signed by a user of the peer's own org — the
channel's Readers policy admits it) and checked block by block:

* block 0 is a config block; its configuration (consenters, orderer orgs,
  BlockValidation policy) is what later blocks are checked against;
* block n > 0: its number is n, `previous_hash` is block n-1's header hash, `data_hash`
  matches its data, and its orderer signatures satisfy the channel's BlockValidation
  policy with at least one signature by a consenter. A later config block replaces the
  configuration used for the blocks after it (after its own signatures are checked
  with the old one).

Then the peers are compared: heights (a lagging peer is given `settle_s` seconds to
catch up to the highest), header hashes and COMMIT_HASH metadata of every block all
of them hold. A peer not joined to the channel is reported and skipped.

With `replay=True` (`scf regulator verify`) each chain is also REPLAYED: the write
sets of the transactions its TRANSACTIONS_FILTER marks VALID are applied, in block
order, to a fresh in-memory state, and each block's commit hash is recomputed from
the codes and those writes (`common.commithash`, the recipe the peers' ledgers use)
and compared with the COMMIT_HASH the block carries. A `state_report(peer)` callable
(the peers' operations `GET /ledger/state`) then lets the replayed state be compared
with the peer's own: the state hash at the height it reports (fetching the blocks up
to that height first) and its last commit-hash record. A peer whose database was
altered after the fact (a state value, a commit-hash record) fails there.

`reader=(org, user)` reads every peer as that one user (the regulator reads with its
own identity: it is a Reader of every channel), instead of a user of each peer's org.

`verify_channel` returns a `VerifyReport`; `report.ok` is False on any failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from client.profile import ConnectionProfile, Endpoint, OrgProfile, ProfileError, UserProfile
from common import commithash, tls, txutil
from common.block import BlockError, block_signatures, header_hash, verify_data_hash
from common.config.bundle import ChannelBundle
from common.config.channel import ChannelConfigError
from common.config.genesis import config_from_block
from common.errors import ScfError
from common.msp import SigningIdentity
from common.policies import SignedData
from common.txutil import build_seek_envelope
from protos.common import common_pb2
from protos.ledger.rwset import rwset_pb2
from protos.ledger.rwset.kvrwset import kv_rwset_pb2
from protos.orderer import ab_pb2
from protos.peer import events_pb2_grpc, transaction_pb2

__all__ = [
    "ChainResult",
    "Divergence",
    "StateReport",
    "VerifyError",
    "VerifyReport",
    "short",
    "verify_channel",
]

NEWEST = None
_MAX = 2**64 - 1


class VerifyError(ScfError):
    """The verification could not run at all (`VERIFY_FAILED`): no peers, bad profile."""

    code = "VERIFY_FAILED"


@dataclass(frozen=True)
class ChainResult:
    """One peer's chain. `status`: "OK", "FAIL" (a block is invalid — `bad_block`,
    `error`), "UNREACHABLE" or "REFUSED" (Deliver failed — `error`), "NOT_JOINED"."""

    peer: str
    org: str
    status: str
    height: int
    header_hashes: tuple[bytes, ...]
    commit_hashes: tuple[bytes, ...]
    error: str = ""
    bad_block: int | None = None
    replayed: bool = False
    state: str = ""
    """With replay: "OK" (the peer's state hash equals the replay's), "MISMATCH",
    "UNCHECKED" (no state report) or "" (not replayed)."""
    state_hash: bytes = b""
    """The replay's state hash at `height`."""

    @property
    def tip(self) -> bytes:
        return self.header_hashes[-1] if self.header_hashes else b""


@dataclass(frozen=True)
class Divergence:
    """The first block at which peers disagree. `what`: "header hash", "commit hash"
    or "height"; `values`: peer → hex value (or height) at that block."""

    block: int
    what: str
    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StateReport:
    """What a peer says of its ledger, from one snapshot (`GET /ledger/state`)."""

    height: int
    state_hash: bytes
    commit_hash: bytes


@dataclass(frozen=True)
class VerifyReport:
    channel: str
    chains: tuple[ChainResult, ...]
    divergence: Divergence | None

    @property
    def ok(self) -> bool:
        checked = [c for c in self.chains if c.status != "NOT_JOINED"]
        return bool(checked) and all(c.status == "OK" for c in checked) and self.divergence is None


# ------------------------------------------------------------------------ one chain


class _Replay:
    """A fresh state fed with the VALID write sets of each block, recomputing the
    commit hash chain as the peers' ledgers do."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], tuple[bytes, int, int]] = {}
        self.last_commit = commithash.NO_COMMIT_HASH

    def apply(self, block: common_pb2.Block, config: bool) -> None:
        n = block.header.number
        metadata = block.metadata.metadata
        codes = (
            bytes(metadata[common_pb2.TRANSACTIONS_FILTER])
            if len(metadata) > common_pb2.TRANSACTIONS_FILTER
            else b""
        )
        if len(codes) != len(block.data.data):
            raise BlockError(
                f"block {n}: {len(codes)} validation codes for {len(block.data.data)} txs",
                code="BAD_VALIDATION_CODES",
            )
        updates: dict[tuple[str, str], tuple[bytes | None, int]] = {}
        for i, entry in enumerate(block.data.data):
            if codes[i] != transaction_pb2.VALID or config:
                continue
            for namespace, key, value in _tx_writes(n, i, entry):
                updates[(namespace, key)] = (value, i)
        try:
            digest = commithash.commit_hash(
                self.last_commit, n, codes, {k: v for k, (v, _) in updates.items()}
            )
        except UnicodeEncodeError:
            raise BlockError(f"block {n}: a key is not valid UTF-8", code="BAD_RWSET") from None
        carried = _carried_commit_hash(block)
        if carried != digest:
            raise BlockError(
                f"block {n}: commit hash {carried.hex()[:12] or 'missing'} differs from the "
                f"replay's {digest.hex()[:12]} (validation codes or write sets altered)",
                code="COMMIT_HASH_MISMATCH",
            )
        for state_key, (value, tx) in updates.items():
            if value is None:
                self.state.pop(state_key, None)
            else:
                self.state[state_key] = (value, n, tx)
        self.last_commit = digest

    def state_hash(self) -> bytes:
        ordered = sorted(self.state.items(), key=lambda kv: commithash.state_order(*kv[0]))
        return commithash.state_hash((ns, key, value, b, t) for (ns, key), (value, b, t) in ordered)


def _tx_writes(n: int, i: int, entry: bytes) -> list[tuple[str, str, bytes | None]]:
    """The writes of a VALID endorser tx, in rwset order (`BlockError` if it has none
    that parse: a VALID flag on a malformed tx is itself a divergence)."""
    try:
        tx = txutil.parse_transaction(entry)
        message = rwset_pb2.TxReadWriteSet.FromString(tx.rwset_bytes)
        writes: list[tuple[str, str, bytes | None]] = []
        for ns in message.ns_rwset:
            kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
            writes.extend(
                (ns.namespace, w.key, None if w.is_delete else bytes(w.value)) for w in kv.writes
            )
    except Exception as exc:  # EnvelopeError, protobuf DecodeError
        raise BlockError(
            f"block {n}: tx {i} is flagged VALID but its write set cannot be read: {exc}",
            code="BAD_RWSET",
        ) from None
    return writes


def _carried_commit_hash(block: common_pb2.Block) -> bytes:
    metadata = block.metadata.metadata
    if len(metadata) <= common_pb2.COMMIT_HASH or not metadata[common_pb2.COMMIT_HASH]:
        return b""
    try:
        return bytes(common_pb2.Metadata.FromString(metadata[common_pb2.COMMIT_HASH]).value)
    except Exception:  # protobuf DecodeError
        return b""


class _Chain:
    """Incremental verifier of one peer's chain; `add` raises `BlockError`."""

    def __init__(self, replay: bool = False) -> None:
        self.bundle: ChannelBundle | None = None
        self.prev: common_pb2.BlockHeader | None = None
        self.header_hashes: list[bytes] = []
        self.commit_hashes: list[bytes] = []
        self.replay = _Replay() if replay else None

    @property
    def height(self) -> int:
        return len(self.header_hashes)

    def add(self, block: common_pb2.Block) -> None:
        n = block.header.number
        if n != self.height:
            raise BlockError(
                f"expected block {self.height}, got block {n}", code="BLOCK_OUT_OF_ORDER"
            )
        verify_data_hash(block)
        if n == 0:
            try:
                self.bundle = ChannelBundle(config_from_block(block))
            except ChannelConfigError as exc:
                raise BlockError(f"block 0 is not a valid config block: {exc.message}") from None
        else:
            assert self.prev is not None
            assert self.bundle is not None
            if block.header.previous_hash != header_hash(self.prev):
                raise BlockError(
                    f"block {n}: previous_hash does not match block {n - 1}'s header hash",
                    code="PREVIOUS_HASH_MISMATCH",
                )
            self._check_signatures(block)
            if _is_config_block(block):
                try:
                    self.bundle = ChannelBundle(config_from_block(block))
                except ChannelConfigError as exc:
                    raise BlockError(f"block {n}: bad config: {exc.message}") from None
        if self.replay is not None:
            self.replay.apply(block, n == 0 or _is_config_block(block))
        metadata = block.metadata.metadata
        commit = metadata[common_pb2.COMMIT_HASH] if len(metadata) > common_pb2.COMMIT_HASH else b""
        self.header_hashes.append(header_hash(block.header))
        self.commit_hashes.append(bytes(commit))
        self.prev = block.header

    def _check_signatures(self, block: common_pb2.Block) -> None:
        assert self.bundle is not None
        n = block.header.number
        signatures = block_signatures(block)
        if not signatures:
            raise BlockError(f"block {n} carries no orderer signature", code="BAD_SIGNATURE")
        if not any(self.bundle.is_consenter(s.creator) for s in signatures):
            raise BlockError(f"block {n} is signed by no consenter", code="BAD_SIGNATURE")
        result = self.bundle.evaluate(
            "BlockValidation",
            [SignedData(s.creator, s.signed_bytes, s.signature) for s in signatures],
        )
        if not result.satisfied:
            raise BlockError(
                f"block {n}: orderer signatures do not satisfy BlockValidation: {result.reason}",
                code="BAD_SIGNATURE",
            )


def _is_config_block(block: common_pb2.Block) -> bool:
    if len(block.data.data) != 1:
        return False
    try:
        envelope = common_pb2.Envelope.FromString(block.data.data[0])
        payload = common_pb2.Payload.FromString(envelope.payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    except Exception:  # protobuf's DecodeError: not a config block then
        return False
    return header.type == common_pb2.CONFIG


# ------------------------------------------------------------------------ fetching


@dataclass(frozen=True)
class _Client:
    peer: Endpoint
    org: OrgProfile
    signer: SigningIdentity
    tls: tls.ClientTls | None


def _pick_user(org: OrgProfile) -> UserProfile:
    users = list(org.users.values())
    if not users:
        raise VerifyError(f"org {org.name!r} has no user in the profile to read its peer with")
    # An ordinary member reads as well as an admin; prefer one that is not the admin.
    return next((u for u in users if u.name.lower() != "admin"), users[0])


def _client(
    profile: ConnectionProfile, peer: Endpoint, org: OrgProfile, user_name: str | None = None
) -> _Client:
    user = org.user(user_name) if user_name else _pick_user(org)
    if user.msp_dir is not None:
        signer = SigningIdentity.from_msp_dir(user.msp_dir, org.mspid)
    else:
        assert user.cert is not None
        assert user.key is not None
        signer = SigningIdentity.from_pem(org.mspid, user.cert.read_bytes(), user.key.read_bytes())
    client_tls = None
    if peer.tls:
        assert peer.tls_ca is not None
        client_tls = tls.ClientTls.load(
            [peer.tls_ca],
            user.tls_cert,
            user.tls_key,
        )
    return _Client(peer, org, signer, client_tls)


def _seek(start: int, stop: int | None) -> ab_pb2.SeekInfo:
    stop_pos = (
        ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
        if stop is None
        else ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=stop))
    )
    return ab_pb2.SeekInfo(
        start=ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start)),
        stop=stop_pos,
        behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY,
    )


class _Refused(Exception):
    def __init__(self, status: int, what: str) -> None:
        super().__init__(what)
        self.status = status


def _fetch(client: _Client, channel: str, chain: _Chain, stop: int | None, timeout: float) -> None:
    """Stream blocks [chain.height, stop] (stop None: newest) into `chain`."""
    options = tls.channel_options(server_name_override=client.peer.server_name)
    if client.tls is not None:
        conn = grpc.secure_channel(client.peer.address, client.tls.credentials(), options=options)
    else:
        conn = grpc.insecure_channel(client.peer.address, options=options)
    with conn:
        stub = events_pb2_grpc.DeliverStub(conn)  # type: ignore[no-untyped-call]
        envelope = build_seek_envelope(channel, _seek(chain.height, stop), client.signer)
        for response in stub.Deliver(iter([envelope]), timeout=timeout):
            kind = response.WhichOneof("Type")
            if kind == "block":
                chain.add(response.block)
            elif kind == "status":
                if response.status != common_pb2.SUCCESS:
                    name = common_pb2.Status.Name(response.status)
                    raise _Refused(response.status, f"Deliver answered {name}")
                return


def _result(
    client: _Client, chain: _Chain, status: str, error: str = "", bad: int | None = None
) -> ChainResult:
    return ChainResult(
        peer=client.peer.name,
        org=client.org.name,
        status=status,
        height=chain.height,
        header_hashes=tuple(chain.header_hashes),
        commit_hashes=tuple(chain.commit_hashes),
        error=error,
        bad_block=bad,
        replayed=chain.replay is not None,
    )


def _run(
    client: _Client, channel: str, chain: _Chain, stop: int | None, timeout: float
) -> ChainResult:
    try:
        _fetch(client, channel, chain, stop, timeout)
    except BlockError as exc:
        return _result(client, chain, "FAIL", str(exc), chain.height)
    except _Refused as exc:
        if exc.status == common_pb2.NOT_FOUND and chain.height == 0:
            return _result(client, chain, "NOT_JOINED", f"not joined to channel {channel}")
        return _result(client, chain, "REFUSED", str(exc))
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        if code is grpc.StatusCode.UNAVAILABLE:
            what = "not reachable (is the network up? see 'scf network status')"
        else:
            what = f"{code.name if code else 'RPC error'}: {detail}"
        return _result(client, chain, "UNREACHABLE", f"{client.peer.address}: {what}")
    return _result(client, chain, "OK")


# ------------------------------------------------------------------------ comparing


def _divergence(chains: Sequence[ChainResult]) -> Divergence | None:
    ok = [c for c in chains if c.status == "OK"]
    if len(ok) < 1:
        return None
    common = min(c.height for c in ok)
    for n in range(common):
        for what in ("header hash", "commit hash"):
            values = {
                c.peer: (c.header_hashes if what == "header hash" else c.commit_hashes)[n]
                for c in ok
            }
            if len(set(values.values())) > 1:
                return Divergence(n, what, tuple((p, v.hex()) for p, v in values.items()))
    heights = {c.peer: c.height for c in ok}
    if len(set(heights.values())) > 1:
        return Divergence(common, "height", tuple((p, str(h)) for p, h in heights.items()))
    return None


def verify_channel(
    profile: ConnectionProfile,
    channel: str,
    *,
    peers: Sequence[str] = (),
    timeout: float = 60.0,
    settle_s: float = 5.0,
    replay: bool = False,
    state_report: Callable[[str], StateReport | None] | None = None,
    reader: tuple[str, str] | None = None,
) -> VerifyReport:
    """Verify `channel` on every peer of `profile` (or only `peers`); see the module doc.

    Raises `VerifyError` / `ProfileError` when it cannot start (unknown peer, no users,
    unreadable identity material); per-peer failures are in the report.
    """
    profile.check_channel(channel)
    names = list(peers) or list(profile.peers)
    if not names:
        raise VerifyError(f"the profile {profile.path} lists no peers")
    owner: dict[str, OrgProfile] = {}
    for org in profile.organizations.values():
        for p in org.peers:
            owner.setdefault(p, org)
    clients: list[_Client] = []
    for name in names:
        if name not in profile.peers:
            raise ProfileError(
                f"no peer {name!r} in {profile.path} (peers: {', '.join(profile.peers)})",
                code="UNKNOWN_PEER",
            )
        peer_org = owner.get(name)
        user_name = None
        if reader is not None:
            peer_org, user_name = profile.org(reader[0]), reader[1]
        if peer_org is None:
            raise VerifyError(f"peer {name!r} belongs to no organization in {profile.path}")
        try:
            clients.append(_client(profile, profile.peers[name], peer_org, user_name))
        except (ScfError, OSError) as exc:
            raise VerifyError(f"cannot load a reader identity for {name}: {exc}") from None
    chains = {c.peer.name: _Chain(replay) for c in clients}
    results = {c.peer.name: _run(c, channel, chains[c.peer.name], NEWEST, timeout) for c in clients}
    # Blocks keep arriving while we read: let lagging peers reach the highest height.
    target = max((r.height for r in results.values() if r.status == "OK"), default=0)
    deadline = time.monotonic() + settle_s
    for c in clients:
        r = results[c.peer.name]
        if r.status == "OK" and r.height < target:
            left = max(0.5, deadline - time.monotonic())
            again = _run(c, channel, chains[c.peer.name], target - 1, left)
            if again.status == "UNREACHABLE" and "DEADLINE_EXCEEDED" in again.error:
                again = _result(c, chains[c.peer.name], "OK")  # still behind: a height mismatch
            results[c.peer.name] = again
    if replay:
        for c in clients:
            results[c.peer.name] = _check_state(
                c, channel, chains[c.peer.name], results[c.peer.name], state_report, timeout
            )
    ordered = tuple(results[c.peer.name] for c in clients)
    return VerifyReport(channel, ordered, _divergence(ordered))


def _check_state(
    client: _Client,
    channel: str,
    chain: _Chain,
    result: ChainResult,
    state_report: Callable[[str], StateReport | None] | None,
    timeout: float,
) -> ChainResult:
    """Compare the replayed state with the peer's report (module docstring)."""
    assert chain.replay is not None
    if result.status != "OK":
        return result
    report = state_report(client.peer.name) if state_report is not None else None
    if report is None:
        return _with_state(result, chain, "UNCHECKED")
    if report.height > chain.height:
        again = _run(client, channel, chain, report.height - 1, timeout)
        if again.status != "OK":
            return again
        result = again
    if report.height != chain.height:
        return _with_state(
            result,
            chain,
            "MISMATCH",
            f"peer reports state at height {report.height}, its chain has {chain.height} blocks",
        )
    mine = chain.replay.state_hash()
    if report.commit_hash and report.commit_hash != chain.replay.last_commit:
        return _with_state(
            result,
            chain,
            "MISMATCH",
            f"commit-hash record of block {chain.height - 1} is {short(report.commit_hash)}, "
            f"the replay gives {short(chain.replay.last_commit)}",
        )
    if report.state_hash != mine:
        return _with_state(
            result,
            chain,
            "MISMATCH",
            f"state at height {chain.height} has hash {short(report.state_hash)}, the replay of "
            f"blocks [0, {chain.height}) gives {short(mine)}: the peer's state was altered",
        )
    return _with_state(result, chain, "OK")


def _with_state(result: ChainResult, chain: _Chain, state: str, error: str = "") -> ChainResult:
    assert chain.replay is not None
    return ChainResult(
        peer=result.peer,
        org=result.org,
        status="FAIL" if error else result.status,
        height=result.height,
        header_hashes=result.header_hashes,
        commit_hashes=result.commit_hashes,
        error=error or result.error,
        bad_block=result.bad_block,
        replayed=True,
        state=state,
        state_hash=chain.replay.state_hash(),
    )


def short(digest: bytes | str) -> str:
    """First 12 hex digits of a hash, for one-line output."""
    text = digest.hex() if isinstance(digest, bytes) else digest
    return text[:12]
