"""CI exercises the GPU path without a GPU: the benchmark's ``--cpu --quick`` dry run, the GPU
tests' dry run on the CPU provider (``STREAMER_GPU_DRY=1``), and the wheel-piece join."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_benchmark_dry_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--cpu", "--quick", "--no-tests", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and doc["info"]["mode"] == "cpu dry run"
    sections = {r["section"] for r in doc["rows"]}
    assert {"cyclegan", "models", "file_stylize", "live", "codecs"} <= sections
    cyclegan = [r for r in doc["rows"] if r["section"] == "cyclegan"]
    assert len(cyclegan) == 8 and all(
        r["fps"] > 0 and r["provider"] == "CPUExecutionProvider" for r in cyclegan
    )
    live = next(r for r in doc["rows"] if r["section"] == "live")
    assert live["frames"] > 0 and live["p95_ms"] > 0
    assert "≥ 60 frames/s model alone" in proc.stdout and "| measured" in proc.stdout


def test_gpu_tests_dry_run_on_the_cpu_provider() -> None:
    env = dict(os.environ, STREAMER_GPU_DRY="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/gpu", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def _carry():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT))
    from benchmarks import gpu_carry

    return gpu_carry


def test_split_then_join_gives_the_file_back(tmp_path: Path) -> None:
    g = _carry()
    data = os.urandom(100_000)
    (tmp_path / "pkg-1.0-py3-none-any.whl").write_bytes(data)
    (tmp_path / "other-2.0-py3-none-any.whl").write_bytes(b"whole")
    pieces = g.split(tmp_path / "pkg-1.0-py3-none-any.whl", 40_000)
    assert [p.name for p in pieces] == [f"pkg-1.0-py3-none-any.whl.part-{i:02d}" for i in range(3)]
    assert [p.stat().st_size for p in pieces] == [40_000, 40_000, 20_000]
    assert g.split(tmp_path / "other-2.0-py3-none-any.whl", 40_000) == [
        tmp_path / "other-2.0-py3-none-any.whl"
    ]
    wheels = g.join_pieces(tmp_path)
    assert [w.name for w in wheels] == ["other-2.0-py3-none-any.whl", "pkg-1.0-py3-none-any.whl"]
    assert (tmp_path / "pkg-1.0-py3-none-any.whl").read_bytes() == data
    assert not list(tmp_path.glob("*.part-*"))


def _wheel(path: Path) -> Path:
    """A small real wheel: a module and its dist-info (RECORD with the files' hashes)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "tinypkg/__init__.py": b"VALUE = 42\n" + b"# padding\n" * 2000,
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("tinypkg-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def test_lzma_wheel_installs_with_pip_unchanged(tmp_path: Path) -> None:
    import zipfile

    g = _carry()
    wheel = _wheel(tmp_path / "tinypkg-1.0-py3-none-any.whl")
    before = {i.filename: zipfile.ZipFile(wheel).read(i) for i in zipfile.ZipFile(wheel).infolist()}
    g.relzma(wheel, wheel)
    with zipfile.ZipFile(wheel) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_LZMA}
        assert {i.filename: z.read(i) for i in z.infolist()} == before
    site = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site)]
    subprocess.run([*cmd, str(wheel)], check=True, timeout=120)
    out = subprocess.run(
        [sys.executable, "-c", "import tinypkg; print(tinypkg.VALUE)"],
        env=dict(os.environ, PYTHONPATH=str(site)),
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "42"


def test_pins_come_from_the_constraints_file(tmp_path: Path) -> None:
    g = _carry()
    got = g.pins()
    assert len(got) == len(g.RUNTIME) and got[0].startswith("onnxruntime-gpu==")
    constraints = tmp_path / "c.txt"
    constraints.write_text("av==18.1.0  # video\n")
    with pytest.raises(SystemExit, match="pins no version of mediapipe"):
        g.pins(("av", "mediapipe"), constraints)


def test_install_environment_points_at_the_folders_cache_and_gl_libraries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    g = _carry()
    folder = tmp_path / "wheels"
    (folder / "cache").mkdir(parents=True)
    (folder / "cache" / "face_detection_short_range.tflite").write_bytes(b"tflite")
    # a real .deb holding one library, as apt-get download gives them
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: libfake1\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n"
    )
    lib = tree / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libfake.so.1").write_bytes(b"\x7fELF")
    (folder / "debs").mkdir()
    subprocess.run(
        ["dpkg-deb", "--build", str(tree), str(folder / "debs" / "libfake1.deb")],
        check=True,
        capture_output=True,
    )

    monkeypatch.delenv("STREAMER_CACHE", raising=False)
    libs = tmp_path / "libs"
    env = g.runtime_env(folder, libs, probe="libstreamer-absent.so.1")
    assert env["STREAMER_CACHE"] == str((folder / "cache").resolve())
    first = env["LD_LIBRARY_PATH"].split(os.pathsep)[0]
    assert Path(first, "libfake.so.1").exists() and Path(first).is_relative_to(libs)
    # a library that loads here needs nothing unpacked; a cache already set is kept
    monkeypatch.setenv("STREAMER_CACHE", str(tmp_path))
    assert g.runtime_env(folder, tmp_path / "libs2", probe="libc.so.6") == {}
    assert not (tmp_path / "libs2").exists()
