"""The HTTP server beside a running graph: aiohttp on an event loop of its own thread.

Why aiohttp: one well-kept package gives the server, streaming responses (MJPEG is a response
that never ends) and the client the tests use; it runs on a loop we own in a plain thread
(``AppRunner`` + ``TCPSite``), installs no signal handlers there (SIGINT stays the runner's) and
stops on request with a bounded shutdown. Starlette + uvicorn would need two packages and
uvicorn's ``Server`` wants the main thread's signals.

Nothing here blocks the graph: handlers only read the runner's counters (in a worker thread of
the loop's executor when it costs more than a few microseconds), and pictures come from
:class:`streamer.serve.hub.FrameHub`. Every request needs the token when one is set
(``Authorization: Bearer TOKEN`` or ``?token=TOKEN``), else 401 with a JSON error.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from streamer.errors import StreamerError
from streamer.serve.hub import FrameHub
from streamer.serve.page import PAGE
from streamer.serve.prom import make_registry, render

if TYPE_CHECKING:
    from streamer.runner import GraphRunner

BOUNDARY = "frame"
MAX_WIDTH = 4096
#: Seconds the server waits for open requests (MJPEG viewers) when it stops.
SHUTDOWN = 1.0


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _json_value(value: Any) -> Any:
    """Params as JSON: tuples become lists, anything else unknown its text."""
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def graph_json(runner: GraphRunner) -> dict[str, Any]:
    """The compiled graph and every stage's current params (``GET /api/graph``)."""
    spec = runner.spec
    stages = []
    for s in spec.stages:
        stage = runner.stages[s.name]
        stages.append(
            {
                "name": s.name,
                "type": s.type,
                "role": s.cls.role,
                "input": s.input,
                "consumers": list(spec.consumers.get(s.name, ())),
                "line": s.line,
                "params": _json_value(stage.params.model_dump()),
                "adjustable": sorted(stage.runtime_params),
            }
        )
    edges = [[s.input, s.name] for s in spec.stages if s.input is not None]
    return {
        "name": spec.name,
        "mode": spec.mode,
        "path": None if spec.path is None else str(spec.path),
        "max_in_flight": spec.max_in_flight,
        "stages": stages,
        "edges": edges,
    }


class App:
    """The routes; ``runner`` is the graph being served."""

    def __init__(self, runner: GraphRunner, hub: FrameHub, token: str | None) -> None:
        self.runner = runner
        self.hub = hub
        self.token = token
        self.registry = make_registry(runner)
        self.closing = asyncio.Event()

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=64 * 1024)
        app.add_routes(
            [
                web.get("/", self.page),
                web.get("/stream/{stage}.mjpg", self.mjpeg),
                web.get("/metrics", self.metrics),
                web.get("/api/graph", self.graph),
                web.get("/api/metrics", self.live),
                web.patch("/api/stages/{stage}", self.patch),
                web.post("/api/stop", self.stop),
            ]
        )
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None:
            given = request.query.get("token")
            header = request.headers.get("Authorization", "")
            if header.startswith("Bearer "):
                given = header[len("Bearer ") :].strip()
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                response = _error(
                    401, "unauthorized: send the token as 'Authorization: Bearer TOKEN' or ?token="
                )
                response.headers["WWW-Authenticate"] = 'Bearer realm="streamer"'
                return response
        result: web.StreamResponse = await handler(request)
        return result

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def graph(self, request: web.Request) -> web.Response:
        return web.json_response(graph_json(self.runner))

    async def live(self, request: web.Request) -> web.Response:
        snapshot = await asyncio.get_running_loop().run_in_executor(None, self.runner.snapshot)
        snapshot["streams"] = self.hub.stats()
        return web.json_response(snapshot, headers={"Cache-Control": "no-store"})

    async def metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, render, self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stop(self, request: web.Request) -> web.Response:
        self.runner.request_stop("api")
        return web.json_response({"stopping": True})

    async def patch(self, request: web.Request) -> web.Response:
        name = request.match_info["stage"]
        if name not in self.runner.stages:
            known = ", ".join(self.runner.stages)
            return _error(404, f"no stage named '{name}'; expected one of: {known}")
        try:
            changes = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, f"stage '{name}': expected a JSON object of params, e.g. {{\"every\": 2}}")
        loop = asyncio.get_running_loop()
        try:
            params, applied = await loop.run_in_executor(None, lambda: self.runner.set_params(name, changes))
        except StreamerError as exc:
            return _error(400, str(exc).splitlines()[0])
        return web.json_response(
            {"stage": name, "params": _json_value(params.model_dump()), "applied": applied}
        )

    async def mjpeg(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["stage"]
        if name not in self.hub:
            known = ", ".join(self.runner.stages)
            return _error(404, f"no stage named '{name}'; expected one of: {known}")
        width: int | None = None
        if "width" in request.query:
            try:
                width = int(request.query["width"])
            except ValueError:
                width = -1
            if not 16 <= width <= MAX_WIDTH:
                return _error(
                    400, f"width: expected an integer from 16 to {MAX_WIDTH}, got {request.query['width']!r}"
                )
        if width is None:
            width = (
                getattr(self.runner.stages[name].params, "width", None) if self._is_preview(name) else None
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
                "Pragma": "no-cache",
            }
        )
        await response.prepare(request)
        stream = self.hub.subscribe(name, width, asyncio.get_running_loop())
        try:
            seq = 0
            while not self.closing.is_set():
                jpeg, seq = await stream.next(seq, timeout=0.5)
                if jpeg is None:
                    continue
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                await response.write(head.encode() + jpeg + b"\r\n")
        except ConnectionResetError:  # the viewer went away
            pass
        finally:
            self.hub.unsubscribe(stream)
        return response

    def _is_preview(self, name: str) -> bool:
        return self.runner.spec.stage(name).type == "preview"


class Server:
    """Runs :class:`App` on ``host:port`` in a thread of its own until :meth:`stop`."""

    def __init__(
        self, runner: GraphRunner, hub: FrameHub, *, host: str, port: int, token: str | None
    ) -> None:
        self.runner = runner
        self.hub = hub
        self.host = host
        self.port = port
        self.token = token
        self._loop = asyncio.new_event_loop()
        self._app: App | None = None
        self._web: web.AppRunner | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="serve", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Listen, or raise a one-line StreamerError (address in use, no such address)."""
        self._thread.start()
        if not self._started.wait(timeout):
            raise StreamerError(
                f"--serve {self.host}:{self.port}: the server did not start within {timeout:g} s"
            )
        if self._error is not None:
            reason = getattr(self._error, "strerror", None) or str(self._error)
            raise StreamerError(f"--serve {self.host}:{self.port}: cannot listen ({reason})")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._app = App(self.runner, self.hub, self.token)
            self._web = web.AppRunner(self._app.build(), access_log=None, shutdown_timeout=SHUTDOWN)
            self._loop.run_until_complete(self._web.setup())
            site = web.TCPSite(self._web, self.host, self.port, shutdown_timeout=SHUTDOWN)
            self._loop.run_until_complete(site.start())
            server = site._server  # the bound port when asked for port 0
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
        except BaseException as exc:  # noqa: BLE001 - reported by start() as one line
            self._error = exc
            self._started.set()
            self._loop.close()
            return
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _shutdown(self) -> None:
        if self._app is not None:
            self._app.closing.set()
        if self._web is not None:
            await self._web.cleanup()
        self._loop.stop()

    def stop(self) -> None:
        """Close every connection (viewers' streams end) and the listening socket."""
        self.hub.close()
        if self._thread.is_alive() and self._error is None:
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            except RuntimeError:  # loop already closed
                pass
            self._thread.join(timeout=5 * SHUTDOWN + 2)
