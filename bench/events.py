"""System jobs from events: creates per second through the Web API with no step firing (the bench's
step disabled: the write looks its steps up all the same) and with one asynchronous webhook step
(whose system job is filed in the create's transaction), in alternating rounds, then webhook
deliveries per second: one virtual clock advance that delivers every filed job to a receiver on
loopback (a threaded HTTP server in this process answering 200).

The store is the bundled data set without its system jobs and steps (so that only the bench's own
step fires), on the virtual clock (so that no job runs while creates are timed)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from odata_emulator._resources import fixtures_dir

from .client import Client
from .progress import say, shout
from .report import DASH, Row, Target
from .server import EmulatorServer

API = "/api/data/v9.2/"
CREATE = "9ebdbb1b-ea3e-db11-86a7-000a3a5473e8"  # sdkmessage Create, the same id in every org
STEP_COST = Target("<=", 1.5, "ratio", "≤ 1.5×")
# Creates without and with the step alternate in rounds: the store grows as the bench writes, and timing
# every create without the step first gave the ones with it the larger store and log (each create
# 0.3-1 ms slower in the second half even with the step disabled).
ROUNDS = 5
NOTE = ("Events: the bundled data set without its jobs and steps, `serve --clock virtual`; creates are "
        "sequential `POST contacts` on one keep-alive connection, with one asynchronous webhook step on Create "
        f"of contact disabled and then enabled, in {ROUNDS} alternating rounds (each create with the step enabled "
        "files its system job in the same transaction); "
        "deliveries: one timed `POST /_emulator/v1/clock {\"advance\": \"PT1S\"}` that POSTs every filed job's "
        "context to a receiver on 127.0.0.1 (Python's threaded http.server, 200) and records each job Succeeded.")


@dataclass
class EventsResult:
    creates: int
    plain_s: float | None = None
    with_step_s: float | None = None
    deliver_s: float | None = None
    received: int = 0
    succeeded: int | None = None
    errors: list[str] = field(default_factory=list)

    def rate(self, seconds: float | None) -> float | None:
        return self.creates / seconds if seconds else None


class _Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.count += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _receiver() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    server.count = 0  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="bench-webhook-receiver", daemon=True).start()
    return server


def _dataset(work_dir: Path) -> Path:
    data = json.loads((fixtures_dir() / "dataset.json").read_text(encoding="utf-8"))
    for table in ("asyncoperation", "sdkmessageprocessingstep", "sdkmessageprocessingstepimage"):
        data["tables"][table] = []
    target = work_dir / "events-fixtures"
    target.mkdir(exist_ok=True)
    (target / "dataset.json").write_text(json.dumps(data), encoding="utf-8")
    return target


def measure_events(emulator: str, work_dir: Path, creates: int) -> EventsResult:
    result = EventsResult(creates)
    database = work_dir / "events.db"
    receiver = _receiver()
    extra = ("--clock", "virtual", "--fixtures", str(_dataset(work_dir)), "--aggregate-limit", "0")
    try:
        with EmulatorServer(emulator, database, work_dir, extra) as running, running.client(timeout=120) as client:
            step = _register(client, result, f"http://127.0.0.1:{receiver.server_address[1]}/hook")
            if step is not None:
                result.plain_s, result.with_step_s = _alternate(client, result, step)
            if result.with_step_s is not None:
                started = time.perf_counter()
                reply = client.post_json("/_emulator/v1/clock", {"advance": "PT1S"}, timeout=600)
                result.deliver_s = time.perf_counter() - started
                if reply.status != 200:
                    result.errors.append(f"the clock advance answered {reply.status}: {reply.body[:300]!r}")
                    result.deliver_s = None
                result.received = receiver.count  # type: ignore[attr-defined]
                result.succeeded = _succeeded(client)
                if result.succeeded != creates:
                    result.errors.append(f"{result.succeeded} of {creates} webhook jobs Succeeded after the advance")
    finally:
        receiver.shutdown()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    for error in result.errors:
        shout(f"events: {error}")
    say(f"events: {result.rate(result.plain_s) or 0:,.0f} creates/s without a step, "
        f"{result.rate(result.with_step_s) or 0:,.0f} with one webhook step; "
        f"{result.rate(result.deliver_s) or 0:,.0f} deliveries/s ({result.received} received)")
    return result


def _alternate(client: Client, result: EventsResult, step: str) -> tuple[float | None, float | None]:
    """Seconds for `result.creates` creates with the step disabled and as many with it enabled, in
    `ROUNDS` alternating rounds."""
    per_round = result.creates // ROUNDS
    plain = with_step = 0.0
    for round_number in range(ROUNDS):
        count = per_round if round_number < ROUNDS - 1 else result.creates - per_round * (ROUNDS - 1)
        for enabled in (False, True):
            state = {"statecode": 0, "statuscode": 1} if enabled else {"statecode": 1, "statuscode": 2}
            reply = client.request("PATCH", f"{API}sdkmessageprocessingsteps({step})", json.dumps(state).encode(),
                                   {"Content-Type": "application/json"})
            if reply.status != 204:
                result.errors.append(f"switching the step answered {reply.status}: {reply.body[:300]!r}")
                return None, None
            seconds = _create(client, result, f"{'step' if enabled else 'plain'} {round_number}", count)
            if seconds is None:
                return None, None
            if enabled:
                with_step += seconds
            else:
                plain += seconds
    return plain, with_step


def _create(client: Client, result: EventsResult, label: str, count: int) -> float | None:
    started = time.perf_counter()
    for number in range(count):
        reply = client.post_json(API + "contacts", {"firstname": "Bench", "lastname": f"{label} {number:05d}"})
        if reply.status != 204:
            result.errors.append(f"POST contacts answered {reply.status}: {reply.body[:300]!r}")
            return None
    return time.perf_counter() - started


def _register(client: Client, result: EventsResult, url: str) -> str | None:
    """The id of the step registered (a webhook on Create of contact), or None."""
    reply = client.post_json(API + "serviceendpoints", {"name": "Bench hook", "contract": 8, "url": url,
                                                        "authtype": 4, "authvalue": "bench", "messageformat": 2})
    endpoint = _created_id(reply)
    filters = client.get(API + "sdkmessagefilters?$select=sdkmessagefilterid&$filter=primaryobjecttypecode%20eq%20"
                         f"'contact'%20and%20_sdkmessageid_value%20eq%20{CREATE}")
    if endpoint is None or filters.status != 200 or not filters.json().get("value"):
        result.errors.append(f"registering the webhook answered {reply.status} {reply.body[:200]!r} / "
                             f"{filters.status} {filters.body[:200]!r}")
        return None
    contact = filters.json()["value"][0]["sdkmessagefilterid"]
    reply = client.post_json(API + "sdkmessageprocessingsteps", {
        "name": "Bench hook: Create of contact", "mode": 1, "rank": 1, "stage": 40, "supporteddeployment": 0,
        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
        "sdkmessageid@odata.bind": f"/sdkmessages({CREATE})",
        "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({contact})"})
    step = _created_id(reply)
    if step is None:
        result.errors.append(f"registering the step answered {reply.status}: {reply.body[:300]!r}")
    return step


def _created_id(reply) -> str | None:
    location = reply.headers.get("odata-entityid", "")
    return location[location.rfind("(") + 1:-1] if reply.status == 204 and location.endswith(")") else None


def _succeeded(client: Client) -> int | None:
    reply = client.get(API + "asyncoperations?$apply=filter(operationtype%20eq%201%20and%20statuscode%20eq%2030)"
                       "/aggregate($count%20as%20count)")
    return int(reply.json()["value"][0]["count"]) if reply.status == 200 else None


def rows(result: EventsResult | None) -> list[Row]:
    if result is None:
        return []
    if result.plain_s is None or result.with_step_s is None:
        return [Row("events: creates per second", DASH, "FAILED: " + ("; ".join(result.errors) or "not measured"),
                    failed=True)]
    plain, step = result.rate(result.plain_s), result.rate(result.with_step_s)
    assert plain is not None and step is not None
    found = [
        Row("events: creates/s, no step firing (POST contacts, 1 conn)", str(result.creates), f"{plain:,.0f} creates/s"),
        Row("events: creates/s, one async webhook step (job filed per create)", str(result.creates),
            f"{step:,.0f} creates/s", f"no step {plain:,.0f} creates/s", plain / step, target=STEP_COST),
    ]
    delivered = result.rate(result.deliver_s)
    text = (f"{delivered:,.0f} deliveries/s ({result.received} received, {result.succeeded} Succeeded, "
            f"{result.deliver_s:.2f} s)" if delivered else "FAILED: " + "; ".join(result.errors))
    found.append(Row("events: webhook deliveries/s, one clock advance", str(result.creates), text,
                     failed=not delivered))
    return found
