"""The signature and policy checks of one transaction — the expensive, order-free
part of validation, so it may run in parallel (threads or processes).

For each transaction (`SignatureJob`), in this order:

1. the creator deserializes to a valid identity of the channel's MSPs and its
   signature over the exact envelope payload verifies      → else BAD_CREATOR_SIGNATURE;
2. the creator satisfies the channel's `Writers` policy     → else ENDORSEMENT_POLICY_FAILURE
   (outcome cached per (MSP id, role) for the bundle: `ChannelBundle.evaluate_verified`);
3. the endorsements — each a signature over `proposal_response_payload ‖ endorser`,
   every one over the same payload bytes by construction — satisfy the chaincode's
   endorsement policy                                       → else ENDORSEMENT_POLICY_FAILURE
   (every relevant endorsement verified per transaction; the policy-tree walk is
   cached per (policy, verified signer classes): `common.policies.OutcomeCache`).

Step 2 re-does the orderer's Broadcast check (Fabric leaves it to the orderer): a
Reader that is not a Writer, such as the regulator, cannot get a transaction
validated even through a faulty orderer. Fabric has no code for "creator may not
write", so the failure is reported as ENDORSEMENT_POLICY_FAILURE: a policy the
transaction must satisfy is not satisfied.

Measured on the 2-core dev machine (blocks of 500 txs, 2 endorsements each, one
LevelDB commit per block; `tests/unit/peer/validator/bench_validate.py`): inline
~2,600 tx/s, `ThreadExecutor(2)` ~3,600 tx/s (`cryptography` releases the GIL while
verifying; a micro-benchmark verifying with ONE shared key gains nothing from threads,
with distinct keys it does), `ProcessExecutor(2)` ~2,500 tx/s (pickling and IPC eat
the gain). Threads are the recommended executor; processes are kept for comparison
and for machines with more cores.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from common.config.bundle import ChannelBundle
from common.config.channel import WRITERS, ChannelConfig
from common.errors import ScfError
from common.policies import BoundImplicitMeta, Policy, SignedData
from protos.peer import transaction_pb2
from protos.scf import config_pb2

__all__ = [
    "InlineExecutor",
    "ProcessExecutor",
    "SignatureChecker",
    "SignatureExecutor",
    "SignatureJob",
    "ThreadExecutor",
]

VALID = transaction_pb2.VALID
BAD_CREATOR_SIGNATURE = transaction_pb2.BAD_CREATOR_SIGNATURE
ENDORSEMENT_POLICY_FAILURE = transaction_pb2.ENDORSEMENT_POLICY_FAILURE


@dataclass(frozen=True)
class SignatureJob:
    """What the checks need of one transaction (plain bytes: cheap to pickle)."""

    creator: bytes
    payload: bytes
    signature: bytes
    chaincode: str
    response_payload: bytes
    endorsements: tuple[tuple[bytes, bytes], ...]  # (endorser, signature)


class SignatureChecker:
    """Runs the checks of the module docstring against one channel bundle.
    Thread-safe (the bundle's identity cache is)."""

    def __init__(self, bundle: ChannelBundle) -> None:
        self._bundle = bundle
        self._writers = bundle.bound_policy(WRITERS)
        self._endorsement: dict[str, Policy | BoundImplicitMeta] = {}

    def _endorsement_policy(self, chaincode: str) -> Policy | BoundImplicitMeta:
        policy = self._endorsement.get(chaincode)
        if policy is None:
            policy = self._bundle.bound_endorsement_policy(chaincode)
            self._endorsement[chaincode] = policy
        return policy

    def check(self, job: SignatureJob) -> int:
        """The job's TxValidationCode (VALID when every check passes)."""
        try:
            creator = self._bundle.deserialize_identity(job.creator)
            creator.verify(job.payload, job.signature)
        except ScfError:
            return BAD_CREATOR_SIGNATURE
        if not self._bundle.evaluate_verified(WRITERS, creator).satisfied:
            return ENDORSEMENT_POLICY_FAILURE
        endorsements = [
            SignedData(endorser, job.response_payload + endorser, signature)
            for endorser, signature in job.endorsements
        ]
        try:
            policy = self._endorsement_policy(job.chaincode)
        except ScfError:
            return ENDORSEMENT_POLICY_FAILURE
        # Every relevant endorsement signature is verified over this transaction's
        # bytes; the policy-tree walk is cached per set of verified signer classes.
        if not self._bundle.evaluate_policy(policy, endorsements).satisfied:
            return ENDORSEMENT_POLICY_FAILURE
        return VALID

    def check_all(self, jobs: Sequence[SignatureJob]) -> list[int]:
        return [self.check(job) for job in jobs]


class SignatureExecutor(Protocol):
    """Runs `SignatureChecker.check` over a block's jobs; codes in job order."""

    def check_all(self, jobs: Sequence[SignatureJob]) -> list[int]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Checks in the calling thread (the default; see the module docstring)."""

    def __init__(self, bundle: ChannelBundle) -> None:
        self._checker = SignatureChecker(bundle)

    def check_all(self, jobs: Sequence[SignatureJob]) -> list[int]:
        return self._checker.check_all(jobs)

    def close(self) -> None:
        """Nothing to release."""


def _chunks(jobs: Sequence[SignatureJob], parts: int) -> list[Sequence[SignatureJob]]:
    size = max(1, -(-len(jobs) // parts))
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


class ThreadExecutor:
    """Checks in a thread pool: one chunk of the block per worker."""

    def __init__(self, bundle: ChannelBundle, workers: int | None = None) -> None:
        self._checker = SignatureChecker(bundle)
        self._workers = workers or os.cpu_count() or 1
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self._workers, thread_name_prefix="validate"
        )

    def check_all(self, jobs: Sequence[SignatureJob]) -> list[int]:
        codes: list[int] = []
        for part in self._pool.map(self._checker.check_all, _chunks(jobs, self._workers)):
            codes.extend(part)
        return codes

    def close(self) -> None:
        self._pool.shutdown(wait=True)


_worker_checker: SignatureChecker | None = None


def _init_worker(config_bytes: bytes) -> None:
    global _worker_checker
    config = ChannelConfig.from_proto(config_pb2.ChannelConfig.FromString(config_bytes))
    _worker_checker = SignatureChecker(ChannelBundle(config))


def _check_chunk(jobs: Sequence[SignatureJob]) -> list[int]:
    if _worker_checker is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("validator worker was not initialised")
    return _worker_checker.check_all(jobs)


class ProcessExecutor:
    """Checks in worker processes, each holding its own bundle (and identity cache)
    rebuilt from the channel config. A config change needs a new executor."""

    def __init__(self, config: config_pb2.ChannelConfig, workers: int | None = None) -> None:
        self._workers = workers or os.cpu_count() or 1
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self._workers,
            # Not fork: the peer process runs gRPC threads, which must not be forked.
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_init_worker,
            initargs=(config.SerializeToString(deterministic=True),),
        )

    def check_all(self, jobs: Sequence[SignatureJob]) -> list[int]:
        codes: list[int] = []
        for part in self._pool.map(_check_chunk, _chunks(jobs, self._workers * 2)):
            codes.extend(part)
        return codes

    def close(self) -> None:
        self._pool.shutdown(wait=True)
