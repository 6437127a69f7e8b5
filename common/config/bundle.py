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
from common.msp import MSP, Identity, MspConfig, MspError, MspId, MSPManager, utc_now
from common.policies import (
    BoundImplicitMeta,
    EvaluationResult,
    ImplicitMetaPolicy,
    Policy,
    SignedData,
    evaluate,
    evaluate_or_raise,
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

    @property
    def channel_id(self) -> str:
        return self.config.channel_id

    def deserialize_identity(self, serialized: bytes) -> Identity:
        """A validated member identity; raises a named `MspError` otherwise."""
        return self.msp_manager.deserialize_identity(serialized)

    def bound_policy(self, name: str) -> Policy | BoundImplicitMeta:
        """Channel policy `name`, with implicit-meta rules bound to the orgs' policies."""
        policy = self.config.policy(name)
        if isinstance(policy, ImplicitMetaPolicy):
            orderer = name == BLOCK_VALIDATION
            subs = self.config.org_sub_policies(policy.sub_policy, orderer=orderer)
            return BoundImplicitMeta(policy, subs)
        return policy

    def evaluate(self, name: str, signed_data: Sequence[SignedData]) -> EvaluationResult:
        """Does `signed_data` satisfy channel policy `name`? Never raises for bad
        signatures (they are dropped and reported in the result)."""
        return evaluate(self.bound_policy(name), signed_data, self.msp_manager)

    def evaluate_or_raise(self, name: str, signed_data: Sequence[SignedData]) -> None:
        """Raise `POLICY_NOT_SATISFIED` unless channel policy `name` is satisfied."""
        evaluate_or_raise(self.bound_policy(name), signed_data, self.msp_manager)

    def evaluate_verified(self, name: str, identity: Identity) -> EvaluationResult:
        """Channel policy `name` for one identity whose signature the caller has
        already verified over the exact request bytes: the evaluator does not verify
        it a second time (signature checks are the hot path's main cost)."""
        verified = _VerifiedIdentity(identity)
        return evaluate(
            self.bound_policy(name), [SignedData(identity.serialized, b"", b"")], verified
        )

    def bound_endorsement_policy(self, chaincode: str) -> Policy | BoundImplicitMeta:
        """The chaincode's endorsement policy, implicit-meta rules bound to the
        application orgs' policies."""
        policy = self.endorsement_policy(chaincode)
        if isinstance(policy, ImplicitMetaPolicy):
            return BoundImplicitMeta(policy, self.config.org_sub_policies(policy.sub_policy))
        return policy

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


class _VerifiedIdentity:
    """An identity as its own deserializer, with verification already done."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    @property
    def mspid(self) -> str:
        return self._identity.mspid

    @property
    def role(self) -> str:
        return str(self._identity.role)

    @property
    def serialized(self) -> bytes:
        return self._identity.serialized

    def verify(self, data: bytes, signature: bytes) -> None:
        """Verified by the caller over the exact bytes it received."""

    def deserialize_identity(self, serialized: bytes) -> _VerifiedIdentity:
        if serialized != self._identity.serialized:
            raise MspError("not the verified identity", code="UNKNOWN_IDENTITY")
        return self
