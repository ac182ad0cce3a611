"""Debian's chromium driven by Playwright (no browser download): flags this machine needs, a fresh
profile per session, screenshots under var/test-artifacts/dashboard."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from infra.layout import Layout

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Layout().var / "test-artifacts" / "dashboard"


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def launch(playwright, color_scheme: str = "dark"):
    """A persistent context on a new, empty --user-data-dir (Playwright passes --headless)."""
    profile = tempfile.mkdtemp(prefix="cdp-chromium-")
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=chromium_path(), args=FLAGS, headless=True,
        viewport={"width": 1440, "height": 900}, color_scheme=color_scheme)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
