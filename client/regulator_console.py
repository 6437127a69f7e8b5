"""`scf regulator console`: a local web page over the regulator service (issue 7 item 6).

`ConsoleServer(client)` serves, on 127.0.0.1 only, `GET /` (optionally
`?channel=C&voucher=ID`): one self-contained HTML page — inline CSS and SVG, no
script and nothing fetched from elsewhere — with

* the exposure table per core enterprise (live, financed, pending face, leaves,
  live face per maturity bucket);
* the alerts with their evidence txids;
* the lineage of `voucher` drawn as a tree (SVG: one box per voucher with holder,
  amount and status; edges parent → child) with its face / leaf totals.

Every figure is fetched at request time through the signed `RegulatorClient`, so the
page shows exactly what the service answers; a failing call is shown in the page
(with its status) instead of the section. `GET /healthz` answers "ok".
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from client.regulator import LineageNode, RegulatorClient, RegulatorError, lineage_tree
from protos.scf import regulator_pb2

__all__ = ["ConsoleServer", "render_page"]

_CSS = """
body{font-family:sans-serif;margin:24px;color:#1b2a3a;background:#f7f9fb}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:22px 0 8px}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #c9d3dd;padding:4px 8px;text-align:right}
th{background:#274b6d;color:#fff} td.l,th.l{text-align:left}
.err{color:#a11;font-weight:bold} .ok{color:#176b2c;font-weight:bold}
.muted{color:#6b7b8c;font-size:12px} svg{background:#fff;border:1px solid #c9d3dd}
"""


def _money(amount: int) -> str:
    return f"{amount / 100:,.2f}"


def _e(text: object) -> str:
    return html.escape(str(text))


def _exposure(rows: list[regulator_pb2.IssuerExposure]) -> str:
    if not rows:
        return "<p class='muted'>no live vouchers</p>"
    labels = [b.label for b in rows[0].buckets]
    head = "".join(f"<th>{_e(x)}</th>" for x in labels)
    out = [
        "<table id='exposure'><tr><th class='l'>channel</th><th class='l'>issuer</th>"
        f"<th class='l'>ccy</th><th>live face</th><th>financed</th><th>pending</th>"
        f"<th>leaves</th>{head}</tr>"
    ]
    for r in rows:
        buckets = "".join(f"<td>{_money(b.live_face)}</td>" for b in r.buckets)
        out.append(
            f"<tr class='issuer' data-issuer='{_e(r.issuer)}'><td class='l'>{_e(r.channel)}</td>"
            f"<td class='l'>{_e(r.issuer)}</td><td class='l'>{_e(r.currency)}</td>"
            f"<td class='live'>{_money(r.live_face)}</td>"
            f"<td class='financed'>{_money(r.financed_face)}</td>"
            f"<td>{_money(r.pending_face)}</td><td>{r.leaves}</td>{buckets}</tr>"
        )
    out.append(f"</table><p class='muted'>as of {_e(rows[0].as_of)}; major units</p>")
    return "".join(out)


def _alerts(rows: list[regulator_pb2.Alert]) -> str:
    if not rows:
        return "<p class='muted'>no alerts</p>"
    out = [
        "<table id='alerts'><tr><th class='l'>channel</th><th>#</th><th class='l'>rule</th>"
        "<th class='l'>subject</th><th>block</th><th class='l'>evidence txids</th></tr>"
    ]
    for a in rows:
        evidence = "<br>".join(_e(t) for t in a.evidence_tx_ids)
        out.append(
            f"<tr class='alert' data-rule='{_e(a.rule)}'><td class='l'>{_e(a.channel)}</td>"
            f"<td>{a.seq}</td><td class='l'>{_e(a.rule)}</td><td class='l'>{_e(a.subject)}</td>"
            f"<td>{a.block_number}</td><td class='l'>{evidence}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


_BOX_W, _BOX_H, _COL, _ROW = 230, 58, 270, 72


def _layout(
    node: LineageNode, depth: int, rows: list[int], at: dict[str, tuple[int, float]]
) -> float:
    """Leaves take consecutive rows; a parent sits at the middle of its children."""
    if not node.children:
        y = float(rows[0])
        rows[0] += 1
    else:
        ys = [_layout(c, depth + 1, rows, at) for c in node.children]
        y = (ys[0] + ys[-1]) / 2
    at[node.node.voucher_id] = (depth, y)
    return y


def _lineage_svg(resp: regulator_pb2.VoucherLineageResponse) -> str:
    root = lineage_tree(resp)
    if root is None:
        return "<p class='err'>empty lineage</p>"
    at: dict[str, tuple[int, float]] = {}
    rows = [0]
    _layout(root, 0, rows, at)
    depth = max(d for d, _ in at.values())
    width = (depth + 1) * _COL + 20
    height = max(rows[0], 1) * _ROW + 20
    parts = [
        f"<svg id='lineage' xmlns='http://www.w3.org/2000/svg' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}'>"
    ]
    for n in resp.nodes:
        if n.parent_id and n.parent_id in at and n.voucher_id in at:
            pd, py = at[n.parent_id]
            cd, cy = at[n.voucher_id]
            x1, y1 = 10 + pd * _COL + _BOX_W, 10 + py * _ROW + _BOX_H / 2
            x2, y2 = 10 + cd * _COL, 10 + cy * _ROW + _BOX_H / 2
            parts.append(
                f"<path d='M{x1},{y1} C{x1 + 20},{y1} {x2 - 20},{y2} {x2},{y2}' "
                "stroke='#6b8bb0' stroke-width='2' fill='none'/>"
            )
    colours = {"SPLIT": "#e3e9f0", "FINANCED": "#fde7c6", "PAID": "#d7f0dc"}
    for n in resp.nodes:
        if n.voucher_id not in at:
            continue
        d, y = at[n.voucher_id]
        x, top = 10 + d * _COL, 10 + y * _ROW
        fill = colours.get(n.status, "#dcecff")
        parts.append(
            f"<g class='voucher' data-id='{_e(n.voucher_id)}' data-amount='{n.amount}'>"
            f"<rect x='{x}' y='{top}' width='{_BOX_W}' height='{_BOX_H}' rx='6' "
            f"fill='{fill}' stroke='#274b6d'/>"
            f"<text x='{x + 8}' y='{top + 18}' font-size='13' font-weight='bold'>"
            f"{_e(n.voucher_id)}</text>"
            f"<text x='{x + 8}' y='{top + 34}' font-size='12'>{_money(n.amount)} "
            f"{_e(n.currency)} · {_e(n.status)}</text>"
            f"<text x='{x + 8}' y='{top + 50}' font-size='11' fill='#445'>holder "
            f"{_e(n.holder)}</text></g>"
        )
    parts.append("</svg>")
    balanced = resp.leaf_total == resp.face_total
    summary = (
        f"<p id='lineage-summary'>root {_e(resp.root_id)}: face "
        f"<b>{_money(resp.face_total)}</b> {_e(resp.currency)}, leaves sum "
        f"<b>{_money(resp.leaf_total)}</b> "
        + (
            "<span class='ok'>balanced</span>"
            if balanced
            else "<span class='err'>UNBALANCED</span>"
        )
        + "</p>"
    )
    return summary + "".join(parts)


def _section(title: str, render: Any) -> str:
    try:
        body = render()
    except RegulatorError as exc:
        body = f"<p class='err'>{_e(exc.message)}</p>"
    return f"<h2>{_e(title)}</h2>{body}"


def render_page(client: RegulatorClient, channel: str, voucher: str | None) -> str:
    """The whole page (module docstring)."""
    heights = _section(
        "Channels",
        lambda: " · ".join(
            f"{_e(c.channel)}: {c.height} blocks (indicators {c.indicator_height})"
            for c in client.channels()
        ),
    )
    exposure = _section("Exposure by core enterprise", lambda: _exposure(client.exposure()))
    alerts = _section("Alerts", lambda: _alerts(client.alerts()))
    form = (
        f"<form method='get'><input type='hidden' name='channel' value='{_e(channel)}'>"
        f"voucher <input name='voucher' value='{_e(voucher or '')}'> "
        "<button>show lineage</button></form>"
    )
    if voucher:
        lineage = _section(
            f"Lineage of {voucher}", lambda: form + _lineage_svg(client.lineage(channel, voucher))
        )
    else:
        lineage = f"<h2>Lineage</h2>{form}"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>scfchain regulator</title>"
        f"<style>{_CSS}</style></head><body><h1>scfchain — regulator console</h1>"
        f"<p class='muted'>read-only; every figure from the signed Regulator service at "
        f"{_e(client.target)}</p>{heights}{exposure}{alerts}{lineage}</body></html>"
    )


class ConsoleServer:
    """The console over HTTP on 127.0.0.1:`port` (0: any free port)."""

    def __init__(self, client: RegulatorClient, *, channel: str = "trade", port: int = 0) -> None:
        self._client = client
        self._channel = channel
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.1,), name="regulator-console", daemon=True
        )
        self._thread.start()

    def wait(self) -> None:
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/healthz":
                    self._reply(200, "text/plain", b"ok\n")
                    return
                if parts.path != "/":
                    self._reply(404, "text/plain", b"not found\n")
                    return
                query = parse_qs(parts.query)
                channel = (query.get("channel") or [server._channel])[0]
                voucher = (query.get("voucher") or [""])[0] or None
                page = render_page(server._client, channel, voucher)
                self._reply(200, "text/html; charset=utf-8", page.encode())

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
