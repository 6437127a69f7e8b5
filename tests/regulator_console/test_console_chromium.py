"""The regulator console rendered by headless Chromium (issue 7 item 6).

Needs the Debian packages `chromium` and `chromium-driver`, installed by
`tests/regulator_console/setup.sh` (idempotent). Without Chromium this test FAILS
with that instruction — it never skips.

Checks: the DOM Chromium built (`--dump-dom`) holds the exposure figures, both
alerts and the lineage tree's vouchers; the screenshot is a real render — a PNG
of the window size whose pixels are not one colour and include the tree's fills.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.regulator_console.story import console

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 1280, 900
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail(
        "headless Chromium is required for the regulator console test and was not found; "
        "install it with tests/regulator_console/setup.sh "
        "(apt-get install -y chromium chromium-driver)",
        pytrace=False,
    )


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit truecolour PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8, depth
            assert colour in (2, 6), colour
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        filt, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_console_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium()
    with console(tmp_path / "net") as c:
        url = f"{c.url}/?voucher=V1-2-1"
        dom = run_chromium(["--dump-dom", url], tmp_path / "profile-dom")
        shot = tmp_path / "console.png"
        screenshot = run_chromium(
            [f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", url],
            tmp_path / "profile-shot",
        )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "scfchain — regulator console" in html
    assert "1,150,000.00" in html
    assert "150,000.00" in html
    assert "CIRCULAR_TRANSFER" in html
    assert "TRADE_DOC_REUSE" in html
    for name in ("c1", "c2", "c3", "dup"):
        assert c.tx[name] in html
    for voucher in ("V1", "V1-1", "V1-2", "V1-2-1", "V1-2-2"):
        assert f'data-id="{voucher}"' in html
    assert "balanced" in html

    assert screenshot.returncode == 0, screenshot.stderr[-2000:]
    assert shot.is_file(), screenshot.stderr[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    step = len(rows[0]) // width
    colours = {row[x : x + 3] for row in rows[::4] for x in range(0, len(row), step * 4)}
    assert len(colours) > 20, f"the screenshot looks blank ({len(colours)} colours)"
    background = max(colours, key=lambda col: sum(row.count(col) for row in rows[::40]))
    non_background = sum(
        1 for row in rows[::4] for x in range(0, len(row), step * 4) if row[x : x + 3] != background
    )
    assert non_background > 2_000, "almost nothing was drawn"
    header_blue = bytes([0x27, 0x4B, 0x6D])  # table headers and box borders
    assert any(header_blue in row for row in rows), "no table header was painted"
