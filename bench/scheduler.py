"""The scheduler on the virtual clock: seed zero-length jobs through the control API, time the one
clock advance that runs them all, then check through the Web API that every job Succeeded (and,
for a dependency chain, that they ran in creation order)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .client import Client
from .progress import say, shout
from .server import EmulatorServer

SEED_BATCH = 1000
API = "/api/data/v9.2/"
GROUPS = API + "asyncoperations?$apply=groupby((statecode,statuscode),aggregate($count%20as%20count))"
BY_SEQUENCE = API + "asyncoperations?$select=sequence&$orderby=sequence%20asc"
CHAIN_TOKEN = "bench-chain"


@dataclass
class SchedulerResult:
    kind: str  # "independent" | "chain"
    jobs: int
    seed_s: float = 0.0
    advance_s: float | None = None  # None: timed out or failed
    timeout_s: float = 0.0
    timed_out: bool = False
    succeeded: int | None = None
    in_creation_order: bool | None = None  # chain only; None when it could not be checked
    errors: list[str] = field(default_factory=list)

    @property
    def jobs_per_s(self) -> float | None:
        return self.jobs / self.advance_s if self.advance_s else None


def measure_scheduler(emulator: str, work_dir: Path, jobs: int, timeout_s: float, chain: bool) -> SchedulerResult:
    kind = "chain" if chain else "independent"
    result = SchedulerResult(kind, jobs, timeout_s=timeout_s)
    database = work_dir / f"scheduler-{kind}.db"
    extra = ("--clock", "virtual", "--no-fixtures", "--aggregate-limit", "0")
    try:
        with EmulatorServer(emulator, database, work_dir, extra) as running, running.client(timeout=120) as client:
            _seed(client, result, chain)
            if result.errors:
                return result
            say(f"scheduler ({kind}): {jobs} jobs seeded in {result.seed_s:.1f} s; advancing the clock "
                f"(timeout {timeout_s:.0f} s)")
            started = time.perf_counter()
            try:
                reply = client.post_json("/_emulator/v1/clock", {"advance": "PT1S"}, timeout=timeout_s)
            except TimeoutError:
                # Not a failure: the figure is then a bound. How far it got, if the server answers.
                result.timed_out = True
                result.succeeded = _count_succeeded(running, timeout=10.0)
                say(f"scheduler ({kind}): timed out after {timeout_s:.0f} s; {result.succeeded} of {jobs} Succeeded by then")
                return result
            elapsed = time.perf_counter() - started
            if reply.status != 200:
                result.errors.append(f"the clock advance answered {reply.status}: {reply.body[:300]!r}")
                return result
            result.advance_s = elapsed
            result.succeeded = _count_succeeded(running, timeout=60.0)
            if result.succeeded != jobs:
                result.errors.append(f"{result.succeeded} of {jobs} jobs Succeeded (3/30) after the advance")
            if chain:
                result.in_creation_order = _ran_in_creation_order(client, result)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    for error in result.errors:
        shout(f"scheduler ({kind}): {error}")
    say(f"scheduler ({kind}): advance {result.advance_s or 0:.2f} s, {result.succeeded} Succeeded"
        + (f", in creation order: {result.in_creation_order}" if chain else ""))
    return result


def _seed(client: Client, result: SchedulerResult, chain: bool) -> None:
    started = time.perf_counter()
    for first in range(0, result.jobs, SEED_BATCH):
        batch = []
        for number in range(first, min(first + SEED_BATCH, result.jobs)):
            job = {"name": f"bench job {number:05d}", "simulation": {"duration": 0}}
            if chain:
                job["dependencytoken"] = CHAIN_TOKEN
            batch.append(job)
        reply = client.post_json("/_emulator/v1/jobs", batch)
        if reply.status != 201 or len(reply.json().get("value", [])) != len(batch):
            result.errors.append(f"seeding answered {reply.status}: {reply.body[:300]!r}")
            return
    result.seed_s = time.perf_counter() - started


def _count_succeeded(running: EmulatorServer, timeout: float) -> int | None:
    """Succeeded jobs, from an aggregate ($count caps at 5000, as Dataverse's does)."""
    try:
        with Client(running.port, timeout) as client:
            reply = client.get(GROUPS)
    except (OSError, TimeoutError):
        return None
    if reply.status != 200:
        return None
    return sum(int(g["count"]) for g in reply.json()["value"] if (g["statecode"], g["statuscode"]) == (3, 30))


def _ran_in_creation_order(client: Client, result: SchedulerResult) -> bool | None:
    """Each transition gives a job a new row version (its @odata.etag), from one counter: jobs that
    ran one after another in creation (sequence) order end with versions rising in that order."""
    versions: list[int] = []
    target: str | None = BY_SEQUENCE
    while target:
        reply = client.get(target, {"Prefer": "odata.maxpagesize=5000"})
        if reply.status != 200:
            result.errors.append(f"listing the chain answered {reply.status}: {reply.body[:200]!r}")
            return None
        body = reply.json()
        for row in body["value"]:
            match = re.search(r'"(\d+)"', row.get("@odata.etag", ""))
            if match is None:
                return None  # no row versions to compare
            versions.append(int(match.group(1)))
        target = body.get("@odata.nextLink")
    if len(versions) != result.jobs:
        result.errors.append(f"listed {len(versions)} jobs, seeded {result.jobs}")
        return None
    in_order = all(a < b for a, b in zip(versions, versions[1:]))
    if not in_order:
        result.errors.append("the chain's jobs did not finish in creation order")
    return in_order
