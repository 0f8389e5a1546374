"""Open the HTML report of a real run in headless Chromium, as a drill owner would.

Fails on any console message (the report writes none, so a message is an error: an
uncaught exception, a resource that failed to load) and on a missing section; takes a
screenshot and prints to PDF. Skipped, with the package to install, only when no
Chromium is on the PATH (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from drillbook.reports.model import anchor

from .conftest import RealRun

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless browser check needs Chromium: apt-get install chromium (Debian package)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(?P<msg>.*)")


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=90,
    )


def console_messages(stderr: str) -> list[str]:
    return [m.group("msg") for m in map(CONSOLE.search, stderr.splitlines()) if m]


def load(url: str, profile: Path) -> tuple[str, list[str]]:
    """The DOM after load, and every console message of the page."""
    res = chromium(url, profile, "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout, console_messages(res.stderr)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def test_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    # The check itself must be able to fail: a page with an uncaught error and a
    # missing image is caught.
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><img src='missing.png'>"
        "<script>notDefinedAnywhere();</script></body></html>"
    )
    _, messages = load(page.as_uri(), tmp_path / "profile")
    assert any("Uncaught ReferenceError" in m for m in messages), messages


def test_report_renders_without_console_errors(real_run: RealRun, tmp_path: Path) -> None:
    report = sorted(p for p in real_run.out.iterdir() if p.is_dir())[0] / "index.html"
    dom, messages = load(report.as_uri(), tmp_path / "profile")
    assert messages == []
    for section in ("run", "summary", "gaps", "checklist"):
        assert f'id="{section}"' in dom, f"section {section} missing"
    for drill in ("test_crash_restart", "test_leaky_error", "test_needs_docker"):
        assert f'id="{anchor("test_drills.py::" + drill)}"' in dom, drill
    assert dom.count('<section class="drill ') == 3
    assert dom.count("<svg") >= 8  # RTO bar, RPO chart, timeline, sparklines
    assert dom.count('<details class="step"') >= 10


def test_report_screenshot_and_pdf(real_run: RealRun, tmp_path: Path) -> None:
    report = sorted(p for p in real_run.out.iterdir() if p.is_dir())[0] / "index.html"
    shot, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    res = chromium(
        report.as_uri(), tmp_path / "p1", f"--screenshot={shot}", "--window-size=1280,2400"
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    assert png_size(shot) == (1280, 2400)
    assert shot.stat().st_size > 30_000  # a rendered page, not a blank one
    res = chromium(
        report.as_uri(), tmp_path / "p2", f"--print-to-pdf={pdf}", "--no-pdf-header-footer"
    )
    assert res.returncode == 0 and pdf.exists(), res.stderr[-2000:]
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
