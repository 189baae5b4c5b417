"""Dataverse's SQL onto SQLite: each documented query's SQLite form and answer, each rewrite, each
refusal with its exact error, and the statements of a batch.

Answers are checked by running the translation on the template store with the stdlib sqlite3 (the
`tds_` functions registered as the endpoint registers them) against plain SQL on the same file.
"""

from __future__ import annotations

import calendar
import datetime as dt
import sqlite3
import uuid

import pytest

from odata_emulator.model.optionsets import ASYNC_STATE, OPERATION_TYPE
from odata_emulator.tds import batch, functions, tokens
from odata_emulator.tds.catalog import CATALOG
from odata_emulator.tds.errors import Refused, SqlError, SqlSyntaxError
from odata_emulator.tds.rows import rows_encoder
from odata_emulator.tds.translate import Environment, Param
from odata_emulator.tds.types import DATETIME_TYPE, GUID, INT, nvarchar
from tests.helpers import DOCUMENTED, sql_rows
from tests.tds.wire import read_tokens

NOW = 1_793_534_400.0  # 2026-11-01T12:00:00Z, the data set's reference time


def plan(sql: str, **params) -> list:
    return batch.plan(sql, Environment(CATALOG, {name: Param(t) for name, t in params.items()}))


def query(sql: str, **params):
    plans = plan(sql, **params)
    assert isinstance(plans[-1], batch.Select), plans
    return plans[-1].query


def run(store, sql: str, values: dict | None = None, **params) -> list[tuple]:
    found = query(sql, **params)
    arguments = dict(found.args)
    for key in found.late:
        arguments[key] = (values or {}).get(key, NOW if key == "__now" else None)
    db = sqlite3.connect(store)
    functions.register(db, [])
    try:
        return db.execute(found.sql, arguments).fetchall()
    finally:
        db.close()


def error_of(sql: str, **params) -> SqlError:
    with pytest.raises(SqlError) as caught:
        plan(sql, **params)
    return caught.value


# ---------------------------------------------------------------------------- the documented queries

# Read from the counts the store keeps (store/group_counts.py), under the table's own alias.
AGGREGATE = ("SELECT asyncoperation.statecode AS _c0, asyncoperation.statuscode AS _c1, "
             "asyncoperation.operationtype AS _c2, SUM(asyncoperation.rowcount) AS _c3 "
             "FROM emulator_group_count_asyncoperation AS asyncoperation{where} "
             "GROUP BY asyncoperation.statecode, asyncoperation.statuscode, asyncoperation.operationtype "
             "HAVING SUM(asyncoperation.rowcount) > 0 ORDER BY _c3 DESC")


@pytest.mark.parametrize("name, where", [
    ("02-jobs-by-state-status-type.sql", ""),
    ("02-jobs-by-state-status-type.ssms.sql", ""),
    ("03-waiting-jobs-by-count.sql", " WHERE asyncoperation.statecode = 1"),
    ("04-workflows-by-count.sql", " WHERE asyncoperation.operationtype = 10"),
    ("05-jobs-waiting-for-resources.sql", " WHERE asyncoperation.statecode = 0 AND asyncoperation.statuscode = 0"),
])
def test_the_documented_aggregates(template_store, name, where):
    text = (DOCUMENTED / name).read_text(encoding="utf-8")
    found = query(text)
    assert found.sql == AGGREGATE.format(where=where)
    written = ["StateCode", "StatusCode", "OperationType", "Count"] if "ssms" in name else \
        ["statecode", "statuscode", "operationtype", "count"]
    assert [(n, str(t)) for n, t in found.columns] == [(w, "int") for w in written]
    plain = (DOCUMENTED / name.replace(".ssms", "")).read_text(encoding="utf-8")
    expected = sql_rows(template_store, plain)
    answer = run(template_store, text)
    # Groups with equal counts come in no particular order (in SQL Server as here).
    assert expected and sorted(answer) == sorted(expected)
    assert [row[3] for row in answer] == sorted((row[3] for row in answer), reverse=True)


COUNTS = "FROM emulator_group_count_asyncoperation AS "


@pytest.mark.parametrize("sql, plain", [
    ("SELECT count(*) FROM asyncoperation", "SELECT count(*) FROM asyncoperation"),
    ("SELECT COUNT(*) AS n FROM asyncoperation a WHERE a.statecode <> 3",
     "SELECT count(*) FROM asyncoperation WHERE statecode <> 3"),
    ("SELECT statecode FROM asyncoperation GROUP BY statecode HAVING count(*) > 3 ORDER BY count(*), statecode",
     "SELECT statecode FROM asyncoperation GROUP BY statecode HAVING count(*) > 3 ORDER BY count(*), statecode"),
    (("SELECT TOP 3 statuscodename, operationtype, count(*) AS c FROM asyncoperation WITH (nolock) "
      "WHERE statuscode IN (0, 10, 31) OR ISNULL(operationtype, 0) = 10 GROUP BY statuscodename, operationtype "
      "ORDER BY c DESC, statuscodename, operationtype"),
     ("SELECT CASE statuscode WHEN 0 THEN 'Waiting For Resources' WHEN 10 THEN 'Waiting' WHEN 20 THEN 'In Progress' "
      "WHEN 21 THEN 'Pausing' WHEN 22 THEN 'Canceling' WHEN 30 THEN 'Succeeded' WHEN 31 THEN 'Failed' "
      "WHEN 32 THEN 'Canceled' END AS s, operationtype, count(*) AS c FROM asyncoperation "
      "WHERE statuscode IN (0, 10, 31) OR ifnull(operationtype, 0) = 10 GROUP BY s, operationtype "
      "ORDER BY c DESC, s, operationtype LIMIT 3")),
    ("SELECT operationtype, count(*) * 2 FROM dbo.asyncoperation WHERE operationtype = 123456 GROUP BY operationtype",
     "SELECT 1 WHERE 0"),  # no such jobs: no group
    ("SELECT count(*) FROM asyncoperation WHERE operationtype = 123456", "SELECT 0"),
])
def test_counts_by_state_status_and_type_read_the_kept_counts(template_store, sql, plain):
    assert "FROM emulator_group_count_asyncoperation AS " in query(sql).sql
    assert run(template_store, sql) == sql_rows(template_store, plain)


@pytest.mark.parametrize("sql", [
    "SELECT 1 FROM asyncoperation",  # the rows themselves
    "SELECT statecode FROM asyncoperation",
    "SELECT count(DISTINCT statecode) FROM asyncoperation",
    "SELECT statecode, count(name) FROM asyncoperation GROUP BY statecode",
    "SELECT statecode, max(createdon) FROM asyncoperation GROUP BY statecode",
    "SELECT statecode, count(*) FROM asyncoperation WHERE name = 'x' GROUP BY statecode",
    "SELECT count(*) FROM asyncoperation a JOIN systemuser u ON u.systemuserid = a.createdby",
    "SELECT count(*) FROM asyncoperation WHERE statecode IN (SELECT statecode FROM asyncoperation WHERE depth > 1)",
    "SELECT DISTINCT statecode FROM asyncoperation",
    "SELECT count(*) FROM systemuser",
])
def test_other_queries_read_the_rows(sql):
    assert "emulator_group_count" not in query(sql).sql


def test_the_documented_system_jobs_query(template_store):
    found = query((DOCUMENTED / "01-retrieve-system-jobs.sql").read_text(encoding="utf-8"))
    assert found.sql.endswith("FROM asyncoperation AS asyncoperation ORDER BY asyncoperation.asyncoperationid "
                              "NULLS LAST LIMIT 1000")
    assert "CASE asyncoperation.operationtype WHEN 1 THEN 'System Event'" in found.sql
    assert "CASE asyncoperation.regardingobjecttypecode WHEN 'account' THEN (SELECT _n" in found.sql
    names = [n for n, _ in found.columns]
    assert names[:3] == ["asyncoperationid", "completedon", "createdon"] and len(names) == 28
    types = dict((n, str(t)) for n, t in found.columns)
    assert types["asyncoperationid"] == "uniqueidentifier" and types["createdon"] == "datetime"
    assert types["data"] == "nvarchar(max)" and types["operationtypename"] == "nvarchar(4000)"
    assert types["iswaitingforevent"] == "bit" and types["sequence"] == "bigint"
    rows = run(template_store, (DOCUMENTED / "01-retrieve-system-jobs.sql").read_text(encoding="utf-8"))
    ids = [r[0] for r in sql_rows(template_store, "SELECT asyncoperationid FROM asyncoperation "
                                                  "ORDER BY asyncoperationid LIMIT 1000")]
    assert [r[0] for r in rows] == ids
    labels = OPERATION_TYPE.labels
    assert all(r[names.index("operationtypename")] == labels.get(r[names.index("operationtype")]) for r in rows)


def test_the_file_storage_counts(template_store):
    first, second, _third = (DOCUMENTED / "06-file-storage.sql").read_text(encoding="utf-8").split("\n  \n")
    assert query(first).sql == ("SELECT COUNT(*) AS _c0 FROM asyncoperation AS asyncoperation "
                                "WHERE NOT asyncoperation.datablobid IS NULL")
    assert query(first).columns == [("FileStorageCount", INT)]
    assert query(second).columns == [("DBCount", INT)]
    (with_blob,), = sql_rows(template_store, "SELECT count(*) FROM asyncoperation WHERE datablobid IS NOT NULL")
    (without,), = sql_rows(template_store, "SELECT count(*) FROM asyncoperation WHERE datablobid IS NULL")
    assert run(template_store, first) == [(with_blob,)] and run(template_store, second) == [(without,)]
    assert with_blob == 3  # the data set's three jobs whose data is over 4 MB


def test_data_in_file_storage_reads_as_the_web_api_reads_it(template_store):
    files = dict(sql_rows(template_store, "SELECT fileattachmentid, file_content(content) FROM emulator_file_content"))
    rows = run(template_store, "SELECT datablobid, data FROM asyncoperation WHERE datablobid IS NOT NULL")
    assert len(rows) == 3 and all(len(data.encode("utf-8")) > 4 * 1024 * 1024 for _, data in rows)
    assert {blob: data for blob, data in rows} == files
    # The docs' storage query: the files of system jobs (object type 4700), their size.
    size = run(template_store, "SELECT count(*), sum(f.filesizeinbytes) FROM fileattachment f "
                               "JOIN asyncoperation a ON f.fileattachmentid = a.datablobid "
                               "WHERE f.objectidtypecode = 4700 AND f.regardingfieldname = 'data'")
    assert size == [(3, sum(len(data.encode("utf-8")) for data in files.values()))]
    # A filter on data reads the file's content too.
    word = next(iter(files.values()))[:60]
    assert run(template_store, f"SELECT count(*) FROM asyncoperation WHERE data LIKE '{word}%'")[0][0] >= 1


def test_the_misprinted_statement_is_a_syntax_error_never_an_answer():
    text = (DOCUMENTED / "06-file-storage.sql").read_text(encoding="utf-8")
    third = text.split("\n  \n")[2]
    error = error_of(third)
    assert (type(error), error.number, error.severity, error.message, error.line) == \
        (SqlSyntaxError, 102, 15, "Incorrect syntax near '('.", 1)
    # The file as one batch (SSMS runs a whole editor without a selection as one batch): nothing runs.
    whole = error_of(text)
    assert (whole.number, whole.message, whole.line) == (102, "Incorrect syntax near '('.", 5)


# ---------------------------------------------------------------------------- rewrites


def test_schema_table_hints_and_brackets(template_store):
    found = query("SELECT [Name] FROM [dbo].[AsyncOperation] WITH (NOLOCK, READUNCOMMITTED) WHERE [StateCode] = 3")
    assert found.sql == ("SELECT asyncoperation.name AS _c0 FROM asyncoperation AS asyncoperation "
                         "WHERE asyncoperation.statecode = 3")
    assert found.columns == [("Name", nvarchar(256))]
    assert query("select name from org.dbo.asyncoperation (nolock)").sql == \
        "SELECT asyncoperation.name AS _c0 FROM asyncoperation AS asyncoperation"


def test_identifiers_are_case_insensitive_and_names_are_reported_as_written():
    found = query("SELECT NAME, StateCode AS [State Code], count(*) Jobs FROM ASYNCOPERATION a "
                  "GROUP BY a.NAME, A.statecode")
    assert [n for n, _ in found.columns] == ["NAME", "State Code", "Jobs"]


def test_national_strings_are_plain_strings_and_comparisons_ignore_case(template_store):
    found = query("select count(*) from asyncoperation where name = N'EXPORT SOLUTION: CONTOSOINTEGRATION'")
    assert "= 'EXPORT SOLUTION: CONTOSOINTEGRATION'" in found.sql and "COLLATE NOCASE" in found.sql
    assert run(template_store, "select count(*) from asyncoperation where name = N'EXPORT SOLUTION: "
                               "CONTOSOINTEGRATION'") == \
        sql_rows(template_store, "select count(*) from asyncoperation where name = 'Export solution: ContosoIntegration'")
    assert run(template_store, "select count(*) from asyncoperation where name like N'%bulk%'") == \
        sql_rows(template_store, "select count(*) from asyncoperation where name like '%Bulk%'")


def test_top_without_order_by_reads_the_primary_key_order(template_store):
    assert query("select top 5 name from asyncoperation").sql.endswith(
        "ORDER BY asyncoperation.asyncoperationid NULLS LAST LIMIT 5")
    assert query("select top (5) name from asyncoperation order by createdon desc").sql.endswith(
        "ORDER BY asyncoperation.createdon DESC LIMIT 5")
    assert "LIMIT 3 OFFSET 5" in query("select name from asyncoperation order by name offset 5 rows "
                                        "fetch next 3 rows only").sql


def test_getutcdate_is_the_emulators_clock_and_dateadd_is_arithmetic(template_store):
    found = query("select count(*) from asyncoperation where createdon > dateadd(day, -7, getutcdate())")
    assert "asyncoperation.createdon > :__now + (-7) * 86400" in found.sql and found.late == ("__now",)
    expected = sql_rows(template_store, "select count(*) from asyncoperation where createdon > ?", (NOW - 7 * 86400,))
    assert run(template_store, "select count(*) from asyncoperation where createdon > dateadd(day, -7, getutcdate())") \
        == expected
    assert run(template_store, "select count(*) from asyncoperation where createdon > getdate() - 7") == expected
    (moved,), = run(template_store, "select dateadd(month, 1, '2026-01-31')")
    assert moved == calendar.timegm((2026, 2, 28, 0, 0, 0))


def test_date_literals_and_guid_literals_meet_the_storage_forms(template_store):
    found = query("select count(*) from asyncoperation where createdon >= '2026-10-01' and "
                  "asyncoperationid <> '{032A576C-27BE-4FC1-BEF9-0C6CA8C16DA9}'")
    assert f"createdon >= {calendar.timegm((2026, 10, 1, 0, 0, 0))}" in found.sql
    assert "asyncoperationid <> '032a576c-27be-4fc1-bef9-0c6ca8c16da9'" in found.sql
    (count,), = run(template_store, "select count(*) from asyncoperation where asyncoperationid = "
                                    "'032A576C-27BE-4FC1-BEF9-0C6CA8C16DA9'")
    assert count == 1


def test_datediff_datepart_isnull_convert(template_store):
    rows = run(template_store, "select top 3 datediff(second, startedon, completedon), isnull(errorcode, -1), "
                               "convert(nvarchar(20), createdon, 120), cast(createdon as date), year(createdon), "
                               "datepart(month, createdon), len(name), upper(name) + '!' "
                               "from asyncoperation where startedon is not null and completedon is not null "
                               "order by createdon")
    stored = sql_rows(template_store, "select startedon, completedon, errorcode, createdon, name from asyncoperation "
                                      "where startedon is not null and completedon is not null order by createdon "
                                      "limit 3")
    for row, (started, completed, code, created, name) in zip(rows, stored):
        moment = dt.datetime.fromtimestamp(created, dt.timezone.utc)
        assert row[0] == completed - started
        assert row[1] == (code if code is not None else -1)
        assert row[2] == moment.strftime("%Y-%m-%d %H:%M:%S")
        assert row[3] == created - created % 86400
        assert (row[4], row[5]) == (moment.year, moment.month)
        assert row[6] == len(name.rstrip()) and row[7] == name.upper() + "!"


def test_the_extra_columns(template_store):
    rows = run(template_store, "select statecode, statecodename, owneridname, createdbyname, regardingobjectidname, "
                               "owningextensionidname from asyncoperation order by asyncoperationid")
    oracle = sql_rows(template_store, """
        select coalesce(u.fullname, t.name), c.fullname,
               coalesce(acc.name, con.fullname, ru.fullname), s.name
        from asyncoperation a
        left join systemuser u on a.owneridtype = 'systemuser' and u.systemuserid = a.ownerid
        left join team t on a.owneridtype = 'team' and t.teamid = a.ownerid
        left join systemuser c on c.systemuserid = a.createdby
        left join account acc on a.regardingobjecttypecode = 'account' and acc.accountid = a.regardingobjectid
        left join contact con on a.regardingobjecttypecode = 'contact' and con.contactid = a.regardingobjectid
        left join systemuser ru on a.regardingobjecttypecode = 'systemuser' and ru.systemuserid = a.regardingobjectid
        left join sdkmessageprocessingstep s on s.sdkmessageprocessingstepid = a.owningextensionid
        order by a.asyncoperationid""")
    assert [r[2:] for r in rows] == oracle
    assert all(r[1] == ASYNC_STATE.labels[r[0]] for r in rows)
    assert any(r[4] for r in rows) and any(r[5] for r in rows) and any(r[2] for r in rows)


def test_star_expands_to_the_tables_columns_with_the_extra_ones():
    names = [n for n, _ in query("select * from asyncoperation").columns]
    assert names[:8] == ["asyncoperationid", "breadcrumbid", "callerorigin", "completedon", "correlationid",
                         "correlationupdatedtime", "createdby", "createdbyname"]
    assert {"statecodename", "statuscodename", "operationtypename", "owneridname", "regardingobjectidname",
            "owningextensionidname", "iswaitingforeventname", "datablobid"} <= set(names)
    assert "leaseexpires" not in names and "workflowstate" not in names


def test_parameters_are_bound_by_name_in_storage_form(template_store):
    found = query("select name from asyncoperation where statecode = @P1 and createdon > @P2",
                  p1=INT, p2=DATETIME_TYPE)
    assert found.late == ("p_p1", "p_p2") and ":p_p1" in found.sql and ":p_p2" in found.sql
    (count,), = run(template_store, "select count(*) from asyncoperation where asyncoperationid = @id",
                    {"p_id": "032a576c-27be-4fc1-bef9-0c6ca8c16da9"}, id=GUID)
    assert count == 1


def test_variables(template_store):
    plans = plan("DECLARE @state int = 3, @since datetime; SET @since = '2026-10-01'; "
                 "SELECT count(*) FROM asyncoperation WHERE statecode = @state AND createdon >= @since")
    assert [type(p).__name__ for p in plans] == ["Assign", "Assign", "Assign", "Select"]
    assert plans[1].query is None and plans[2].query.sql == f"SELECT {calendar.timegm((2026, 10, 1, 0, 0, 0))} AS _c0"


def test_union_types_meet():
    found = query("select name from asyncoperation union all select createdon from asyncoperation")
    assert found.columns[0][1] == DATETIME_TYPE and "TDS_PARSE_DATETIME(asyncoperation.name)" in found.sql


def test_the_version():
    assert query("select @@version").columns == [("", nvarchar(300))]
    assert "'Microsoft SQL Azure (RTM) - 12.0.2000.8'" in query("SELECT @@VERSION").sql


def test_a_result_is_encoded_from_the_store_forms(template_store):
    """The translation reads the store's forms (epoch seconds, GUID text) and the row encoder writes them
    as datetime and uniqueidentifier."""
    found = query("select top 1 createdon, asyncoperationid from asyncoperation")
    stored = run(template_store, "select top 1 createdon, asyncoperationid from asyncoperation")
    (created, job), = sql_rows(template_store, "select createdon, asyncoperationid from asyncoperation "
                                               "order by asyncoperationid limit 1")
    assert stored == [(created, job)]
    encoded = tokens.colmetadata(found.columns) + rows_encoder([t for _, t in found.columns])(stored)
    assert read_tokens(encoded).rows == [[dt.datetime.fromtimestamp(created, dt.timezone.utc).replace(tzinfo=None),
                                          uuid.UUID(job)]]


# ---------------------------------------------------------------------------- refusals and errors


@pytest.mark.parametrize("sql, message", [
    ("update asyncoperation set name = 'x'", "'UPDATE' statement is not supported. Line:1, Position:1"),
    ("insert into asyncoperation (name) values ('x')", "'INSERT' statement is not supported. Line:1, Position:1"),
    ("delete from asyncoperation", "'DELETE' statement is not supported. Line:1, Position:1"),
    ("merge into asyncoperation a using asyncoperation b on 1 = 1 when matched then delete;",
     "'MERGE' statement is not supported. Line:1, Position:1"),
    ("truncate table asyncoperation", "'TRUNCATE' statement is not supported. Line:1, Position:1"),
    ("create table x (a int)", "'CREATE' statement is not supported. Line:1, Position:1"),
    ("alter table asyncoperation add x int", "'ALTER' statement is not supported. Line:1, Position:1"),
    ("drop table asyncoperation", "'DROP' statement is not supported. Line:1, Position:1"),
    ("exec sp_who", "'EXECUTE' statement is not supported. Line:1, Position:1"),
    ("print 'x'", "'PRINT' statement is not supported. Line:1, Position:1"),
    ("if 1 = 1 select 1 else select 2", "'IF' statement is not supported. Line:1, Position:1"),
    ("select 1\n  update asyncoperation set name = 'x'", "'UPDATE' statement is not supported. Line:2, Position:3"),
    ("with c as (select 1 a) select * from c", "'WITH common_table_expression' is not supported."),
    ("select count(*) over () from asyncoperation", "'OVER' is not supported."),
    ("select * into x from asyncoperation", "'INTO' is not supported."),
    ("select name from asyncoperation for xml auto", "'FOR' is not supported."),
    ("select name from asyncoperation option (maxdop 1)", "'OPTION' is not supported."),
    ("select statecode, count(*) from asyncoperation group by rollup(statecode)", "'ROLLUP' is not supported."),
    (("select * from (select statecode, operationtype from asyncoperation) p pivot (count(operationtype) for "
     "statecode in ([0], [1])) as pv"), "'PIVOT' is not supported."),
    ("select bogus from asyncoperation", "Invalid column name 'bogus'."),
    ("select * from nosuch", "Invalid object name 'nosuch'."),
    ("select * from sys.tables", "Invalid object name 'sys.tables'."),
    ("select foo(1)", "'FOO' is not a recognized built-in function name."),
    ("select top 10 percent name from asyncoperation", "'TOP ... PERCENT' is not supported by the emulator."),
])
def test_what_dataverse_refuses(sql, message):
    error = error_of(sql)
    assert (type(error), error.number, error.severity, error.message) == (Refused, 40000, 16, message)


@pytest.mark.parametrize("sql, number, message", [
    ("select statecode from asyncoperation group by statuscode", 8120,
     ("Column 'asyncoperation.statecode' is invalid in the select list because it is not contained in either an "
     "aggregate function or the GROUP BY clause.")),
    ("select @x", 137, 'Must declare the scalar variable "@x".'),
    ("select 'abc", 105, "Unclosed quotation mark after the character string 'abc'."),
    ("select a from asyncoperation where", 102, "Incorrect syntax near the keyword 'where'."),
    ("select 1 /* x", 113, "Missing end comment mark '*/'."),
    ("select count(*) from asyncoperation where createdon > 'soon'", 241,
     "Conversion failed when converting date and/or time from character string."),
])
def test_sql_server_errors(sql, number, message):
    error = error_of(sql)
    assert (error.number, error.message) == (number, message)


# ---------------------------------------------------------------------------- statements of a batch


@pytest.mark.parametrize("sql, kinds", [
    ("SELECT 1 SELECT 2", ["Select", "Select"]),
    ("SET NOCOUNT ON SELECT 1", ["Quiet", "Select"]),
    ("SET ARITHABORT ON;SET CONCAT_NULL_YIELDS_NULL ON;SET ANSI_NULLS ON;SET TEXTSIZE 2147483647", ["Quiet"] * 4),
    ("use [emulator]", ["Quiet"]),
    ("BEGIN TRAN", ["Quiet"]),
    ("IF @@TRANCOUNT > 0 COMMIT TRAN", ["Quiet"]),
    ("IF @@TRANCOUNT > 0 ROLLBACK TRAN", ["Quiet"]),
    ("set transaction isolation level read committed", ["Quiet"]),
    ("select 1\nGO\nselect 2", ["Select", "Select"]),
    ("select name from asyncoperation where statecode in (select statecode from asyncoperation) select 2",
     ["Select", "Select"]),
])
def test_statements_of_a_batch(sql, kinds):
    assert [type(p).__name__ for p in plan(sql)] == kinds


def test_whole_numbers_divide_as_whole_numbers_and_strings_concatenate(template_store):
    assert run(template_store, "select 5 / 2, -5 / 2, 5.0 / 2, 5 % 3, 'a' + 'b', 1 + '2'") == [(2, -2, 2.5, 2, "ab", 3)]


def test_concat_ws_try_cast_and_friends(template_store):
    assert run(template_store, "select concat('a', 1, null), concat_ws(',', 'a', null, 'b'), try_cast('x' as int), "
                               "iif(1 > 0, 'y', 'n'), choose(2, 'a', 'b'), nullif(1, 1), replace('aBc', 'b', 'x'), "
                               "charindex('C', 'abc'), left('abc', 2), right('abc', 2), stuff('abcdef', 2, 3, 'X')") \
        == [("a1", "a,b", None, "y", "b", None, "axc", 3, "ab", "bc", "aXef")]
