"""A real webhook receiver for tests: a small Starlette app served by uvicorn on a free port of
127.0.0.1, in the test's event loop. It records every request (method, path, query, headers, body)
and answers from a script: a list of statuses used in turn (the last one repeats), each optionally
after a delay, or held until the test releases it (`hold()` / `release()`).

    async with Receiver([503, 200]) as receiver:
        ... receiver.url ...
        assert [r.status for r in receiver.requests] == [503, 200]
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self):
        return json.loads(self.body)


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by an event rather than by `should_exit`, which its main loop polls
    every 0.1 s, and closed without the 0.1 s grace its shutdown gives open connections (a test's
    client has hung up by then): a receiver costs a test milliseconds instead of a quarter second."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop = asyncio.Event()

    async def main_loop(self) -> None:
        await self.stop.wait()

    async def shutdown(self, sockets=None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._held: asyncio.Event | None = None
        self.arrived = asyncio.Event()
        self._server: _Server | None = None
        self._task: asyncio.Task | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def hold(self) -> None:
        """Answer nothing until `release()`."""
        self._held = asyncio.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()

    async def _handle(self, request: Request) -> Response:
        received = Received(request.method, request.url.path, list(request.query_params.multi_items()),
                            {k.lower(): v for k, v in request.headers.items()}, await request.body())
        index = len(self.requests)
        received.status = self.statuses[min(index, len(self.statuses) - 1)]
        self.requests.append(received)
        self.arrived.set()
        if self._held is not None:
            await self._held.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        return Response(b"ignored", status_code=received.status)

    async def __aenter__(self) -> Receiver:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET", "PUT"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc) -> None:
        self.release()
        assert self._server is not None and self._task is not None
        self._server.stop.set()
        await asyncio.wait_for(self._task, timeout=10)


def free_port() -> int:
    """A port nothing listens on (bound, then released): a refused connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
