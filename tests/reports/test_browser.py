"""The HTML report in a real headless browser (Debian's chromium, installed here when
missing; never skipped): it renders with no console errors, the screenshot is not blank,
and the hostile customer name stays text."""

from __future__ import annotations

import html
import os
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from adapters.cli import main
from tests.reports.conftest import EVIL_NAME

CHROMIUM = "/usr/bin/chromium"
BAR_BLUE = (0x3B, 0x6E, 0xA8)  # adapters/reports/svg.py BAR


@pytest.fixture(scope="session")
def chromium() -> str:
    """Install Debian's chromium when it is missing (the tests run as root in CI)."""
    if not Path(CHROMIUM).exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "chromium"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            subprocess.run(install, env=env, capture_output=True, check=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing and apt-get install -y chromium did not provide it")
    return CHROMIUM


def browse(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Uncaught" in line or "CONSOLE" in line]


def top_pixels(png: bytes, rows: int) -> Counter[tuple[int, ...]]:
    """The colours of the first ``rows`` rows of an 8-bit RGB or RGBA PNG, decoded with
    the standard library (each row's filter depends only on the row above)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, header, data = 8, b"", b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        body = png[offset + 8 : offset + 8 + length]
        header = body if kind == b"IHDR" else header
        data += body if kind == b"IDAT" else b""
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    stride = width * step
    raw = zlib.decompressobj().decompress(data, (stride + 1) * min(rows, height))
    previous = bytearray(stride)
    colours: Counter[tuple[int, ...]] = Counter()
    for y in range(min(rows, height)):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - step] if x >= step else 0
            b = previous[x]
            c = previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        colours.update(tuple(line[x : x + 3]) for x in range(0, stride, step))
        previous = line
    return colours


def test_the_one_page_report_renders_in_chromium(
    demo_db: str, chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "all.html"
    assert main(["report", "all", "--db", demo_db, "--format", "html", "--out", str(page)]) == 0
    capsys.readouterr()
    shot = tmp_path / "all.png"

    taken = browse(
        chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    dom = browse(chromium, tmp_path, "--dump-dom", page.as_uri())

    assert taken.returncode == 0 and dom.returncode == 0, taken.stderr[-2000:]
    assert console_errors(taken.stderr + dom.stderr) == []
    colours = top_pixels(shot.read_bytes(), rows=500)
    white = colours[(255, 255, 255)]
    assert len(colours) > 10  # text, bars, table lines: not one flat colour
    assert colours[BAR_BLUE] > 500  # the funnel's bars were drawn
    assert white < sum(colours.values()) * 0.99
    assert dom.stdout.count("<svg") >= 6 and "<polyline" in dom.stdout and "<rect" in dom.stdout
    # the hostile name is text in the page: no element came out of it, nothing ran
    assert "<script" not in dom.stdout and "<img" not in dom.stdout
    assert html.escape(EVIL_NAME, quote=False) in dom.stdout
    assert "<title>pwned</title>" not in dom.stdout


def test_the_chinese_page_renders_in_chromium(
    demo_db: str, chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "funnel-zh.html"
    args = ["report", "funnel", "--db", demo_db, "--format", "html", "--lang", "zh"]
    assert main([*args, "--out", str(page)]) == 0
    capsys.readouterr()

    dom = browse(chromium, tmp_path, "--dump-dom", page.as_uri())

    assert dom.returncode == 0 and console_errors(dom.stderr) == []
    assert '<html lang="zh-CN">' in dom.stdout and "首次购买客户" in dom.stdout
    assert dom.stdout.count("<svg") == 1
