"""The TDS endpoint measured on a store: every documented SQL query, read verbatim from
fixtures/documented-queries/, sent by pymssql through `serve --tds`, beside the same question asked
of the stdlib sqlite3 on the same file; and a large result's rows per second.

The limits: the `.sql` files themselves for 02-05 and 06's two counts (they are valid SQLite as
printed; 02's SSMS form with `WITH (nolock)` is compared with 02); for 01, which names columns SQLite's
table does not have (`operationtypename`, `regardingobjectidname`), the emulator's own translation run
directly. Every answer is checked against its limit's rows before it is timed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .limits import DirectSql, median_of
from .progress import say, shout
from .report import Row, Target, ms, size_label
from .server import EmulatorServer, free_port
from .store import Store

DOCUMENTED = Path(__file__).resolve().parent.parent / "fixtures" / "documented-queries"
LARGE = "SELECT asyncoperationid, name, statecode, statuscode, createdon FROM asyncoperation"
TARGET = Target("<=", 1.5, text="≤ 1.5×")
TARGET_SIZES = (100_000, 1_000_000)  # where the ≤ 1.5× target applies


@dataclass
class SqlQueryResult:
    label: str
    tds_ms: float | None = None
    sqlite_ms: float | None = None
    rows: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class TdsResult:
    size: int
    queries: list[SqlQueryResult] = field(default_factory=list)
    large_rows: int = 0
    large_s: float | None = None
    large_limit_s: float | None = None
    large_server_cpu_s: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float | None:
        return self.large_rows / self.large_s if self.large_s else None


def documented() -> list[tuple[str, str, str | None]]:
    """(label, T-SQL as printed, its SQLite limit or None for the emulator's translation)."""
    found = []
    for path in sorted(DOCUMENTED.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        number = path.name[:2]
        if number == "06":
            for index, statement in enumerate(text.split("\n  \n")[:2], 1):
                found.append((f"06 SQL #{index}", statement, statement))
            continue
        if number == "01":
            found.append(("01 SQL", text, None))
        elif path.name.endswith(".ssms.sql"):
            found.append((f"{number} SQL (SSMS, nolock)", text,
                          (DOCUMENTED / path.name.replace(".ssms", "")).read_text(encoding="utf-8")))
        else:
            found.append((f"{number} SQL", text, text))
    return found


def translation(text: str) -> str:
    from odata_emulator.tds.batch import plan
    from odata_emulator.tds.catalog import CATALOG
    from odata_emulator.tds.translate import Environment

    (select,) = plan(text, Environment(CATALOG, {}))
    return select.query.sql


def _rows(cursor) -> list[tuple]:
    return [tuple(row) for row in cursor.fetchall()]


def measure_tds(emulator: str, store: Store, work_dir: Path) -> TdsResult:
    import pymssql

    result = TdsResult(store.size)
    port = free_port()
    extra = ("--clock", "virtual", "--aggregate-limit", "0", "--tds", "--tds-port", str(port), "--tds-encrypt", "off")
    with EmulatorServer(emulator, store.path, work_dir, extra) as running, DirectSql(store.path) as sql:
        conn = pymssql.connect(server="127.0.0.1", port=str(port), user="bench", password="bench", autocommit=True,
                               timeout=600)
        try:
            cursor = conn.cursor()
            for label, text, limit in documented():
                result.queries.append(_measure_query(cursor, sql, store, label, text, limit or translation(text)))
            _measure_large(result, conn, sql, store, running.process.pid)
        finally:
            conn.close()
    for part in result.queries:
        result.errors += [f"N={store.size} {part.label}: {e}" for e in part.errors]
    return result


def _measure_query(cursor, sql: DirectSql, store: Store, label: str, text: str, limit: str) -> SqlQueryResult:
    result = SqlQueryResult(label)
    try:
        cursor.execute(text)
        answer = _rows(cursor)
    except Exception as exc:  # the client's error is the measurement's failure
        result.errors.append(f"{type(exc).__name__}: {exc}")
        shout(f"N={store.size} {label}: {result.errors[-1]}")
        return result
    expected = sql.rows(limit)
    if len(answer) != len(expected):
        problem = f"{len(answer)} rows, SQL has {len(expected)}"
    elif label.startswith("01"):  # GUIDs and date-times arrive typed: the rows' ids, in order
        problem = None if [str(r[0]) for r in answer] == [r[0] for r in expected] else "rows differ from SQL's"
    else:
        problem = None if sorted(answer) == sorted(expected) else "rows differ from SQL's"
    if problem:
        result.errors.append(problem)
        shout(f"N={store.size} {label}: {problem}")
        return result
    result.rows = len(answer)

    def once() -> None:
        cursor.execute(text)
        cursor.fetchall()

    result.tds_ms = median_of(once, min_runs=5, max_runs=200, budget_s=1.0) * 1000
    result.sqlite_ms = sql.median_seconds(limit) * 1000
    say(f"N={store.size} {label}: {result.rows} rows as SQL; TDS {result.tds_ms:.2f} ms, sqlite3 "
        f"{result.sqlite_ms:.2f} ms")
    return result


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _measure_large(result: TdsResult, conn, sql: DirectSql, store: Store, pid: int) -> None:
    """Every row of a five-column query, read and dropped 5000 at a time (the best of two runs)."""
    limit = translation(LARGE)
    timings, cpu = [], []
    for _ in range(2):
        cursor = conn.cursor()
        cpu_before = _cpu_seconds(pid)
        started = time.perf_counter()
        cursor.execute(LARGE)
        count = 0
        while rows := cursor.fetchmany(5000):
            count += len(rows)
        timings.append(time.perf_counter() - started)
        cpu_after = _cpu_seconds(pid)
        if cpu_before is not None and cpu_after is not None:
            cpu.append(cpu_after - cpu_before)
        result.large_rows = count
    expected = sql.rows(f"SELECT count(*) FROM ({limit})")[0][0]
    if result.large_rows != expected:
        result.errors.append(f"large result: {result.large_rows} rows, SQL has {expected}")
        shout(f"N={store.size} {result.errors[-1]}")
        return
    result.large_s = min(timings)
    result.large_server_cpu_s = min(cpu) if cpu else None
    result.large_limit_s = median_of(lambda: sql.connection.execute(limit).fetchall(), min_runs=2, max_runs=3,
                                     budget_s=0.0, warm_up=False)
    say(f"N={store.size} large TDS result: {result.large_rows} rows in {result.large_s:.2f} s "
        f"({result.rows_per_s:,.0f} rows/s; sqlite3 fetchall {result.large_limit_s:.2f} s)")


def rows(results: list[TdsResult]) -> list[Row]:
    table = []
    for result in results:
        n = size_label(result.size)
        target = TARGET if result.size in TARGET_SIZES else None
        for query in result.queries:
            if query.errors:
                table.append(Row(f"{query.label} via TDS (pymssql) p50", n, "FAILED: " + "; ".join(query.errors),
                                 failed=True))
                continue
            ratio = query.tds_ms / query.sqlite_ms if query.sqlite_ms else None
            table.append(Row(f"{query.label} via TDS (pymssql) p50", n, ms(query.tds_ms),
                             f"sqlite3 {ms(query.sqlite_ms)}", ratio, target=target))
        if result.large_s is not None:
            cpu = f"; server CPU {result.large_server_cpu_s:.2f} s" if result.large_server_cpu_s is not None else ""
            table.append(Row("large TDS result: all rows, 5 columns (pymssql)", n,
                             f"{result.rows_per_s:,.0f} rows/s ({result.large_rows} rows in {result.large_s:.2f} s"
                             f"{cpu})", f"sqlite3 fetchall {result.large_limit_s:.2f} s",
                             result.large_s / result.large_limit_s if result.large_limit_s else None))
        elif result.errors:
            table.append(Row("large TDS result", n, "FAILED: " + "; ".join(result.errors), failed=True))
    return table


NOTE = ("TDS: `serve --tds --tds-encrypt off` on the same store; pymssql (FreeTDS, autocommit) sends each "
        "documented `.sql` file verbatim (06's two counts as separate statements), median of repeated executions "
        "including fetchall, beside stdlib sqlite3 on the same file running the `.sql` text (01: the emulator's "
        "translation, which names the same columns); the large result reads every row of a five-column query, "
        "5000 rows per fetch, the best of two runs, beside sqlite3's fetchall of the translated SQL.")

