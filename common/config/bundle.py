"""A channel's configuration together with the MSPs and policies it defines.

Like Fabric's `channelconfig.Bundle`: the one object every stage asks "is this
identity a member?", "does this signed request satisfy the channel's Writers
policy?" or "which endorsement policy does chaincode X have?". Built once per
config block; a config change builds a new bundle (and so a fresh identity cache).

Channel policies name implicit-meta rules over the orgs' own policies:
`Readers`, `Writers` and `Admins` range over the application orgs,
`BlockValidation` over the orderer orgs (who sign blocks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from common.config.channel import BLOCK_VALIDATION, ChannelConfig, ChannelConfigError
from common.msp import MSP, Identity, MspConfig, MspId, MSPManager, utc_now
from common.policies import (
    BoundImplicitMeta,
    EvaluationResult,
    ImplicitMetaPolicy,
    OutcomeCache,
    Policy,
    PolicyNotSatisfiedError,
    SignedData,
)


class ChannelBundle:
    """Config + MSP manager + policy evaluation for one channel. Thread-safe."""

    def __init__(self, config: ChannelConfig, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.msp_manager = MSPManager(
            [
                MSP(
                    MspConfig(
                        mspid=MspId(org.mspid),
                        root_certs=org.root_certs,
                        intermediate_certs=org.intermediate_certs,
                        crls=org.crls,
                        tls_root_certs=org.tls_root_certs,
                        node_ous=org.node_ous_enabled,
                    )
                )
                for org in config.orgs
            ],
            clock=clock,
        )
        self._consenter_identities = {c.identity: c for c in config.consenters}
        # Per config sequence (this bundle): bound policies built once, so that the
        # outcome cache (keyed by policy object) sees one object per policy.
        self._bound: dict[str, Policy | BoundImplicitMeta] = {}
        self._bound_endorsement: dict[str, Policy | BoundImplicitMeta] = {}
        self.outcomes = OutcomeCache(self.msp_manager)

    @property
    def channel_id(self) -> str:
        return self.config.channel_id

    def deserialize_identity(self, serialized: bytes) -> Identity:
        """A validated member identity; raises a named `MspError` otherwise."""
        return self.msp_manager.deserialize_identity(serialized)

    def bound_policy(self, name: str) -> Policy | BoundImplicitMeta:
        """Channel policy `name`, with implicit-meta rules bound to the orgs' policies
        (built once per bundle; the same object every call)."""
        bound = self._bound.get(name)
        if bound is None:
            policy = self.config.policy(name)
            if isinstance(policy, ImplicitMetaPolicy):
                orderer = name == BLOCK_VALIDATION
                subs = self.config.org_sub_policies(policy.sub_policy, orderer=orderer)
                bound = BoundImplicitMeta(policy, subs)
            else:
                bound = policy
            bound = self._bound.setdefault(name, bound)
        return bound

    def evaluate(self, name: str, signed_data: Sequence[SignedData]) -> EvaluationResult:
        """Does `signed_data` satisfy channel policy `name`? Never raises for bad
        signatures (they are dropped and reported in the result). Every relevant
        signature is verified; the policy-tree walk is cached (`OutcomeCache`)."""
        return self.outcomes.evaluate(self.bound_policy(name), signed_data)

    def evaluate_policy(
        self, policy: Policy | BoundImplicitMeta, signed_data: Sequence[SignedData]
    ) -> EvaluationResult:
        """`policy` (e.g. a bound endorsement policy of this bundle) over
        `signed_data`, through the bundle's outcome cache."""
        return self.outcomes.evaluate(policy, signed_data)

    def evaluate_or_raise(self, name: str, signed_data: Sequence[SignedData]) -> None:
        """Raise `POLICY_NOT_SATISFIED` unless channel policy `name` is satisfied."""
        result = self.evaluate(name, signed_data)
        if not result.satisfied:
            raise PolicyNotSatisfiedError(result)

    def evaluate_verified(self, name: str, identity: Identity) -> EvaluationResult:
        """Channel policy `name` for one identity whose signature the caller has
        already verified over the exact request bytes: the evaluator does not verify
        it a second time (signature checks are the hot path's main cost), and the
        outcome is cached per (policy, MSP id, role) for this bundle."""
        return self.outcomes.evaluate_verified(self.bound_policy(name), identity)

    def bound_endorsement_policy(self, chaincode: str) -> Policy | BoundImplicitMeta:
        """The chaincode's endorsement policy, implicit-meta rules bound to the
        application orgs' policies (built once per bundle)."""
        bound = self._bound_endorsement.get(chaincode)
        if bound is None:
            policy = self.endorsement_policy(chaincode)
            if isinstance(policy, ImplicitMetaPolicy):
                subs = self.config.org_sub_policies(policy.sub_policy)
                bound = BoundImplicitMeta(policy, subs)
            else:
                bound = policy
            bound = self._bound_endorsement.setdefault(chaincode, bound)
        return bound

    def endorsement_policy(self, chaincode: str) -> Policy:
        definition = self.config.chaincode(chaincode)
        if definition is None:
            raise ChannelConfigError(
                f"chaincode {chaincode!r} is not defined on channel {self.channel_id}",
                code="CHAINCODE_NOT_FOUND",
            )
        return definition.endorsement_policy

    def is_consenter(self, serialized_identity: bytes) -> bool:
        """Is this the identity of one of the channel's consenters?"""
        return serialized_identity in self._consenter_identities
