"""Helpers for the --serve tests: a `streamer run --serve` subprocess and bounded HTTP requests.

Every run is a small ``testsrc`` graph paced at 30 fps (``--realtime``), listening on a free
port of 127.0.0.1 (``--serve 0``; the port is read from its "serving http://..." line); every
request has a timeout and every loop a bound on tries and time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytest.importorskip("aiohttp", reason="the serve extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("prometheus_client", reason="the serve extra is not installed: pip install -e '.[serve]'")

GRAPH = """\
name: served
stages:
  - {name: cam, type: capture, uri: testsrc, width: 160, height: 120}
  - {name: half, type: resize, width: 80}
  - {name: rec, type: encode, path: %(out)s, input: cam}
  - {name: web, type: preview, input: half}
"""


@dataclass
class Served:
    """A running `streamer run --serve` process."""

    proc: subprocess.Popen[str]
    base: str
    lines: list[str] = field(default_factory=list)
    token: str | None = None

    def url(self, path: str) -> str:
        return self.base + path

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> tuple[int, bytes]:
        """(status, body) of one request; HTTP errors are returned, not raised."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def json(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, body = self.request(path, **kw)
        return status, json.loads(body)

    def wait(self, timeout: float = 15.0) -> int:
        """Exit status once the process has ended (and its stderr reader has drained)."""
        rc = self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + 5
        while self.proc.stderr is not None and not self.proc.stderr.closed and time.monotonic() < deadline:
            time.sleep(0.05)
        return rc

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def start_served(
    args: list[str], *, cwd: Path = ROOT, timeout: float = 30.0, env: dict[str, str] | None = None
) -> Served:
    """Start ``streamer run ARGS`` and wait for its "serving http://HOST:PORT/" line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer", "run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    found = threading.Event()
    port: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            m = re.search(r"serving http://[^:/]+:(\d+)/", line)
            if m and not port:
                port.append(m.group(1))
                found.set()
        proc.stderr.close()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout) or not port:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError("no 'serving' line; stderr:\n" + "".join(lines))
    return Served(proc, f"http://127.0.0.1:{port[0]}", lines)


def stop(served: Served) -> None:
    """Make sure the process is gone (POST /api/stop, then terminate, then kill)."""
    if served.proc.poll() is None:
        headers = {"Authorization": f"Bearer {served.token}"} if served.token else None
        try:
            served.request("/api/stop", method="POST", headers=headers, timeout=2)
            served.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - fall back to signals
            served.proc.terminate()
            try:
                served.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                served.proc.kill()
                served.proc.wait(timeout=10)


def until(check: Any, *, timeout: float = 10.0, every: float = 0.1) -> Any:
    """Poll ``check()`` until it returns something truthy (bounded); that value, else fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    path = tmp_path / "served.yaml"
    path.write_text(GRAPH % {"out": tmp_path / "rec.mp4"})
    return path


@pytest.fixture
def served(graph: Path, tmp_path: Path) -> Iterator[Served]:
    s = start_served([str(graph), "--realtime", "--serve", "0", "-q", "--json", str(tmp_path / "run.json")])
    try:
        yield s
    finally:
        stop(s)
