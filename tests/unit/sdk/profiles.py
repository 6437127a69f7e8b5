"""Connection profiles on disk for tests (the format of `client/profile.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from common import crypto
from tests.unit.sdk.fakes import USER


def write_msp(folder: Path) -> Path:
    msp = folder / "msp"
    (msp / "signcerts").mkdir(parents=True)
    (msp / "keystore").mkdir()
    (msp / "signcerts" / "cert.pem").write_bytes(
        crypto.certificate_to_pem(USER.identity.certificate)
    )
    (msp / "keystore" / "priv_sk").write_bytes(crypto.private_key_to_pem(USER.private_key))
    return msp


def profile_document(target: str) -> dict[str, Any]:
    return {
        "name": "test",
        "organizations": {
            "core": {
                "mspid": "CoreMSP",
                "peers": ["peer0.core"],
                "users": {"User1": {"msp_dir": "users/User1/msp"}},
            },
            "supplier1": {
                "mspid": "Supplier1MSP",
                "gatewayPeers": ["peer0.core"],
                "users": {"User1": {"msp_dir": "users/User1/msp"}},
            },
        },
        "peers": {"peer0.core": {"url": f"grpc://{target}"}},
        "channels": {"trade": {}},
    }


def write_profile(folder: Path, target: str, document: dict[str, Any] | None = None) -> Path:
    if not (folder / "users" / "User1" / "msp").exists():
        write_msp(folder / "users" / "User1")
    path = folder / "connection.yaml"
    path.write_text(yaml.safe_dump(document or profile_document(target)))
    return path
