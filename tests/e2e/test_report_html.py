"""report.html opens offline in a real headless browser (Debian's chromium) and draws its divergence chart.

A golden copy with one moved fill makes a failing check, whose first divergent
fill the report charts. Chromium renders the page with the network off; the
rendered DOM must hold the chart and the screenshot must show its candles.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from harness.cli import main
from harness.golden import GOLDEN_DIR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
CANDLE_COLOURS = {(0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28)}  # report.divergence_chart's up and down candles


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    idat = b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    rows, prev, stride = [], bytearray(width * bpp), width * bpp
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, stride, bpp)]


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    gold = tmp / "golden"
    shutil.copytree(GOLDEN_DIR, gold)
    fills = gold / "rnd_sl_close" / "fills.csv"
    lines = fills.read_text().splitlines()
    cells = lines[2].split(",")
    cells[5] = repr(float(cells[5]) * 1.001)
    lines[2] = ",".join(cells)
    fills.write_text("\n".join(lines) + "\n")
    out = tmp / "latest"
    assert main(["gate", "--golden-root", str(gold), "--out", str(out), "--quiet", "--scenario", "rnd_sl_close"]) == 1
    return out / "report.html"


def test_the_report_is_self_contained(failing_report):
    page = failing_report.read_text()
    assert "<svg" in page and 'class="chart"' in page
    for external in ("<script", "src=", "href=", "@import", "url("):
        assert external not in page, external


def test_headless_chromium_renders_the_report_and_its_chart(failing_report, tmp_path):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (Debian); .ci/run installs it")
    profile = tmp_path / "profile"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*common, "--dump-dom", failing_report.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "FAIL" in dom and 'class="chart"' in dom and dom.count('class="candle"') >= 3
    shot = tmp_path / "report.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1400,4000", failing_report.as_uri()],
                   capture_output=True, timeout=120, check=True)
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1400, 4000)
    painted = sum(1 for p in pixels if tuple(p) in CANDLE_COLOURS)
    assert painted > 50, f"only {painted} candle-coloured pixels: the chart did not render"
