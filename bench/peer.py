"""The emulator beside the server a user would pick instead: SAP CAP over SQLite (`--peer cap`).

The peer lives in `../shared/peers/cap/` (read-only): it is copied into the cache directory, its
node packages installed there once (`npm ci`), its own data generated for the same N (the same
distribution of states and types: see its README), and started with `run-peer.sh` on a free port
of 127.0.0.1. The six URLs the comparison is about (the peer's `queries.txt`: the documented
groupby and its three filtered forms, a 1000-row page with an expanded user, one row by key) are
loaded on both servers, one after the other, at 1 and 16 connections, each answer checked for 200
first. Skipped, with the reason, when node or npm is missing or the peer cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .load import LoadResult, run_load
from .progress import say, shout
from .report import Row, Target, rate, size_label
from .server import EmulatorServer, free_port, read_only_args
from .store import Store

PEER_SOURCE = Path(os.environ.get("ODATA_EMULATOR_CAP_PEER",
                                  Path(__file__).resolve().parents[2] / "shared" / "peers" / "cap"))
TARGET = Target(">=", 2.0, text="≥ 2× CAP at 16 conn")
CONNECTIONS = (1, 16)


@dataclass
class UrlResult:
    label: str
    path: str
    emulator: dict[int, LoadResult] = field(default_factory=dict)
    peer: dict[int, LoadResult] = field(default_factory=dict)


@dataclass
class PeerResult:
    size: int
    urls: list[UrlResult] = field(default_factory=list)
    skipped: str | None = None
    errors: list[str] = field(default_factory=list)


def queries() -> list[tuple[str, str]]:
    """(label, path with {ID}) from the peer's queries.txt."""
    found = []
    for line in (PEER_SOURCE / "queries.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, path = line.split("\t", 1)
            found.append((label.strip(), path.strip()))
    return found


def _install(cache_dir: Path) -> Path:
    """The peer copied into the cache, with its node packages (installed once)."""
    target = cache_dir / "cap-peer"
    if not (target / "node_modules" / "@sap" / "cds").exists():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(PEER_SOURCE, target, ignore=shutil.ignore_patterns("node_modules", "data", "*.log"))
        say("CAP peer: installing its node packages (npm ci, once)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=target, check=True,
                       capture_output=True, text=True, timeout=900)
    return target


def _middle_id(database: Path, table: str, key: str) -> str:
    with sqlite3.connect(database) as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        (found,) = conn.execute(f"SELECT {key} FROM {table} ORDER BY rowid LIMIT 1 OFFSET ?", (count // 2,)).fetchone()
    return str(found)


def measure_peer(emulator: str, store: Store, work_dir: Path, cache_dir: Path, seconds: float,
                 workers: int = 1) -> PeerResult:
    result = PeerResult(store.size)
    if shutil.which("node") is None or shutil.which("npm") is None:
        result.skipped = "node and npm are needed to run the CAP peer"
        return result
    if not (PEER_SOURCE / "run-peer.sh").exists():
        result.skipped = f"the CAP peer is not at {PEER_SOURCE} (set ODATA_EMULATOR_CAP_PEER)"
        return result
    try:
        peer_dir = _install(cache_dir)
    except (subprocess.SubprocessError, OSError) as exc:
        result.skipped = f"the CAP peer could not be installed: {exc}"
        return result
    port = free_port()
    started = subprocess.run(["./run-peer.sh"], cwd=peer_dir, capture_output=True, text=True, timeout=900,
                             env={**os.environ, "PORT": str(port), "ROWS": str(store.size), "QUIET": "1"})
    if started.returncode != 0:
        result.skipped = f"the CAP peer did not start: {started.stderr.strip()[-500:]}"
        return result
    peer_pid = int(started.stdout.strip())
    try:
        peer_id = _middle_id(peer_dir / "data" / f"asyncop-{store.size}.db", "dv_asyncoperations", "asyncoperationid")
        peer_base = f"http://127.0.0.1:{port}"
        result.urls = [UrlResult(label, path) for label, path in queries()]
        for url in result.urls:
            _load(url.peer, peer_base + url.path.replace("{ID}", peer_id), seconds, result, f"CAP {url.label}")
    finally:
        _kill(peer_pid)
    with EmulatorServer(emulator, store.path, work_dir, read_only_args(workers)) as running:
        for url in result.urls:
            _load(url.emulator, running.base_url + url.path.replace("{ID}", store.sample_job_id), seconds, result,
                  f"emulator {url.label}")
    return result


def _load(into: dict[int, LoadResult], url: str, seconds: float, result: PeerResult, what: str) -> None:
    for connections in CONNECTIONS:
        say(f"peer comparison: {what} at {connections} connection(s)")
        measured = run_load(url, connections, seconds)
        if not measured.ok:
            result.errors.append(f"{what} at {connections} conn: {'; '.join(measured.errors)}")
            shout(result.errors[-1])
        into[connections] = measured


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pass


def rows(results: list[PeerResult]) -> list[Row]:
    table = []
    for result in results:
        n = size_label(result.size)
        if result.skipped:
            table.append(Row("CAP peer comparison", n, f"skipped: {result.skipped}"))
            continue
        for url in result.urls:
            mine, theirs = url.emulator.get(16), url.peer.get(16)
            if not (mine and theirs and mine.ok and theirs.ok):
                table.append(Row(f"vs CAP: {url.label} ({_short(url.path)})", n, "FAILED", failed=True))
                continue
            one = url.emulator.get(1)
            slower = " (**fewer at 16 than at 1**)" if one and one.ok and mine.requests_per_s < one.requests_per_s else ""
            table.append(Row(
                f"vs CAP: {url.label} ({_short(url.path)}), req/s at 16 conn", n,
                f"{rate(mine.requests_per_s)} (p99 {mine.p99_ms or 0:.1f} ms; 1 conn "
                f"{rate(one.requests_per_s) if one else '—'}){slower}",
                f"CAP {rate(theirs.requests_per_s)} (p99 {theirs.p99_ms or 0:.1f} ms)",
                ratio=mine.requests_per_s / theirs.requests_per_s if theirs.requests_per_s else None, target=TARGET))
    return table


def _short(path: str) -> str:
    tail = path.split("/api/data/v9.2/", 1)[-1].replace("%20", " ")
    return tail if len(tail) <= 60 else tail[:57] + "..."


NOTE = ("CAP peer (`--peer cap`): SAP CAP 9.9 over SQLite from ../shared/peers/cap (copied into the cache, "
        "npm ci once), its own data for the same N (same distribution), started with run-peer.sh (QUIET=1); "
        "the six URLs of its queries.txt loaded on each server in turn at 1 and 16 connections; the emulator served "
        "as for the other read measurements.")
