"""Makes samples/serve_page.png, the README's picture of the --serve page.

Runs graphs/webcam_stylize.yaml headless on samples/one_face.mp4 (its display becomes a preview
without a screen) with --serve, opens the page in Debian's chromium through playwright and saves
a screenshot once the picture and a few table updates are in::

    python samples/make_serve_screenshot.py      # needs the serve extra, playwright and chromium
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "samples" / "serve_page.png"


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    cmd = [sys.executable, "-m", "streamer", "run", "graphs/webcam_stylize.yaml", "--realtime", "-q"]
    cmd += ["--set", "cam.uri=samples/one_face.mp4", "--set", "cam.loop=true", "--serve", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            m = re.search(r"serving (http://\S+/)", proc.stderr.readline())
            url = m.group(1) if m else None
        if url is None:
            raise SystemExit("the server did not start")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 440})
            page.goto(url)
            shown = "() => document.getElementById('picture').naturalWidth > 0"
            page.wait_for_function(shown, timeout=30_000)
            page.wait_for_function("Number(document.body.dataset.updates || 0) >= 12", timeout=30_000)
            page.screenshot(path=str(OUT))
            browser.close()
        print(f"wrote {OUT}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
