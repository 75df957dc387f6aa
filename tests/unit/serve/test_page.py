"""The page of --serve in a real headless browser: Debian's chromium driven by playwright.

No browser is downloaded (``playwright install`` is not used): the test launches the system's
``chromium`` (CI apt-installs it) and skips, saying why, where it or playwright is missing.
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.unit.serve.conftest import Served

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (CI: apt-get install chromium)")
def test_page_shows_picture_table_and_graph(served: Served) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (dev extra)")
    t = time.monotonic()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--disable-gpu"], timeout=20_000)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 700})
            page.set_default_timeout(15_000)
            page.goto(served.url("/"))
            # the preview stage is shown first, and a decoded picture is on the page
            page.wait_for_function("document.getElementById('stage').value === 'web'")
            page.wait_for_function(
                "() => { const i = document.getElementById('picture'); return i.complete && i.naturalWidth > 0 }"
            )
            # the page asks for ?width=640: pictures are scaled down to it, never up
            assert page.evaluate("document.getElementById('picture').naturalWidth") == 80
            # the graph is drawn: a box per stage, a line per edge
            assert page.locator("svg#graph rect").count() == 4
            assert page.locator("svg#graph line").count() == 3
            # the table refreshes (at least once a second) with growing frame counts
            page.wait_for_function("Number(document.body.dataset.updates || 0) >= 1")
            rows = page.locator("#metrics tbody tr")
            assert rows.count() == 4
            before = int(rows.nth(0).locator("td").nth(4).inner_text())
            updates = int(page.evaluate("document.body.dataset.updates"))
            page.wait_for_function(f"Number(document.body.dataset.updates) >= {updates + 2}", timeout=3_000)
            after = int(rows.nth(0).locator("td").nth(4).inner_text())
            assert after > before
            # another stage from the selector
            page.select_option("#stage", "half")
            page.wait_for_function("document.getElementById('picture').src.includes('/stream/half.mjpg')")
        finally:
            browser.close()
    assert time.monotonic() - t < 30
