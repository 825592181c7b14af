"""The page at ``/`` in a real browser: Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "serve.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium (apt-get install chromium)"),
]


def test_page_speaks_typed_text(server):
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        # --no-sandbox: containers (CI) run as root, where Chromium's sandbox cannot start.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 520})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(server.url + "/")
            page.wait_for_function("document.querySelector('#voice').options.length > 0")
            page.fill("#text", "Hello from the browser. This is tacoglow.")
            page.click("#speak")
            page.wait_for_function("document.querySelector('#status').textContent === 'Done.'", timeout=120_000)
            page.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=30_000)
            duration = page.evaluate("document.querySelector('#player').duration")
            assert page.evaluate("document.querySelector('#player').error") is None
            # Two short sentences of speech: between one and ten seconds.
            assert 1.0 < duration < 10.0
            if os.environ.get("TACOGLOW_WRITE_SCREENSHOT"):  # refreshes docs/serve.png for the README
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert problems == []
