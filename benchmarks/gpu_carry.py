"""The folder that carries streamer's runtime to a GPU machine with no network: made here, used there.

    python benchmarks/gpu.py --prepare WHEELS/    # here, where PyPI (and apt) can be reached
    python benchmarks/gpu.py --install WHEELS/    # there: join, install, set up, run everything

``WHEELS/`` holds, once prepared:

- the wheels streamer imports at run time that such a machine lacks, for CPython 3.12 on x86_64
  Linux, at the versions ``constraints.txt`` pins (:data:`RUNTIME`). onnxruntime-gpu is re-zipped
  with LZMA (255 -> 205 MB; pip installs it as it is: a wheel's RECORD hashes its files, not their
  compression). Every file over ``--piece-mb`` is split into ``NAME.part-00``, ``-01``, ...;
  ``--install`` joins them;
- ``cache/``: the BlazeFace ``.tflite`` files. ``--install`` points ``STREAMER_CACHE`` there when
  it is unset, so face_detect does not try to fetch them;
- ``debs/``: libglvnd0, libegl1 and the other GL loaders from Debian. MediaPipe needs
  ``libEGL.so.1`` even on its CPU path. Where that library does not load, ``--install`` unpacks
  them into ``.gpu-libs/`` and puts it on ``LD_LIBRARY_PATH``.

Seen on an H200 machine (2026-11-28): with numpy, opencv-python-headless, torch (CUDA 13) and
PyYAML there, these were all it needed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what streamer imports at run time that a CUDA image with torch and OpenCV lacks (measured)
RUNTIME = (
    "onnxruntime-gpu",
    "av",
    "mediapipe",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
)
#: the GL loaders MediaPipe's libraries link against (Debian package names)
GL_DEBS = ("libglvnd0", "libegl1", "libgles2", "libopengl0", "libglx0", "libgl1")
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)
LZMA_WHEELS = ("onnxruntime_gpu-",)
PIECE_MB = 40


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def pins(names: tuple[str, ...] = RUNTIME, constraints: Path = ROOT / "constraints.txt") -> list[str]:
    """``name==version`` for each of ``names`` from the constraints file; SystemExit naming any
    it does not pin."""
    pinned = {}
    for line in constraints.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pinned[_norm(name)] = f"{name.strip()}=={version.strip()}"
    missing = [n for n in names if _norm(n) not in pinned]
    if missing:
        raise SystemExit(f"error: {constraints} pins no version of {', '.join(missing)}")
    return [pinned[_norm(n)] for n in names]


def relzma(src: Path, dst: Path) -> Path:
    """``src`` wheel re-zipped with LZMA into ``dst`` (same members, same bytes once unpacked)."""
    tmp = dst.with_name(dst.name + ".tmp")
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(tmp, "w") as zo:
        for info in zi.infolist():
            zo.writestr(info, zi.read(info), compress_type=zipfile.ZIP_LZMA)
    tmp.replace(dst)
    return dst


def split(path: Path, piece_bytes: int) -> list[Path]:
    """``path`` cut into ``NAME.part-00``, ``-01``, ... of ``piece_bytes`` at most (``path``
    removed); ``[path]`` when it is small enough already."""
    size = path.stat().st_size
    if size <= piece_bytes:
        return [path]
    pieces = []
    with path.open("rb") as f:
        for i in range((size + piece_bytes - 1) // piece_bytes):
            piece = path.with_name(f"{path.name}.part-{i:02d}")
            piece.write_bytes(f.read(piece_bytes))
            pieces.append(piece)
    path.unlink()
    return pieces


def join_pieces(folder: Path) -> list[Path]:
    """Join ``NAME.part-00``, ``NAME.part-01`` ... into ``NAME`` (pieces removed); the wheels."""
    for first in sorted(folder.glob("*.part-00")):
        whole = folder / first.name[: -len(".part-00")]
        pieces = sorted(folder.glob(f"{whole.name}.part-*"))
        with whole.open("wb") as out:
            for piece in pieces:
                out.write(piece.read_bytes())
        for piece in pieces:
            piece.unlink()
    return sorted(folder.glob("*.whl"))


def prepare(folder: Path, piece_mb: int = PIECE_MB, log: Callable[[str], None] = print) -> list[Path]:
    """Fill ``folder`` (see the module doc); every file in it, for the table at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = pins()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(folder)]
    cmd += ["--python-version", "3.12", "--implementation", "cp"]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    log(f"pip download {' '.join(wanted)}")
    subprocess.run([*cmd, *wanted], check=True, stdout=subprocess.DEVNULL)
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.startswith(LZMA_WHEELS):
            before = wheel.stat().st_size
            relzma(wheel, wheel)
            log(
                f"{wheel.name}: re-zipped with LZMA, {before / 1e6:.0f} -> {wheel.stat().st_size / 1e6:.0f} MB"
            )
        split(wheel, piece_mb * 1024 * 1024)
    from streamer.faces import model_store

    cache = folder / "cache"
    cache.mkdir(exist_ok=True)
    for path in model_store.pull(log=log):
        shutil.copy2(path, cache / path.name)
    debs = folder / "debs"
    debs.mkdir(exist_ok=True)
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "download", *GL_DEBS], cwd=debs, check=True, stdout=subprocess.DEVNULL)
    else:
        log("no apt-get here: debs/ stays empty (the GPU machine must have libEGL.so.1 itself)")
    return sorted(p for p in folder.rglob("*") if p.is_file())


def loads(library: str) -> bool:
    """True when the dynamic loader finds and opens ``library`` (``libEGL.so.1``)."""
    try:
        ctypes.CDLL(library)
        return True
    except OSError:
        return False


def runtime_env(folder: Path, libs: Path, probe: str = "libEGL.so.1") -> dict[str, str]:
    """The environment the benchmark runs with after ``--install``: ``STREAMER_CACHE`` when the
    folder brings the BlazeFace files and none is set; the folder's debs unpacked into ``libs``
    and put on ``LD_LIBRARY_PATH`` when ``probe`` does not load here."""
    env: dict[str, str] = {}
    cache = folder / "cache"
    if not os.environ.get("STREAMER_CACHE") and any(cache.glob("*.tflite")):
        env["STREAMER_CACHE"] = str(cache.resolve())
    debs = sorted((folder / "debs").glob("*.deb"))
    if debs and not loads(probe):
        libs.mkdir(parents=True, exist_ok=True)
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(libs)], check=True)
        dirs = sorted({str(p.parent.resolve()) for p in libs.rglob("*.so*")})
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*dirs, os.environ.get("LD_LIBRARY_PATH", "")]).rstrip(
            os.pathsep
        )
    return env


def install(folder: Path, site: Path, libs: Path) -> dict[str, str]:
    """Join the pieces, ``pip install --no-deps --target site`` every wheel of ``folder``; the
    environment to run with (:func:`runtime_env`)."""
    wheels = join_pieces(folder)
    if not wheels:
        raise SystemExit(f"error: no .whl files (or .whl.part-NN pieces) in {folder}")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--upgrade", "--target"]
    subprocess.run([*cmd, str(site), *map(str, wheels)], check=True)
    print(f"installed {len(wheels)} wheels into {site}", file=sys.stderr)
    env = runtime_env(folder, libs)
    for key, value in env.items():
        print(f"{key}={value}", file=sys.stderr)
    return env
