"""The Node load clients of `scf bench run --client node`: each one
`bench/fabric-gateway-blind-write.mjs` (the official Fabric Gateway Node client), fed
its connection settings on stdin, reporting its samples as JSON on stdout
(`bench/README.md`). Blind-write under a fixed in-flight load only."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.bench.errors import BenchError
from client.bench.report import Sample
from client.bench.sampler import Sampler
from client.bench.workloads import KV_CHAINCODE, FixedLoad, RateControl
from client.profile import ConnectionProfile

if TYPE_CHECKING:
    from client.bench.runner import BenchConfig

__all__ = ["NODE_SCRIPT", "node_config", "run_node_clients"]

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPT = REPO / "bench" / "fabric-gateway-blind-write.mjs"
DRAIN_TIMEOUT_S = 60.0


def node_config(
    profile: ConnectionProfile, org: str, peer_name: str, *, channel: str
) -> dict[str, Any]:
    """The Node script's connection settings for `User1` of `org` via `peer_name`."""
    org_profile = profile.org(org)
    user = org_profile.user("User1")
    peer = profile.peers[peer_name]
    if None in (user.cert, user.key, user.tls_cert, user.tls_key) or not isinstance(
        peer.tls_ca, Path
    ):
        raise BenchError(f"the Node client needs file paths for {org} User1 and TLS material")
    return {
        "endpoint": peer.address,
        "hostOverride": peer.server_name or peer.address.split(":")[0],
        "tlsRootCert": str(peer.tls_ca),
        "tlsClientCert": str(user.tls_cert),
        "tlsClientKey": str(user.tls_key),
        "mspId": org_profile.mspid,
        "cert": str(user.cert),
        "key": str(user.key),
        "channel": channel,
        "chaincode": KV_CHAINCODE,
    }


def run_node_clients(
    config: BenchConfig,
    profile: ConnectionProfile,
    orgs: list[str],
    chosen: list[str],
    controls: list[RateControl],
    counts: list[int | None],
    stop_after: float | None,
    tag: str,
    sampler: Sampler,
    progress: Callable[[str], None],
) -> tuple[list[Sample], int, str, float]:
    node = shutil.which("node")
    if node is None:
        raise BenchError("node is not on PATH")
    # Wall clock → monotonic offset: the Node client reports wall-clock milliseconds.
    offset = time.time() - time.monotonic()
    start_wall = time.time() + 3.0
    t0 = start_wall - offset
    procs: list[subprocess.Popen[str]] = []
    try:
        for i, (org, peer) in enumerate(zip(orgs, chosen, strict=True)):
            control = controls[i]
            assert isinstance(control, FixedLoad)
            cfg = {
                **node_config(profile, org, peer, channel=config.channel),
                "prefix": f"nbw.{tag}.{i}",
                "inFlight": control.in_flight,
                "valueSize": config.value_size,
                "durationS": stop_after,
                "txCount": counts[i],
                "warmupS": config.warmup_s,
                "startAtMs": start_wall * 1000,
                "samples": True,
            }
            proc = subprocess.Popen(
                [node, str(NODE_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(cfg))
            proc.stdin.close()
            procs.append(proc)
            sampler.add(f"client{i}", proc.pid)
        progress(f"{config.clients} Node clients started ({', '.join(chosen)})")
        sampler.tick()
        sampler.start()
        outputs = []
        for proc in procs:
            assert proc.stdout is not None
            text = proc.stdout.read()
            proc.wait(timeout=(stop_after or 3600) + DRAIN_TIMEOUT_S + 60)
            if proc.returncode != 0:
                raise BenchError(f"the Node client exited with {proc.returncode}")
            outputs.append(json.loads(text.strip().splitlines()[-1]))
        sampler.stop()
    finally:
        if sampler.is_alive():
            sampler.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=5)
    samples = [
        Sample(sent_ms / 1000 - offset, latency_ms / 1000, code, "Put")
        for out in outputs
        for sent_ms, latency_ms, code in out["samples"]
    ]
    first = next((o.get("first_failure") or "" for o in outputs if o.get("first_failure")), "")
    return samples, 0, first, t0
