"""One bad job never freezes a server, nor the other servers on its store: real `odata-emulator
serve` processes on one SQLite file, on the real clock, with a job whose recurrence rule never
advances written straight into the store (as an older version could have left it). Before the
rule's arithmetic was bounded and moved off the event loop, the instance that ran the job stopped
answering (even /health), ignored SIGTERM and held the write lock, so the other instance answered
500 "database is locked" to every write."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import httpx
import pytest

from odata_emulator import _resources
from tests.helpers import Server, serve_command, wait_until

pytestmark = pytest.mark.slow  # real `odata-emulator serve` processes on the wall clock

API = "/api/data/v9.2/"


def pair(server: Server, job_id: str) -> tuple[int, int]:
    job = httpx.get(f"{server.base}{API}asyncoperations({job_id})", timeout=5).json()
    return job["statecode"], job["statuscode"]


def test_a_job_whose_rule_never_advances_fails_and_every_instance_keeps_working(tmp_path):
    database = tmp_path / "shared.db"
    common = ("--database", str(database), "--no-fixtures")
    first = Server(tmp_path, *common)
    second = None
    try:
        first.wait_ready()
        second = Server(tmp_path, *common)
        second.wait_ready()
        created = httpx.post(f"{first.base}/_emulator/v1/jobs", json=[
            {"name": "bad", "recurrencepattern": "FREQ=DAILY;", "postponeuntil": "2100-01-01T00:00:00Z",
             "simulation": {"duration": 0}}], timeout=10)
        assert created.status_code == 201, created.text
        bad = created.json()["value"][0]["asyncoperationid"]
        with sqlite3.connect(database, timeout=30) as conn:
            conn.execute("UPDATE asyncoperation SET recurrencepattern = 'FREQ=MINUTELY;INTERVAL=0;', statecode = 0, "
                         "statuscode = 0, postponeuntil = NULL WHERE asyncoperationid = ?", (bad,))
        wait_until(lambda: pair(first, bad) == (3, 31), 30, "the bad job to fail")
        for server in (first, second):
            assert httpx.get(f"{server.base}/_emulator/v1/health", timeout=5).status_code == 200
            more = httpx.post(f"{server.base}/_emulator/v1/jobs", json=[
                {"name": f"after {i}", "simulation": {"duration": 0}} for i in range(20)], timeout=10)
            assert more.status_code == 201, more.text
        wait_until(lambda: httpx.get(f"{first.base}{API}asyncoperations/$count",
                                     params={"$filter": "statecode eq 3 and statuscode eq 30"}, timeout=5).text == "40",
                   30, "the 40 other jobs to succeed")
        failed = httpx.get(f"{second.base}{API}asyncoperations({bad})?$select=message", timeout=5).json()
        assert failed["message"] == ("The recurrence pattern 'FREQ=MINUTELY;INTERVAL=0;' is not a valid RFC 2445 rule: "
                                     "INTERVAL must be a whole number from 1 to 5,259,600.")
        history = httpx.get(f"{first.base}/_emulator/v1/jobs/{bad}/history", timeout=5).json()["value"]
        assert [entry["reason"] for entry in history] == ["created", "claim", "fail"]
    finally:
        for server in (first, second):
            if server is not None:
                server.stop()
    for server in (first, second):
        assert server.process.returncode is not None  # it stopped when asked


def test_serve_refuses_a_data_set_whose_rule_never_advances(tmp_path):
    directory = tmp_path / "fixtures"
    shutil.copytree(_resources.fixtures_dir(), directory)
    dataset = json.loads((directory / "dataset.json").read_text())
    row = next(r for r in dataset["tables"]["asyncoperation"] if r.get("recurrencepattern"))
    row["recurrencepattern"] = "FREQ=HOURLY;INTERVAL=0"
    (directory / "dataset.json").write_text(json.dumps(dataset))
    done = subprocess.run([*serve_command(), "serve", "--port", "0", "--fixtures", str(directory),
                           "--database", str(tmp_path / "store.db")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert (f"The data set in {directory}, system job {row['asyncoperationid']}: The recurrence pattern "
            f"'FREQ=HOURLY;INTERVAL=0' is not a valid RFC 2445 rule: INTERVAL must be a whole number from 1 to "
            f"87,660.") in done.stderr
