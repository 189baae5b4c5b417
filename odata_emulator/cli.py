"""`odata-emulator serve ...`: start the emulator with uvicorn."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from ._resources import fixtures_dir
from .settings import Settings
from .store.engine import DEFAULT_DATABASE, database_url

# The largest request head (request line and headers) the server reads before answering with its
# own plain-text 400. Dataverse takes URLs of up to 32 KB (64 KB inside $batch): the application
# answers a longer one with a Dataverse-shaped 414, and this lets URLs well past that limit reach
# it (uvicorn's default, 16 KB, refuses URLs Dataverse accepts). Beyond 1 MiB the server refuses.
MAX_REQUEST_HEAD = 1_048_576


def server_options() -> dict[str, Any]:
    """uvicorn settings every emulator server uses. h11 explicitly (uvicorn's default unless
    httptools is installed): MAX_REQUEST_HEAD is an h11 setting."""
    return {"http": "h11", "h11_max_incomplete_event_size": MAX_REQUEST_HEAD}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odata-emulator", description="A local emulator of the Dataverse Web API for system jobs.")
    parser.add_argument("--version", action="version", version=f"odata-emulator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the emulator")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
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
    serve.add_argument("--tds-password", default=os.environ.get("ODATA_EMULATOR_TDS_PASSWORD"),
                       help="with --require-auth, the password a TDS login must carry unless it carries a bearer "
                            "token (default: $ODATA_EMULATOR_TDS_PASSWORD)")
    serve.add_argument("--log-level", default="info")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    fixtures = None if args.no_fixtures else (args.fixtures or fixtures_dir())
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
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        require_auth=args.require_auth,
        tds=args.tds,
        tds_host=args.host,
        tds_port=args.tds_port,
        tds_encrypt=args.tds_encrypt,
        tds_password=args.tds_password,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    import uvicorn

    from .api.app import create_app

    settings = settings_from(args)
    store = "a temporary in-memory store" if settings.database == ":memory:" else database_url(settings.database)
    scheme = "https" if args.tls_cert else "http"
    print(f"odata-emulator {__version__}: store {store}; "
          f"Web API at {scheme}://{args.host}:{args.port}/api/data/v9.2/", file=sys.stderr, flush=True)
    tls: dict[str, Any] = {"ssl_certfile": str(args.tls_cert), "ssl_keyfile": str(args.tls_key)} if args.tls_cert else {}
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level, lifespan="on",
                **server_options(), **tls)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
