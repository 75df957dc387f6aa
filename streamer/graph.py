"""YAML graph -> validated GraphSpec -> stages in topological order. No threads here.

Everything a user can get wrong is found before any stage opens, and reported as one line
that names the file, the stage, the key and what was expected::

    graphs/x.yaml:9: stage 'style' (translate): key 'regon': unknown key; expected one of: ...

``streamer check`` runs exactly ``load_graph``; ``streamer run`` runs it, then the runner.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streamer.errors import GraphError
from streamer.frame import GEOMETRIC, Ann
from streamer.stages.base import Mode, Source, Stage, StageParams, load_all, stage_class

RESERVED = ("name", "type", "input")
TOP_LEVEL = ("name", "mode", "max_in_flight", "stages")
#: Live admission (DESIGN 3.4a): frames of one source inside the graph at once, by default. Two let
#: two stages work at the same time (one frame each) while a third frame would only wait in a queue.
MAX_IN_FLIGHT = 2
MAX_IN_FLIGHT_LIMIT = 64


@dataclass(frozen=True)
class StageSpec:
    name: str
    type: str
    cls: builtins.type[Stage]
    params: StageParams
    input: str | None  # None for sources
    line: int | None = None


@dataclass(frozen=True)
class GraphSpec:
    name: str
    mode: Mode
    stages: tuple[StageSpec, ...]  # topological order, sources first
    path: Path | None = None
    consumers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: live: frames of each source admitted into the graph at once (0: no admission); offline: unused
    max_in_flight: int = MAX_IN_FLIGHT

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def sources(self) -> tuple[StageSpec, ...]:
        return tuple(s for s in self.stages if s.input is None)


#: A graph is a short YAML file; a bigger one is a mistake (or an attack) and is refused unread.
MAX_GRAPH_BYTES = 1_000_000
#: Nodes the document may have once every alias is expanded (a real graph has a few hundred);
#: a few hundred bytes of nested aliases ("billion laughs") expand to billions.
MAX_EXPANDED_NODES = 100_000


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping (as key '__line__') and refuses
    documents whose aliases expand past ``MAX_EXPANDED_NODES`` before constructing anything."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes of the document with aliases expanded, in time linear in its size.

    The composer already shares an anchored node between its aliases, so the document is a DAG;
    the expanded size of a node is memoised by identity. A cycle (a recursive alias) is refused.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            visiting.discard(key)
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            else:
                children = []
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[key] = total
            if total > MAX_EXPANDED_NODES:
                raise GraphError(
                    f"line {node.start_mark.line + 1}: aliases expand to more than "
                    f"{MAX_EXPANDED_NODES:,} values; expected a graph without nested alias expansion"
                )
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise GraphError(f"line {node.start_mark.line + 1}: a recursive alias; expected none")
        visiting.add(key)
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, False) for pair in node.value for n in pair if id(n) not in sizes)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, False) for n in node.value if id(n) not in sizes)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)  # merged pairs (``<<: *x``) come first; the mapping's own override them
    merged = len(node.value) - own
    mapping: dict[Any, Any] = {}
    explicit: set[Any] = set()
    for i, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if key in explicit:
            raise GraphError(f"line {key_node.start_mark.line + 1}: key '{key}' appears twice")
        if i >= merged:
            explicit.add(key)
        mapping[key] = loader.construct_object(value_node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_graph_text(path: Path) -> str:
    """The graph file as text: size-limited, UTF-8 (a BOM is allowed), one line per problem."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_GRAPH_BYTES + 1)
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except IsADirectoryError:
        raise GraphError(f"{path}: is a folder; expected a graph .yaml file") from None
    except OSError as exc:
        raise GraphError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_GRAPH_BYTES:
        size = path.stat().st_size
        raise GraphError(
            f"{path}: {size / 1e6:.1f} MB; expected a graph file of at most {MAX_GRAPH_BYTES // 1_000_000} MB"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise GraphError(
            f"{path}:{line}: byte 0x{data[exc.start]:02x} at column {column} is not UTF-8;"
            " expected a UTF-8 text file"
        ) from None
    return text


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def parse_override(text: str) -> tuple[str | None, str, Any]:
    """``stage.key=value`` (or ``mode=live``) -> (stage, key, value); value parsed as YAML."""
    if "=" not in text:
        raise GraphError(f"--set {text!r}: expected STAGE.KEY=VALUE, e.g. --set cam.uri=samples/x.mp4")
    target, raw = text.split("=", 1)
    target = target.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if "." not in target:
        if target in ("mode", "name", "max_in_flight"):
            return None, target, value
        raise GraphError(
            f"--set {text!r}: expected STAGE.KEY=VALUE (or mode=live|offline, max_in_flight=N),"
            " got no stage name"
        )
    stage, key = target.split(".", 1)
    if not stage or not key:
        raise GraphError(f"--set {text!r}: expected STAGE.KEY=VALUE")
    return stage, key, value


def _describe_type(err: Any) -> str:
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Input should be ", "Value error, "):
        if msg.startswith(prefix):
            msg = "expected " + msg[len(prefix) :] if prefix.startswith("Input") else msg[len(prefix) :]
    return msg


def validate_params(cls: type[Stage], raw: dict[str, Any], where: str) -> StageParams:
    """Build the stage's Params; turn pydantic's report into one line per the error contract."""
    fields = cls.Params.model_fields
    for key in raw:
        if key not in fields:
            known = ", ".join(RESERVED + tuple(fields))
            raise GraphError(f"{where}: key '{key}': unknown key; expected one of: {known}")
    try:
        return cls.Params(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err.get("loc", ())]
        key = loc[0] if loc else ""
        if err.get("type") == "missing":
            ann = fields[key].annotation if key in fields else None
            tname = getattr(ann, "__name__", str(ann)).replace("typing.", "")
            raise GraphError(f"{where}: key '{key}': missing; expected a {tname}") from None
        got = err.get("input")
        got_s = f", got {got!r}" if not isinstance(got, dict) else ""
        key_s = f"key '{'.'.join(loc)}'" if key else "params"
        raise GraphError(f"{where}: {key_s}: {_describe_type(err)}{got_s}") from None


def load_graph(path: str | Path, overrides: Sequence[str] = (), *, mode: Mode | None = None) -> GraphSpec:
    """Load, override, validate and order a graph file. Raises GraphError (one line)."""
    path = Path(path)
    text = read_graph_text(path)
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except GraphError as exc:
        # the constructor's errors start with "line N: "; the contract is "file:N: ..."
        text_ = str(exc)
        where = text_[len("line ") :] if text_.startswith("line ") else f" {text_}"
        raise GraphError(f"{path}:{where}") from None
    except yaml.reader.ReaderError as exc:
        # a control character (binary file): name its line and code point
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise GraphError(
            f"{path}:{line}: control character U+{char:04X} is not allowed in YAML; expected a text file"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GraphError(f"{path}{at}: not valid YAML ({problem})") from None
    return build_graph(doc, overrides, path=path, mode=mode)


def build_graph(
    doc: Any,
    overrides: Sequence[str] = (),
    *,
    path: Path | None = None,
    mode: Mode | None = None,
) -> GraphSpec:
    """Validate an already-parsed graph document (see load_graph)."""
    fname = str(path) if path is not None else "<graph>"
    if not isinstance(doc, dict):
        raise GraphError(f"{fname}: expected a mapping with 'name', 'mode' and 'stages'")
    for key in doc:
        if key != "__line__" and key not in TOP_LEVEL:
            raise GraphError(
                f"{fname}: top-level key '{key}': unknown key; expected one of: {', '.join(TOP_LEVEL)}"
            )
    raw_stages = doc.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise GraphError(f"{fname}: key 'stages': expected a non-empty list of stages")

    errors: list[str] = []  # every problem of the graph is reported, not only the first
    entries: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(raw_stages):
        if not isinstance(raw, dict):
            errors.append(f"{fname}: stage #{i + 1}: expected a mapping with 'name' and 'type'")
            continue
        line = raw.get("__line__")
        at = f"{fname}:{line}" if line else fname
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{at}: stage #{i + 1}: key 'name': expected a non-empty string")
            continue
        if "." in name or "=" in name:
            errors.append(f"{at}: stage '{name}': key 'name': expected no '.' or '='")
            continue
        if name in names:
            errors.append(
                f"{at}: stage '{name}': key 'name': duplicate name (also stage #{names[name] + 1});"
                " expected unique stage names"
            )
            continue
        names[name] = len(entries)
        if "type" in raw and raw["type"] is None:
            raw["type"] = "null"  # `type: null` in YAML is the null value; it means the null sink
        if "type" not in raw or not isinstance(raw["type"], str):
            errors.append(f"{at}: stage '{name}': key 'type': expected a stage type name")
            raw = raw | {"type": None}
        entries.append(_strip_lines(raw) | {"__line__": line})

    graph_name = doc.get("name") or (path.stem if path else "graph")
    graph_mode = doc.get("mode")
    max_in_flight = doc.get("max_in_flight", MAX_IN_FLIGHT)
    for text in overrides:
        try:
            stage, key, value = parse_override(text)
        except GraphError as exc:
            errors.extend(exc.messages)
            continue
        if stage is None:
            if key == "mode":
                graph_mode = value
            elif key == "max_in_flight":
                max_in_flight = value
            else:
                graph_name = value
            continue
        if stage not in names:
            errors.append(f"--set {text}: no stage named '{stage}' in {fname}; stages: {', '.join(names)}")
            continue
        entries[names[stage]][key] = value
    if mode is not None:
        graph_mode = mode
    if graph_mode is not None and graph_mode not in ("live", "offline"):
        errors.append(f"{fname}: key 'mode': expected live or offline, got {graph_mode!r}")
    if not isinstance(graph_name, str):
        errors.append(f"{fname}: key 'name': expected a string, got {graph_name!r}")
    if (
        isinstance(max_in_flight, bool)
        or not isinstance(max_in_flight, int)
        or not 0 <= max_in_flight <= MAX_IN_FLIGHT_LIMIT
    ):
        errors.append(
            f"{fname}: key 'max_in_flight': expected an integer from 0 (no admission) to"
            f" {MAX_IN_FLIGHT_LIMIT}, got {max_in_flight!r}"
        )
        max_in_flight = MAX_IN_FLIGHT

    specs: list[StageSpec] = []
    prev: str | None = None
    for entry in entries:
        line = entry.pop("__line__", None)
        at = f"{fname}:{line}" if line else fname
        name, type_name = entry.pop("name"), entry.pop("type")
        this, prev = prev, name  # the default input of the next stage is this one, valid or not
        if type_name is None:
            continue  # reported above
        where = f"{at}: stage '{name}' ({type_name})"
        try:
            cls = stage_class(type_name)
        except GraphError as exc:
            errors.append(f"{at}: stage '{name}': key 'type': {exc}")
            continue
        has_input = "input" in entry
        inp = entry.pop("input", None)
        if cls.role == "source":
            if has_input:
                errors.append(f"{where}: key 'input': a source takes no input")
                continue
            if entry.get("queue_policy") is not None:
                errors.append(
                    f"{where}: key 'queue_policy': a source has no input queue; expected it on a stage"
                    " after the source (admission at the entrance: the graph's max_in_flight)"
                )
                continue
            inp = None
        else:
            if inp is None:
                if this is None:
                    errors.append(
                        f"{where}: key 'input': no stage above it; expected the name of a stage"
                        " to read from (or a source such as 'capture' first)"
                    )
                    continue
                inp = this
            if not isinstance(inp, str):
                errors.append(f"{where}: key 'input': expected one stage name, got {inp!r}")
                continue
            if inp not in names:
                errors.append(
                    f"{where}: key 'input': no stage named '{inp}'; expected one of: {', '.join(names)}"
                )
                continue
            if inp == name:
                errors.append(f"{where}: key 'input': a stage cannot read its own output")
                continue
        try:
            params = validate_params(cls, entry, where)
        except GraphError as exc:
            errors.extend(exc.messages)
            continue
        specs.append(StageSpec(name, type_name, cls, params, inp, line))

    by_name = {s.name: s for s in specs}
    for s in specs:
        if s.input is not None and s.input in by_name and by_name[s.input].cls.role == "sink":
            at = f"{fname}:{s.line}" if s.line else fname
            errors.append(
                f"{at}: stage '{s.name}' ({s.type}): key 'input': stage '{s.input}' is a sink"
                f" ({by_name[s.input].type}) and passes no frames on; expected a source or processing stage"
            )
    try:
        ordered = _topological(specs, fname)
    except GraphError as exc:
        raise GraphError(errors + exc.messages) from None
    if not errors:
        sources = [s for s in ordered if s.input is None]
        if not sources:
            errors.append(f"{fname}: no source stage; expected a stage such as 'type: capture'")
    errors.extend(check_contracts(ordered, fname))
    from streamer.io.output_file import check_outputs

    try:
        check_outputs(ordered, fname, path)  # an output is never an input nor another output (3.4b)
    except GraphError as exc:
        errors.extend(exc.messages)
    if errors:
        raise GraphError(errors)
    consumers: dict[str, list[str]] = {s.name: [] for s in ordered}
    for s in ordered:
        if s.input is not None:
            consumers[s.input].append(s.name)
    if graph_mode is None:
        graph_mode = _default_mode(sources)
    return GraphSpec(
        name=graph_name,
        mode=graph_mode,
        stages=tuple(ordered),
        path=path,
        consumers={k: tuple(v) for k, v in consumers.items()},
        max_in_flight=max_in_flight,
    )


def _writers_of(ann: Ann) -> list[str]:
    """Stage types that write ``ann`` with their default params (for "add a ... stage")."""
    found = []
    for type_name, cls in sorted(load_all().items()):
        try:
            params = cls.Params.model_construct()
            if ann in cls.io(params).writes:
                found.append(type_name)
        except Exception:  # noqa: BLE001 - a stage whose io needs real params is just not listed
            continue
    return found


def check_contracts(ordered: Sequence[StageSpec], fname: str) -> list[str]:
    """Every stage's reads against what the stages before it write (DESIGN 3.4a), one line per
    unmet read naming the file:line, the stage, what is missing and which stage types write it.

    Each stage has one input, so what reaches a stage is what its chain of inputs back to the
    source wrote; a stage that changes geometry keeps only the geometric annotations it
    transforms. Stages whose input is not in ``ordered`` (already reported) are skipped."""
    available: dict[str, frozenset[Ann]] = {}
    problems: list[str] = []
    for s in ordered:
        io = s.cls.io(s.params)
        if s.input is None:
            have: frozenset[Ann] = frozenset()
        elif s.input in available:
            have = available[s.input]
        else:
            continue
        for ann in sorted(io.reads - have):
            at = f"{fname}:{s.line}" if s.line else fname
            writers = _writers_of(ann)
            fix = f"add a {' or '.join(writers)} stage before it" if writers else "no stage type writes it"
            problems.append(
                f"{at}: stage '{s.name}' ({s.type}): reads {ann.text}, which no stage before it writes; {fix}"
            )
        out = have | io.writes
        if io.geometry:
            out = out - (GEOMETRIC - io.transforms - io.writes)
        available[s.name] = out
    return problems


def _default_mode(sources: Iterable[StageSpec]) -> Mode:
    for s in sources:
        cls = s.cls
        if issubclass(cls, Source) and cls.default_mode(s.params) == "live":
            return "live"
    return "offline"


def _topological(specs: list[StageSpec], fname: str) -> list[StageSpec]:
    """Order stages so every stage comes after its input; report a cycle by its members."""
    by_name = {s.name: s for s in specs}
    order: list[StageSpec] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(s: StageSpec, trail: list[str]) -> None:
        if state.get(s.name) == 2:
            return
        if state.get(s.name) == 1:
            cycle = trail[trail.index(s.name) :] + [s.name]
            at = f"{fname}:{s.line}" if s.line else fname
            raise GraphError(
                f"{at}: stage '{s.name}': key 'input': cycle {' -> '.join(cycle)};"
                " expected every path to start at a source"
            )
        state[s.name] = 1
        if s.input is not None and s.input in by_name:  # a missing input was reported already
            visit(by_name[s.input], trail + [s.name])
        state[s.name] = 2
        order.append(s)

    for s in specs:
        visit(s, [])
    return order


def instantiate(spec: GraphSpec, ctx: Any) -> dict[str, Stage]:
    """Create (not open) one stage object per spec, in order."""
    return {s.name: s.cls(s.name, s.params, ctx) for s in spec.stages}
