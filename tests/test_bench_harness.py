"""The benchmark harness (bench/): the store generator is deterministic and writes only legal
jobs, wrk's report is read right, and the report's ratio and met columns say what they should.
No server is started: the generator works on a hand-made copy of the emulator's tables."""

from __future__ import annotations

import collections
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bench import queries, report, store
from bench.load import LoadResult, parse_wrk
from bench.scheduler import SchedulerResult
from odata_emulator.store.schema import METADATA

REFERENCE = 1793534400  # 2026-11-01T12:00:00Z, the fixtures' reference time
USERS = [("00000000-0000-0000-0000-0000000000a1", "SYSTEM", "bu-root"),
         ("00000000-0000-0000-0000-0000000000a2", "System Administrator", "bu-root"),
         ("00000000-0000-0000-0000-0000000000a3", "# Integration", "bu-root"),
         ("00000000-0000-0000-0000-0000000000a4", "Alex Wu", "bu-sales"),
         ("00000000-0000-0000-0000-0000000000a5", "Marco Rossi", "bu-service")]

WRK_SAMPLE = """Running 3s test @ http://127.0.0.1:41447/api/data/v9.2/asyncoperations
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.48ms    3.02ms  41.07ms   81.22%
    Req/Sec   643.21     71.30   780.00     71.67%
  Latency Distribution
     50%   11.90ms
     75%   13.48ms
     90%   16.02ms
     99%    1.02s
  3847 requests in 3.00s, 7.05MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   1281.80
Transfer/sec:      2.35MB
"""


def base_store(path: Path) -> None:
    """The emulator's schema (tables and indexes) with a few fixture rows, as `serve` would leave it."""
    engine = create_engine(f"sqlite:///{path}")
    METADATA.create_all(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO emulator_meta VALUES ('caller', "
               "'{\"systemuserid\": \"00000000-0000-0000-0000-0000000000a2\", \"businessunitid\": \"bu-root\", "
               "\"organizationid\": \"org\"}')")
    db.executemany("INSERT INTO systemuser (systemuserid, fullname, isdisabled, businessunitid) VALUES (?, ?, 0, ?)",
                   USERS)
    db.execute("INSERT INTO team (teamid, name, businessunitid) VALUES ('team-1', 'Sales Team', 'bu-sales')")
    db.execute("INSERT INTO workflow (workflowid, name, primaryentity) VALUES ('wf-1', 'Welcome', 'contact')")
    db.execute("INSERT INTO sdkmessageprocessingstep (sdkmessageprocessingstepid, name) "
               "VALUES ('step-1', 'Contoso.Plugins.AccountPostCreate: Create of account')")
    db.execute("INSERT INTO account (accountid, name) VALUES ('acc-1', 'Fabrikam')")
    db.execute("INSERT INTO contact (contactid, fullname) VALUES ('con-1', 'Nancy Anderson')")
    db.commit()
    db.close()


def generated(tmp_path: Path, name: str, size: int = 500) -> list[tuple]:
    path = tmp_path / name
    base_store(path)
    store.append_jobs(path, size, seed=7, reference_epoch=REFERENCE)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM asyncoperation ORDER BY rowid").fetchall()
        columns = [c[1] for c in db.execute("PRAGMA table_info(asyncoperation)")]
        history = db.execute("SELECT count(*) FROM emulator_job_history WHERE reason = 'fixture'").fetchone()[0]
    assert history == size
    return [dict(zip(columns, row)) for row in rows]


@pytest.mark.slow  # over a second: two generated stores compared
def test_the_generator_is_deterministic_and_writes_a_realistic_legal_mix(tmp_path):
    first, second = generated(tmp_path, "a.db"), generated(tmp_path, "b.db")
    assert first == second and len(first) == 500
    states = collections.Counter((job["statecode"], job["statuscode"]) for job in first)
    assert states.most_common(1)[0][0] == (3, 30)  # mostly Succeeded
    assert states[(3, 31)] and states[(1, 10)] and states[(0, 0)] and states[(3, 32)]
    assert set(states) <= {(0, 0), (1, 10), (2, 20), (2, 21), (2, 22), (3, 30), (3, 31), (3, 32)}
    assert collections.Counter(job["operationtype"] for job in first).most_common(1)[0][0] == 10  # workflows
    assert any(job["postponeuntil"] for job in first if job["statuscode"] == 10)
    for job in first:
        assert job["asyncoperationid"] == job["asyncoperationid"].lower() and len(job["asyncoperationid"]) == 36
        assert job["createdon"] <= REFERENCE - 60 and job["createdon"] >= REFERENCE - store.YEAR_SECONDS
        assert job["ownerid"] in (job["owninguser"], job["owningteam"])
        if job["statecode"] == 3:
            assert job["completedon"] >= job["createdon"] and job["modifiedon"] == job["completedon"]
    created = [job["createdon"] for job in first]
    assert created == sorted(created)
    versions = [job["versionnumber"] for job in first]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


@pytest.mark.slow  # a worker process
def test_a_slice_gives_the_same_rows_made_here_or_by_a_worker(tmp_path):
    path = tmp_path / "org.db"
    base_store(path)
    with sqlite3.connect(path) as db:
        org = store.read_organization(db)
    size = store.SLICE + 10
    inline = list(store.generate_jobs(size, 3, REFERENCE, org, 1, 1, parallel=False))
    assert [len(rows) for rows in inline] == [store.SLICE, 10]
    assert inline[1] == list(store.generate_jobs(size, 3, REFERENCE, org, 1, 1, parallel=True))[1]


def test_wrk_report_is_parsed():
    result = parse_wrk(WRK_SAMPLE, 16)
    assert (result.requests, result.seconds, result.requests_per_s) == (3847, 3.0, 1281.8)
    assert result.p50_ms == 11.9 and result.p99_ms == 1020.0
    assert result.errors == ["12 answers were not 2xx/3xx"] and not result.ok
    clean = parse_wrk(WRK_SAMPLE.replace("  Non-2xx or 3xx responses: 12\n", ""), 16)
    assert clean.ok
    broken = parse_wrk(WRK_SAMPLE.replace("  Non-2xx or 3xx responses: 12\n",
                                          "  Socket errors: connect 0, read 0, write 0, timeout 4\n"), 16)
    assert broken.errors == ["socket errors: connect 0, read 0, write 0, timeout 4"]


def test_report_ratios_and_targets():
    aggregate = report.Row("02 Web API p50, 1 conn", "1M", "12 ms", "SQL 10 ms", 1.2, target=report.LATENCY_AGGREGATE)
    slow = report.Row("03 Web API p50, 1 conn", "1M", "30 ms", "SQL 10 ms", 3.0, target=report.LATENCY_AGGREGATE)
    share = report.Row("single-row", "10k", "900 req/s", "3000 req/s", 0.3, "%", report.SINGLE_ROW_SHARE)
    rss = report.Row("rss", "1M", "140 MB", target=report.RSS_MB_AT_1M, value=140)
    failed = report.Row("04 Web API p50, 1 conn", "1M", "FAILED: 3 answers were 500", failed=True)
    assert [r.ratio_text for r in (aggregate, slow, share, rss)] == ["1.20×", "3.00×", "30%", "—"]
    assert [r.met_text for r in (aggregate, slow, share, rss, failed)] == ["yes", "**no**", "**no**", "yes",
                                                                          "**FAILED**"]
    table = report.render_table([aggregate, share])
    assert table.splitlines()[0] == "| measurement | N | emulator | limit | ratio | target | met |"
    assert "| 02 Web API p50, 1 conn | 1M | 12 ms | SQL 10 ms | 1.20× | ≤ 1.25× | yes |" in table


def test_report_rows_for_a_timed_out_scheduler_are_a_bound():
    timed_out = SchedulerResult("independent", 10_000, timeout_s=60.0, timed_out=True, succeeded=3300)
    [row] = report.scheduler_rows(timed_out, None)
    assert row.emulator.startswith("timed out after 60 s (< 167 jobs/s") and row.met_text == "**no**"
    chain = SchedulerResult("chain", 10_000, timeout_s=60.0, timed_out=True, succeeded=146)
    [row] = report.scheduler_rows(None, chain)
    assert row.emulator.startswith("timed out after 60 s (≥ 60 s") and row.met_text == "**no**"
    ran = SchedulerResult("chain", 10_000, advance_s=4.0, in_creation_order=True)
    [row] = report.scheduler_rows(None, ran)
    assert row.met_text == "yes" and "2,500 jobs/s" in row.emulator


def test_load_failures_show_in_the_query_rows():
    ok = LoadResult("wrk", 1, 3.0, 300, 100.0, 9.5, 20.0)
    bad = LoadResult("wrk", 16, 3.0, 300, 100.0, 9.5, 20.0, ["2 answers were not 2xx/3xx"])
    assert "FAILED: 2 answers were not 2xx/3xx" in report._load_text(bad) and ok.ok


def test_documented_queries_are_read_verbatim():
    found = {query.label: query for query in queries.documented_queries()}
    assert set(found) == {f"0{n} {form}" for n in range(1, 6) for form in ("Web API", "FetchXML")}
    query01 = found["01 Web API"]
    assert query01.target.startswith("/api/data/v9.2/asyncoperations?$top=1000&$select=asyncoperationid,")
    assert "&$expand=createdby($select=fullname)," in query01.target and " " not in query01.target
    assert found["02 Web API"].target.endswith("aggregate($count%20as%20count))")
    assert found["02 Web API"].headers["OData-Version"] == "4.0"
    assert "$top" not in queries.page_target()


def test_the_peer_comparison_reads_the_peers_urls_and_reports_ratios():
    from bench import peer

    if not (peer.PEER_SOURCE / "queries.txt").exists():
        pytest.skip(f"the CAP peer is not at {peer.PEER_SOURCE}")
    labels = [label for label, _ in peer.queries()]
    assert labels == ["a", "b", "c", "d", "e", "f"]
    assert dict(peer.queries())["f"] == "/api/data/v9.2/asyncoperations({ID})"

    def load(connections: int, rps: float) -> LoadResult:
        return LoadResult("wrk", connections, 3.0, int(rps * 3), rps, 1.0, 4.0)

    fast = peer.UrlResult("f", "/api/data/v9.2/asyncoperations({ID})", emulator={1: load(1, 900), 16: load(16, 800)},
                          peer={1: load(1, 300), 16: load(16, 350)})
    rows = peer.rows([peer.PeerResult(100_000, [fast]), peer.PeerResult(1_000_000, skipped="node is missing")])
    assert rows[0].ratio == pytest.approx(800 / 350) and rows[0].met_text == "yes"
    assert "fewer at 16 than at 1" in rows[0].emulator and rows[0].limit.startswith("CAP 350 req/s")
    assert rows[1].emulator == "skipped: node is missing" and rows[1].size == "1M"


def test_the_raw_tds_client_reads_the_row_count_of_a_replys_final_done():
    from bench import tds_wire
    from odata_emulator.tds import tokens

    rows = bytes((tokens.ROW,)) + b"\xfd" * 40  # a row whose bytes look like DONE tokens: never read
    counted = tokens.done(tokens.DONE_COUNT, 28, tokens.CMD_SELECT)
    assert tds_wire.done_rows(b"\x81" + rows + counted) == 28 == tds_wire.check_reply(b"\x81" + rows + counted)
    in_procedure = (tokens.done(tokens.DONE_MORE | tokens.DONE_COUNT, 5, tokens.CMD_SELECT, tokens.DONEINPROC)
                    + tokens.done(token=tokens.DONEPROC))
    assert tds_wire.done_rows(b"\x81" + rows + in_procedure) == 5
    assert tds_wire.done_rows(b"\x81" + rows + tokens.done()) is None
    not_more = tokens.done(tokens.DONE_COUNT, 7, tokens.CMD_SELECT, tokens.DONEINPROC)  # no DONE_MORE: not before
    assert tds_wire.done_rows(b"\x81" + not_more + tokens.done()) is None
    with pytest.raises(tds_wire.WireError, match="does not end with a DONE"):
        tds_wire.check_reply(b"\x81" + rows)
    with pytest.raises(tds_wire.WireError, match="error bit"):
        tds_wire.check_reply(b"\x81" + tokens.done(tokens.DONE_ERROR))
    with pytest.raises(tds_wire.WireError, match="ERROR token"):
        tds_wire.check_reply(bytes((tokens.ERROR,)) + b"\x00" * 20 + tokens.done(tokens.DONE_COUNT, 0))


def test_the_raw_tds_client_reads_a_message_across_packets_up_to_its_end():
    import socket

    from bench import tds_wire
    from odata_emulator.tds.packets import PacketType, packetize

    first, second = bytes(range(256)) * 9, b"\xfd" + bytes(12)
    server, client = socket.socketpair()
    with server, client:
        server.sendall(packetize(PacketType.TABULAR_RESULT, first, 512) + packetize(PacketType.TABULAR_RESULT, second))
        buffer = bytearray()
        assert tds_wire.read_message(client, buffer) == first
        assert tds_wire.read_message(client, buffer) == second and not buffer
        server.close()
        with pytest.raises(tds_wire.WireError, match="closed"):
            tds_wire.read_message(client, buffer)


def test_the_tds_limits_run_on_the_benchs_own_sqlite_connection(template_store):
    """Each documented SQL query's limit (the `.sql` file, or the emulator's own translation for 01)
    runs on the connection the bench times it on: the translation reads a job's data through the
    store's SQL function, which that connection must have too."""
    from bench.limits import DirectSql
    from bench.tds import documented, translation

    with DirectSql(template_store) as sql:
        for label, text, limit in documented():
            assert isinstance(sql.rows(limit or translation(text)), list), label
