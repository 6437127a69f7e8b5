"""Parse once, evaluate many times: policy text is parsed on config load, and the hot
path (every Broadcast, Deliver, proposal and validated transaction) looks it up."""

from __future__ import annotations

import functools
from collections.abc import Collection

from common.policies.errors import PolicySyntaxError
from common.policies.model import ImplicitMetaPolicy, Policy, SignaturePolicy
from common.policies.parser import parse_policy

CACHE_SIZE = 4096


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parse(text: str, known_msps: frozenset[str] | None) -> Policy:
    return parse_policy(text, known_msps)


def compile_policy(text: str, known_msps: Collection[str] | None = None) -> Policy:
    """`parse_policy` memoised on (text, known MSP ids). Parse errors are not cached
    (they propagate each time); ASTs are immutable, so sharing them is safe."""
    return _parse(text, None if known_msps is None else frozenset(known_msps))


class PolicyCache:
    """Compiled policies of one channel: parses with the channel's MSP ids so that an
    unknown org is rejected (`POLICY_UNKNOWN_ORG`)."""

    def __init__(self, known_msps: Collection[str] | None = None) -> None:
        self._known = None if known_msps is None else frozenset(known_msps)

    @property
    def known_msps(self) -> frozenset[str] | None:
        return self._known

    def get(self, text: str) -> Policy:
        """Either kind of policy (see `parse_policy`)."""
        return _parse(text, self._known)

    def signature(self, text: str) -> SignaturePolicy:
        """A signature policy; implicit-meta text is a `POLICY_SYNTAX` error here."""
        policy = _parse(text, self._known)
        if isinstance(policy, ImplicitMetaPolicy):
            raise PolicySyntaxError(
                text,
                len(text) - len(text.lstrip()),
                "a signature policy (AND, OR, OutOf or a quoted principal)",
                repr(str(policy)),
            )
        return policy
