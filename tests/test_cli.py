"""`odata-emulator serve` as a user meets it: the banner once the port is bound, a port in use said
plainly, options from ODATA_EMULATOR_<OPTION>, and the log: one line per job state change, decoded
paths in the access log, JSON lines on request."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess

import httpx
import pytest

from odata_emulator.cli import PORT_IN_USE, _parser, apply_environment, settings_from
from tests.helpers import Server, serve_command, wait_until

# ------------------------------------------------------------------------ the environment (in-process)


def _args(argv, environ):
    parser = _parser()
    apply_environment(parser, environ)
    return parser.parse_args(["serve", *argv])


def test_every_serve_option_can_come_from_the_environment_and_flags_win():
    args = _args([], {"ODATA_EMULATOR_PORT": "9999", "ODATA_EMULATOR_CLOCK": "virtual",
                      "ODATA_EMULATOR_NO_SCHEDULER": "true", "ODATA_EMULATOR_CONCURRENCY": "7",
                      "ODATA_EMULATOR_TDS_PASSWORD": "secret", "ODATA_EMULATOR_LOOSE": "0"})
    assert (args.port, args.clock, args.no_scheduler, args.concurrency, args.tds_password, args.loose) == \
        (9999, "virtual", True, 7, "secret", False)
    assert _args(["--port", "1234", "--clock", "real"], {"ODATA_EMULATOR_PORT": "9999",
                                                         "ODATA_EMULATOR_CLOCK": "virtual"}).port == 1234
    # A data set directory given as a flag wins over the environment's "no fixtures".
    args = _args(["--fixtures", "/tmp/data"], {"ODATA_EMULATOR_NO_FIXTURES": "yes"})
    assert str(settings_from(args).fixtures) == "/tmp/data"
    assert settings_from(_args([], {"ODATA_EMULATOR_NO_FIXTURES": "yes"})).fixtures is None
    assert settings_from(_args([], {})).fsync is True
    assert settings_from(_args(["--no-fsync"], {})).fsync is False
    assert settings_from(_args([], {"ODATA_EMULATOR_NO_FSYNC": "1"})).fsync is False


@pytest.mark.slow
def test_the_help_names_each_variable():
    done = subprocess.run([*serve_command(), "serve", "--help"], capture_output=True, text=True, timeout=60)
    text = " ".join(done.stdout.split())
    for name in ("ODATA_EMULATOR_PORT", "ODATA_EMULATOR_TDS_PORT", "ODATA_EMULATOR_NO_FIXTURES",
                 "ODATA_EMULATOR_LOG_FORMAT", "ODATA_EMULATOR_REQUIRE_AUTH"):
        assert f"[env {name}]" in text, name


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("ODATA_EMULATOR_CONCURRENCY", "many", "ODATA_EMULATOR_CONCURRENCY='many' is not a valid value for --concurrency"),
    ("ODATA_EMULATOR_CLOCK", "sundial", "ODATA_EMULATOR_CLOCK='sundial': choose from real, virtual"),
    ("ODATA_EMULATOR_LOOSE", "maybe", "ODATA_EMULATOR_LOOSE='maybe': use 1/true/yes/on or 0/false/no/off"),
])
def test_a_bad_value_in_the_environment_is_a_usage_error_naming_it(variable, value, says, capsys):
    with pytest.raises(SystemExit) as exited:
        _args([], {variable: value})
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


# ---------------------------------------------------------------------------- real processes


def _log(server: Server) -> str:
    return server.log_path.read_text(errors="replace")


@pytest.mark.slow
def test_the_banner_names_the_bound_port_the_clock_and_what_the_data_set_did(tmp_path):
    server = Server(tmp_path, "--clock", "virtual", "--database", str(tmp_path / "a.db"))
    try:
        server.wait_ready()
        log = _log(server)
        assert "odata-emulator 0.1.0 ready\n" in log
        assert f"  Web API       http://127.0.0.1:{server.port}/api/data/v9.2/" in log
        assert f"  Control API   http://127.0.0.1:{server.port}/_emulator/v1/" in log
        assert "  Clock         virtual, at 2026-11-01T12:00:00+00:00" in log
        assert "426 of them system jobs" in log
        assert "  System jobs   4 at a time" in log
    finally:
        server.stop()
    again = Server(tmp_path, "--database", str(tmp_path / "a.db"), "--no-scheduler")
    try:
        again.wait_ready()
        assert "kept the data already in the store" in _log(again)
        assert "  System jobs   not run (--no-scheduler)" in _log(again)
    finally:
        again.stop()


@pytest.mark.slow
def test_a_port_in_use_is_said_plainly_with_exit_status_3(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*serve_command(), "serve", "--database", ":memory:"], cwd=tmp_path,
                              env={**os.environ, "ODATA_EMULATOR_PORT": str(port)},
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == PORT_IN_USE == 3
    assert done.stderr.strip() == (
        f"odata-emulator: port {port} on 127.0.0.1 is in use by another process. Stop that process, or choose "
        f"another port: --port N (or ODATA_EMULATOR_PORT=N); --port 0 picks a free one.")
    assert "ready" not in done.stderr  # no banner for a server that never listened


@pytest.mark.slow
def test_the_log_has_a_line_per_job_state_change_and_decoded_paths(tmp_path):
    server = Server(tmp_path, "--clock", "virtual", "--database", ":memory:", "--no-fixtures")
    try:
        server.wait_ready()
        created = httpx.post(f"{server.base}/_emulator/v1/jobs",
                             json=[{"name": "Nightly export", "simulation": {"duration": 1}}]).json()
        job_id = created["value"][0]["asyncoperationid"]
        httpx.post(f"{server.base}/_emulator/v1/clock", json={"advance": "PT5S"})
        httpx.get(f"{server.base}/api/data/v9.2/asyncoperations({job_id})?$select=name")
        wait_until(lambda: "Succeeded (3/30)" in _log(server), 10, "the job's last line")
        log = _log(server)
        assert f"job {job_id} (Nightly export): Waiting For Resources (0/0): created" in log
        assert f"job {job_id} (Nightly export): Waiting For Resources (0/0) -> In Progress (2/20): claim" in log
        assert f"job {job_id} (Nightly export): In Progress (2/20) -> Succeeded (3/30): succeed" in log
        assert f'"GET /api/data/v9.2/asyncoperations({job_id})?$select=name HTTP/1.1" 200' in log
    finally:
        server.stop()


@pytest.mark.slow
def test_json_log_lines_for_machines(tmp_path):
    server = Server(tmp_path, "--clock", "virtual", "--database", ":memory:", "--no-fixtures", "--log-format", "json")
    try:
        server.wait_ready()
        httpx.get(f"{server.base}/api/data/v9.2/asyncoperations?$top=1")
        wait_until(lambda: "asyncoperations?$top=1" in _log(server), 10, "the access line")
        entries = [json.loads(line) for line in _log(server).splitlines() if line.startswith("{")]
        access = [e for e in entries if e["logger"] == "uvicorn.access"]
        assert access and set(access[0]) == {"time", "level", "logger", "message"}
        assert '"GET /api/data/v9.2/asyncoperations?$top=1 HTTP/1.1" 200' in access[-1]["message"]
    finally:
        server.stop()


@pytest.mark.slow
def test_a_refused_request_is_logged_with_its_code_and_the_loose_hint(tmp_path):
    server = Server(tmp_path, "--clock", "virtual", "--database", ":memory:", "--no-fixtures")
    try:
        server.wait_ready()
        skip = httpx.get(f"{server.base}/api/data/v9.2/asyncoperations?$skip=1")
        assert skip.status_code == 400 and "--loose" not in skip.text  # the body stays Dataverse's
        httpx.get(f"{server.base}/api/data/v9.2/asyncoperations(not-a-guid)")
        wait_until(lambda: "refused GET /api/data/v9.2/asyncoperations(not-a-guid)" in _log(server), 10,
                   "the second refusal's line")
        log = _log(server)
        message = skip.json()["error"]["message"]
        assert (f"refused GET /api/data/v9.2/asyncoperations?$skip=1: 400 {skip.json()['error']['code']} {message} "
                f"[strict mode, as Dataverse: start with --loose to evaluate standard OData that Dataverse refuses]"
                in log)
        line = next(line for line in log.splitlines() if "asyncoperations(not-a-guid)" in line and "refused" in line)
        assert "--loose" not in line
    finally:
        server.stop()


@pytest.mark.parametrize("make, said", [
    (lambda d: (d / "notes.db").write_text("garbage, not SQLite") and d / "notes.db",
     "{path} is not a store (file is not a database): give another --database, or move this file away."),
    (lambda d: d / "missing" / "store.db",
     "cannot make the store {path}: the directory {parent} does not exist."),
    (lambda d: d, "{path} is a directory, not a store file: give a file path to --database."),
])
def test_a_store_that_cannot_be_used_is_said_plainly_before_starting(tmp_path, capsys, make, said):
    from odata_emulator.cli import STORE_UNUSABLE, main

    path = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert main(["serve", "--database", str(path), "--port", "0"], environ={}) == STORE_UNUSABLE == 3
    assert capsys.readouterr().err.strip() == "odata-emulator: " + said.format(path=path, parent=path.parent)
    assert sorted(tmp_path.rglob("*")) == before  # nothing made, nothing changed
    assert gc.isenabled()  # off for start-up only (`main`), back on after a refusal too


def test_the_collector_comes_back_on_after_start_up_with_start_up_frozen():
    from odata_emulator.cli import collect_from_here

    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        collect_from_here()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        collect_from_here()  # once started, nothing more to do
        assert gc.isenabled()
    finally:
        gc.enable()
