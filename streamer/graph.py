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
from streamer.stages.base import Mode, Source, Stage, StageParams, stage_class

RESERVED = ("name", "type", "input")
TOP_LEVEL = ("name", "mode", "stages")


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

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def sources(self) -> tuple[StageSpec, ...]:
        return tuple(s for s in self.stages if s.input is None)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping (as key '__line__')."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise GraphError(f"line {key_node.start_mark.line + 1}: key '{key}' appears twice")
        mapping[key] = loader.construct_object(value_node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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
        if target in ("mode", "name"):
            return None, target, value
        raise GraphError(
            f"--set {text!r}: expected STAGE.KEY=VALUE (or mode=live|offline), got no stage name"
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
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except OSError as exc:
        raise GraphError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except GraphError as exc:
        raise GraphError(f"{path}:{exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GraphError(f"{path}{line}: not valid YAML ({problem})") from None
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

    entries: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(raw_stages):
        if not isinstance(raw, dict):
            raise GraphError(f"{fname}: stage #{i + 1}: expected a mapping with 'name' and 'type'")
        line = raw.get("__line__")
        at = f"{fname}:{line}" if line else fname
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise GraphError(f"{at}: stage #{i + 1}: key 'name': expected a non-empty string")
        if "." in name or "=" in name:
            raise GraphError(f"{at}: stage '{name}': key 'name': expected no '.' or '='")
        if name in names:
            raise GraphError(
                f"{at}: stage '{name}': key 'name': duplicate name (also stage #{names[name] + 1});"
                " expected unique stage names"
            )
        names[name] = i
        if "type" in raw and raw["type"] is None:
            raw["type"] = "null"  # `type: null` in YAML is the null value; it means the null sink
        if "type" not in raw or not isinstance(raw["type"], str):
            raise GraphError(f"{at}: stage '{name}': key 'type': expected a stage type name")
        entries.append(_strip_lines(raw) | {"__line__": line})

    graph_name = doc.get("name") or (path.stem if path else "graph")
    graph_mode = doc.get("mode")
    for text in overrides:
        stage, key, value = parse_override(text)
        if stage is None:
            if key == "mode":
                graph_mode = value
            else:
                graph_name = value
            continue
        if stage not in names:
            raise GraphError(f"--set {text}: no stage named '{stage}' in {fname}; stages: {', '.join(names)}")
        entries[names[stage]][key] = value
    if mode is not None:
        graph_mode = mode
    if graph_mode is not None and graph_mode not in ("live", "offline"):
        raise GraphError(f"{fname}: key 'mode': expected live or offline, got {graph_mode!r}")
    if not isinstance(graph_name, str):
        raise GraphError(f"{fname}: key 'name': expected a string, got {graph_name!r}")

    specs: list[StageSpec] = []
    prev: str | None = None
    for entry in entries:
        line = entry.pop("__line__", None)
        at = f"{fname}:{line}" if line else fname
        name, type_name = entry.pop("name"), entry.pop("type")
        where = f"{at}: stage '{name}' ({type_name})"
        try:
            cls = stage_class(type_name)
        except GraphError as exc:
            raise GraphError(f"{at}: stage '{name}': key 'type': {exc}") from None
        has_input = "input" in entry
        inp = entry.pop("input", None)
        if cls.role == "source":
            if has_input:
                raise GraphError(f"{where}: key 'input': a source takes no input")
            inp = None
        else:
            if inp is None:
                if prev is None:
                    raise GraphError(
                        f"{where}: key 'input': no stage above it; expected the name of a stage"
                        " to read from (or a source such as 'capture' first)"
                    )
                inp = prev
            if not isinstance(inp, str):
                raise GraphError(f"{where}: key 'input': expected one stage name, got {inp!r}")
            if inp not in names:
                raise GraphError(
                    f"{where}: key 'input': no stage named '{inp}'; expected one of: {', '.join(names)}"
                )
            if inp == name:
                raise GraphError(f"{where}: key 'input': a stage cannot read its own output")
        params = validate_params(cls, entry, where)
        specs.append(StageSpec(name, type_name, cls, params, inp, line))
        prev = name

    by_name = {s.name: s for s in specs}
    for s in specs:
        if s.input is not None and by_name[s.input].cls.role == "sink":
            at = f"{fname}:{s.line}" if s.line else fname
            raise GraphError(
                f"{at}: stage '{s.name}' ({s.type}): key 'input': stage '{s.input}' is a sink"
                f" ({by_name[s.input].type}) and passes no frames on; expected a source or processing stage"
            )
    ordered = _topological(specs, fname)
    sources = [s for s in ordered if s.input is None]
    if not sources:
        raise GraphError(f"{fname}: no source stage; expected a stage such as 'type: capture'")
    consumers: dict[str, list[str]] = {s.name: [] for s in ordered}
    for s in ordered:
        if s.input is not None:
            consumers[s.input].append(s.name)
    if graph_mode is None:
        graph_mode = _default_mode(sources)
    from streamer.io.output_file import check_outputs

    check_outputs(ordered, fname, path)  # an output is never an input nor another output (3.4b)
    return GraphSpec(
        name=graph_name,
        mode=graph_mode,
        stages=tuple(ordered),
        path=path,
        consumers={k: tuple(v) for k, v in consumers.items()},
    )


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
        if s.input is not None:
            visit(by_name[s.input], trail + [s.name])
        state[s.name] = 2
        order.append(s)

    for s in specs:
        visit(s, [])
    return order


def instantiate(spec: GraphSpec, ctx: Any) -> dict[str, Stage]:
    """Create (not open) one stage object per spec, in order."""
    return {s.name: s.cls(s.name, s.params, ctx) for s in spec.stages}
