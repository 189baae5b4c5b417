"""`serve --workers N`: N server processes on one store and one port, so that every core serves.

The parent binds the port (`cli.bind`), prepares the store once (schema, data set) so that no two
workers race to load it, then hands the socket to uvicorn's process supervisor, which starts N
workers and replaces one that dies. Each worker builds its own app from the same command line
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
import json
import os
import socket
import sys
import threading
from typing import Any

from .settings import Settings

# The worker processes' command line, as JSON: each worker parses it again (`worker_app`).
WORKER_ARGV = "ODATA_EMULATOR_WORKER_ARGV"


def worker_app():
    """The ASGI app of one worker (uvicorn's app factory, called in the worker process)."""
    from .api.app import create_app
    from .cli import _parser, apply_environment, settings_from

    parser = _parser()
    apply_environment(parser, dict(os.environ))
    args = parser.parse_args(json.loads(os.environ[WORKER_ARGV]))
    return create_app(settings_from(args))


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

    from .cli import banner_text, server_options

    data_note = asyncio.run(_prepare(settings))
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
        Supervisor(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    return 0
