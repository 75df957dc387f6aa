"""``streamer run G.yaml --serve [HOST:]PORT``: watch and steer a running graph from a browser.

Endpoints (a contract; the README documents them):

- ``GET /``: a page with the live picture of a stage (a selector over the stages), the per-stage
  table refreshing twice a second and the graph drawn as stages and edges;
- ``GET /stream/<stage>.mjpg[?width=W]``: MJPEG of the stage's output (a sink: its input), scaled
  down to W pixels wide (never up), JPEG-encoded once per frame for all viewers, newest frame
  only, never slowing the graph;
- ``GET /metrics``: Prometheus text (prometheus-client), see :mod:`streamer.serve.prom`;
- ``GET /api/graph``: the compiled graph and every stage's current params, as JSON;
- ``GET /api/metrics``: the live per-stage metrics the page shows, as JSON;
- ``PATCH /api/stages/<name>`` with a JSON object: change runtime-adjustable params, validated
  like YAML; errors are ``{"error": "<one line>"}`` with status 400 (404: no such stage);
- ``POST /api/stop``: stop like SIGINT (sources stop, queued frames drain, outputs finalise).

Address: ``PORT`` alone binds 127.0.0.1; any other host needs ``--token`` (or the
``STREAMER_TOKEN`` environment variable), and then every request must carry it
(``Authorization: Bearer TOKEN`` or ``?token=TOKEN``) or gets 401. The server needs the optional
``serve`` extra (``pip install -e ".[serve]"``: aiohttp and prometheus-client).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from streamer.errors import StreamerError

if TYPE_CHECKING:
    from streamer.graph import GraphSpec
    from streamer.runner import GraphRunner
    from streamer.serve.app import Server
    from streamer.serve.hub import FrameHub

DEFAULT_HOST = "127.0.0.1"
TOKEN_ENV = "STREAMER_TOKEN"
_ADDRESS = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):)?(?P<port>\d{1,5})$")


def parse_address(text: str, token: str | None) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); a host other than 127.0.0.1 without a token is refused."""
    match = _ADDRESS.match(text.strip())
    port = int(match["port"]) if match else -1
    if match is None or not 0 <= port <= 65535:
        raise StreamerError(
            f"--serve {text!r}: expected [HOST:]PORT, e.g. --serve 8080 or --serve 0.0.0.0:8080"
        )
    host = (match["host"] or DEFAULT_HOST).strip("[]")
    if host != DEFAULT_HOST and not token:
        raise StreamerError(
            f"--serve {text}: a host other than {DEFAULT_HOST} is reachable by others; "
            f"expected --token TOKEN (or {TOKEN_ENV}=TOKEN) to protect it"
        )
    return host, port


def require_extra() -> None:
    """One line naming the extra when the server's packages are missing."""
    missing = []
    for module in ("aiohttp", "prometheus_client"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise StreamerError(
            f"--serve needs the optional 'serve' packages ({', '.join(missing)} not installed); "
            'install them with: pip install -e ".[serve]"'
        )


def token_from(value: str | None) -> str | None:
    """``--token`` if given, else ``STREAMER_TOKEN``, else None."""
    return value or os.environ.get(TOKEN_ENV) or None


def headless_displays(spec: GraphSpec, log: Any) -> GraphSpec:
    """Under --serve, a ``display`` stage where no screen is available becomes a ``preview`` of the
    same name (its picture at ``/stream/<name>.mjpg``): a graph made for a desktop also runs on a
    server. Where a screen is available the display stays."""
    import dataclasses

    from streamer.stages.base import stage_class
    from streamer.stages.display import _no_display_reason

    why = _no_display_reason()
    if why is None:
        return spec
    preview = stage_class("preview")
    stages = []
    for s in spec.stages:
        if s.type == "display":
            common = {k: getattr(s.params, k) for k in ("queue", "queue_policy")}
            params = preview.Params(**common)
            s = dataclasses.replace(s, type="preview", cls=preview, params=params)
            log(f"{s.name}: no display ({why}); shown as a preview at /stream/{s.name}.mjpg instead")
        stages.append(s)
    return dataclasses.replace(spec, stages=tuple(stages))


def start(runner: GraphRunner, hub: FrameHub, *, host: str, port: int, token: str | None) -> Server:
    """Serve ``runner`` on ``host:port`` (port 0: any free port, see ``Server.port``)."""
    from streamer.serve.app import Server
    from streamer.serve.hub import QUALITY

    def quality(name: str) -> int:  # a preview's own, read live (PATCH may change it)
        if runner.spec.stage(name).type != "preview":
            return QUALITY
        return int(getattr(runner.stages[name].params, "quality", QUALITY))

    hub.set_quality(quality)
    runner.observe = hub.offer
    server = Server(runner, hub, host=host, port=port, token=token)
    server.start()
    return server


def make_hub(spec: GraphSpec) -> FrameHub:
    """The frame hub for a graph: a slot for the newest frame of each stage."""
    from streamer.serve.hub import FrameHub

    return FrameHub([s.name for s in spec.stages])
