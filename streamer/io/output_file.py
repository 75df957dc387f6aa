"""Output files that never destroy or corrupt (DESIGN 3.4b): one place for every file sink.

Three guarantees, each cheap:

- **Temporary name, then rename.** A file is written as ``x.partial.mp4`` beside ``x.mp4`` (same
  folder, so the rename is atomic; same extension, so a player opens the partial file too) and
  renamed to ``x.mp4`` only when finalised. A stopped run (Ctrl-C, SIGTERM) finalises, so the
  final name holds a complete file; a run that fails or is killed leaves ``x.partial.mp4`` and
  the final name untouched (an old ``x.mp4`` survives a crashed rerun).
- **One writer per path.** ``fcntl.flock`` on a sidecar ``.x.mp4.lock`` beside the target,
  taken when the sink opens. The kernel drops the lock when the process ends, ``kill -9``
  included, so a lock file left behind never blocks the next run. flock conflicts between two
  opens in one process too, so two sinks of one run are refused the same way.
- **An output is never an input.** ``check_outputs`` (called at the end of ``build_graph``, so
  ``streamer check`` reports it) compares every declared output with every file a stage reads,
  by device and inode where both exist (symlinks, hard links, ``./x`` vs ``x``, relative vs
  absolute), and every two outputs with each other, before anything runs.

Example::

    out = OutputFile(Path("out/x.mp4"), what="stage 'out' (encode)")
    out.acquire()                 # SinkError (one line) when another writer holds it
    write_to(out.partial)         # out/x.partial.mp4
    out.commit()                  # renamed to out/x.mp4, lock released
"""

from __future__ import annotations

import errno
import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from streamer.errors import GraphError, SinkError

_GLOB_CHARS = frozenset("*?[")


def _lock(fd: int) -> None:
    """Exclusive, non-blocking lock of an open file; OSError (EWOULDBLOCK/EACCES) when held.
    flock on Linux/macOS (per open file, so two opens in one process conflict too); msvcrt's
    byte-range lock on Windows."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def partial_path(target: Path) -> Path:
    """``out/x.mp4`` -> ``out/x.partial.mp4``: beside the target, same extension (it still plays)."""
    return target.with_name(f"{target.stem}.partial{target.suffix}")


def lock_path(target: Path) -> Path:
    """``out/x.mp4`` -> ``out/.x.mp4.lock``: the sidecar file that writers of ``x.mp4`` flock."""
    return target.with_name(f".{target.name}.lock")


def real_target(path: str | Path) -> Path:
    """The absolute path a writer really writes: ``~`` expanded, symlinks followed (writing
    through a link keeps the link), ``./`` and ``..`` folded, so every spelling shares one lock."""
    text = str(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return Path(os.path.realpath(Path(text).expanduser()))


class OutputFile:
    """One output path: its lock, its partial name and the final rename (see the module doc)."""

    def __init__(self, target: str | Path, *, what: str = "output", overwrite: bool = True) -> None:
        self.requested = Path(str(target))
        self.target = real_target(target)
        self.partial = partial_path(self.target)
        self.lock_file = lock_path(self.target)
        self.what = what
        self.overwrite = overwrite
        self._fd: int | None = None
        # a FIFO, a device (/dev/null, /dev/stdout: its real path may be "pipe:[N]") or a socket
        # is written in place, by the name given: no partial file, no lock, no rename
        given = self.requested.expanduser()
        self.special = given.exists() and not (given.is_file() or given.is_dir())
        if self.special:
            self.target = self.partial = given

    @property
    def shown(self) -> str:
        """The partial file as a user reads it: relative to the working directory when inside it."""
        rel = os.path.relpath(self.partial)
        return str(self.partial) if rel.startswith("..") else rel

    def left_over(self) -> str | None:
        """A partial file an earlier run left (killed or failed), which this one will replace:
        the line that says so, else None. Call after ``acquire`` (no live writer has it then)."""
        if self.special or not self.partial.is_file():
            return None
        return f"{self.shown} left by an earlier run that did not finish will be replaced"

    @property
    def locked(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the writer's lock (non-blocking): SinkError naming the path when it is held."""
        if self._fd is not None or self.special:
            return
        for _ in range(10):  # retried only when a holder removed the lock file under us
            try:
                fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise SinkError(
                    f"{self.what}: cannot create lock file {self.lock_file} ({exc.strerror or exc});"
                    " expected a writable folder"
                ) from None
            try:
                _lock(fd)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                    why = exc.strerror or exc
                    raise SinkError(f"{self.what}: cannot lock {self.lock_file} ({why})") from None
                by = f"process {holder}" if holder else "another writer"
                raise SinkError(
                    f"{self.what}: {self.requested} is being written by {by} (lock {self.lock_file});"
                    " expected a path no other run or stage is writing"
                ) from None
            # the previous holder unlinks the lock file before it unlocks: make sure ours is
            # still the file at that name, else we locked an orphan and must start over
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.lock_file))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return
            os.close(fd)
        raise SinkError(f"{self.what}: could not lock {self.lock_file}; expected it to settle")

    def release(self) -> None:
        """Remove the lock file, then unlock (in that order: see ``acquire``). Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if os.name == "nt":  # Windows cannot remove an open file
            os.close(fd)
            self.lock_file.unlink(missing_ok=True)
            return
        try:
            self.lock_file.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def check_target(self) -> None:
        """Before writing: the target must not be a folder (nor exist, without overwrite)."""
        if self.special:
            return
        if self.target.is_dir():
            raise SinkError(f"{self.what}: {self.requested} is a folder; expected a file path")
        if not self.overwrite and self.target.exists():
            raise SinkError(f"{self.what}: {self.requested} exists; remove it or set overwrite: true")

    def commit(self) -> None:
        """Rename the finished partial file to the target (atomic), then release the lock."""
        if self.special:
            return
        try:
            if self.overwrite:
                os.replace(self.partial, self.target)
            else:
                os.link(self.partial, self.target)  # fails instead of replacing a file made meanwhile
                self.partial.unlink()
        except OSError as exc:
            self.release()
            raise SinkError(
                f"{self.what}: cannot rename {self.shown} to {self.requested} ({exc.strerror or exc});"
                f" the finished file is {self.shown}"
            ) from None
        self.release()

    def discard(self) -> None:
        """Nothing worth keeping (no frame written): remove the partial file, release the lock."""
        if not self.special:
            self.partial.unlink(missing_ok=True)
        self.release()

    def keep_partial(self) -> str:
        """The run failed: leave the partial file (the final name untouched), release the lock,
        and return the one line that says where the partial file is."""
        self.release()
        if self.special:
            return f"{self.requested} not finalised"
        return f"{self.requested} not finalised; what was written so far is in {self.shown}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write a small file whole or not at all: ``.name.partial`` beside it, then rename."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


# -- the graph-time check ------------------------------------------------------------------------


class _Spec(Protocol):
    """What ``check_outputs`` needs of a ``graph.StageSpec`` (read-only: it is frozen)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def line(self) -> int | None: ...
    @property
    def params(self) -> Any: ...
    @property
    def cls(self) -> Any: ...


def _resolve_input(text: str, graph_dir: Path | None) -> list[Path]:
    """The existing files/folders an input value names, resolved like ``RunContext.resolve``
    (as given if it exists, else beside the graph file); a glob names what it matches."""
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text or not text.strip():
        return []
    p = Path(text).expanduser()
    if _GLOB_CHARS & set(text):
        pattern = str(p if p.is_absolute() or graph_dir is None or glob.glob(str(p)) else graph_dir / p)
        return [Path(m) for m in sorted(glob.glob(pattern))[:100_000]]
    if p.exists():
        return [p]
    if graph_dir is not None and not p.is_absolute() and (graph_dir / p).exists():
        return [graph_dir / p]
    return []


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def _same(a: Path, b: Path) -> bool:
    """Same file or folder: by device and inode when both exist, else by the real path."""
    sa, sb = _stat(a), _stat(b)
    if sa is not None and sb is not None:
        return os.path.samestat(sa, sb)
    return real_target(a) == real_target(b)


def _inside(path: Path, folder: Path) -> bool:
    try:
        real_target(path).relative_to(real_target(folder))
    except ValueError:
        return False
    return True


def check_outputs(specs: Sequence[_Spec], fname: str, graph_path: Path | None) -> None:
    """Refuse (GraphError, one line) an output that is an input or another output.

    Outputs are what ``Stage.output_paths`` declares; inputs are what ``Stage.input_paths``
    names and exists now. A folder output (``frames``) may not be an input folder nor hold an
    input file; a file output may not be an input file, nor its partial or lock file.
    """
    graph_dir = graph_path.parent if graph_path is not None else None
    inputs: list[tuple[_Spec, str, Path]] = []
    outputs: list[tuple[_Spec, str, str, Path, bool]] = []
    for s in specs:
        declared = list(s.cls.output_paths(s.params))
        for key, value, is_dir in declared:
            text = value[len("file://") :] if value.startswith("file://") else value
            outputs.append((s, key, value, Path(text).expanduser(), is_dir))
        skip = {key for key, _, _ in declared}
        for key, value in s.cls.input_paths(s.params):
            if key not in skip:
                inputs.extend((s, key, p) for p in _resolve_input(value, graph_dir))

    for i, (s, key, value, out, is_dir) in enumerate(outputs):
        where = f"{fname}:{s.line}" if s.line else fname
        where = f"{where}: stage '{s.name}' ({s.type}): key '{key}'"
        for src, src_key, inp in inputs:
            if _clashes(out, is_dir, inp):
                raise GraphError(
                    f"{where}: {value} is the input of stage '{src.name}' (key '{src_key}': {inp});"
                    " expected a different file"
                )
        for other, other_key, _, other_out, _ in outputs[:i]:
            if _same(out, other_out):
                raise GraphError(
                    f"{where}: {value} is also written by stage '{other.name}' (key '{other_key}');"
                    " expected one writer per file"
                )


def _clashes(out: Path, is_dir: bool, inp: Path) -> bool:
    if is_dir:
        return _same(out, inp) or (inp.is_file() and _inside(inp, out))
    target = real_target(out)
    return any(_same(p, inp) for p in (out, partial_path(target), lock_path(target)))
