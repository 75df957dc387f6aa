"""Real people photographed in files that PyPI packages ship: ten more real faces for the deepfake data.

Why: the deepfake detector's real faces were few (scikit-image's astronaut and cameraman, 80
small greyscale LFW faces, opencv-doc's seven portraits). With so few real people the net learns
*which* pictures look real instead of what a manipulation leaves, and a real person it has never
seen (Grace Hopper, held out) gets called fake. Two package files hold more real people, in
colour, at photo quality:

- ``insightface-2.1-py3-none-any.whl`` (a wheel): ``insightface/data/images/t1.jpg``, a group
  photo of six people;
- ``face_recognition-1.3.0.tar.gz`` (the source distribution): ``tests/test_images/``, three
  photos of Barack Obama (a podium, the White House) and one of Joe Biden.

The files are fetched from the package registry pip is configured with (``pip download
--no-deps``; nothing is installed, no package code runs) into ``root()``, checked against their
SHA-256, and the pictures are read straight out of the archives. Face boxes and eye centres were
measured once with BlazeFace as the runtime detects them (short range, on 400 px tiles of the group
photo; eyes image-left first) and live in ``package_photos_faces.json``; a test checks them when the
files are present.

``python -m export.data.package_photos`` fetches them (CI does); ``python -m export deepfake``
fetches them when they are missing. ``STREAMER_PACKAGE_PHOTOS`` points somewhere else than
``~/.cache/streamer/package-photos``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from export.data.faces import Photo
from export.errors import ExportError
from export.hashing import sha256 as _sha256

FACES = Path(__file__).with_name("package_photos_faces.json")
ENV = "STREAMER_PACKAGE_PHOTOS"


def root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamer" / "package-photos"
    return Path(os.environ.get(ENV, default))


@cache
def _spec() -> dict:
    return json.loads(FACES.read_text())


def _archives() -> dict[str, dict]:
    return _spec()["archives"]


def available() -> bool:
    """Whether every archive is in ``root()`` (its hash is checked when it is read)."""
    return all((root() / name).is_file() for name in _archives())


def fetch(log: Callable[[str], None] = print) -> Path:
    """Download the missing archives with ``pip download --no-deps`` and check their hashes.

    Raises ``ExportError`` (one line) when pip cannot get a file or a file is not the one measured.
    """
    where = root()
    where.mkdir(parents=True, exist_ok=True)
    for name, rec in _archives().items():
        path = where / name
        if path.is_file() and _sha256(path) == rec["sha256"]:
            continue
        log(f"package photos: fetching {name} from the package registry (pip download)")
        binary = ["--only-binary", ":all:"] if name.endswith(".whl") else ["--no-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        cmd += binary + ["--dest", str(where), rec["requirement"]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not path.is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            why = lines[-1].strip() if lines else f"pip exited with {proc.returncode}"
            req = rec["requirement"]
            raise ExportError(f"package photos: pip could not download {req} into {where}: {why}")
        if _sha256(path) != rec["sha256"]:
            path.unlink()
            raise ExportError(
                f"package photos: {name} from the registry is not the file measured (SHA-256 differs); "
                "it was removed"
            )
    return where


def _archive(name: str) -> Path:
    """``root() / name``, present and the file measured; else a one-line error naming the fix."""
    path = root() / name
    if not path.is_file():
        raise ExportError(
            f"{path} is missing: the deepfake data need it; run `python -m export.data.package_photos` "
            f"(pip downloads it from the package registry) or point {ENV} at a folder holding it"
        )
    _verify(path, _archives()[name]["sha256"])
    return path


@cache
def _verify(path: Path, sha256: str) -> None:
    if _sha256(path) != sha256:
        raise ExportError(f"{path} is not the file measured (SHA-256 differs): delete it and fetch again")


def _read(path: Path, member: str) -> bytes:
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return z.read(member)
    with tarfile.open(path, "r:gz") as t:
        f = t.extractfile(member)
        if f is None:
            raise ExportError(f"{path}: {member} is not a file")
        return f.read()


@cache
def package_photos() -> tuple[tuple[str, Photo], ...]:
    """(person, photo) for every measured face (module doc); a person may have several photos."""
    import cv2

    out = []
    pictures: dict[tuple[str, str], np.ndarray] = {}
    for rec in _spec()["faces"]:
        key = (rec["archive"], rec["member"])
        if key not in pictures:
            path = _archive(rec["archive"])
            bgr = cv2.imdecode(np.frombuffer(_read(path, rec["member"]), np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ExportError(f"{path}: {rec['member']} is not a picture")
            pictures[key] = np.ascontiguousarray(bgr[..., ::-1])
        (lx, ly), (rx, ry) = rec["eyes"]
        box = tuple(float(v) for v in rec["box"])
        out.append((rec["person"], Photo(pictures[key], box, ((lx, ly), (rx, ry)))))  # type: ignore[arg-type]
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m export.data.package_photos",
        description="Fetch the package files whose photos of real people the deepfake data use.",
    )
    ap.parse_args(argv)
    try:
        where = fetch()
        n = len(package_photos())
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"package photos: {n} faces of {len({p for p, _ in package_photos()})} people in {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
