"""The TDS listener: accepts connections and runs a `Session` for each, on the store's SQLite file.

It lives with the emulator (`emulator.py` starts and stops it with the store), on the same event
loop as the Web API; SQLite reads run on a small pool of worker threads.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import itertools
import json
import logging
import shutil
import ssl
import sys
import tempfile
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import tls
from .catalog import CATALOG, Catalog
from .channel import Channel
from .reader import LongStatements
from .session import Session

log = logging.getLogger("odata_emulator.tds")

READ_THREADS = 8
PLAN_CACHE = 512


class Clock(Protocol):  # the emulator's clock (real or virtual)
    def now(self): ...


class PlanCache:
    """Planned batches by (text, parameter types, database): a repeated query is parsed once."""

    def __init__(self, size: int = PLAN_CACHE) -> None:
        self._items: OrderedDict = OrderedDict()
        self._size = size

    def get(self, key) -> Any:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


def is_bearer_token(text: str) -> bool:
    """A JWT (header.payload.signature, the first two JSON objects); the signature is not checked,
    as the Web API's `--require-auth` does not check it either."""
    parts = text.split(".")
    if len(parts) != 3 or not all(parts[:2]) or len(text) > 16_384:
        return False
    try:
        for part in parts[:2]:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            if not isinstance(decoded, dict):
                return False
    except (ValueError, UnicodeDecodeError):
        return False
    return True


@dataclass(frozen=True)
class Connection:
    """What a connection negotiated (kept for the last few, for tests and diagnostics)."""

    spid: int
    encryption: str  # none | login-only | full | strict | refused
    alpn: str | None


class TdsServer:
    def __init__(self, *, database_path: str, clock: Clock, host: str = "127.0.0.1", port: int = 1433,
                 encrypt: str = "optional", cert: Path | None = None, key: Path | None = None,
                 require_auth: bool = False, password: str | None = None, catalog: Catalog = CATALOG,
                 name: str = "odata-emulator") -> None:
        if encrypt not in ("off", "optional", "required"):
            raise ValueError(f"unknown TDS encryption setting {encrypt!r}: off, optional or required")
        self.database_path = database_path
        self.clock = clock
        self.host = host
        self.port = port
        self.encrypt = encrypt
        self.require_auth = require_auth
        self.password = password
        self.catalog = catalog
        self.name = name
        self.plans = PlanCache()
        self.long_statements = LongStatements()
        self.executor = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="odata-emulator-tds")
        self.certificate: tls.Certificate | None = None
        self.wrapped_context: ssl.SSLContext | None = None
        self.strict_context: ssl.SSLContext | None = None
        self._cert, self._key = cert, key
        self._scratch: str | None = None
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[asyncio.Task] = set()
        self._spids = itertools.count()
        self.connections: deque[Connection] = deque(maxlen=100)

    def record(self, spid: int, mode, alpn: str | None) -> None:
        self.connections.append(Connection(spid, mode.value, alpn))
        log.debug("TDS session %s: encryption %s%s", spid, mode.value, f", ALPN {alpn}" if alpn else "")

    def accepts_password(self, password: str) -> bool:
        if self.password and hmac.compare_digest(password.encode(), self.password.encode()):
            return True
        return is_bearer_token(password)

    async def start(self) -> int:
        """Listens; answers the port bound (the OS picks one for port 0)."""
        if self.encrypt != "off":
            if self._cert is not None:
                assert self._key is not None  # the command line takes a certificate and its key together
                self.certificate = tls.Certificate(self._cert, self._key)
            else:
                self._scratch = tempfile.mkdtemp(prefix="odata-emulator-tds-")
                hosts = tuple(dict.fromkeys(("localhost", "127.0.0.1", self.host)))
                self.certificate = tls.generate(Path(self._scratch), hosts)
            self.wrapped_context, self.strict_context = tls.contexts(self.certificate)
        try:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: Channel(self._open), self.host, self.port, reuse_address=True)
        except OSError as exc:
            raise OSError(exc.errno, f"the TDS endpoint cannot listen on {self.host}:{self.port}: {exc.strerror} "
                                     "(choose another with --tds-port)") from None
        self.port = self._server.sockets[0].getsockname()[1]
        print(f"odata-emulator: TDS endpoint on {self.host}:{self.port}", file=sys.stderr, flush=True)
        if self.certificate is not None and self.certificate.generated:
            print(f"odata-emulator: TDS certificate {self.certificate.cert} (generated for this run: trust it, "
                  "or connect with TrustServerCertificate=yes)", file=sys.stderr, flush=True)
        return self.port

    def _open(self, channel: Channel) -> None:
        """A connection made: its session runs in a task of its own."""
        task = asyncio.get_running_loop().create_task(self._run(channel))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _run(self, channel: Channel) -> None:
        try:
            await Session(self, channel, 51 + next(self._spids) % 32000).run()
        except asyncio.CancelledError:  # the server is stopping: this connection's session ends here
            pass

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._sessions):
                task.cancel()
            if self._sessions:
                await asyncio.wait(list(self._sessions), timeout=5)
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except TimeoutError:  # pragma: no cover
                pass
            self._server = None
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
