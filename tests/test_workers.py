"""`odata-emulator serve --workers N`: several processes on one store and one port. Every worker
answers, the data set is loaded once, each job runs once whichever worker claims it, and what
cannot be shared across processes is refused at the command line."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server, serve_command, wait_until

pytestmark = pytest.mark.slow  # real `odata-emulator serve --workers 2` processes


def test_two_workers_share_the_port_the_store_and_the_jobs(tmp_path):
    server = Server(tmp_path, "--workers", "2", "--database", str(tmp_path / "store.db"), "--lease-seconds", "5")
    try:
        server.wait_ready(timeout=60)
        log = server.log_path.read_text(errors="replace")
        assert "  Workers       2 processes on one store (--workers)" in log
        assert log.count("426 of them system jobs") == 1  # loaded once, before the workers start

        def health(_):  # a new connection each time: the kernel hands connections to both workers
            return httpx.get(f"{server.base}/_emulator/v1/health", timeout=10).json()["pid"]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            pids = set(pool.map(health, range(200)))
        assert len(pids) == 2
        # 16 connections opened at once and kept, as a load generator does: both workers get some.
        # On one shared listening socket, the worker that woke first could accept all 16 under load;
        # on Linux each worker listens on its own, and the kernel spreads the connections.
        if sys.platform.startswith("linux"):
            assert server.port is not None and _listeners(server.port) == 2
        clients = [httpx.Client(base_url=server.base, timeout=10) for _ in range(16)]
        try:
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                kept = list(pool.map(lambda client: client.get("/_emulator/v1/health").json()["pid"], clients))
            assert set(kept) == pids
            assert [client.get("/_emulator/v1/health").json()["pid"] for client in clients] == kept  # kept alive
        finally:
            for client in clients:
                client.close()
        created = httpx.post(f"{server.base}/_emulator/v1/jobs",
                             json=[{"name": f"job {i}", "simulation": {"duration": 0}} for i in range(60)]).json()
        ids = [value["asyncoperationid"] for value in created["value"]]

        def done() -> bool:
            states = httpx.get(f"{server.base}/_emulator/v1/jobs", params={"name": "job ", "top": "100"}).json()
            return sum(1 for job in states["value"] if job["statecode"] == 3) == 60

        wait_until(done, 60, "the 60 jobs to finish")
        for job_id in ids:
            reasons = [e["reason"] for e in httpx.get(f"{server.base}/_emulator/v1/jobs/{job_id}/history").json()["value"]]
            assert reasons == ["created", "claim", "succeed"], (job_id, reasons)
    finally:
        server.stop()


@pytest.mark.parametrize(("args", "says"), [
    (["--database", ":memory:"], "--workers N needs a database file (--database PATH)"),
    (["--database", "x.db", "--clock", "virtual"], "--workers N runs on the real clock"),
    (["--database", "x.db", "--tds"], "--tds runs with --workers 1"),
    (["--database", "x.db", "--workers", "0"], "--workers takes 1 or more"),
])
def test_what_cannot_be_shared_across_processes_is_refused(tmp_path, args, says):
    argv = [*serve_command(), "serve", "--port", "0", "--workers", "2", *args]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert says in done.stderr


def _listeners(port: int) -> int:
    """TCP sockets listening on `port` (state 0A in /proc/net/tcp)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A")
