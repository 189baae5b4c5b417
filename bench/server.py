"""Server processes: the emulator as users start it (`odata-emulator serve ...`) and the trivial
starlette app; free ports, waiting for health, peak RSS, and stopping every one of them."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .client import Client

HEALTH_PATH = "/_emulator/v1/health"
TRIVIAL_APP = Path(__file__).resolve().parent / "trivial.py"

# Every server started and not yet stopped, so that an exception or Ctrl-C leaves none behind.
_RUNNING: set[ServerProcess] = set()


class ServerDied(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def default_emulator() -> str:
    return str(Path(sys.executable).with_name("odata-emulator"))


def interpreter_of(executable: str) -> str:
    """The Python a console script runs on (its shebang), so that the trivial app is served by the
    same interpreter, starlette and uvicorn as the emulator under test."""
    try:
        with open(executable, "rb") as script:
            first = script.readline(512).decode(errors="replace")
    except OSError:
        return sys.executable
    if first.startswith("#!"):
        candidate = first[2:].strip().split()[0]
        if "python" in Path(candidate).name and os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


class ServerProcess:
    """One server in its own process group, its output in a log file."""

    def __init__(self, argv: Sequence[str], port: int, health_path: str, log_path: Path) -> None:
        self.argv = list(argv)
        self.port = port
        self.health_path = health_path
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.spawned_at = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.spawned_at = time.perf_counter()
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)
        _RUNNING.add(self)

    def wait_ready(self, timeout: float = 120.0, interval: float = 0.005) -> float:
        """Poll the health path until it answers 200; seconds from spawn to that answer."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise ServerDied(f"{self.argv[0]} exited before answering {self.health_path}:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2.0)
                connection.request("GET", self.health_path)
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return time.perf_counter() - self.spawned_at
            except (ConnectionError, OSError, http.client.HTTPException):
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{self.argv[0]} did not answer 200 on {self.health_path} within {timeout:.0f} s")
            time.sleep(interval)

    def client(self, timeout: float = 60.0) -> Client:
        return Client(self.port, timeout)

    def get_json(self, path: str):
        with self.client() as client:
            reply = client.get(path)
        if reply.status != 200:
            raise RuntimeError(f"GET {path} answered {reply.status}: {reply.body[:300]!r}")
        return reply.json()

    def peak_rss_kib(self) -> tuple[int, int, str]:
        """(VmHWM in KiB, pid, command name) of the largest process of the server's tree: the
        Python process running uvicorn, not a wrapper around it."""
        assert self.process is not None
        best = (0, self.process.pid, "?")
        for pid in _process_tree(self.process.pid):
            peak = _status_field(pid, "VmHWM")
            if peak is not None and peak > best[0]:
                best = (peak, pid, _status_name(pid))
        return best

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 10.0) -> None:
        """SIGINT to the group (uvicorn shuts down cleanly), SIGKILL if it lingers."""
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> ServerProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def read_only_args(workers: int = 1) -> tuple[str, ...]:
    """How the read measurements serve a store: nothing moves while they load it, and the documented
    aggregates may read every row. One process: the virtual clock (it stands still). Several
    (`--workers N`, which runs on the real clock only): the real clock with no scheduler."""
    if workers > 1:
        return ("--no-scheduler", "--workers", str(workers), "--aggregate-limit", "0")
    return ("--clock", "virtual", "--aggregate-limit", "0")


class EmulatorServer(ServerProcess):
    """`<emulator> serve --database <file> --port <free port> --log-level warning [extra...]`."""

    def __init__(self, emulator: str, database: Path | str, log_dir: Path, extra_args: Sequence[str] = ()) -> None:
        port = free_port()
        argv = [emulator, "serve", "--database", str(database), "--port", str(port), "--log-level", "warning",
                *extra_args]
        super().__init__(argv, port, HEALTH_PATH, log_dir / f"emulator-{port}.log")


class TrivialServer(ServerProcess):
    """bench/trivial.py (one starlette JSON route) under the same uvicorn options, on `python`."""

    def __init__(self, python: str, log_dir: Path) -> None:
        port = free_port()
        argv = [python, str(TRIVIAL_APP), "--port", str(port)]
        super().__init__(argv, port, "/", log_dir / f"trivial-{port}.log")


def stop_all() -> None:
    for running in list(_RUNNING):
        running.stop(grace=3.0)


def _process_tree(root: int) -> list[int]:
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


def _status_field(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
    except OSError:
        return None
    return None


def _status_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return "?"
