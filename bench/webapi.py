"""Measuring one store through the Web API: the documented queries and their FetchXML twins, the
single-row retrieve, the 5000-row page and the 100k-row walk, each beside its limit, and the
server's peak RSS once it has answered all of them. Every answer is checked before it is timed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import queries
from .client import Client, Reply
from .limits import DirectSql
from .load import LoadResult, run_load
from .progress import say, shout
from .server import EmulatorServer, read_only_args
from .store import Store

PAGE_REQUESTS = 10
WALK_ROWS = 100_000


@dataclass
class LoadPlan:
    """How long each load runs: `seconds`, stretched for slow answers so that every connection
    completes a few requests, but never beyond `max_seconds`."""
    seconds: float
    max_seconds: float
    generator: str

    def seconds_for(self, one_request_s: float, connections: int) -> float:
        return min(self.max_seconds, max(self.seconds, 3 * one_request_s * connections))

    def run(self, url: str, connections: int, one_request_s: float, headers: dict[str, str] | None = None) -> LoadResult:
        seconds = self.seconds_for(one_request_s, connections)
        return run_load(url, connections, seconds, headers, self.generator,
                        request_timeout=max(30.0, seconds + 10 * one_request_s + 10))


@dataclass
class QueryResult:
    label: str
    number: str
    form: str
    check: str  # what the first answer was checked against
    sql_ms: float
    one: LoadResult | None = None  # 1 connection
    many: LoadResult | None = None  # 16 connections
    errors: list[str] = field(default_factory=list)


@dataclass
class PageResult:
    rows: int
    p50_ms: float | None
    limit_ms: float
    errors: list[str] = field(default_factory=list)


@dataclass
class WalkResult:
    rows: int
    pages: int
    seconds: float
    limit_s: float
    errors: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.seconds if self.seconds else None


@dataclass
class StoreResult:
    size: int
    total_jobs: int
    generated_in_s: float | None
    queries: list[QueryResult] = field(default_factory=list)
    single_row: QueryResult | None = None
    page: PageResult | None = None
    walk: WalkResult | None = None
    peak_rss_kib: int | None = None
    rss_process: str = ""
    errors: list[str] = field(default_factory=list)


def measure_store(emulator: str, store: Store, work_dir: Path, plan: LoadPlan,
                  connections: tuple[int, int], workers: int = 1) -> StoreResult:
    result = StoreResult(store.size, store.total_jobs, store.generated_in_s)
    extra = read_only_args(workers)
    with EmulatorServer(emulator, store.path, work_dir, extra) as running, running.client() as client, \
            DirectSql(store.path) as sql:
        say(f"N={store.size}: emulator up (pid {running.process.pid}, port {running.port})")
        for query in queries.documented_queries():
            result.queries.append(_measure_query(running, client, sql, query, store, plan, connections))
        result.single_row = _measure_single_row(running, client, sql, store, plan, connections)
        result.page = _measure_page(client, sql, store)
        result.walk = _measure_walk(client, sql, store)
        result.peak_rss_kib, pid, name = running.peak_rss_kib()
        result.rss_process = f"pid {pid} ({name})"
    for part in (*result.queries, result.single_row, result.page, result.walk):
        result.errors += [f"N={store.size} {getattr(part, 'label', type(part).__name__)}: {e}" for e in part.errors]
    return result


def _measure_query(running: EmulatorServer, client: Client, sql: DirectSql, query: queries.Query, store: Store,
                   plan: LoadPlan, connections: tuple[int, int]) -> QueryResult:
    reply = client.get(query.target, query.headers)
    expected = sql.rows(query.limit_sql)
    result = QueryResult(query.label, query.number, query.form, "", 0.0)
    result.check, problem = _check_query(query, reply, expected)
    result.sql_ms = sql.median_seconds(query.limit_sql) * 1000
    if problem:
        result.errors.append(problem)
        shout(f"N={store.size} {query.label}: {problem}")
        return result
    warm_s = _warm_answer_s(client, query.target, query.headers)
    say(f"N={store.size} {query.label}: {result.check}; first answer {reply.seconds * 1000:.1f} ms, then "
        f"{warm_s * 1000:.2f} ms; SQL {result.sql_ms:.2f} ms")
    url = running.base_url + query.target
    result.one, result.many = (plan.run(url, c, warm_s, query.headers) for c in connections)
    _collect_load_errors(result, store)
    return result


def _warm_answer_s(client: Client, target: str, headers: dict[str, str]) -> float:
    """One more answer once the first has warmed the caches: what sizes the load run."""
    reply = client.get(target, headers)
    return reply.seconds if reply.status == 200 else 0.0


def _check_query(query: queries.Query, reply: Reply, expected: list[tuple]) -> tuple[str, str | None]:
    """(what was checked, the problem if any): an aggregate must give SQL's groups and counts; a
    row query as many rows as SQL."""
    if reply.status != 200:
        return "", f"answered {reply.status}: {reply.body[:300]!r}"
    try:
        values = reply.json()["value"]
    except (ValueError, KeyError) as exc:
        return "", f"not an OData collection ({exc}): {reply.body[:200]!r}"
    if not query.aggregate:
        if len(values) != len(expected):
            return "", f"{len(values)} rows, SQL has {len(expected)}"
        return f"{len(values)} rows as SQL", None
    try:
        groups = sorted((v["statecode"], v["statuscode"], v["operationtype"], int(v["count"])) for v in values)
    except (KeyError, TypeError, ValueError) as exc:
        return "", f"an aggregate row lacks {exc}: {values[:2]}"
    if groups != sorted(tuple(row) for row in expected):
        return "", (f"groups differ from SQL's: {len(groups)} groups totalling {sum(g[3] for g in groups)}, "
                    f"SQL {len(expected)} totalling {sum(row[3] for row in expected)}")
    return f"{len(groups)} groups, {sum(g[3] for g in groups)} jobs as SQL", None


def _collect_load_errors(result: QueryResult, store: Store) -> None:
    for load in (result.one, result.many):
        if load is None:
            continue
        if load.requests == 0 and not load.errors:
            load.errors.append(f"no request completed in {load.seconds:.1f} s")
        for error in load.errors:
            result.errors.append(f"{load.connections} connection(s): {error}")
            shout(f"N={store.size} {result.label} at {load.connections} connection(s): {error}")


def _measure_single_row(running: EmulatorServer, client: Client, sql: DirectSql, store: Store, plan: LoadPlan,
                        connections: tuple[int, int]) -> QueryResult:
    target = queries.single_row_target(store.sample_job_id)
    result = QueryResult("single-row retrieve", "single", "Web API", "", 0.0)
    reply = client.get(target)
    [expected] = sql.rows(queries.SINGLE_ROW_SQL, (store.sample_job_id,))
    result.sql_ms = sql.median_seconds(queries.SINGLE_ROW_SQL, (store.sample_job_id,)) * 1000
    body = reply.json() if reply.status == 200 else {}
    if reply.status != 200 or (body.get("name"), body.get("statecode"), body.get("statuscode")) != expected[1:4]:
        problem = f"answered {reply.status}: {reply.body[:200]!r}, SQL has {expected[1:4]}"
        result.errors.append(problem)
        shout(f"N={store.size} single-row retrieve: {problem}")
        return result
    result.check = "name and state as SQL"
    warm_s = _warm_answer_s(client, target, {})
    say(f"N={store.size} single-row retrieve: first answer {reply.seconds * 1000:.1f} ms, then {warm_s * 1000:.2f} ms")
    result.one, result.many = (plan.run(running.base_url + target, c, warm_s) for c in connections)
    _collect_load_errors(result, store)
    return result


def _measure_page(client: Client, sql: DirectSql, store: Store) -> PageResult:
    """p50 of PAGE_REQUESTS first pages of 5000 rows (after one warm-up), one connection."""
    expected = min(queries.PAGE_SIZE, store.total_jobs)
    limit_ms = sql.median_seconds_as_json(queries.expanded_rows_sql(queries.PAGE_SIZE)) * 1000
    headers = {"Prefer": f"odata.maxpagesize={queries.PAGE_SIZE}"}
    result = PageResult(expected, None, limit_ms)
    timings = []
    for attempt in range(PAGE_REQUESTS + 1):
        reply = client.get(queries.page_target(), headers)
        rows = len(reply.json()["value"]) if reply.status == 200 else None
        if rows != expected:
            result.errors.append(f"page answered {reply.status} with {rows} rows, expected {expected}")
            shout(f"N={store.size} 5000-row page: {result.errors[-1]}")
            return result
        if attempt:
            timings.append(reply.seconds)
    timings.sort()
    result.p50_ms = timings[len(timings) // 2] * 1000
    say(f"N={store.size} 5000-row page: p50 {result.p50_ms:.1f} ms, SQL+json.dumps {limit_ms:.1f} ms")
    return result


def _measure_walk(client: Client, sql: DirectSql, store: Store) -> WalkResult:
    """Follow @odata.nextLink from the first page until WALK_ROWS rows (or the end). Time is the sum
    of the requests (send to last byte); the client's own JSON parsing is left out. The limit runs
    after the walk, twice without a warm-up: at 100k rows a run takes seconds, and the walk has
    just read the same pages."""
    wanted = min(WALK_ROWS, store.total_jobs)
    result = WalkResult(0, 0, 0.0, 0.0)
    target: str | None = queries.page_target()
    headers = {"Prefer": f"odata.maxpagesize={queries.PAGE_SIZE}"}
    while target and result.rows < wanted:
        reply = client.get(target, headers)
        if reply.status != 200:
            result.errors.append(f"page {result.pages + 1} answered {reply.status}: {reply.body[:200]!r}")
            break
        body = reply.json()
        result.rows += len(body["value"])
        result.pages += 1
        result.seconds += reply.seconds
        target = body.get("@odata.nextLink")
    if result.rows != wanted and not result.errors:
        result.errors.append(f"walked {result.rows} rows in {result.pages} pages, expected {wanted}")
    result.limit_s = sql.median_seconds_as_json(queries.expanded_rows_sql(wanted), min_runs=2, budget_s=0.0,
                                                warm_up=False)
    for error in result.errors:
        shout(f"N={store.size} paging walk: {error}")
    say(f"N={store.size} walk: {result.rows} rows in {result.pages} pages, {result.seconds:.2f} s "
        f"(SQL+json.dumps {result.limit_s:.2f} s)")
    return result
