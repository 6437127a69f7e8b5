"""The one error a contract raises: a named business rejection.

A contract that raises `ChaincodeError` makes the endorser return an error
response (status 500 with the code and message); nothing is ordered and the
ledger is unchanged. Any other exception is a contract bug and is reported as
`CHAINCODE_FAILURE` without leaking internals. Standard library only, so that
`chaincode/contracts/` may import it.
"""

from __future__ import annotations


class ChaincodeError(Exception):
    """A rejection with a DOMAIN error code such as `INSUFFICIENT_AMOUNT`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
