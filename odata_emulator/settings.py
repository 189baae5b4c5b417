"""How an emulator instance is configured (the CLI and the pytest plugin both build one)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ._resources import fixtures_dir

DEFAULT_DATABASE = "odata-emulator.db"  # the store `serve` keeps in the directory it starts from


@dataclass(frozen=True)
class Settings:
    database: str = ":memory:"
    # Whether the store waits for the disk (fsync) where SQLite's WAL mode does: at checkpoints,
    # among them the one on close. Off, a power cut can lose the last changes, and nothing else
    # changes; a scratch store needs no more (`:memory:` is always off).
    fsync: bool = True
    # The data set loaded into an empty store; None starts with no data.
    fixtures: Path | None = field(default_factory=fixtures_dir)
    # Strict: refuse what Dataverse refuses. Loose: evaluate standard OData that Dataverse refuses.
    strict: bool = True
    clock: str = "real"  # "real" | "virtual"
    # Start of the virtual clock; None means the fixture data set's reference time.
    clock_start: dt.datetime | None = None
    # Rows an aggregate query may read ($apply, FetchXML aggregate): Dataverse stops at 50,000.
    aggregate_limit: int = 50_000
    # Scheduler: how many jobs run at once, how long a claim's lease lasts before another instance
    # may recover the job, and how often the real-clock loop looks for work.
    scheduler: bool = True
    concurrency: int = 4
    lease_seconds: float = 30.0
    poll_seconds: float = 0.2
    # How long a webhook delivery waits for the receiver's answer, per attempt (Dataverse: 60 s).
    webhook_timeout: float = 60.0
    # Answer 401 to requests without `Authorization: Bearer <token>` (any token is accepted).
    require_auth: bool = False
    # The TDS endpoint (`serve --tds`): SQL clients read the store with Dataverse's SQL.
    tds: bool = False
    tds_host: str = "127.0.0.1"
    tds_port: int = 1433  # 0: the OS picks a free port (printed on stderr)
    tds_encrypt: str = "optional"  # "off" | "optional" | "required"
    # With require_auth, a TDS login's password must be this (or a bearer token).
    tds_password: str | None = None
    # The certificate for TLS (PEM); None: one is generated at start.
    tls_cert: Path | None = None
    tls_key: Path | None = None
