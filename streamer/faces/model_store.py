"""The model cache: face detector files fetched once, verified by sha256, kept in a user folder.

MediaPipe's current release ships no model files, so ``streamer`` keeps the BlazeFace detectors
in a cache folder, ``~/.cache/streamer`` (or ``$STREAMER_CACHE``). ``streamer models pull``
fills it; the ``face_detect`` stage calls :func:`ensure`, which pulls on first use with one
line of output. Two sources, tried in order:

1. the ``mediapipe==0.10.14`` wheel on the package index, downloaded with ``pip download``
   (a 36 MB wheel, any platform: the .tflite files are the same in all of them) and opened
   as a zip: the model ships inside a package, so nothing comes from a model hub, and a
   machine that reaches only the package index (CI, a proxy) gets the files;
2. only when that fails (no pip, an index without the wheel): MediaPipe's asset storage
   (``storage.googleapis.com/mediapipe-assets/...``), 5 s timeout.

Both give byte-identical files (the sha256 below is the one MediaPipe's own build pins for
that URL), and every fetched file is checked against it before it is written (atomically:
temp file + rename). A file in the cache with the wrong hash is removed and fetched again.

The full-range model is ``face_detection_full_range_sparse.tflite``, the variant the wheel
ships (the dense ``face_detection_full_range.tflite`` is not in it). Both files lack TFLite
metadata and load as they are in MediaPipe's Tasks ``FaceDetector`` (checked with mediapipe
1.2.2): the Tasks graph derives anchors and the [-1, 1] input range itself.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.errors import StreamerError

ENV_VAR = "STREAMER_CACHE"
WHEEL = "mediapipe==0.10.14"
URL_TIMEOUT_S = 5.0
PIP_TIMEOUT_S = 300.0
Log = Callable[[str], None]


class ModelStoreError(StreamerError):
    """A model file is missing, corrupt or cannot be fetched."""


@dataclass(frozen=True)
class ModelInfo:
    """One known model file and where it comes from."""

    name: str
    title: str  # for messages: "BlazeFace short-range"
    filename: str
    url: str
    wheel_member: str
    sha256: str
    size: int


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            name="blaze_face_short_range",
            title="BlazeFace short-range",
            filename="face_detection_short_range.tflite",
            url="https://storage.googleapis.com/mediapipe-assets/face_detection_short_range.tflite",
            wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
            sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            size=229_714,
        ),
        ModelInfo(
            name="blaze_face_full_range",
            title="BlazeFace full-range",
            filename="face_detection_full_range_sparse.tflite",
            url="https://storage.googleapis.com/mediapipe-assets/face_detection_full_range_sparse.tflite",
            wheel_member="mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
            size=676_746,
        ),
    )
}


def cache_dir() -> Path:
    """The cache folder: ``$STREAMER_CACHE`` if set, else ``~/.cache/streamer``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "streamer"


def _info(name: str) -> ModelInfo:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ModelStoreError(f"unknown model '{name}'; expected one of: {known}") from None


def model_path(name: str) -> Path:
    """Where model ``name`` lives in the cache (whether or not it is there)."""
    return cache_dir() / _info(name).filename


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_ok(path: Path, info: ModelInfo) -> bool:
    try:
        if path.stat().st_size != info.size:
            return False
        return _sha256(path.read_bytes()) == info.sha256
    except OSError:
        return False


def _fetch_url(info: ModelInfo) -> bytes:
    """The file from MediaPipe's storage (raises OSError without network)."""
    import urllib.request

    with urllib.request.urlopen(info.url, timeout=URL_TIMEOUT_S) as r:
        return bytes(r.read())


def _pip_download(dest: Path) -> Path:
    """Download the mediapipe wheel into ``dest`` with pip; the wheel's path."""
    base = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary=:all:"]
    base += ["--disable-pip-version-check", "--retries", "1", "--timeout", "15", "-d", str(dest)]
    # pip picks a wheel for this machine; if there is none (a newer Python, another OS), any
    # platform's wheel holds the same .tflite files
    attempts = [[], ["--platform", "manylinux2014_x86_64", "--python-version", "3.11"]]
    errors: list[str] = []
    for extra in attempts:
        try:
            r = subprocess.run(
                base + extra, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(str(e))
            continue
        wheels = sorted(dest.glob("mediapipe-*.whl"))
        if r.returncode == 0 and wheels:
            return wheels[0]
        tail = (r.stderr or r.stdout).strip().splitlines()
        errors.append(tail[-1] if tail else f"pip exited with {r.returncode}")
    raise OSError(f"pip download {WHEEL} failed: {errors[-1] if errors else 'unknown error'}")


def _fetch_wheel(infos: Iterable[ModelInfo]) -> dict[str, bytes]:
    """The files of ``infos`` from the mediapipe wheel on the package index."""
    with tempfile.TemporaryDirectory(prefix="streamer-wheel-") as d:
        wheel = _pip_download(Path(d))
        with zipfile.ZipFile(wheel) as z:
            return {i.name: z.read(i.wheel_member) for i in infos}


def _write(info: ModelInfo, data: bytes, source: str) -> Path:
    """Verify ``data`` and write it atomically to the cache; on a mismatch remove what is there."""
    dest = cache_dir() / info.filename
    if _sha256(data) != info.sha256:
        dest.unlink(missing_ok=True)
        raise ModelStoreError(
            f"{info.filename} from {source}: sha256 {_sha256(data)[:16]}… does not match the expected "
            f"{info.sha256[:16]}…; not saved (run `streamer models pull` again)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{info.filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is not a secret
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _no_network(infos: list[ModelInfo], why: str) -> ModelStoreError:
    files = ", ".join(i.filename for i in infos)
    urls = " ".join(i.url for i in infos)
    return ModelStoreError(
        f"cannot fetch {files} ({why}); run `streamer models pull` when online, "
        f"or download {urls} and place it in {cache_dir()}"
    )


def _fetch(infos: list[ModelInfo], log: Log) -> list[Path]:
    """Fetch and store ``infos``: all from one download of the wheel on the package index; only
    when that fails (no pip, an index without it), each from MediaPipe's asset URL."""
    paths: dict[str, Path] = {}
    try:
        blobs = _fetch_wheel(infos)
    except Exception as e:  # noqa: BLE001 - pip missing, no network, no wheel: try the URLs
        wheel_why = str(e).splitlines()[0] if str(e) else type(e).__name__
    else:
        for info in infos:
            paths[info.name] = _write(info, blobs[info.name], f"the {WHEEL} wheel")
            log(f"{info.name}: extracted from the {WHEEL} wheel -> {paths[info.name]}")
        return [paths[i.name] for i in infos]
    for info in infos:
        try:
            data = _fetch_url(info)
        except Exception:  # noqa: BLE001 - no network, proxy, HTTP error
            raise _no_network(infos, f"no network? {wheel_why}") from None
        paths[info.name] = _write(info, data, info.url)
        log(f"{info.name}: fetched {info.url} -> {paths[info.name]}")
    return [paths[i.name] for i in infos]


def pull(names: Iterable[str] | None = None, log: Log = print, *, force: bool = False) -> list[Path]:
    """Make sure models ``names`` (default: all) are in the cache, fetching what is missing or
    corrupt (everything with ``force``); their paths, in the order asked."""
    infos = [_info(n) for n in (list(MODELS) if names is None else names)]
    missing = [i for i in infos if force or not _file_ok(cache_dir() / i.filename, i)]
    for info in infos:
        if info not in missing:
            log(f"{info.name}: present in {cache_dir()}")
    if missing:
        _fetch(missing, log)
    return [cache_dir() / i.filename for i in infos]


def ensure(name: str, log: Log = print) -> Path:
    """The path of model ``name``, fetched on first use with one line of output."""
    info = _info(name)
    path = cache_dir() / info.filename
    if _file_ok(path, info):
        return path
    if path.exists():
        path.unlink(missing_ok=True)  # a corrupt or truncated file: fetch it again
    log(f"fetching {info.title} model into {cache_dir()} (once)")
    return _fetch([info], lambda _m: None)[0]


def list_models() -> list[dict[str, Any]]:
    """One row per known model for ``streamer models``: name, status (ok | missing | corrupt),
    present, path, size in bytes (None when missing), title."""
    rows = []
    for info in MODELS.values():
        path = cache_dir() / info.filename
        ok = _file_ok(path, info)
        status = "ok" if ok else ("corrupt" if path.exists() else "missing")
        rows.append(
            {
                "name": info.name,
                "title": info.title,
                "status": status,
                "present": ok,
                "path": str(path),
                "size": path.stat().st_size if path.exists() else None,
            }
        )
    return rows
