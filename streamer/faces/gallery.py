"""Gallery: the enrolled people, one averaged embedding each, in a plain JSON file.

JSON so it is readable and diff-able, and small (128 numbers a person)::

    {"format": "streamer-gallery/1",
     "embedder_id": "siamese-3f2a...", "embedder": "models/embedder.onnx", "threshold": 0.45,
     "people": [{"name": "alice", "embedding": [0.01, ...], "images": 3,
                 "sources": ["alice1.jpg", "alice2.jpg", "alice3.jpg"]}]}

Embeddings only compare within one embedder, so the file records the embedder's id and
``load`` refuses a gallery made by another one. Several photos of a person are averaged (mean
of the unit vectors, normalised again); enrolling a name again replaces it (``replace=True``,
the default here) or adds the new photos to the average (weighted by the photos counted so far).
Saving writes a temporary file next to the target and renames it, so a crash never leaves half a gallery.

Distance is cosine distance, ``1 - a·b`` for unit vectors: 0 same direction, 1 unrelated,
2 opposite.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamer.errors import StreamerError

FORMAT = "streamer-gallery/1"


class GalleryError(StreamerError):
    """A gallery file is missing, corrupt, or was made by another embedder."""


@dataclass
class Person:
    """One enrolled identity: its unit embedding and where it came from."""

    name: str
    embedding: np.ndarray
    images: int = 1
    sources: list[str] = field(default_factory=list)


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


class Gallery:
    """Enrolled people for one embedder; ``nearest`` finds the closest one for each embedding."""

    def __init__(
        self,
        embedder_id: str,
        *,
        embedder: str = "",
        threshold: float | None = None,
        people: Sequence[Person] = (),
        path: Path | None = None,
    ) -> None:
        self.embedder_id = embedder_id
        self.embedder = embedder
        self.threshold = threshold
        self.people: list[Person] = list(people)
        self.path = path
        self._matrix: np.ndarray | None = None

    # ------------------------------------------------------------------ file

    @classmethod
    def load(cls, path: str | Path, expected_embedder_id: str | None = None) -> Gallery:
        """Read a gallery file; one-line GalleryError for anything wrong with it."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise GalleryError(
                f"gallery not found: {path} (make one: streamer enroll --gallery {path} --name NAME IMAGE)"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise GalleryError(f"gallery {path}: cannot read it ({type(e).__name__}: {e})") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise GalleryError(
                f"gallery {path}: not valid JSON (line {e.lineno}: {e.msg}); re-enroll or restore the file"
            ) from None
        gallery = cls._parse(raw, path)
        if expected_embedder_id is not None and gallery.embedder_id != expected_embedder_id:
            raise GalleryError(
                f"gallery {path} was made by embedder {gallery.embedder_id}, this graph uses "
                f"{expected_embedder_id}: re-enroll with that model (streamer enroll --gallery NEW.json "
                "--model MODEL --name NAME IMAGE...) or use the model the gallery was made with"
            )
        return gallery

    @classmethod
    def _parse(cls, raw: Any, path: Path) -> Gallery:
        def bad(what: str) -> GalleryError:
            return GalleryError(f"gallery {path}: {what}; expected a file written by `streamer enroll`")

        if not isinstance(raw, dict):
            raise bad(f"expected a JSON object, got {type(raw).__name__}")
        if raw.get("format") != FORMAT:
            raise bad(f"format {raw.get('format')!r}, expected {FORMAT!r}")
        embedder_id = raw.get("embedder_id")
        if not isinstance(embedder_id, str) or not embedder_id:
            raise bad("no embedder_id")
        threshold = raw.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
            raise bad(f"threshold {threshold!r} is not a number")
        people_raw = raw.get("people")
        if not isinstance(people_raw, list):
            raise bad("no 'people' list")
        people: list[Person] = []
        dim: int | None = None
        for i, entry in enumerate(people_raw):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise bad(f"person {i} has no name")
            name = entry["name"]
            emb = entry.get("embedding")
            if (
                not isinstance(emb, list)
                or not emb
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in emb)
            ):
                raise bad(f"person '{name}': embedding is not a list of numbers")
            vec = np.asarray(emb, np.float32)
            if dim is None:
                dim = vec.size
            elif vec.size != dim:
                raise bad(f"person '{name}': embedding has {vec.size} numbers, others have {dim}")
            if not np.all(np.isfinite(vec)) or float(np.linalg.norm(vec)) < 1e-6:
                raise bad(f"person '{name}': embedding is zero or not finite")
            if any(p.name == name for p in people):
                raise bad(f"person '{name}' appears twice")
            sources = entry.get("sources") or []
            people.append(Person(name, _unit(vec), int(entry.get("images") or 1), [str(s) for s in sources]))
        return cls(
            embedder_id,
            embedder=str(raw.get("embedder") or ""),
            threshold=None if threshold is None else float(threshold),
            people=people,
            path=path,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "embedder_id": self.embedder_id,
            "embedder": self.embedder,
            "threshold": self.threshold,
            "people": [
                {
                    "name": p.name,
                    "embedding": [round(float(v), 7) for v in p.embedding],
                    "images": p.images,
                    "sources": p.sources,
                }
                for p in self.people
            ],
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Write atomically (temporary file in the same folder, then rename)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("Gallery.save: no path given and the gallery was not loaded from one")
        tmp: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.fchmod(fd, mode)  # mkstemp makes 0600; a gallery is an ordinary file
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_json(), f, indent=1)
                f.write("\n")
            os.replace(tmp, target)
        except OSError as e:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise GalleryError(
                f"gallery {target}: cannot write it ({e.strerror or e}); check the folder"
            ) from None
        self.path = target
        return target

    # ------------------------------------------------------------------ people

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.people]

    @property
    def dim(self) -> int | None:
        return int(self.people[0].embedding.size) if self.people else None

    @property
    def matrix(self) -> np.ndarray:
        """float32 [P, D]: the people's unit embeddings, one row each (cached)."""
        if self._matrix is None:
            self._matrix = (
                np.stack([p.embedding for p in self.people]) if self.people else np.zeros((0, 0), np.float32)
            )
        return self._matrix

    def add(
        self, name: str, embeddings: np.ndarray, sources: Sequence[str] = (), *, replace: bool = True
    ) -> bool:
        """Enroll ``name`` from one or more embeddings [N, D] (averaged, then normalised).

        When ``name`` is enrolled already, ``replace`` replaces it; otherwise the new embeddings
        join its average, each old photo counting as much as a new one (``images`` adds up).
        Returns True when ``name`` was already enrolled.
        """
        if not name or not name.strip():
            raise GalleryError("person name is empty; expected a name such as --name alice")
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim == 1:
            emb = emb[None]
        if emb.ndim != 2 or emb.shape[0] == 0:
            raise ValueError(f"Gallery.add: expected embeddings [N, D], got {emb.shape}")
        if (
            self.dim is not None
            and emb.shape[1] != self.dim
            and not (len(self.people) == 1 and self.people[0].name == name)
        ):
            raise GalleryError(
                f"gallery {self.path or ''}: embeddings of {emb.shape[1]} numbers, it holds {self.dim}"
            )
        person = Person(name, _unit(_unit(emb).mean(axis=0)), int(emb.shape[0]), [str(s) for s in sources])
        replaced = False
        for i, p in enumerate(self.people):
            if p.name == name:
                if not replace and p.embedding.size == emb.shape[1]:
                    total = p.embedding * p.images + _unit(emb).sum(axis=0)
                    person = Person(name, _unit(total), p.images + person.images, p.sources + person.sources)
                self.people[i] = person
                replaced = True
                break
        else:
            self.people.append(person)
        self._matrix = None
        return replaced

    def remove(self, name: str) -> bool:
        """Forget ``name``; True when it was there."""
        before = len(self.people)
        self.people = [p for p in self.people if p.name != name]
        self._matrix = None
        return len(self.people) != before

    def distances(self, embeddings: np.ndarray) -> np.ndarray:
        """float32 [N, P]: cosine distance of each embedding to each person."""
        emb = np.asarray(embeddings, np.float32)
        if not self.people:
            return np.zeros((len(emb), 0), np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise GalleryError(
                f"gallery {self.path or ''}: embeddings of shape {emb.shape}, expected [N, {self.dim}]; "
                "was it made with this embedder?"
            )
        return np.clip(1.0 - emb @ self.matrix.T, 0.0, 2.0)  # rounding can dip below 0

    def nearest(self, embeddings: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        """The nearest person for each embedding [N, D] and its cosine distance (float32 [N]);
        (None, inf) for every row of an empty gallery. No threshold is applied here."""
        d = self.distances(embeddings)
        if d.shape[1] == 0:
            return [None] * len(d), np.full(len(d), np.inf, np.float32)
        idx = d.argmin(axis=1)
        names = self.names
        return [names[i] for i in idx], d[np.arange(len(d)), idx]
