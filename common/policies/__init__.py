"""Policies: Fabric signature policies and implicit-meta policies, one evaluator.

    policy = PolicyCache(channel_msp_ids).get("OutOf(2, 'A.peer', 'B.peer', 'C.peer')")
    evaluate_or_raise(policy, signed_data, msp_manager)   # POLICY_NOT_SATISFIED

See `parser` for the grammar and `evaluator` for the semantics.
"""

from common.policies.cache import PolicyCache, compile_policy
from common.policies.errors import (
    PolicyError,
    PolicyNotSatisfiedError,
    PolicySyntaxError,
    PolicyThresholdError,
    UnknownOrgError,
    UnresolvedPolicyError,
)
from common.policies.evaluator import (
    BoundImplicitMeta,
    Evaluable,
    EvaluationResult,
    Identity,
    IdentityDeserializer,
    Rejection,
    SignedData,
    evaluate,
    evaluate_or_raise,
)
from common.policies.model import (
    ImplicitMetaPolicy,
    MetaRule,
    NOutOf,
    Policy,
    Principal,
    Role,
    SignaturePolicy,
    SignedBy,
    and_,
    or_,
    out_of,
    principals,
    signed_by,
)
from common.policies.outcome import OutcomeCache, policy_principals
from common.policies.parser import parse_implicit_meta, parse_policy, parse_signature_policy

__all__ = [
    "BoundImplicitMeta",
    "Evaluable",
    "EvaluationResult",
    "Identity",
    "IdentityDeserializer",
    "ImplicitMetaPolicy",
    "MetaRule",
    "NOutOf",
    "OutcomeCache",
    "Policy",
    "PolicyCache",
    "PolicyError",
    "PolicyNotSatisfiedError",
    "PolicySyntaxError",
    "PolicyThresholdError",
    "Principal",
    "Rejection",
    "Role",
    "SignaturePolicy",
    "SignedBy",
    "SignedData",
    "UnknownOrgError",
    "UnresolvedPolicyError",
    "and_",
    "compile_policy",
    "evaluate",
    "evaluate_or_raise",
    "or_",
    "out_of",
    "parse_implicit_meta",
    "parse_policy",
    "parse_signature_policy",
    "policy_principals",
    "principals",
    "signed_by",
]
