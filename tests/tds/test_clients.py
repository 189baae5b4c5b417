"""`odata-emulator serve --tds`, as users start it, answering every documented SQL query verbatim through
three clients (python-tds, pymssql, Microsoft's mssql-python), each answer equal to the Web API's
answer for the same query; parameterised queries through sp_executesql and sp_prepexec.

`06-file-storage.sql` holds three statements printed one after the other, as three queries of the
docs: a user selects one and runs it (SSMS runs the selection), so each is sent alone and the first two
answer with counts and the misprinted third with error 102. Run as one batch (SSMS with nothing
selected), the file does not compile and nothing runs: error 102 on line 5.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid

import httpx
import pytest

from tests.helpers import DOCUMENTED, Server, build_store, encode_like_a_browser, webapi_request

pytestmark = pytest.mark.slow

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
_ENDPOINT = re.compile(r"odata-emulator: TDS endpoint on 127\.0\.0\.1:(\d+)")

# 06's statements, and the Web API forms the docs print for the first two.
FILE_STORAGE = (DOCUMENTED / "06-file-storage.sql").read_text(encoding="utf-8")
FIRST, SECOND, THIRD = FILE_STORAGE.split("\n  \n")
WEBAPI_06 = {
    FIRST: ("asyncoperations?$apply=filter((datablobid ne null))/aggregate($count as FileStorageCount)",
            "FileStorageCount"),
    SECOND: ("asyncoperations?$apply=filter((datablobid eq null))/aggregate($count as DBCount)", "DBCount"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tds-serve")
    store = build_store(workdir / "store.db")
    process = Server(workdir, "--tds", "--tds-port", "0", "--clock", "virtual", "--database", str(store))
    try:
        process.wait_ready()
        found = _ENDPOINT.search(process.log_path.read_text(errors="replace"))
        assert found, process.log_path.read_text(errors="replace")
        process.tds_port = int(found.group(1))
        yield process
    finally:
        process.stop()


# ---------------------------------------------------------------------------- the clients


def pytds_run(port: int, sql: str, params=None):
    import pytds
    with pytds.connect("127.0.0.1", port=port, user="sa", password="x", database="emulator", autocommit=True,
                       login_timeout=10, timeout=30) as conn:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return [column[0] for column in cursor.description], [list(row) for row in cursor.fetchall()]


def pymssql_run(port: int, sql: str, params=None):
    import pymssql
    conn = pymssql.connect(server="127.0.0.1", port=str(port), user="sa", password="x", database="emulator",
                           login_timeout=10, timeout=30)
    try:
        cursor = conn.cursor()
        cursor.execute(sql, params)
        return [column[0] for column in cursor.description], [list(row) for row in cursor.fetchall()]
    finally:
        conn.close()


def mssql_python_run(port: int, sql: str, params=None):
    import mssql_python
    conn = mssql_python.connect(f"Server=127.0.0.1,{port};Database=emulator;UID=sa;PWD=x;Encrypt=no")
    try:
        cursor = conn.cursor()
        cursor.execute(sql, *([params] if params else []))
        return [column[0] for column in cursor.description], [list(row) for row in cursor.fetchall()]
    finally:
        conn.close()


CLIENTS = {"python-tds": pytds_run, "pymssql": pymssql_run, "mssql-python": mssql_python_run}
PLACEHOLDER = {"python-tds": "%s", "pymssql": "%s", "mssql-python": "?"}


def error_number(exc: Exception) -> int | None:
    """The SQL Server error number a client reports, however it reports it."""
    for attribute in ("msg_no", "number"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int):
            return value
    if exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    found = re.search(r"Incorrect syntax near|statement is not supported", str(exc))
    return {"Incorrect syntax near": 102, "statement is not supported": 40000}.get(found.group(0)) if found else None


# ---------------------------------------------------------------------------- the Web API's answers


def webapi(server, target: str, headers: dict | None = None) -> list[dict]:
    response = httpx.get(f"{server.base}/api/data/v9.2/{target}", headers=headers or {}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["value"]


def webapi_of(server, name: str, **headers) -> list[dict]:
    target, file_headers = webapi_request(DOCUMENTED / f"{name}.webapi.http")
    response = httpx.get(server.base + encode_like_a_browser(target), headers={**file_headers, **headers}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["value"]


def plain(value):
    """A client's value as the Web API writes it."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


# Query 01's SQL columns and where the Web API has them (property, or a lookup's / choice's formatted value).
SYSTEM_JOBS = {"ownerid": "_ownerid_value", "regardingobjectid": "_regardingobjectid_value",
               "operationtypename": "operationtype" + FORMATTED,
               "regardingobjectidname": "_regardingobjectid_value" + FORMATTED}


@pytest.mark.parametrize("client", CLIENTS)
def test_the_documented_system_jobs_query(server, client):
    columns, rows = CLIENTS[client](server.tds_port, (DOCUMENTED / "01-retrieve-system-jobs.sql").read_text("utf-8"))
    expected = webapi_of(server, "01-retrieve-system-jobs", Prefer='odata.include-annotations="*"')
    assert len(rows) == len(expected) > 0
    for row, job in zip(rows, expected):
        for name, value in zip(columns, row):
            key = SYSTEM_JOBS.get(name, name)
            assert same(plain(value), job.get(key)), (client, name, value, job.get(key))


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("name", ["02-jobs-by-state-status-type.sql", "02-jobs-by-state-status-type.ssms.sql",
                                  "03-waiting-jobs-by-count.sql", "04-workflows-by-count.sql",
                                  "05-jobs-waiting-for-resources.sql"])
def test_the_documented_aggregates(server, client, name):
    columns, rows = CLIENTS[client](server.tds_port, (DOCUMENTED / name).read_text(encoding="utf-8"))
    twin = name.replace(".ssms", "").replace(".sql", "")
    expected = webapi_of(server, twin)
    assert sorted(map(tuple, rows)) == sorted((g["statecode"], g["statuscode"], g["operationtype"], g["count"])
                                              for g in expected)
    assert rows == sorted(rows, key=lambda r: -r[3])  # ORDER BY Count DESC
    assert [c.lower() for c in columns] == ["statecode", "statuscode", "operationtype", "count"]


@pytest.mark.parametrize("client", CLIENTS)
def test_the_file_storage_statements_one_by_one(server, client):
    for statement, (target, alias) in WEBAPI_06.items():
        columns, rows = CLIENTS[client](server.tds_port, statement)
        assert columns == [alias]
        assert rows == [[webapi(server, target)[0][alias]]]
    with pytest.raises(Exception) as caught:
        CLIENTS[client](server.tds_port, THIRD)
    assert error_number(caught.value) == 102 and "Incorrect syntax near '('." in str(caught.value)


@pytest.mark.parametrize("client", CLIENTS)
def test_the_file_storage_file_as_one_batch_does_not_compile(server, client):
    with pytest.raises(Exception) as caught:
        CLIENTS[client](server.tds_port, FILE_STORAGE)
    assert error_number(caught.value) == 102


@pytest.mark.parametrize("client", CLIENTS)
def test_parameterised_queries(server, client):
    """python-tds sends sp_executesql, mssql-python sp_prepexec, pymssql writes the values into the text."""
    mark = PLACEHOLDER[client]
    columns, rows = CLIENTS[client](
        server.tds_port,
        f"select asyncoperationid, name from asyncoperation where statecode = {mark} and createdon >= {mark} "
        f"and name like {mark} order by asyncoperationid",
        (3, dt.datetime(2026, 10, 1), "%a%"))
    expected = webapi(server, "asyncoperations?$select=name&$filter=statecode eq 3 and createdon ge "
                              "2026-10-01T00:00:00Z and contains(name,'a')&$orderby=asyncoperationid")
    assert [(str(r[0]), r[1]) for r in rows] == [(j["asyncoperationid"], j["name"]) for j in expected]
    assert rows


@pytest.mark.parametrize("client", CLIENTS)
def test_refused_statements(server, client):
    with pytest.raises(Exception) as caught:
        CLIENTS[client](server.tds_port, "delete from asyncoperation")
    assert error_number(caught.value) == 40000
    assert "'DELETE' statement is not supported." in str(caught.value)


def test_the_endpoint_is_announced_on_stderr(server):
    log = server.log_path.read_text(errors="replace")
    assert f"odata-emulator: TDS endpoint on 127.0.0.1:{server.tds_port}\n" in log
    assert "odata-emulator: TDS certificate " in log
