"""The model cache: real fetch from the mediapipe wheel, sha256 checks, offline errors.

Failure tests run against a temporary cache (``STREAMER_CACHE``) with the fetchers replaced;
the real wheel extraction runs once into a temporary cache (pip's own cache makes reruns fast).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streamer.errors import StreamerError
from streamer.faces import model_store as ms
from tests.unit.faces.test_detect import models

SHORT = "blaze_face_short_range"
FULL = "blaze_face_full_range"


def real_bytes(name: str) -> bytes:
    """The verified model file from the user cache."""
    paths = dict(zip(ms.MODELS, models(), strict=True))
    return paths[name].read_bytes()


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    real_bytes(SHORT)  # resolve the user cache before switching to the temporary one
    cache = tmp_path / "cache"
    monkeypatch.setenv(ms.ENV_VAR, str(cache))
    return cache


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_net(*_a: object) -> bytes:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(ms, "_fetch_url", no_net)
    monkeypatch.setattr(ms, "_fetch_wheel", no_net)


def test_cache_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ms.ENV_VAR, raising=False)
    assert ms.cache_dir() == Path.home() / ".cache" / "streamer"
    monkeypatch.setenv(ms.ENV_VAR, str(tmp_path / "c"))
    assert ms.cache_dir() == tmp_path / "c"
    assert ms.model_path(SHORT) == tmp_path / "c" / "face_detection_short_range.tflite"


def test_pulled_models_match_the_recorded_sha256() -> None:
    for name, path in zip(ms.MODELS, models(), strict=True):
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == ms.MODELS[name].sha256
        assert len(data) == ms.MODELS[name].size
        assert data[4:8] == b"TFL3", "a TFLite flatbuffer"


def test_real_fetch_from_the_wheel_first(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package index's wheel is the source: no model hub is asked when it works."""

    def no_url(*_a: object) -> bytes:
        raise AssertionError("the asset URL must not be needed")

    monkeypatch.setattr(ms, "_fetch_url", no_url)
    lines: list[str] = []
    paths = ms.pull([SHORT, FULL], log=lines.append)
    assert paths == [
        tmp_cache / "face_detection_short_range.tflite",
        tmp_cache / "face_detection_full_range_sparse.tflite",
    ]
    assert paths[0].read_bytes() == real_bytes(SHORT) and paths[1].read_bytes() == real_bytes(FULL)
    assert len(lines) == 2 and all("mediapipe==0.10.14 wheel" in ln for ln in lines)
    assert sorted(p.name for p in tmp_cache.iterdir()) == sorted(p.name for p in paths), "no temp files left"


def test_url_is_the_fallback_when_the_wheel_fails(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ms, "_fetch_url", lambda info: real_bytes(info.name))

    def no_wheel(*_a: object) -> dict[str, bytes]:
        raise OSError("pip: no index")

    monkeypatch.setattr(ms, "_fetch_wheel", no_wheel)
    lines: list[str] = []
    (path,) = ms.pull([SHORT], log=lines.append)
    assert path.read_bytes() == real_bytes(SHORT)
    assert len(lines) == 1 and ms.MODELS[SHORT].url in lines[0]


def test_ensure_fetches_once_with_one_line(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def wheel(infos: list[ms.ModelInfo]) -> dict[str, bytes]:
        calls.extend(i.name for i in infos)
        return {i.name: real_bytes(i.name) for i in infos}

    monkeypatch.setattr(ms, "_fetch_wheel", wheel)
    lines: list[str] = []
    p = ms.ensure(SHORT, log=lines.append)
    assert p == tmp_cache / "face_detection_short_range.tflite" and p.is_file()
    assert lines == [f"fetching BlazeFace short-range model into {tmp_cache} (once)"]
    assert ms.ensure(SHORT, log=lines.append) == p
    assert len(lines) == 1 and calls == [SHORT], "second call: no fetch, no output"


def test_present_files_are_not_fetched_again(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_cache.mkdir()
    (tmp_cache / "face_detection_short_range.tflite").write_bytes(real_bytes(SHORT))
    offline(monkeypatch)
    lines: list[str] = []
    assert ms.pull([SHORT], log=lines.append) == [tmp_cache / "face_detection_short_range.tflite"]
    assert ms.ensure(SHORT, log=lines.append).is_file()
    assert lines == [f"{SHORT}: present in {tmp_cache}"]


def test_sha256_mismatch_is_an_error_and_removes_the_file(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_cache.mkdir()
    target = tmp_cache / "face_detection_short_range.tflite"
    target.write_bytes(real_bytes(SHORT)[:-10] + b"0123456789")  # corrupt: same size, other bytes
    monkeypatch.setattr(ms, "_fetch_wheel", lambda infos: (_ for _ in ()).throw(OSError("no")))
    monkeypatch.setattr(ms, "_fetch_url", lambda info: b"<html>captive portal</html>")
    with pytest.raises(ms.ModelStoreError) as e:
        ms.ensure(SHORT, log=lambda _m: None)
    msg = str(e.value)
    assert "sha256" in msg and "\n" not in msg and "streamer models pull" in msg
    assert not target.exists()
    assert list(tmp_cache.iterdir()) == [], "no temp files left"
    # the same through the wheel
    monkeypatch.setattr(ms, "_fetch_url", lambda info: (_ for _ in ()).throw(OSError("no")))
    monkeypatch.setattr(ms, "_fetch_wheel", lambda infos: {i.name: b"x" * i.size for i in infos})
    with pytest.raises(ms.ModelStoreError, match="sha256"):
        ms.pull([SHORT], log=lambda _m: None)
    assert not target.exists()


def test_no_network_is_a_one_line_error_naming_the_command_and_the_cache(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    with pytest.raises(StreamerError) as e:
        ms.ensure(FULL, log=lambda _m: None)
    msg = str(e.value)
    assert isinstance(e.value, ms.ModelStoreError)
    assert "\n" not in msg
    assert "streamer models pull" in msg
    assert str(tmp_cache) in msg and "face_detection_full_range_sparse.tflite" in msg
    assert not (tmp_cache / "face_detection_full_range_sparse.tflite").exists()


def test_face_detector_offline_without_the_model_fails_in_one_line(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamer.faces.detect import FaceDetector

    offline(monkeypatch)
    lines: list[str] = []
    with pytest.raises(ms.ModelStoreError) as e:
        FaceDetector(log=lines.append)
    assert "streamer models pull" in str(e.value) and str(tmp_cache) in str(e.value)
    assert len(lines) == 1 and "fetching" in lines[0]


def test_list_models(tmp_cache: Path) -> None:
    rows = {r["name"]: r for r in ms.list_models()}
    assert set(rows) == set(ms.MODELS)
    assert (
        rows[SHORT]["status"] == "missing" and rows[SHORT]["present"] is False and rows[SHORT]["size"] is None
    )
    tmp_cache.mkdir()
    (tmp_cache / "face_detection_short_range.tflite").write_bytes(real_bytes(SHORT))
    (tmp_cache / "face_detection_full_range_sparse.tflite").write_bytes(b"truncated")
    rows = {r["name"]: r for r in ms.list_models()}
    assert rows[SHORT]["status"] == "ok" and rows[SHORT]["present"] is True
    assert rows[SHORT]["size"] == ms.MODELS[SHORT].size
    assert rows[SHORT]["path"] == str(tmp_cache / "face_detection_short_range.tflite")
    assert rows[FULL]["status"] == "corrupt" and rows[FULL]["present"] is False


def test_unknown_model_name() -> None:
    with pytest.raises(ms.ModelStoreError, match="expected one of: blaze_face_short_range"):
        ms.pull(["yolo"])
