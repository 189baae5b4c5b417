"""`serve --workers N`: N server processes on one store and one port, so that every core serves.

The parent binds the port (`cli.bind`), prepares the store once (schema, data set) so that no two
workers race to load it, then has uvicorn's process supervisor start N workers and replace one that
dies. On Linux each worker listens on a socket of its own on the port (SO_REUSEPORT, `WorkerSocket`)
and the kernel spreads new connections over them: on one shared listening socket, the worker that
wakes first accepts every connection waiting, and a client opening 16 at once could find all 16 on
one worker while the other idled (`$top=1000` pages at 16 connections: about 110 or 44 req/s, by
luck of the draw). Elsewhere the workers share the parent's socket. Each worker builds its own app from the same command line
(`worker_app`, read from the environment it inherits) and runs its own scheduler on the real clock:
the store's guarded claims keep every job run once, whichever worker claims it (docs/retry-policy.md).
The banner is printed by the parent once every worker answers.

What lives in one process's memory is kept out: the virtual clock, a private `:memory:` store and
the TDS endpoint run with `--workers 1` only (`cli.multi_worker_refusal`). The control API's reset and
snapshot work on the shared store from any worker.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import sys
import threading
from typing import Any

from .settings import Settings

# The worker processes' command line, as JSON: each worker parses it again (`worker_app`).
WORKER_ARGV = "ODATA_EMULATOR_WORKER_ARGV"

# Where the kernel balances connections over the listening sockets sharing a port (SO_REUSEPORT).
SOCKET_PER_WORKER = sys.platform.startswith("linux")


class WorkerSocket:
    """Stands in the supervisor's socket list for a worker's own listening socket: unpickled in the
    worker process it becomes a new socket bound to the port with SO_REUSEPORT (uvicorn's server
    listens on it). So the socket lives and dies with its worker, and a worker that dies takes no
    queue of connections with it that nobody accepts."""

    def __init__(self, family: int, address: tuple) -> None:
        self.family, self.address = family, address

    def __reduce__(self):
        return _reuse_port_socket, (self.family, self.address)


def _reuse_port_socket(family: int, address: tuple) -> socket.socket:
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off only on sockets whose proto says
    # TCP, and a connection accepted on a proto-0 socket waited out delayed ACKs (44 ms a request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def worker_app():
    """The ASGI app of one worker (uvicorn's app factory, called in the worker process), made with the
    garbage collector off, as `cli.main` makes its own."""
    from .cli import _parser, apply_environment, collect_from_here, settings_from  # cli imports nothing heavy

    gc.disable()
    try:
        from .api.app import create_app

        parser = _parser()
        apply_environment(parser, dict(os.environ))
        args = parser.parse_args(json.loads(os.environ[WORKER_ARGV]))
        return create_app(settings_from(args))
    finally:
        collect_from_here()


async def _prepare(settings: Settings) -> str:
    """Create the schema and load the data set once, before the workers start; what it did."""
    from dataclasses import replace

    from .emulator import Emulator

    emulator = Emulator(replace(settings, scheduler=False, tds=False))
    await emulator.start()
    try:
        return emulator.data_note
    finally:
        await emulator.stop()


def serve_workers(args: argparse.Namespace, argv: list[str], settings: Settings, sock: socket.socket, *, scheme: str,
                  port: int, log_config: dict[str, Any], tls: dict[str, Any]) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from .cli import banner_text, collect_from_here, server_options

    data_note = asyncio.run(_prepare(settings))
    collect_from_here()  # the parent supervises from here on, for as long as the workers serve
    os.environ[WORKER_ARGV] = json.dumps(argv)  # the workers are spawned: they inherit the environment
    config = uvicorn.Config("odata_emulator.workers:worker_app", factory=True, workers=args.workers,
                            log_level=args.log_level, log_config=log_config, lifespan="on", **server_options(), **tls)

    class Supervisor(Multiprocess):
        def init_processes(self) -> None:
            super().init_processes()
            threading.Thread(target=self._announce, name="odata-emulator-banner", daemon=True).start()

        def _announce(self) -> None:
            timeout = max(self.config.timeout_worker_healthcheck, 60)
            if all(process.wait_until_ready(timeout, self.should_exit) for process in list(self.processes)):
                print(banner_text(settings, data_note=data_note, clock="real", tds=None, scheme=scheme,
                                  host=args.host, port=port, workers=args.workers), file=sys.stderr, flush=True)

    try:
        sockets: list[Any] = [WorkerSocket(sock.family, sock.getsockname())] if SOCKET_PER_WORKER else [sock]
        Supervisor(config, sockets=sockets).run()
    except KeyboardInterrupt:
        pass
    return 0
