"""``streamer batch`` on a real Ray: a local instance, a two-node cluster on 127.0.0.1, Ctrl-C.

Six short real clips (cut from samples/face_audio.mp4, with its AAC audio), one corrupt file:
the five outputs must be identical, frame by frame and pts by pts (and audio packet by packet),
to what ``streamer run`` writes for the same input; the corrupt one is reported with its
one-line error and the exit status is non-zero. ``--resume`` then runs nothing. Ray is kept to
the machine's 2 cores (``--num-cpus 2``, one CPU per job).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

pytest.importorskip("ray", reason="streamer batch needs the [cluster] extra (ray)")

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "face_audio.mp4"
LENGTHS = (12, 14, 16, 18, 20)  # frames of the five good clips
# a model graph, so the same run also shows models loaded once per worker process
CARTOON = ROOT / "graphs" / "file_cartoon.yaml"
CARTOON_SET = ["style.size=96"]


def streamer(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """``python -m streamer ARGS`` from the repository root (this checkout's streamer)."""
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """in/: five real clips of different lengths (320x180, H.264 + AAC) and one corrupt .mp4."""
    from streamer.graph import load_graph
    from streamer.runner import RunOptions, run_graph

    folder = tmp_path_factory.mktemp("batch") / "in"
    for i, n in enumerate(LENGTHS):
        spec = load_graph(
            ROOT / "graphs" / "file_transcode.yaml",
            [f"cam.uri={CLIP}", f"out.path={folder / f'clip{i}.mp4'}", "cam.width=320"],
        )
        assert run_graph(spec, RunOptions(max_frames=n, quiet=True, handle_signals=False)).error is None
    (folder / "clip5_corrupt.mp4").write_bytes(os.urandom(4000))
    return folder


def decode(path: Path) -> dict[str, Any]:
    """Every video frame (RGB) with its pts in seconds, and every audio packet with its time."""
    with av.open(str(path)) as c:
        atb = c.streams.audio[0].time_base if c.streams.audio else None
        audio = [(Fraction(p.pts) * atb, bytes(p)) for p in c.demux(audio=0) if p.size] if atb else []
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [(Fraction(f.pts) * v.time_base, f.to_ndarray(format="rgb24")) for f in c.decode(v)]
    return {"pts": [t for t, _ in frames], "frames": [a for _, a in frames], "audio": audio}


def assert_same(a: Path, b: Path) -> None:
    da, db = decode(a), decode(b)
    assert da["pts"] == db["pts"], (a, b)
    assert len(da["frames"]) == len(db["frames"]) > 0
    assert all(np.array_equal(x, y) for x, y in zip(da["frames"], db["frames"], strict=True)), (a, b)
    assert da["audio"] == db["audio"], (a, b)


def no_partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name]


def test_batch_local_ray_failure_report_and_resume(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    t0 = time.perf_counter()
    r = streamer(
        "batch", str(CARTOON), "--inputs", f"{clips}/*.mp4", "--out", f"{out}/{{stem}}",
        *(a for s in CARTOON_SET for a in ("--set", s)),
        "--num-cpus", "2", "--retries", "1", "--json", str(report),
    )  # fmt: skip
    took = time.perf_counter() - t0
    assert r.returncode == 1, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 6 files failed; first: ") and "clip5_corrupt.mp4" in last, r.stderr
    doc = json.loads(report.read_text())
    assert (doc["ok"], doc["failed"], doc["files_total"]) == (5, 1, 6)
    by_name = {Path(f["input"]).name: f for f in doc["files"]}
    bad = by_name["clip5_corrupt.mp4"]
    assert bad["status"] == "failed" and bad["attempts"] == 2 and "\n" not in bad["error"]
    assert "stage 'cam' (capture)" in bad["error"] and bad["frames"] == 0
    assert not (out / "clip5_corrupt.mp4").exists() and not no_partials(out)

    # five outputs identical to `streamer run`'s, frame for frame, pts for pts, audio for audio
    ref = tmp_path / "ref"
    for i, n in enumerate(LENGTHS):
        f = by_name[f"clip{i}.mp4"]
        assert f["status"] == "ok" and f["frames"] == n and f["error"] is None
        assert f["fps"] > 0 and f["seconds"] > 0
        # `streamer run` itself, a fresh process each: repeated in-process runs of this graph have
        # been seen to differ by a few levels (cause not found; separate processes never did)
        rr = streamer("run", str(CARTOON), "--set", f"cam.uri={clips / f'clip{i}.mp4'}",
                      "--set", f"out.path={ref / f'clip{i}.mp4'}", *(a for s in CARTOON_SET for a in ("--set", s)), "-q")  # fmt: skip
        assert rr.returncode == 0, rr.stderr
        assert_same(out / f"clip{i}.mp4", ref / f"clip{i}.mp4")

    # the model was loaded once per worker process and reused for the next files it ran (Ray
    # keeps a pool of worker processes and may start a spare one: count loads per process)
    runs = [f for f in doc["files"] if f["status"] == "ok"]
    workers = {f["worker"] for f in runs}
    assert sum(f["model_loads"] for f in runs) == len(workers) < len(runs)
    assert sum(f["models_reused"] for f in runs) == len(runs) - len(workers) > 0

    # --resume: the corrupt file removed, every other output complete -> nothing runs (no Ray)
    (clips / "clip5_corrupt.mp4").rename(tmp_path / "corrupt.mp4")
    try:
        before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
        r2 = streamer(
            "batch", str(CARTOON), "--inputs", f"{clips}/*.mp4", "--out", f"{out}/{{stem}}",
            *(a for s in CARTOON_SET for a in ("--set", s)), "--num-cpus", "2", "--resume", "--json", str(report),
        )  # fmt: skip
        assert r2.returncode == 0, r2.stderr
        doc2 = json.loads(report.read_text())
        assert (doc2["skipped"], doc2["ok"], doc2["files_total"]) == (5, 0, 5)
        assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == before
        assert "resume: 5 of 5 files complete" in r2.stderr
    finally:
        (tmp_path / "corrupt.mp4").rename(clips / "clip5_corrupt.mp4")
    print(f"first batch took {took:.1f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayNode:
    """``ray start --block ...`` in a session of its own: ready when it says "Ray runtime
    started"; stopped by SIGTERM (Ray drains and stops the node's processes), SIGKILL to its
    session after a bounded wait. Only the processes this test started are touched."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        ray = Path(sys.executable).with_name("ray")
        self.log = log
        self._file = log.open("w")
        self.proc = subprocess.Popen(
            [str(ray), "start", "--block", "--disable-usage-stats", *args],
            env=env, stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"ray start not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to ``ray start`` itself (not its session: it drains the node through the GCS,
        which must still be up), then SIGKILL to whatever of its session is left."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        try:  # the node's own processes share its session: anything left gets SIGKILL
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._file.close()


def wait_for_cpus(address: str, cpus: int, env: dict[str, str], timeout: float = 60) -> None:
    """Until the cluster's resource view holds ``cpus`` CPUs: "Ray runtime started" on a worker
    node can come before the head schedules onto it, and on a loaded machine the head then ran
    every file alone (the test asserts that both nodes ran files)."""
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False);"
        " print(int(ray.cluster_resources().get('CPU', 0)))"
    )
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        r = subprocess.run(
            [sys.executable, "-c", probe, address], env=env, capture_output=True, text=True, timeout=timeout
        )
        seen = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-500:]
        if r.returncode == 0 and seen.isdigit() and int(seen) >= cpus:
            return
        time.sleep(0.5)
    raise AssertionError(f"the cluster did not reach {cpus} CPUs in {timeout} s: {seen}")


@pytest.mark.parametrize("via", ["gcs", pytest.param("client", marks=pytest.mark.slow)])
def test_batch_on_two_node_cluster(clips: Path, tmp_path: Path, via: str) -> None:
    """A head and a worker node (one CPU each) on 127.0.0.1, joined with a token of this test;
    the same command as locally with --address 127.0.0.1:PORT (the head, as ``--address auto``
    finds it) and, marked slow, ``ray://127.0.0.1:PORT`` through Ray Client (its per-client
    server can miss its start-up deadline on a loaded 2-core machine)."""
    port, client_port = free_port(), free_port()
    token = tmp_path / "token"
    token.write_text(os.urandom(32).hex())
    env = os.environ | {
        "PYTHONPATH": str(ROOT),  # the workers import this checkout's streamer
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
    }
    temp = Path("/tmp") / f"rb{os.getpid()}"  # Ray's socket paths must stay short
    nodes: list[RayNode] = []
    t0 = time.perf_counter()
    try:
        nodes.append(RayNode(
            ["--head", "--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
             "--ray-client-server-port", str(client_port), "--include-dashboard=false", f"--temp-dir={temp}"],
            env, tmp_path / "head.log",
        ))  # fmt: skip
        nodes[0].wait_ready()
        nodes.append(RayNode(
            ["--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1"],
            env, tmp_path / "worker.log",
        ))  # fmt: skip
        nodes[1].wait_ready()
        wait_for_cpus(f"127.0.0.1:{port}", 2, env)
        print(f"two nodes up in {time.perf_counter() - t0:.1f} s")
        out = tmp_path / "out"
        report = tmp_path / "report.json"
        inputs = [str(clips / f"clip{i}.mp4") for i in range(4)]
        r = streamer(
            "batch", "graphs/file_transcode.yaml", "--inputs", *inputs, "--out", f"{out}/{{stem}}.mp4",
            "--address", f"127.0.0.1:{port}" if via == "gcs" else f"ray://127.0.0.1:{client_port}",
            "--json", str(report), env=env,
        )  # fmt: skip
        print(f"batch done at {time.perf_counter() - t0:.1f} s")
        assert r.returncode == 0, r.stderr
        doc = json.loads(report.read_text())
        assert doc["ok"] == 4
        assert len({f["node"] for f in doc["files"]}) == 2, doc["files"]  # both nodes ran files
        for i in range(4):
            assert decode(out / f"clip{i}.mp4")["pts"] == decode(clips / f"clip{i}.mp4")["pts"]
    finally:
        for node in reversed(nodes):  # the worker node first, while the head is up
            node.stop()
        shutil.rmtree(temp, ignore_errors=True)
        print(f"nodes stopped at {time.perf_counter() - t0:.1f} s")


def test_batch_ctrl_c_finalises_running_files(clips: Path, tmp_path: Path) -> None:
    """Endless jobs (loop: true); SIGINT to the whole process group, as a terminal's Ctrl-C:
    the running files are finalised under their names, the file not started is cancelled, no
    partial file is left, the exit status is 130."""
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer", "batch", "graphs/file_transcode.yaml",
         "--inputs", *(str(clips / f"clip{i}.mp4") for i in range(3)), "--out", f"{out}/{{stem}}",
         "--set", "cam.loop=true", "--num-cpus", "2", "--retries", "0", "--json", str(report)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (
            len(list(out.glob("*.partial.mp4"))) < 2 and time.monotonic() < deadline and proc.poll() is None
        ):
            time.sleep(0.2)
        assert len(list(out.glob("*.partial.mp4"))) == 2, "two jobs should be writing"
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 130, err
    doc = json.loads(report.read_text())
    statuses = sorted(f["status"] for f in doc["files"])
    assert statuses == ["cancelled", "stopped", "stopped"], doc["files"]
    assert not no_partials(out), list(out.iterdir())
    for f in doc["files"]:
        target = Path(f["outputs"][0])
        if f["status"] == "stopped":
            d = decode(target)  # finalised: plays to its end, every frame it counted
            assert len(d["frames"]) == f["frames"] > 0
        else:
            assert not target.exists()
