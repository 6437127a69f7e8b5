"""Parse policy text as Fabric writes it.

Signature policies (Fabric's policydsl)::

    policy    := call | principal
    call      := ("AND" | "OR") "(" rule ("," rule)* ")"
               | "OutOf" "(" INT "," rule ("," rule)* ")"
    rule      := call | principal
    principal := "'" MSPID "." ROLE "'"  |  '"' MSPID "." ROLE '"'

Function names are accepted as Fabric accepts them (`AND`/`and`, `OR`/`or`,
`OutOf`/`outof`); whitespace between tokens is free, none is allowed inside quotes.
A bare principal is accepted at the top level (Fabric rejects it) so that every AST,
including a single `SignedBy`, renders to text that parses back to itself.

Implicit-meta policies: `ANY|ALL|MAJORITY <SubPolicy>`, e.g. `MAJORITY Admins`.

Every failure is a named error with a 0-based position: `POLICY_SYNTAX`,
`POLICY_THRESHOLD` (OutOf with n outside 1..len(rules)) or `POLICY_UNKNOWN_ORG` (when
`known_msps` is given and a principal names another MSP id).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from common.policies.errors import PolicySyntaxError, PolicyThresholdError, UnknownOrgError
from common.policies.model import (
    MSPID_PATTERN,
    ImplicitMetaPolicy,
    MetaRule,
    NOutOf,
    Policy,
    Principal,
    Role,
    SignaturePolicy,
    SignedBy,
)

# Deep enough for any real policy; stops a hostile config from exhausting the stack.
MAX_DEPTH = 32

_FUNCS = {"AND": "AND", "and": "AND", "OR": "OR", "or": "OR", "OutOf": "OutOf", "outof": "OutOf"}
_PRINCIPAL_RE = re.compile(
    r"(" + MSPID_PATTERN + r")\.(" + "|".join(r.value for r in Role) + r")\Z"
)
_PRINCIPAL_EXPECTED = "'<MSPID>.<role>' with role member, admin, client, peer or orderer"
_RULE_EXPECTED = "AND(, OR(, OutOf( or a quoted principal"


@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "int", "str", "(", ")", ",", "other", "end"
    value: str
    pos: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of text"
        if self.kind == "str":
            return repr(self.value)
        return f"{self.value!r}"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                raise PolicySyntaxError(text, len(text), f"closing {ch} for the quote at {i}")
            tokens.append(_Token("str", text[i + 1 : end], i))
            i = end + 1
        elif ch.isascii() and ch.isdigit():
            j = i
            while j < len(text) and text[j].isascii() and text[j].isdigit():
                j += 1
            tokens.append(_Token("int", text[i:j], i))
            i = j
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < len(text) and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(_Token("name", text[i:j], i))
            i = j
        else:
            # Not a token of the grammar: the parser reports what it expected here.
            tokens.append(_Token("other", ch, i))
            i += 1
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, known_msps: frozenset[str] | None) -> None:
        self.text = text
        self.known = known_msps
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def fail(self, tok: _Token, expected: str) -> PolicySyntaxError:
        return PolicySyntaxError(self.text, tok.pos, expected, tok.describe())

    def expect(self, kind: str, expected: str) -> _Token:
        tok = self.take()
        if tok.kind != kind:
            raise self.fail(tok, expected)
        return tok

    def parse_top(self) -> SignaturePolicy:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), _RULE_EXPECTED)
        rule = self.parse_rule(0)
        end = self.peek()
        if end.kind != "end":
            raise self.fail(end, "end of text")
        return rule

    def parse_rule(self, depth: int) -> SignaturePolicy:
        tok = self.take()
        if tok.kind == "str":
            return SignedBy(self.principal(tok))
        if tok.kind == "name" and tok.value in _FUNCS:
            if depth >= MAX_DEPTH:
                raise PolicySyntaxError(
                    self.text, tok.pos, f"at most {MAX_DEPTH} levels of nesting"
                )
            return self.parse_call(_FUNCS[tok.value], depth)
        raise self.fail(tok, _RULE_EXPECTED)

    def parse_call(self, func: str, depth: int) -> NOutOf:
        self.expect("(", "'('")
        n_tok: _Token | None = None
        if func == "OutOf":
            n_tok = self.expect("int", "a non-negative integer threshold")
            self.expect(",", "','")
        rules = [self.parse_rule(depth + 1)]
        while True:
            tok = self.take()
            if tok.kind == ")":
                break
            if tok.kind != ",":
                raise self.fail(tok, "',' or ')'")
            rules.append(self.parse_rule(depth + 1))
        if n_tok is None:
            n = len(rules) if func == "AND" else 1
        else:
            n = int(n_tok.value)
            if not 1 <= n <= len(rules):
                raise PolicyThresholdError(
                    self.text, n_tok.pos, f"a threshold between 1 and {len(rules)}", n_tok.value
                )
        return NOutOf(n, tuple(rules))

    def principal(self, tok: _Token) -> Principal:
        match = _PRINCIPAL_RE.match(tok.value)
        if match is None:
            raise self.fail(tok, _PRINCIPAL_EXPECTED)
        mspid = match.group(1)
        if self.known is not None and mspid not in self.known:
            raise UnknownOrgError(self.text, tok.pos, mspid, self.known)
        return Principal(mspid, Role(match.group(2)))


def _known(known_msps: Collection[str] | None) -> frozenset[str] | None:
    return None if known_msps is None else frozenset(known_msps)


def parse_signature_policy(text: str, known_msps: Collection[str] | None = None) -> SignaturePolicy:
    """Parse Fabric signature-policy text, e.g. `OutOf(2, 'A.peer', 'B.peer', 'C.peer')`.

    When `known_msps` is given, a principal naming any other MSP id raises
    `UnknownOrgError` (`POLICY_UNKNOWN_ORG`).
    """
    return _Parser(text, _known(known_msps)).parse_top()


def parse_implicit_meta(text: str) -> ImplicitMetaPolicy:
    """Parse `ANY|ALL|MAJORITY <SubPolicy>` (rule in capitals, as Fabric requires)."""
    words = list(re.finditer(r"\S+", text))
    if not words:
        raise PolicySyntaxError(text, len(text), "ANY, ALL or MAJORITY", "end of text")
    try:
        rule = MetaRule(words[0].group())
    except ValueError:
        raise PolicySyntaxError(
            text, words[0].start(), "ANY, ALL or MAJORITY", repr(words[0].group())
        ) from None
    if len(words) == 1:
        raise PolicySyntaxError(text, len(text), "a sub-policy name such as Readers", "end of text")
    if len(words) > 2:
        raise PolicySyntaxError(text, words[2].start(), "end of text", repr(words[2].group()))
    try:
        return ImplicitMetaPolicy(rule, words[1].group())
    except PolicySyntaxError as err:
        raise PolicySyntaxError(text, words[1].start(), err.expected, err.found) from None


def parse_policy(text: str, known_msps: Collection[str] | None = None) -> Policy:
    """Parse either kind: text whose first word is ANY, ALL or MAJORITY is implicit-meta.

    In a channel config the kind is explicit (`Type: ImplicitMeta | Signature`); callers
    that know it should use `parse_implicit_meta` / `parse_signature_policy` directly.
    """
    first = text.split(None, 1)[0] if text.strip() else ""
    if first in MetaRule.__members__:
        return parse_implicit_meta(text)
    return parse_signature_policy(text, known_msps)
