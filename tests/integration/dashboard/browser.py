"""Debian's chromium driven by Playwright (no browser download): flags this machine needs, a fresh
profile per session, screenshots under var/test-artifacts/dashboard."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from infra.layout import Layout

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Layout().var / "test-artifacts" / "dashboard"


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@contextlib.contextmanager
def launch(playwright, color_scheme: str = "dark") -> Iterator:
    """A persistent context on a new, empty --user-data-dir (Playwright passes --headless), removed after."""
    profile = tempfile.mkdtemp(prefix="cdp-chromium-")
    ctx = playwright.chromium.launch_persistent_context(
        profile, executable_path=chromium_path(), args=FLAGS, headless=True,
        viewport={"width": 1440, "height": 900}, color_scheme=color_scheme)
    try:
        yield ctx
    finally:
        ctx.close()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
