"""Gallery: the JSON file round trip, averaging, replacing, nearest, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamer.errors import StreamerError
from streamer.faces.gallery import FORMAT, Gallery, GalleryError


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def _gallery() -> Gallery:
    g = Gallery("emb-A", embedder="models/embedder.onnx", threshold=0.5)
    g.add("alice", _unit([1, 0, 0, 0]), sources=["a.jpg"])
    g.add("bob", _unit([0, 1, 0, 0]), sources=["b.jpg"])
    return g


def test_round_trip(tmp_path: Path) -> None:
    g = _gallery()
    path = g.save(tmp_path / "sub" / "gallery.json")
    assert path.exists() and not list(path.parent.glob("*.tmp"))  # temp file renamed away
    assert path.stat().st_mode & 0o777 == 0o644
    raw = json.loads(path.read_text())
    assert raw["format"] == FORMAT and raw["embedder_id"] == "emb-A" and raw["threshold"] == 0.5
    assert [p["name"] for p in raw["people"]] == ["alice", "bob"]
    assert raw["people"][0]["sources"] == ["a.jpg"] and raw["people"][0]["images"] == 1
    back = Gallery.load(path, expected_embedder_id="emb-A")
    assert (
        back.names == ["alice", "bob"] and back.threshold == 0.5 and back.embedder == "models/embedder.onnx"
    )
    np.testing.assert_allclose(back.matrix, g.matrix, atol=1e-6)
    assert back.path == path


def test_average_of_several_images() -> None:
    g = Gallery("emb-A")
    replaced = g.add("carol", np.stack([_unit([1, 0, 0]), _unit([0, 1, 0]), _unit([2, 2, 0]) * 5]))
    assert not replaced
    person = g.people[0]
    assert person.images == 3
    # each vector is normalised first, then averaged and normalised again
    np.testing.assert_allclose(person.embedding, _unit([1, 1, 0]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(person.embedding), 1.0, atol=1e-6)


def test_replace_existing_name() -> None:
    g = _gallery()
    assert g.add("alice", _unit([0, 0, 1, 0])) is True
    assert g.names == ["alice", "bob"]
    np.testing.assert_allclose(g.people[0].embedding, _unit([0, 0, 1, 0]))
    names, d = g.nearest(_unit([0, 0, 1, 0])[None])
    assert names == ["alice"] and d[0] == pytest.approx(0.0, abs=1e-6)


def test_nearest_cosine_distance() -> None:
    g = _gallery()
    queries = np.stack(
        [_unit([1, 0.1, 0, 0]), _unit([0, 1, 0, 0]), _unit([0, 0, 0, 1]), _unit([-1, 0, 0, 0])]
    )
    names, d = g.nearest(queries)
    assert names[:2] == ["alice", "bob"]
    assert d[0] == pytest.approx(1 - 1 / np.sqrt(1.01), abs=1e-6)
    assert d[1] == pytest.approx(0.0, abs=1e-6)
    assert d[2] == pytest.approx(1.0, abs=1e-6)  # orthogonal to both
    assert names[3] == "bob" and d[3] == pytest.approx(1.0, abs=1e-6)  # opposite alice: 2.0
    assert g.distances(queries)[3, 0] == pytest.approx(2.0, abs=1e-6)


def test_empty_gallery_nearest() -> None:
    names, d = Gallery("x").nearest(np.ones((2, 4), np.float32))
    assert names == [None, None] and np.all(np.isinf(d))


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(err.value)
    assert "\n" not in msg and isinstance(err.value, StreamerError)
    return msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GalleryError) as err:
        Gallery.load(tmp_path / "none.json")
    msg = _one_line(err)
    assert "gallery not found" in msg and "none.json" in msg and "streamer enroll" in msg


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format": "other/2", "embedder_id": "a", "people": []}', "format 'other/2'"),
        (json.dumps({"format": FORMAT, "people": []}), "no embedder_id"),
        (json.dumps({"format": FORMAT, "embedder_id": "a"}), "no 'people' list"),
        (json.dumps({"format": FORMAT, "embedder_id": "a", "people": [{"embedding": [1.0]}]}), "no name"),
        (
            json.dumps({"format": FORMAT, "embedder_id": "a", "people": [{"name": "x", "embedding": "abc"}]}),
            "not a list of numbers",
        ),
        (
            json.dumps(
                {
                    "format": FORMAT,
                    "embedder_id": "a",
                    "people": [{"name": "x", "embedding": [1.0, 0.0]}, {"name": "y", "embedding": [1.0]}],
                }
            ),
            "has 1 numbers, others have 2",
        ),
        (
            json.dumps(
                {"format": FORMAT, "embedder_id": "a", "people": [{"name": "x", "embedding": [0.0, 0.0]}]}
            ),
            "zero or not finite",
        ),
        (json.dumps({"format": FORMAT, "embedder_id": "a", "threshold": "high", "people": []}), "threshold"),
    ],
)
def test_corrupt_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "g.json"
    path.write_text(content)
    with pytest.raises(GalleryError) as err:
        Gallery.load(path)
    msg = _one_line(err)
    assert expected in msg and str(path) in msg


def test_other_embedder(tmp_path: Path) -> None:
    path = _gallery().save(tmp_path / "g.json")
    with pytest.raises(GalleryError) as err:
        Gallery.load(path, expected_embedder_id="emb-B")
    msg = _one_line(err)
    assert "made by embedder emb-A" in msg and "uses emb-B" in msg and "re-enroll" in msg


def test_add_rejects_other_dimension_and_empty_name() -> None:
    g = _gallery()
    with pytest.raises(GalleryError, match="it holds 4"):
        g.add("carol", _unit([1, 0, 0]))
    with pytest.raises(GalleryError, match="name is empty"):
        g.add(" ", _unit([1, 0, 0, 0]))


def test_save_atomic_keeps_old_file_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _gallery().save(tmp_path / "g.json")
    before = path.read_text()
    g = Gallery.load(path)
    g.add("dave", _unit([0, 0, 1, 0]))

    def boom(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("streamer.faces.gallery.os.replace", boom)
    with pytest.raises(GalleryError, match="cannot write it"):
        g.save()
    assert path.read_text() == before  # the old gallery is intact
    assert sorted(x.name for x in tmp_path.iterdir()) == ["g.json"]  # no temp file left behind
