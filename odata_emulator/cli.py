"""`odata-emulator serve ...`: start the emulator with uvicorn."""

from __future__ import annotations

import datetime as dt
import errno
import gc
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from ._resources import fixtures_dir
from .logs import FORMATS, LEVELS, log_config
from .settings import DEFAULT_DATABASE, Settings

# The store, the model, SQLAlchemy and the app are imported in `main`, not here: see `main`.
if TYPE_CHECKING:
    import argparse

    from .emulator import Emulator

# The largest request head (request line and headers) the server reads before answering with its
# own plain-text 400. Dataverse takes URLs of up to 32 KB (64 KB inside $batch): the application
# answers a longer one with a Dataverse-shaped 414, and this lets URLs well past that limit reach
# it (uvicorn's default, 16 KB, refuses URLs Dataverse accepts). Beyond 1 MiB the server refuses.
MAX_REQUEST_HEAD = 1_048_576
# The exit status of `serve` when it cannot listen where asked (uvicorn's own start-up failure code),
# or cannot use its store.
PORT_IN_USE = 3
STORE_UNUSABLE = 3


def server_options() -> dict[str, Any]:
    """uvicorn settings every emulator server uses. h11 explicitly (uvicorn's default unless
    httptools is installed): MAX_REQUEST_HEAD is an h11 setting."""
    return {"http": "h11", "h11_max_incomplete_event_size": MAX_REQUEST_HEAD}


ENV_PREFIX = "ODATA_EMULATOR_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(prog="odata-emulator", description="A local emulator of the Dataverse Web API for system jobs.")
    parser.add_argument("--version", action="version", version=f"odata-emulator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="start the emulator",
        description="Start the emulator. Every option can also be set in the environment as ODATA_EMULATOR_<OPTION> "
                    "(--tds-port: ODATA_EMULATOR_TDS_PORT; switches take 1/true/yes/on or 0/false/no/off); "
                    "a flag on the command line wins over the environment.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0: a free one)")
    serve.add_argument("--database", default=DEFAULT_DATABASE,
                       help=f"SQLite file, SQLAlchemy URL or :memory: (default ./{DEFAULT_DATABASE})")
    data = serve.add_mutually_exclusive_group()
    data.add_argument("--fixtures", type=Path, default=None, help="directory holding dataset.json (default: the bundled fixtures)")
    data.add_argument("--no-fixtures", action="store_true", help="start an empty store")
    serve.add_argument("--loose", action="store_true", help="evaluate standard OData that Dataverse refuses")
    serve.add_argument("--clock", choices=("real", "virtual"), default="real", help="real (default) or virtual time")
    serve.add_argument("--clock-start", default=None, help="start of the virtual clock (ISO 8601; default: the fixtures' reference time)")
    serve.add_argument("--aggregate-limit", type=int, default=50_000, help="rows an aggregate query may read (default 50000)")
    serve.add_argument("--concurrency", type=int, default=4, help="system jobs run at once (default 4)")
    serve.add_argument("--lease-seconds", type=float, default=30.0,
                       help="how long a Locked job stays with an instance that stops renewing it (default 30)")
    serve.add_argument("--no-scheduler", action="store_true", help="do not run system jobs")
    serve.add_argument("--no-fsync", action="store_true",
                       help="never wait for the disk (faster writes and stops; a power cut can lose the last changes)")
    serve.add_argument("--webhook-timeout", type=float, default=60.0,
                       help="seconds a webhook delivery waits for an answer, per attempt (default 60, as Dataverse)")
    serve.add_argument("--require-auth", action="store_true",
                       help="answer 401 to requests without 'Authorization: Bearer <token>' (any token is accepted)")
    serve.add_argument("--tls-cert", type=Path, default=None,
                       help="serve HTTPS (and TLS on the TDS endpoint) with this certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, default=None, help="the private key of --tls-cert (PEM)")
    serve.add_argument("--tds", action="store_true",
                       help="also serve Dataverse's read-only SQL over TDS (SQL Server's protocol), on --host")
    serve.add_argument("--tds-port", type=int, default=1433,
                       help="port of the TDS endpoint (default 1433; 0: a free one, printed on stderr)")
    serve.add_argument("--tds-encrypt", choices=("off", "optional", "required"), default="optional",
                       help="TLS on the TDS endpoint: as the client asks (optional, default), always (required), "
                            "never (off); the certificate is --tls-cert, or one generated at start")
    serve.add_argument("--tds-password", default=None,
                       help="with --require-auth, the password a TDS login must carry unless it carries a bearer "
                            "token")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the store and the port (default 1); more than one needs a "
                            "database file and the real clock, and leaves out --tds")
    serve.add_argument("--log-level", choices=LEVELS, default="info",
                       help="info (default): a line per request and per job state change; debug adds the "
                            "scheduler's decisions")
    serve.add_argument("--log-format", choices=FORMATS, default="text",
                       help="text (default) or json (one object per line, for log collectors)")
    for action in serve._actions:
        name = _env_name(action)
        if name:
            action.help = f"{action.help or ''} [env {name}]".strip()
    return parser


def _env_name(action: argparse.Action) -> str | None:
    """ODATA_EMULATOR_TDS_PORT for --tds-port; None for --help."""
    longs = [o for o in action.option_strings if o.startswith("--")]
    if not longs or action.dest == "help":
        return None
    return ENV_PREFIX + longs[0][2:].replace("-", "_").upper()


def apply_environment(parser: argparse.ArgumentParser, environ: dict[str, str]) -> None:
    """Defaults of `serve` taken from ODATA_EMULATOR_<OPTION> (what a CI service container can set):
    a flag given on the command line still wins. A value that does not parse is a usage error
    naming the variable."""
    import argparse

    serve = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["serve"]
    for action in serve._actions:
        name = _env_name(action)
        if name is None or name not in environ:
            continue
        text = environ[name].strip()
        if isinstance(action, argparse._StoreTrueAction):
            if text.lower() not in _TRUE + _FALSE:
                serve.error(f"{name}={text!r}: use 1/true/yes/on or 0/false/no/off")
            value: Any = text.lower() in _TRUE
        else:
            try:
                value = action.type(text) if callable(action.type) else text
            except (TypeError, ValueError):
                serve.error(f"{name}={text!r} is not a valid value for {action.option_strings[0]}")
            if action.choices is not None and value not in action.choices:
                serve.error(f"{name}={text!r}: choose from {', '.join(map(str, action.choices))}")
        serve.set_defaults(**{action.dest: value})


def settings_from(args: argparse.Namespace) -> Settings:
    # --fixtures DIR on the command line wins over ODATA_EMULATOR_NO_FIXTURES.
    fixtures = args.fixtures if args.fixtures is not None else (None if args.no_fixtures else fixtures_dir())
    start = None
    if args.clock_start:
        start = dt.datetime.fromisoformat(args.clock_start.replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
    return Settings(
        database=args.database,
        fixtures=fixtures,
        strict=not args.loose,
        clock=args.clock,
        clock_start=start,
        aggregate_limit=args.aggregate_limit,
        scheduler=not args.no_scheduler,
        fsync=not args.no_fsync,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        webhook_timeout=args.webhook_timeout,
        require_auth=args.require_auth,
        tds=args.tds,
        tds_host=args.host,
        tds_port=args.tds_port,
        tds_encrypt=args.tds_encrypt,
        tds_password=args.tds_password,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def multi_worker_refusal(settings: Settings) -> str | None:
    """Why these settings cannot run in several processes (None: they can). Each process has its own
    memory: a private in-memory store or a virtual clock would be one per process, and a TDS endpoint
    one port per process."""
    if settings.database == ":memory:":
        return "--workers N needs a database file (--database PATH): ':memory:' would be one store per process"
    if settings.clock == "virtual":
        return "--workers N runs on the real clock: a virtual clock lives in one process (use --workers 1)"
    if settings.tds:
        return "--tds runs with --workers 1"
    return None


class PortInUse(Exception):
    """Raised by `bind` when another process listens on the address asked for."""


def bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A listening socket on (host, port), bound before the emulator starts, so that the banner
    names the port really bound (`--port 0`: one the OS chose) and a port in use is said plainly.
    `shared` (`--workers N`): bound with SO_REUSEPORT and not listening; it holds the port while each
    worker listens on a socket of its own on it (`workers.WorkerSocket`).
    Raises PortInUse, or OSError for an address that cannot be bound."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is in use by another process") from None
        raise
    if not shared:
        sock.listen(2048)
        sock.set_inheritable(True)
    return sock


def banner(settings: Settings, emulator: Emulator, scheme: str, host: str, port: int) -> str:
    """What the server says once it answers: where, on which store and clock, and what it loaded."""
    clock = f"virtual, at {emulator.clock.now().isoformat()} (moved by POST /_emulator/v1/clock)" \
        if emulator.clock.virtual else "real"
    tds = f"{emulator.tds.host}:{emulator.tds.port}" if emulator.tds is not None else None
    return banner_text(settings, data_note=emulator.data_note, clock=clock, tds=tds, scheme=scheme, host=host,
                       port=port)


def banner_text(settings: Settings, *, data_note: str, clock: str, tds: str | None, scheme: str, host: str,
                port: int, workers: int = 1) -> str:
    from .api.responses import API_PREFIX

    address = f"[{host}]" if ":" in host else host
    base = f"{scheme}://{address}:{port}"
    from .store.engine import database_url

    store = "a temporary in-memory store" if settings.database == ":memory:" else database_url(settings.database)
    jobs = f"{settings.concurrency} at a time" if settings.scheduler else "not run (--no-scheduler)"
    if workers > 1:
        jobs += f" in each of {workers} worker processes"
    lines = [
        f"odata-emulator {__version__} ready",
        f"  Web API       {base}{API_PREFIX}",
        f"  Control API   {base}/_emulator/v1/",
        f"  System Jobs   {base}/",
        f"  Store         {store}: {data_note}",
        f"  Clock         {clock}",
        f"  System jobs   {jobs}",
    ]
    if workers > 1:
        lines.append(f"  Workers       {workers} processes on one store (--workers)")
    if tds is not None:
        lines.append(f"  TDS (SQL)     {tds}")
    if settings.require_auth:
        lines.append("  Auth          requests need 'Authorization: Bearer <any token>' (health excepted)")
    return "\n".join(lines)


async def _serve(config: Any, sock: socket.socket, announce) -> None:
    import asyncio

    import uvicorn

    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        collect_from_here()
        announce()
    await serving


def collect_from_here() -> None:
    """The cyclic garbage collector back on, after start-up (`main`): what start-up made is frozen
    first (`gc.freeze`: moved where the collector never looks), so that a collection while serving
    walks only what requests make."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    # Start-up makes a few hundred thousand objects that live as long as the process (modules, classes,
    # SQLAlchemy's tables, the model, the app) and next to no garbage; the cyclic collector, run every
    # 700 new objects, walked them over and over (0.2 s of a 1.2 s start). It is off until the server
    # listens (`collect_from_here`). This module imports nothing heavy (not even asyncio), so that the
    # imports happen here.
    gc.disable()
    try:
        return _main(argv, environ)
    finally:
        if not gc.isenabled():  # stopped before it served (a refusal, an error): nothing to freeze
            gc.enable()


def _main(argv: list[str] | None, environ: dict[str, str] | None) -> int:
    import asyncio

    parser = _parser()
    apply_environment(parser, dict(os.environ if environ is None else environ))
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    import uvicorn

    from .api.app import create_app
    from .store.engine import unusable_store

    settings = settings_from(args)
    if args.workers < 1:
        parser.error("--workers takes 1 or more")
    if args.workers > 1:
        refused = multi_worker_refusal(settings)
        if refused:
            parser.error(refused)
    from .workers import SOCKET_PER_WORKER

    unusable = unusable_store(settings.database)
    if unusable:
        print(f"odata-emulator: {unusable}", file=sys.stderr, flush=True)
        return STORE_UNUSABLE
    try:
        sock = bind(args.host, args.port, shared=args.workers > 1 and SOCKET_PER_WORKER)
    except PortInUse as exc:
        print(f"odata-emulator: {exc}. Stop that process, or choose another port: --port N (or "
              f"{ENV_PREFIX}PORT=N); --port 0 picks a free one.", file=sys.stderr, flush=True)
        return PORT_IN_USE
    except OSError as exc:
        print(f"odata-emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.", file=sys.stderr,
              flush=True)
        return PORT_IN_USE
    scheme = "https" if args.tls_cert else "http"
    port = sock.getsockname()[1]
    tls: dict[str, Any] = {"ssl_certfile": str(args.tls_cert), "ssl_keyfile": str(args.tls_key)} if args.tls_cert else {}
    if args.workers > 1:
        from .workers import serve_workers

        with sock:
            return serve_workers(args, sys.argv[1:] if argv is None else list(argv), settings, sock, scheme=scheme,
                                 port=port,
                                 log_config=log_config(args.log_level, args.log_format), tls=tls)
    app = create_app(settings)
    emulator: Emulator = app.state.emulator
    config = uvicorn.Config(app, log_level=args.log_level, log_config=log_config(args.log_level, args.log_format),
                            lifespan="on", **server_options(), **tls)

    def announce() -> None:
        print(banner(settings, emulator, scheme, args.host, port), file=sys.stderr, flush=True)

    with sock:
        try:
            asyncio.run(_serve(config, sock, announce))
        except KeyboardInterrupt:  # Ctrl+C: uvicorn has shut down cleanly, then re-raised the signal
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
