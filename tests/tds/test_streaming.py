"""A large result streams: 100,000 rows (about 60 MB on the wire) leave the server's memory where it was,
and a client that hangs up in the middle stops the work and leaves the server answering."""

from __future__ import annotations

import re
import socket
import sqlite3
import struct
import time
from pathlib import Path

import pytest

from tests.helpers import Server, copy_store
from tests.tds.wire import Raw

pytestmark = pytest.mark.slow

GENERATED = 100_000
WIDE = "select asyncoperationid, createdon, statecode, replicate(name, 20) as padded from asyncoperation"
_ENDPOINT = re.compile(r"odata-emulator: TDS endpoint on 127\.0\.0\.1:(\d+)")


def grow_store(path: Path, count: int) -> None:
    """`count` generated system jobs appended to a store (one statement, one transaction)."""
    with sqlite3.connect(path) as db:
        (user,), = db.execute("SELECT systemuserid FROM systemuser LIMIT 1").fetchall()
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO asyncoperation (asyncoperationid, name, statecode, statuscode, operationtype, createdon,
                modifiedon, ownerid, owneridtype, createdby, modifiedby, depth, executiontimespan, sequence,
                correlationid, correlationupdatedtime)
            SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'Generated job number ' || i,
                   3, 30, CASE i % 3 WHEN 0 THEN 10 WHEN 1 THEN 1 ELSE 54 END,
                   1700000000 + i * 60, 1700000000 + i * 60, ?, 'systemuser', ?, ?, 1, 0.25, 1000000 + i,
                   printf('%08x-0000-4000-9000-%012x', i, i), 1700000000 + i * 60
            FROM n""", (count, user, user, user))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


@pytest.fixture(scope="module")
def big(tmp_path_factory, template_store):
    workdir = tmp_path_factory.mktemp("tds-big")
    store = copy_store(template_store, workdir / "store.db")
    grow_store(store, GENERATED)
    process = Server(workdir, "--tds", "--tds-port", "0", "--clock", "virtual", "--database", str(store),
                     "--log-level", "warning")
    try:
        deadline = time.monotonic() + 30
        while not _ENDPOINT.search(process.log_path.read_text(errors="replace")):
            assert process.process.poll() is None and time.monotonic() < deadline, process.log_path.read_text()
            time.sleep(0.05)
        process.tds_port = int(_ENDPOINT.search(process.log_path.read_text()).group(1))
        yield process
    finally:
        process.stop()


def status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB
    raise AssertionError(field)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answers(port: int) -> bool:
    with Raw(port) as raw:
        raw.connect()
        return raw.query("select count(*) from asyncoperation").rows[0][0] >= GENERATED


def test_a_100k_row_result_streams_without_growing_the_server(big):
    import pymssql
    pid = big.process.pid
    assert answers(big.tds_port)  # warm: the first connection's own costs are not counted
    before = status(pid, "VmHWM")
    conn = pymssql.connect(server="127.0.0.1", port=str(big.tds_port), user="sa", password="x", timeout=120)
    try:
        cursor = conn.cursor()
        cursor.execute(WIDE)
        count, characters = 0, 0
        while rows := cursor.fetchmany(5000):
            count += len(rows)
            characters += sum(len(row[3]) for row in rows)
    finally:
        conn.close()
    grown_mb = (status(pid, "VmHWM") - before) / 1024
    wire_mb = characters * 2 / 1e6
    assert count >= GENERATED and wire_mb > 50
    print(f"peak memory grew {grown_mb:.1f} MB for a {wire_mb:.0f} MB result")
    assert grown_mb < 25, f"the server's peak memory grew {grown_mb:.0f} MB for a {wire_mb:.0f} MB result"


def test_a_client_that_hangs_up_mid_result_stops_the_work(big):
    pid = big.process.pid
    sock = None
    with Raw(big.tds_port) as raw:
        raw.connect()
        raw.batch(WIDE + " cross join (select 1 union all select 2 union all select 3) as x")
        received = 0
        while received < 200_000:
            received += len(raw.sock.recv(65536))
        sock = raw.sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # hang up with a reset
    time.sleep(0.5)
    start = cpu_seconds(pid)
    time.sleep(1.0)
    assert cpu_seconds(pid) - start < 0.3, "the server went on with a result nobody reads"
    assert answers(big.tds_port)
