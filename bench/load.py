"""Load generation on 127.0.0.1: wrk when it is installed, else a small asyncio keep-alive
HTTP/1.1 client (raw sockets; per request it only parses the status line and the body length).

Every answer must be 200: wrk reports other statuses on its "Non-2xx or 3xx responses" line and
failed or timed-out sockets on "Socket errors"; the fallback client counts statuses itself. Any
of those makes the measurement a failure, reported as such."""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field

WRK = "wrk"
FALLBACK = "python-asyncio"


@dataclass
class LoadResult:
    generator: str
    connections: int
    seconds: float
    requests: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.requests > 0


def load_generator() -> str:
    return WRK if shutil.which("wrk") else FALLBACK


def run_load(url: str, connections: int, seconds: float, headers: dict[str, str] | None = None,
             generator: str | None = None, request_timeout: float = 60.0) -> LoadResult:
    """GET `url` over `connections` keep-alive connections for `seconds`."""
    generator = generator or load_generator()
    if generator == WRK:
        return run_wrk(url, connections, seconds, headers or {}, request_timeout)
    return asyncio.run(run_fallback(url, connections, seconds, headers or {}, request_timeout))


# --- wrk ------------------------------------------------------------------------------------------

def run_wrk(url: str, connections: int, seconds: float, headers: dict[str, str], request_timeout: float) -> LoadResult:
    threads = 1 if connections == 1 else 2  # -t1 -c1 and -t2 -c16: two client threads for two cores
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
            f"--timeout={max(1, round(request_timeout))}s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + request_timeout + 30)
    result = parse_wrk(completed.stdout, connections)
    if completed.returncode != 0:
        result.errors.append(f"wrk exited with {completed.returncode}: {completed.stderr.strip()[:300]}")
    return result


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str, connections: int) -> LoadResult:
    """The numbers of a `wrk --latency` report."""
    errors = []
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.M)
    requests = int(done.group(1)) if done else 0
    seconds = _milliseconds(done.group(2) + done.group(3)) / 1000 if done else 0.0
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.M)
    percentiles = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    if non_2xx:
        errors.append(f"{non_2xx.group(1)} answers were not 2xx/3xx")
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets and any(int(n) for n in sockets.groups()):
        errors.append("socket errors: connect {}, read {}, write {}, timeout {}".format(*sockets.groups()))
    if not done:
        errors.append("no wrk report: " + output.strip()[-300:])
    p50 = _milliseconds(percentiles["50"]) if "50" in percentiles and requests else None
    p99 = _milliseconds(percentiles["99"]) if "99" in percentiles and requests else None
    return LoadResult(WRK, connections, seconds, requests, float(rate.group(1)) if rate else 0.0, p50, p99, errors)


# --- fallback: asyncio keep-alive client -----------------------------------------------------------

async def run_fallback(url: str, connections: int, seconds: float, headers: dict[str, str],
                       request_timeout: float) -> LoadResult:
    match = re.fullmatch(r"http://([^/:]+):(\d+)(/.*)", url)
    if not match:
        raise ValueError(f"the fallback client speaks plain http://host:port/... only: {url}")
    host, port, target = match.group(1), int(match.group(2)), match.group(3)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds

    async def connection() -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            failures.append(f"connect: {exc}")
            return
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                writer.write(request)
                status = await asyncio.wait_for(_read_response(reader), request_timeout)
                if time.perf_counter() <= deadline:  # as wrk: what ends after the deadline is not counted
                    latencies.append(time.perf_counter() - sent)
                    statuses[status] = statuses.get(status, 0) + 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    errors = [f"{count} answers were {status}" for status, count in sorted(statuses.items()) if status != 200]
    errors += failures[:3]
    p50 = p99 = None
    if latencies:
        ordered = sorted(latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))] * 1000
    return LoadResult(FALLBACK, connections, elapsed, len(latencies), len(latencies) / elapsed, p50, p99, errors)


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked body); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    return status
