"""The regulator console page (`client.regulator_console`) over a real in-process
Regulator service: exposure, alerts with evidence and the lineage tree are in the
HTML, and a refused call shows its status instead of the section."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from client.regulator import RegulatorClient
from client.regulator_console import render_page
from tests.regulator_console.story import FACE, console


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


def test_page_shows_exposure_alerts_and_the_lineage_tree(tmp_path: Path) -> None:
    with console(tmp_path) as c:
        page = get(f"{c.url}/?voucher=V1-2-1")
        assert get(f"{c.url}/healthz") == "ok\n"
    # Exposure of CoreMSP: V1 (1,000,000.00) + C1 (100,000.00) + D1 (50,000.00) live,
    # of which V1-2-1 (150,000.00) financed.
    row = re.search(r"<tr class='issuer' data-issuer='CoreMSP'>(.*?)</tr>", page)
    assert row is not None
    assert "<td class='live'>1,150,000.00</td>" in row.group(1)
    assert "<td class='financed'>150,000.00</td>" in row.group(1)
    # Alerts with their evidence.
    assert "data-rule='CIRCULAR_TRANSFER'" in page
    assert "data-rule='TRADE_DOC_REUSE'" in page
    for name in ("c_issue", "c1", "c2", "c3", "dup", "issue"):
        assert c.tx[name] in page
    # The whole tree of V1, asked for by a leaf, with the totals.
    ids = re.findall(r"<g class='voucher' data-id='([^']+)' data-amount='(\d+)'>", page)
    assert {i for i, _ in ids} == {"V1", "V1-1", "V1-2", "V1-2-1", "V1-2-2"}
    leaves = {"V1-1": 60_000_000, "V1-2-1": 15_000_000, "V1-2-2": 25_000_000}
    assert {i: int(a) for i, a in ids if i in leaves} == leaves
    assert sum(leaves.values()) == FACE
    assert "leaves sum <b>1,000,000.00</b> <span class='ok'>balanced</span>" in page
    assert page.count("<path d=") == 4  # V1→V1-1, V1→V1-2, V1-2→V1-2-1, V1-2→V1-2-2
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing external


def test_a_refused_identity_sees_the_status_not_the_data(tmp_path: Path) -> None:
    with console(tmp_path) as c:
        channel = c.client._channel
        stranger = RegulatorClient(channel, c.net.ids["bank"])
        page = render_page(stranger, "trade", "V1")
    assert page.count("PERMISSION_DENIED") == 4
    assert "the regulator service answers regulator identities only" in page
    assert "data-issuer" not in page
    assert "<g class='voucher'" not in page
