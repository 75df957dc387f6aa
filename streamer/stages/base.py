"""Stage base classes, typed parameters and the registry of stage types.

A stage type is one class in one module of ``streamer/stages/``, registered by name::

    @register("resize")
    class Resize(Stage):
        '''Scales the picture (and face boxes) to a fixed size.'''

        class Params(StageParams):
            width: int
            '''Output width in pixels.'''

        def process(self, frame: Frame) -> Frame: ...

Each stage type declares what it reads from a frame and what it writes (``io``, a
:class:`StageIO` of :class:`streamer.frame.Ann` names, which may depend on its params): the graph
compiler refuses a stage that needs what no stage before it writes, and a stage that changes the
picture's geometry (``geometry=True``) must transform the geometric annotations it lists in
``transforms``: the others are gone after it.

Lifecycle, run by one worker thread per stage: ``open()`` once, ``process(frame)`` per frame,
``flush()`` once at end of stream (frames a stage held back), ``close()`` always, also after an
error or a stop. Nothing heavy happens at import time or in ``__init__``: models and devices
are opened in ``open()``, so ``streamer check`` and ``streamer stages`` stay instant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from streamer.errors import GraphError, StreamerError
from streamer.frame import Ann, Frame, StreamInfo

Mode = Literal["live", "offline"]
Role = Literal["source", "process", "sink"]
#: What a stage's input queue does when it is full (DESIGN 3.4a): ``block`` makes the producer
#: wait for room (nothing is lost); ``newest`` drops the oldest queued frame, counts the drop and
#: keeps the newest (a preview that should show the latest picture, never slow the graph down).
QueuePolicy = Literal["block", "newest"]


class StageParams(BaseModel):
    """Parameters common to every stage; each stage type extends this with its own."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    queue: int | None = Field(default=None, ge=1, le=1024)
    """Input queue length (frames); default 4 offline; live: max_in_flight (block) or 1 (newest)."""
    queue_policy: QueuePolicy | None = None
    """Full queue: block (wait, nothing lost) or newest (drop the oldest, counted); default: per type/mode."""


def _print_stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


@dataclass
class RunContext:
    """What a running graph shares with its stages."""

    mode: Mode = "offline"
    graph_path: Path | None = None
    realtime: bool = False
    quiet: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    log: Callable[[str], None] = _print_stderr
    # set by the runner when a stage fails: file sinks then keep their partial file (the
    # final name is only ever a finished run's or a stopped run's file; DESIGN 3.4b)
    failed: threading.Event = field(default_factory=threading.Event)

    def resolve(self, path: str | Path) -> Path:
        """A user path: as given (relative to the working directory) if it exists, else
        relative to the graph file's folder, else as given (the caller reports it missing)."""
        p = Path(path).expanduser()
        if p.is_absolute() or p.exists() or self.graph_path is None:
            return p
        alt = self.graph_path.parent / p
        return alt if alt.exists() else p


@dataclass(frozen=True)
class StageIO:
    """What a stage reads from and writes onto frames (DESIGN 3.4a); pixels are implied.

    ``reads``: needed, so some stage upstream must write each (else the graph is refused);
    ``uses``: used when present (an overlay draws whatever is known); ``writes``: added or
    replaced; ``geometry``: the stage changes the picture's size or shape, and ``transforms``
    says which geometric annotations (``streamer.frame.GEOMETRIC``) it carries over: the
    others do not exist after it."""

    reads: frozenset[Ann] = frozenset()
    uses: frozenset[Ann] = frozenset()
    writes: frozenset[Ann] = frozenset()
    geometry: bool = False
    transforms: frozenset[Ann] = frozenset()


def stage_io(
    *,
    reads: tuple[Ann, ...] = (),
    uses: tuple[Ann, ...] = (),
    writes: tuple[Ann, ...] = (),
    geometry: bool = False,
    transforms: tuple[Ann, ...] = (),
) -> StageIO:
    """A :class:`StageIO` from tuples (keyword-only, for short declarations)."""
    return StageIO(frozenset(reads), frozenset(uses), frozenset(writes), geometry, frozenset(transforms))


class Stage:
    """A graph node: reads frames from its input, passes frames on (or consumes them)."""

    type_name: ClassVar[str] = ""
    role: ClassVar[Role] = "process"
    Params: ClassVar[type[StageParams]] = StageParams
    #: The policy of this stage's input queue when YAML names none (Holoscan's ``Input(policy=)``):
    #: ``block`` for sinks that record (every frame that reaches them is kept), ``newest`` for
    #: previews; None follows the run (see :func:`input_queue`).
    input_policy: ClassVar[QueuePolicy | None] = None

    @classmethod
    def io(cls, params: StageParams) -> StageIO:
        """What this stage reads and writes with these params (default: pixels only)."""
        return StageIO()

    def __init__(self, name: str, params: StageParams, ctx: RunContext) -> None:
        self.name = name
        self.params = params
        self.ctx = ctx
        # extra counters shown in the run summary (reconnects, repeated frames, ...)
        self.counters: dict[str, int] = {}

    @classmethod
    def input_paths(cls, params: StageParams) -> list[tuple[str, str]]:
        """``(key, value)`` of every parameter that may name a file this stage reads.

        Default: every string parameter; the graph check keeps those that name an existing
        file or folder (a model, a gallery, a capture file or image glob), so no stage type has
        to list its inputs for an output to be refused when it is one of them (DESIGN 3.4b).
        """
        return [(key, value) for key, value in params if isinstance(value, str)]

    @classmethod
    def output_paths(cls, params: StageParams) -> list[tuple[str, str, bool]]:
        """``(key, path, is_folder)`` of the files or folders this stage writes (default none).

        The graph check refuses an output that is an input or another stage's output."""
        return []

    def open(self) -> None:
        """Acquire models, files and devices. Raise a StreamerError for user-caused problems."""

    def process(self, frame: Frame) -> Frame | Sequence[Frame] | None:
        """Handle one frame; return the frame(s) to pass on, or None to pass nothing."""
        return frame

    def flush(self) -> Sequence[Frame]:
        """End of stream: return frames still held back (default none)."""
        return ()

    def close(self) -> None:
        """Release everything; called once, also after errors. Sinks finalise files here."""

    def log(self, message: str) -> None:
        self.ctx.log(f"{self.name}: {message}")

    @contextmanager
    def param(self, key: str) -> Iterator[None]:
        """Errors raised inside are about parameter ``key``: the runner's one-line report then
        names it (``graph.yaml:12: stage 'style' (translate): key 'model': ...``)::

            with self.param("model"):
                self.model = OnnxModel(self.params.model)
        """
        try:
            yield
        except StreamerError as exc:
            if getattr(exc, "key", None) is None:
                exc.key = key  # type: ignore[attr-defined]
            raise


@dataclass(frozen=True)
class InputQueue:
    """The resolved queue in front of one stage: its length, policy and where the policy came from
    (``yaml``, ``stage`` (the type's declaration) or ``mode``)."""

    size: int
    policy: QueuePolicy
    origin: Literal["yaml", "stage", "mode"]


#: Default queue length offline: a little slack between stages of uneven speed.
OFFLINE_QUEUE = 4


def input_queue(cls: type[Stage], params: StageParams, *, mode: Mode, max_in_flight: int) -> InputQueue:
    """One resolver for a stage's input queue: the YAML params override the stage type's
    declaration, which overrides the default of the run.

    Default of the run: ``block``. Offline, every frame is processed once. Live with admission
    (``max_in_flight`` > 0) the graph entrance already drops what the graph has no room for, so
    an admitted frame is never dropped in the middle (no stage works on a frame that a later one
    drops). Live without admission (``max_in_flight: 0``): ``newest``, the drop-oldest queues of
    before. Offline, a type's ``newest`` declaration is ignored (offline never loses a frame);
    only an explicit YAML ``queue_policy: newest`` drops there, and the runner warns about it.

    Length: ``queue`` if given, else 4 offline; live: ``max_in_flight`` for a blocking input
    (room for every frame in flight, so the entrance never waits) and 1 for ``newest``.
    """
    live = mode == "live"
    policy: QueuePolicy
    origin: Literal["yaml", "stage", "mode"]
    if params.queue_policy is not None:
        policy, origin = params.queue_policy, "yaml"
    elif cls.input_policy is not None and (live or cls.input_policy == "block"):
        policy, origin = cls.input_policy, "stage"
    else:
        policy, origin = ("newest" if live and max_in_flight == 0 else "block"), "mode"
    if params.queue is not None:
        size = params.queue
    elif not live:
        size = OFFLINE_QUEUE
    else:
        size = max(1, max_in_flight) if policy == "block" else 1
    return InputQueue(size, policy, origin)


class Source(Stage):
    """A stage with no input that produces frames."""

    role: ClassVar[Role] = "source"
    # set by open(): what the source knows of its stream (frame count for progress, live, ...)
    stream_info: StreamInfo | None = None

    @classmethod
    def default_mode(cls, params: StageParams) -> Mode:
        """The mode a graph runs in when its YAML names none (live for cameras/network)."""
        return "offline"

    def frames(self) -> Generator[Frame, None, None]:
        """Yield frames until the stream ends, ``ctx.stop`` is set, or the generator is closed."""
        raise NotImplementedError

    def trailing_audio(self) -> tuple[Any, ...]:
        """Audio packets demuxed after the last frame, for sinks that copy audio."""
        return ()

    def process(self, frame: Frame) -> Frame:  # pragma: no cover - sources have no input
        raise TypeError("a source has no input")


class Sink(Stage):
    """A stage that consumes frames (files, windows, events) and passes nothing on."""

    role: ClassVar[Role] = "sink"

    def process(self, frame: Frame) -> None:
        self.write(frame)
        return None

    def write(self, frame: Frame) -> None:
        raise NotImplementedError

    def write_trailing_audio(self, packets: tuple[Any, ...]) -> None:
        """Audio after the last frame (the source ended naturally); default: ignore."""


STAGES: dict[str, type[Stage]] = {}


def register(type_name: str) -> Callable[[type[Stage]], type[Stage]]:
    """Class decorator: make a stage type available to graphs under ``type_name``."""

    def deco(cls: type[Stage]) -> type[Stage]:
        if type_name in STAGES and STAGES[type_name] is not cls:
            raise ValueError(
                f"stage type '{type_name}' registered twice: "
                f"{STAGES[type_name].__module__} and {cls.__module__}"
            )
        if not (cls.__doc__ or "").strip():
            raise ValueError(f"stage type '{type_name}' needs a one-line docstring")
        cls.type_name = type_name
        STAGES[type_name] = cls
        return cls

    return deco


def load_all() -> dict[str, type[Stage]]:
    """Import every module of ``streamer.stages`` so each registers itself."""
    import importlib
    import pkgutil

    import streamer.stages as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"streamer.stages.{info.name}")
    return STAGES


def stage_class(type_name: str) -> type[Stage]:
    stages = load_all()
    try:
        return stages[type_name]
    except KeyError:
        known = ", ".join(sorted(stages))
        raise GraphError(f"unknown stage type '{type_name}'; expected one of: {known}") from None


def summary_line(cls: type[Stage]) -> str:
    """The first line of a stage's docstring."""
    return (cls.__doc__ or "").strip().splitlines()[0]
