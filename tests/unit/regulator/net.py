"""A one-channel network for regulator tests: real orgs and certificates, the
receivable and warehouse contracts endorsed by a real endorser, blocks ordered
and signed by a real orderer identity and committed by a real `Committer` over a
`LevelLedger`, with the regulator's `IndicatorListener` attached.

Each `run` is one transaction in its own block (the endorser simulates over
committed state, so a later call sees the earlier one's effects).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import block as blk
from common import txutil
from common.config.bundle import ChannelBundle
from common.config.channel import ChannelConfig
from common.config.genesis import genesis_block
from common.msp import SigningIdentity
from peer.chaincodes import builtin_registry
from peer.committer import Committer
from peer.deliver import BlockNotifier
from peer.endorser.endorser import ChannelSupport, Endorser
from peer.ledger import LevelLedger, open_channel_ledger
from peer.regulator.detectors import DetectorConfig
from peer.regulator.indicators import IndicatorListener
from peer.regulator.store import IndicatorStore
from peer.regulator.watch import WatchHub
from protos.common import common_pb2
from tests.support.consortium import TestOrg, channel_config, make_org

CHANNEL = "trade"
T0 = 1_750_000_000  # 2025-06-15 23:06:40 in Asia/Shanghai
DAY = 86_400
POLICY = "OR('CoreMSP.peer')"


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def day(offset: int) -> str:
    """The platform date `offset` days after T0's business date."""
    base = dt.datetime.fromtimestamp(T0, tz=dt.timezone(dt.timedelta(hours=8))).date()
    return (base + dt.timedelta(days=offset)).isoformat()


def underlying(label: str, **changes: Any) -> dict[str, Any]:
    docs: dict[str, Any] = {
        "contract_no": f"C-{label}",
        "contract_hash": sha(f"contract {label}"),
        "invoice_nos": [f"INV-{label}"],
        "invoice_hashes": [sha(f"invoice {label}")],
        "delivery_date": day(5),
    }
    docs.update(changes)
    return docs


@dataclass
class Net:
    path: Path
    config: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        orgs = {
            "core": make_org("CoreMSP", "core"),
            "s1": make_org("Supplier1MSP", "supplier"),
            "s2": make_org("Supplier2MSP", "supplier"),
            "s3": make_org("Supplier3MSP", "supplier"),
            "bank": make_org("BankMSP", "bank"),
            "bank2": make_org("Bank2MSP", "bank"),
            "warehouse": make_org("WarehouseMSP", "warehouse"),
            "regulator": make_org("RegulatorMSP", "regulator"),
        }
        self.orgs: dict[str, TestOrg] = orgs
        orderer_org = make_org("OrdererMSP", "orderer")
        self.orderer = orderer_org.member("orderer0", "orderer")
        proto = channel_config(
            CHANNEL,
            list(orgs.values()),
            orderer_org,
            [self.orderer],
            chaincodes={"receivable": POLICY, "warehouse": POLICY},
            read_only=["RegulatorMSP"],
        )
        self.bundle = ChannelBundle(ChannelConfig.from_proto(proto))
        self.ids: dict[str, SigningIdentity] = {
            name: org.member(f"{name}-client", "client") for name, org in orgs.items()
        }
        self.ids["appraiser"] = orgs["bank"].member("appraiser", "client", {"role": "appraiser"})
        self.ledger: LevelLedger = open_channel_ledger(self.path / "ledgers", CHANNEL)
        self.store = IndicatorStore.open(self.path / "regulator.db")
        self.hub = WatchHub()
        self.listener = IndicatorListener(
            CHANNEL, self.ledger, self.store, config=self.config, sink=self.hub
        )
        self.committer = Committer(self.ledger, self.bundle, listeners=[self.listener])
        self.endorser = Endorser(
            orgs["core"].member("peer0", "peer"),
            builtin_registry(),
            {CHANNEL: ChannelSupport(self.bundle, self.ledger, BlockNotifier(self.ledger))},
        )
        self._requests = itertools.count(1)
        self.committer.commit_block(genesis_block(proto))

    def close(self) -> None:
        self.committer.close()
        self.store.close()
        self.ledger.close()

    def endorse(
        self, who: str, chaincode: str, fn: str, args: Mapping[str, Any], ts: int
    ) -> tuple[bytes, str, Any]:
        """(envelope, tx id, decoded result) of one endorsed transaction."""
        body = dict(args)
        body.setdefault("request_id", f"req-{next(self._requests)}")
        signer = self.ids[who]
        proposal, _ = txutil.build_proposal(
            CHANNEL,
            chaincode,
            [fn.encode(), json.dumps(body).encode()],
            signer.serialize(),
            timestamp=(ts, 0),
        )
        signed = txutil.sign_proposal(proposal, signer)
        parsed = txutil.parse_signed_proposal(signed)
        response = self.endorser.process_proposal(signed)
        if response.response.status != 200:
            raise AssertionError(f"{fn} refused: {response.response.message}")
        envelope = txutil.assemble_transaction(parsed, [response], signer)
        payload = response.response.payload
        return envelope.SerializeToString(), parsed.tx_id, json.loads(payload) if payload else None

    def commit(self, entries: list[bytes]) -> common_pb2.Block:
        height = self.ledger.height()
        previous = self.ledger.block(height - 1)
        assert previous is not None
        block = blk.new_block(height, blk.header_hash(previous.header), entries)
        blk.sign_block(block, self.orderer, last_config=0, nonce=b"n" * 24)
        self.committer.commit_block(block)
        return block

    def run(
        self, who: str, chaincode: str, fn: str, args: Mapping[str, Any], ts: int = T0
    ) -> tuple[str, Any]:
        envelope, tx_id, result = self.endorse(who, chaincode, fn, args, ts)
        self.commit([envelope])
        location = self.ledger.tx_location(tx_id)
        assert location is not None
        assert location.validation_code == 0, location
        return tx_id, result

    # --- receivable shortcuts -------------------------------------------------------

    def issue(
        self,
        voucher_id: str,
        amount: int,
        *,
        payee: str = "Supplier1MSP",
        days: int = 90,
        currency: str = "CNY",
        ts: int = T0,
        accept: bool = True,
        docs: dict[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        args = {
            "voucher_id": voucher_id,
            "payee": payee,
            "amount": amount,
            "currency": currency,
            "maturity_date": day(days),
            "underlying": docs or underlying(voucher_id),
            **extra,
        }
        tx_id, _ = self.run("core", "receivable", "IssueVoucher", args, ts)
        if accept:
            who = {"Supplier1MSP": "s1", "Supplier2MSP": "s2", "Supplier3MSP": "s3"}[payee]
            self.run(who, "receivable", "AcceptVoucher", {"voucher_id": voucher_id}, ts)
        return tx_id

    # --- warehouse shortcuts ----------------------------------------------------------

    def receipt(self, quantity: int = 10_000, *, site: str = "SH01", ts: int = T0) -> str:
        """A site, an attestation and one ACTIVE receipt of copper held by Supplier1."""
        if self.ledger.get_state("warehouse", f"\x00site\x00{site}\x00") is None:
            self.run(
                "warehouse",
                "warehouse",
                "RegisterSite",
                {"warehouse_id": site, "country": "CN", "is_overseas": False, "location": site},
                ts,
            )
            self.attest(quantity * 3, site=site, ts=ts)
        lot = f"L{next(self._requests)}"
        _, receipt = self.run(
            "warehouse",
            "warehouse",
            "IssueReceipt",
            {
                "warehouse_id": site,
                "depositor": "Supplier1MSP",
                "goods": {
                    "sku": "CU-A",
                    "description": "cathode copper",
                    "quality_grade": "A",
                    "unit": "kg",
                    "quantity": quantity,
                    "packing": "bundles",
                    "pieces": 4,
                    "marks": "CU",
                    "lot_ids": [lot],
                },
                "loss_standard_ppm": 100,
                "storage_start": day(-10),
                "storage_end": day(300),
                "storage_fee": {"amount": 500_000, "currency": "CNY"},
                "insurance": {
                    "insurer": "PICC",
                    "insured_value": 10_000_000_000,
                    "currency": "CNY",
                    "period_end": day(400),
                },
            },
            ts,
        )
        return str(receipt["receipt_id"])

    def attest(self, quantity: int, *, site: str = "SH01", ts: int = T0) -> str:
        tx_id, _ = self.run(
            "warehouse",
            "warehouse",
            "AttestInventory",
            {
                "warehouse_id": site,
                "sku": "CU-A",
                "unit": "kg",
                "quantity": quantity,
                "method": "STOCKTAKE",
            },
            ts,
        )
        return tx_id

    def value(self, receipt_id: str, unit_price: int, ts: int = T0) -> str:
        tx_id, _ = self.run(
            "appraiser",
            "warehouse",
            "UpdateValuation",
            {
                "receipt_id": receipt_id,
                "unit_price": unit_price,
                "price_unit_quantity": 1000,
                "currency": "CNY",
                "haircut_bps": 0,
            },
            ts,
        )
        return tx_id

    def pledge(
        self, receipt_id: str, principal: int, loan_id: str, bank: str = "BankMSP", ts: int = T0
    ) -> str:
        tx_id, _ = self.run(
            "s1",
            "warehouse",
            "PledgeReceipt",
            {
                "receipt_id": receipt_id,
                "bank": bank,
                "loan_id": loan_id,
                "principal": principal,
                "currency": "CNY",
                "maturity_date": day(120),
                "registration_ref": f"CRC-{receipt_id}-{loan_id}",
            },
            ts,
        )
        return tx_id
