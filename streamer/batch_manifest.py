"""``streamer batch``, part 2: the manifest that ``--resume`` reads.

One JSON file per batch (default ``.streamer-batch.GRAPH.json`` in the outputs' folder), keyed
by input path. It is rewritten whole after every finished file, atomically (a temporary file
beside it, then rename: ``streamer.io.output_file.write_atomic``), so a batch killed at any
moment leaves the manifest of its last finished file, never a torn one. A second batch writing
the same manifest at the same time is refused (the same lock the output files use).

An entry records what a finished job wrote: each output's size and mtime (a folder's file count
and total size), the input's size and mtime, and the job's ``config`` digest (graph text and
every override, output paths included). ``--resume`` skips a file only when all of these still
match: an output deleted, replaced or half-written since, a changed input or a changed graph or
``--set`` runs the file again. Example entry::

    "/data/in/a.mp4": {"status": "ok", "config": "3f2a...", "input": {"size": 1234, "mtime_ns": ...},
                       "outputs": [{"stage": "out", "path": "/data/out/a.mp4", "size": ..., ...}],
                       "frames": 150, "seconds": 1.9, "error": null}
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from streamer.batch_plan import BatchError, Job, Output

VERSION = 1


def file_state(path: str | Path, is_dir: bool = False) -> dict[str, Any] | None:
    """Size and mtime of a file, or file count and total size of a folder; None when absent."""
    p = Path(path)
    try:
        if is_dir:
            if not p.is_dir():
                return None
            entries = [e for e in os.scandir(p) if e.is_file()]
            return {"files": len(entries), "size": sum(e.stat().st_size for e in entries)}
        st = p.stat()
    except OSError:
        return None
    if not p.is_file():
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def outputs_state(outputs: tuple[Output, ...]) -> list[dict[str, Any]]:
    return [
        {"stage": o.stage, "path": o.path, "is_dir": o.is_dir, "state": file_state(o.path, o.is_dir)}
        for o in outputs
    ]


class Manifest:
    """The manifest file: load, update one entry, save atomically; locked while a batch runs."""

    def __init__(self, path: Path, graph: Path) -> None:
        self.path = path
        self.graph = graph
        self.entries: dict[str, dict[str, Any]] = {}
        self._lock: Any = None

    def load(self) -> None:
        """Read an existing manifest (absent: empty). A corrupt one is an error, not ignored."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise BatchError(
                f"{self.path}: unreadable manifest ({exc}); expected one written by streamer batch"
                " (delete it to start afresh)"
            ) from None
        if (
            not isinstance(doc, dict)
            or doc.get("version") != VERSION
            or not isinstance(doc.get("files"), dict)
        ):
            raise BatchError(f"{self.path}: not a streamer batch manifest (version {VERSION}); delete it")
        self.entries = doc["files"]

    def lock(self) -> None:
        """Refuse a second batch on this manifest (released by ``unlock``, or when we exit)."""
        from streamer.io.output_file import OutputFile

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = OutputFile(self.path, what="batch manifest")
        lock.acquire()
        self._lock = lock

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def complete(self, job: Job) -> bool:
        """True when the entry says the job finished and its outputs and input are unchanged."""
        e = self.entries.get(job.input)
        if not e or e.get("status") != "ok" or e.get("config") != job.config:
            return False
        if e.get("input") != file_state(job.input):
            return False
        recorded = {o.get("path"): o.get("state") for o in e.get("outputs", [])}
        for o in job.outputs:
            state = recorded.get(o.path)
            if state is None or state != file_state(o.path, o.is_dir):
                return False
        return True

    def record(self, job: Job, result: dict[str, Any]) -> None:
        """Store a job's outcome (outputs' state read now, after the job finalised them) and save."""
        self.entries[job.input] = {
            "status": result.get("status"),
            "config": job.config,
            "input": file_state(job.input),
            "outputs": outputs_state(job.outputs),
            "frames": result.get("frames"),
            "seconds": result.get("seconds"),
            "error": result.get("error"),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.save()

    def save(self) -> None:
        from streamer.io.output_file import write_atomic

        doc = {"version": VERSION, "graph": str(self.graph), "files": self.entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
