"""`python -m bench`: measure the emulator against its limits, in one run, and print one table.

For each store size: a deterministic store of N system jobs (cached), the emulator serving it as
users start it, the documented queries (Web API and FetchXML), a single-row retrieve, a 5000-row
page and a 100k-row walk, each beside its limit measured in the same run (direct SQL on the same
file, a trivial starlette app). Then start-up time and the scheduler on the virtual clock.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import events as events_bench
from . import page as page_bench
from . import peer as peer_bench
from . import report, server, store
from . import tds as tds_bench
from .load import FALLBACK, WRK, LoadResult, load_generator
from .progress import say, shout
from .scheduler import SchedulerResult, measure_scheduler
from .startup import StartupResult, measure_startup
from .webapi import LoadPlan, StoreResult, measure_store

CONNECTIONS = (1, 16)
T = TypeVar("T")


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = float(text[:-1] if factor > 1 else text)
    if number <= 0 or number * factor != int(number * factor):
        raise argparse.ArgumentTypeError(f"not a whole positive number of jobs: {text!r}")
    return int(number * factor)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k,1M", help="store sizes, comma-separated (default 10k,100k,1M)")
    parser.add_argument("--emulator", default=server.default_emulator(),
                        help="the odata-emulator executable to measure (default: the one beside this Python)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run (default 3)")
    parser.add_argument("--max-duration", type=float, default=10.0,
                        help="longest a load run is stretched to for slow answers (default 10)")
    parser.add_argument("--load-generator", choices=("auto", WRK, FALLBACK), default="auto",
                        help="wrk if installed (default), or the built-in asyncio client")
    parser.add_argument("--seed", type=int, default=store.DEFAULT_SEED, help="seed of the generated stores")
    parser.add_argument("--scheduler-jobs", type=int, default=10_000, help="jobs per scheduler run (default 10000)")
    parser.add_argument("--scheduler-timeout", type=float, default=120.0,
                        help="seconds to wait for one scheduler clock advance (default 120)")
    parser.add_argument("--no-scheduler", action="store_true", help="skip the scheduler measurements")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up measurements")
    parser.add_argument("--no-tds", action="store_true", help="skip the TDS (SQL) endpoint measurements")
    parser.add_argument("--no-events", action="store_true", help="skip the creates and webhook deliveries measurements")
    parser.add_argument("--event-creates", type=int, default=500,
                        help="contacts created per events measurement, and webhooks delivered (default 500)")
    parser.add_argument("--no-page", action="store_true", help="skip the System Jobs page load (Chromium)")
    parser.add_argument("--workers", type=int, default=1,
                        help="serve the read measurements with `serve --workers N` (real clock, no scheduler)")
    parser.add_argument("--peer", choices=("cap",), default=None,
                        help="also load the peer's six URLs on SAP CAP over SQLite (../shared/peers/cap; needs node)")
    parser.add_argument("--cache-dir", type=Path, default=store.CACHE_DIR, help="where generated stores are kept")
    parser.add_argument("--out", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--json", type=Path, help="write the raw numbers to this JSON file")
    args = parser.parse_args(argv)
    try:
        args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    except (argparse.ArgumentTypeError, ValueError) as exc:
        parser.error(f"--sizes: {exc}")
    if not (os.path.isfile(args.emulator) and os.access(args.emulator, os.X_OK)):
        found = shutil.which(args.emulator)
        if not found:
            parser.error(f"--emulator: {args.emulator} is not an executable")
        args.emulator = found
    if args.load_generator == "auto":
        args.load_generator = load_generator()
    return args


@dataclasses.dataclass
class Results:
    trivial: tuple[LoadResult, LoadResult] | None = None
    stores: list[StoreResult] = dataclasses.field(default_factory=list)
    startup: StartupResult | None = None
    scheduler: list[SchedulerResult] = dataclasses.field(default_factory=list)
    store_fingerprint: str = ""
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (measurement, exception)
    tds: list[tds_bench.TdsResult] = dataclasses.field(default_factory=list)
    events: events_bench.EventsResult | None = None
    peer: list[peer_bench.PeerResult] = dataclasses.field(default_factory=list)
    page: list[page_bench.PageResult] = dataclasses.field(default_factory=list)


def run(args: argparse.Namespace, work_dir: Path, results: Results) -> None:
    python = server.interpreter_of(args.emulator)
    plan = LoadPlan(args.duration, max(args.duration, args.max_duration), args.load_generator)
    say(f"measuring {args.emulator} with {args.load_generator}; work files in {work_dir}")
    if args.load_generator == FALLBACK and not shutil.which(WRK):
        # The built-in client is Python: on 2 cores it takes much of a core from the server under
        # test (2026-12-01: one row by key at 16 connections, 1,829 req/s with it, 2,694 with wrk).
        shout("wrk is not installed (Debian: apt-get install wrk): the built-in load client shares the CPUs "
              "with the server, so the figures under load come out lower than with wrk")
    results.trivial = guarded("trivial starlette app", results, lambda: measure_trivial(python, work_dir, plan))
    base = store.create_base_store(args.emulator, work_dir)
    results.store_fingerprint = base.fingerprint
    for size in args.sizes:
        measured = guarded(f"N={report.size_label(size)}", results,
                           lambda size=size: measure_size(args, base, size, work_dir, plan, results))
        if measured is not None:
            results.stores.append(measured)
    if not args.no_startup:
        say("start-up times")
        results.startup = guarded("start-up", results, lambda: measure_startup(args.emulator, python, work_dir))
    if not args.no_scheduler:
        for chain in (False, True):
            measured = guarded(f"scheduler ({'chain' if chain else 'independent'})", results,
                               lambda chain=chain: measure_scheduler(args.emulator, work_dir, args.scheduler_jobs,
                                                                     args.scheduler_timeout, chain))
            if measured is not None:
                results.scheduler.append(measured)
    if not args.no_events:
        say("events: creates with and without a webhook step, then the deliveries")
        results.events = guarded("events", results,
                                 lambda: events_bench.measure_events(args.emulator, work_dir, args.event_creates))


def measure_size(args: argparse.Namespace, base: store.BaseStore, size: int, work_dir: Path,
                 plan: LoadPlan, results: Results) -> StoreResult:
    say(f"N={size}: preparing the store (seed {args.seed}, schema {base.fingerprint})")
    prepared = store.materialize(base, size, args.seed, work_dir, args.cache_dir)
    if prepared.generated_in_s is not None:
        say(f"N={size}: generated in {prepared.generated_in_s:.1f} s (cached for the next runs)")
    try:
        measured = measure_store(args.emulator, prepared, work_dir, plan, CONNECTIONS, args.workers)
        if not args.no_tds:
            found = guarded(f"TDS N={report.size_label(size)}", results,
                            lambda: tds_bench.measure_tds(args.emulator, prepared, work_dir))
            if found is not None:
                results.tds.append(found)
        if not args.no_page:
            loaded = guarded(f"page N={report.size_label(size)}", results,
                             lambda: page_bench.measure_page(args.emulator, prepared, work_dir, args.workers))
            if loaded is not None:
                results.page.append(loaded)
        if args.peer == "cap":
            compared = guarded(f"CAP peer N={report.size_label(size)}", results,
                               lambda: peer_bench.measure_peer(args.emulator, prepared, work_dir, args.cache_dir,
                                                               args.duration, args.workers))
            if compared is not None:
                results.peer.append(compared)
        return measured
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{prepared.path}{suffix}").unlink(missing_ok=True)


def guarded(label: str, results: Results, action: Callable[[], T]) -> T | None:
    """Run one measurement; an exception fails it (loudly, and in the table) without losing the rest."""
    try:
        return action()
    except Exception as exc:
        results.failures.append((label, f"{type(exc).__name__}: {exc}"))
        shout(f"{label}: {type(exc).__name__}: {exc}")
        return None


def measure_trivial(python: str, work_dir: Path, plan: LoadPlan) -> tuple[LoadResult, LoadResult]:
    """The floor of the single-row retrieve: one small JSON answer from starlette under uvicorn."""
    with server.TrivialServer(python, work_dir) as trivial:
        loads = tuple(plan.run(trivial.base_url + "/", c, 0.0) for c in CONNECTIONS)
    for load in loads:
        if not load.ok:
            shout(f"trivial app at {load.connections} connection(s): {'; '.join(load.errors)}")
    say("trivial starlette app: " + ", ".join(f"{run.requests_per_s:,.0f} req/s at {run.connections} conn" for run in loads))
    return loads  # type: ignore[return-value]


def rows_of(results: Results) -> list[report.Row]:
    rows = [report.Row(label, report.DASH, f"FAILED: {error}", failed=True) for label, error in results.failures]
    for result in results.stores:
        rows += report.store_rows(result, results.trivial)
    rows += tds_bench.rows(results.tds)
    rows += peer_bench.rows(results.peer)
    rows += page_bench.rows(results.page)
    rows += report.startup_rows(results.startup)
    rows += report.scheduler_rows(*(next((r for r in results.scheduler if r.kind == kind), None)
                                    for kind in ("independent", "chain")))
    rows += events_bench.rows(results.events)
    return rows


def notes_of(args: argparse.Namespace, results: Results, seconds: float, argv: list[str]) -> list[str]:
    python = server.interpreter_of(args.emulator)
    generated = [f"{report.size_label(r.size)} in {r.generated_in_s:.0f} s" for r in results.stores if r.generated_in_s]
    rss = "; ".join(f"{report.size_label(r.size)}: {r.rss_process}" for r in results.stores)
    fixture_jobs = results.stores[0].total_jobs - results.stores[0].size if results.stores else "the"
    return [
        f"Machine: {_cpu_count()} CPUs ({_cpu_model()}), {_memory()}; Linux {platform.release()}.",
        (f"Harness Python {platform.python_version()}; emulator `{args.emulator}` ({_version(args.emulator)}) on "
        f"{python} ({_output([python, '--version'])}, {_stack_versions(python)})."),
        (f"Load generator: {_generator_text(args.load_generator)} on the same machine (it competes with the server "
        f"for the CPUs); 1 connection = -t1 -c1, 16 connections = -t2 -c16; {args.duration:g} s per run, stretched "
        f"up to {max(args.duration, args.max_duration):g} s when one answer is slow. Every answer must be 200, and "
        "each URL's first answer is checked against SQL (aggregate groups and counts, row counts) before it is loaded."),
        ("Servers: `odata-emulator serve --database <copy of the store> --port <free> "
        + ("--clock virtual " if args.workers == 1 else f"--workers {args.workers} --no-scheduler ")
        + "--aggregate-limit 0 --log-level warning`: " + ("the virtual clock" if args.workers == 1 else "no scheduler")
        + " keeps every job still while measuring; "
        "--aggregate-limit 0 (unlimited) because Dataverse's default of 50,000 rows would refuse the documented "
        "aggregates at 100k and more."),
        f"Stores: the emulator's own start-up creates the schema and loads its bundled fixtures ({fixture_jobs} jobs, the "
        f"users, teams and business units that $expand reaches), then N generated jobs are appended (seed "
        f"{args.seed}, generator v{store.GENERATOR_VERSION}, schema+fixtures {results.store_fingerprint}); "
        + (f"generated in this run: {', '.join(generated)}." if generated else "all taken from the cache."),
        ("Limits: the same SQL on the same file with stdlib sqlite3 (the documented `.sql` files for 02-05; for 01 the "
        "selected columns with LEFT JOINs for the six expanded names, ORDER BY the key, LIMIT 1000; FetchXML forms "
        "against the same SQL as their Web API twins), median of repeated executions including fetchall; pages: "
        "that SQL fetch plus `json.dumps` of the rows as dicts; single-row req/s: a one-route starlette app "
        "(bench/trivial.py) under the same interpreter and uvicorn options; start-up: the same app's time to first 200."),
        ("Pages and the walk use one keep-alive http.client connection; the walk's time is the sum of its requests "
        "(send to last byte), without the client's JSON parsing."),
        f"Peak RSS: VmHWM of the server process ({rss}) after all its measurements at that N.",
        *([tds_bench.NOTE] if results.tds else []),
        *([events_bench.NOTE] if results.events else []),
        *([peer_bench.NOTE] if results.peer else []),
        *([page_bench.NOTE] if results.page else []),
        (f"Scheduler: a fresh `serve --clock virtual --no-fixtures` store; {args.scheduler_jobs} jobs with "
        "`simulation.duration` 0 seeded through POST /_emulator/v1/jobs (1000 per request), then one timed "
        "POST /_emulator/v1/clock {\"advance\": \"PT1S\"}; Succeeded counted with a $apply aggregate; the chain's "
        f"order checked from each job's final row version (@odata.etag) by sequence; timeout {args.scheduler_timeout:g} s."),
        f"Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; total run time {seconds / 60:.1f} min.",
        f"Command (from {os.getcwd()}): `{shlex.join([sys.executable, '-m', 'bench', *argv])}`",
    ]


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        total_kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        return f"{total_kib / 1048576:.0f} GiB RAM"
    except (OSError, IndexError, ValueError):
        return "RAM unknown"


def _output(argv: list[str]) -> str:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (completed.stdout or completed.stderr).strip().splitlines()[0] if (completed.stdout or completed.stderr) else "?"


def _version(emulator: str) -> str:
    return _output([emulator, "--version"])


def _stack_versions(python: str) -> str:
    return _output([python, "-c", ("import sqlite3, starlette, uvicorn; print(f'starlette {starlette.__version__}, "
                                  "uvicorn {uvicorn.__version__}, SQLite {sqlite3.sqlite_version}')")])


def _generator_text(generator: str) -> str:
    if generator == WRK:
        return f"wrk ({_output(['wrk', '--version']).split(' Copyright')[0]}) with --latency"
    return "the built-in asyncio keep-alive client (wrk is not installed)"


def raw_numbers(args: argparse.Namespace, results: Results, seconds: float, argv: list[str]) -> dict:
    def plain(value):
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value

    return {
        "command": [sys.executable, "-m", "bench", *argv],
        "emulator": args.emulator,
        "seconds": seconds,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "trivial": [plain(load) for load in results.trivial or ()],
        "stores": [plain(result) for result in results.stores],
        "startup": plain(results.startup) if results.startup else None,
        "scheduler": [plain(result) for result in results.scheduler],
        "failures": results.failures,
        "tds": [plain(result) for result in results.tds],
        "events": plain(results.events) if results.events else None,
        "peer": [plain(result) for result in results.peer],
        "page": [plain(result) for result in results.page],
    }


def _exit_on_sigterm(signum: int, frame) -> None:
    """SIGTERM unwinds like Ctrl-C, so that main's `finally` stops every server."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = arguments(argv)
    started = time.perf_counter()
    work_dir = Path(tempfile.mkdtemp(prefix="odata-bench-"))
    results = Results()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        run(args, work_dir, results)
    finally:
        server.stop_all()
        shutil.rmtree(work_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    rows = rows_of(results)
    text = report.render(rows, notes_of(args, results, seconds, argv))
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(raw_numbers(args, results, seconds, argv), indent=1), encoding="utf-8")
    failed = [row.measurement for row in rows if row.failed]
    if failed:
        shout(f"{len(failed)} measurement(s) failed: {', '.join(failed)}")
    say(f"done in {seconds / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # servers and work files are already gone (main's finally)
        shout("interrupted")
        raise SystemExit(130) from None
