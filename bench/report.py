"""The report: one markdown table, a row per measurement (and N), each figure beside its limit,
the ratio, the target and whether it is met; notes on the machine and the run below it."""

from __future__ import annotations

from dataclasses import dataclass

from .load import LoadResult
from .scheduler import SchedulerResult
from .startup import StartupResult
from .webapi import PAGE_REQUESTS, QueryResult, StoreResult

AGGREGATE_TARGET_SIZES = (100_000, 1_000_000)  # where the aggregates' ≤ 1.25× target applies
DASH = "—"


@dataclass(frozen=True)
class Target:
    """`subject op threshold`, on the ratio or on the emulator's own figure."""
    op: str  # "<=" | ">="
    threshold: float
    on: str = "ratio"  # "ratio" | "value"
    text: str = ""

    def met(self, ratio: float | None, value: float | None) -> bool | None:
        subject = ratio if self.on == "ratio" else value
        if subject is None:
            return None
        return subject <= self.threshold if self.op == "<=" else subject >= self.threshold


LATENCY_AGGREGATE = Target("<=", 1.25, text="≤ 1.25×")
SINGLE_ROW_SHARE = Target(">=", 0.35, text="≥ 35%")
PAGE = Target("<=", 2.0, text="≤ 2×")
SCHEDULER_RATE = Target(">=", 2000, "value", "≥ 2000 jobs/s")
CHAIN_SECONDS = Target("<=", 10, "value", "≤ 10 s")
STARTUP_SECONDS = Target("<=", 1, "value", "≤ 1 s")
RSS_MB_AT_1M = Target("<=", 150, "value", "≤ 150 MB")


@dataclass
class Row:
    measurement: str
    size: str
    emulator: str
    limit: str = DASH
    ratio: float | None = None
    ratio_style: str = "x"  # "x": 1.23×, "%": 37%
    target: Target | None = None
    value: float | None = None  # the emulator's figure in the target's unit, for value targets
    failed: bool = False

    @property
    def ratio_text(self) -> str:
        if self.ratio is None:
            return DASH
        return f"{self.ratio * 100:.0f}%" if self.ratio_style == "%" else f"{self.ratio:.2f}×"

    @property
    def met_text(self) -> str:
        if self.failed:
            return "**FAILED**"
        if self.target is None:
            return DASH
        met = self.target.met(self.ratio, self.value)
        return DASH if met is None else ("yes" if met else "**no**")

    def cells(self) -> list[str]:
        return [self.measurement, self.size, self.emulator, self.limit, self.ratio_text,
                self.target.text if self.target else DASH, self.met_text]


def render_table(rows: list[Row]) -> str:
    header = ["measurement", "N", "emulator", "limit", "ratio", "target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def render(rows: list[Row], notes: list[str]) -> str:
    return render_table(rows) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"


# --- figures ------------------------------------------------------------------------------------------

def size_label(size: int) -> str:
    for unit, name in ((1_000_000, "M"), (1_000, "k")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{name}"
    return str(size)


def ms(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def rate(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f} req/s"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _load_text(load: LoadResult | None) -> str:
    if load is None:
        return "not measured"
    if not load.ok:
        return "FAILED: " + "; ".join(load.errors)
    return f"p50 {ms(load.p50_ms)}, p99 {ms(load.p99_ms)}, {rate(load.requests_per_s)} ({load.requests} req)"


# --- rows ----------------------------------------------------------------------------------------------

def store_rows(result: StoreResult, trivial: tuple[LoadResult, LoadResult] | None) -> list[Row]:
    n = size_label(result.size)
    rows: list[Row] = []
    for query in result.queries:
        rows += _query_rows(query, result.size, n)
    rows += _single_row_rows(result.single_row, trivial, n)
    if result.page is not None:
        page = result.page
        rows.append(Row(f"5000-row page p50 (query 01's $select/$expand, {PAGE_REQUESTS} requests)", n,
                        ms(page.p50_ms) if not page.errors else "FAILED: " + "; ".join(page.errors),
                        f"SQL + json.dumps {ms(page.limit_ms)}", _ratio(page.p50_ms, page.limit_ms),
                        target=PAGE, failed=bool(page.errors)))
    if result.walk is not None:
        walk = result.walk
        text = (f"{walk.seconds:.2f} s, {walk.rows_per_s or 0:,.0f} rows/s ({walk.rows} rows, {walk.pages} pages)"
                if not walk.errors else "FAILED: " + "; ".join(walk.errors))
        rows.append(Row(f"paging walk, first {size_label(walk.rows) if not walk.errors else walk.rows} rows "
                        f"(@odata.nextLink)", n, text, f"SQL + json.dumps {walk.limit_s:.2f} s",
                        _ratio(walk.seconds, walk.limit_s), failed=bool(walk.errors)))
    if result.peak_rss_kib is not None:
        mb = result.peak_rss_kib / 1024
        rows.append(Row("server peak RSS (VmHWM) after these measurements", n, f"{mb:.0f} MB",
                        target=RSS_MB_AT_1M if result.size == 1_000_000 else None, value=mb))
    return rows


def _query_rows(query: QueryResult, size: int, n: str) -> list[Row]:
    aggregate = query.number != "01"
    target = LATENCY_AGGREGATE if aggregate and size in AGGREGATE_TARGET_SIZES else None
    failed = bool(query.errors)
    one, many = query.one, query.many
    p50 = one.p50_ms if one is not None and one.ok else None
    emulator = ms(p50) if p50 is not None else "FAILED: " + "; ".join(query.errors)
    rows = [Row(f"{query.label} p50, 1 conn", n, emulator, f"SQL {ms(query.sql_ms)}", _ratio(p50, query.sql_ms),
                target=target, failed=failed)]
    if one is not None or many is not None:
        rows.append(Row(f"{query.label} load (informational)", n,
                        f"1 conn: {_load_text(one)}; 16 conn: {_load_text(many)}", failed=failed))
    return rows


def _single_row_rows(single: QueryResult | None, trivial: tuple[LoadResult, LoadResult] | None, n: str) -> list[Row]:
    if single is None:
        return []
    if single.one is None or single.many is None:
        return [Row("single-row retrieve", n, "FAILED: " + "; ".join(single.errors), failed=True)]
    rows = []
    for load, floor in zip((single.one, single.many), trivial or (None, None)):
        ok = load.ok and floor is not None and floor.ok
        rows.append(Row(
            f"single-row retrieve req/s, {load.connections} conn", n,
            f"{rate(load.requests_per_s)} (p50 {ms(load.p50_ms)})" if load.ok else _load_text(load),
            f"trivial starlette {rate(floor.requests_per_s)} (p50 {ms(floor.p50_ms)})" if floor and floor.ok
            else _load_text(floor),
            _ratio(load.requests_per_s, floor.requests_per_s) if ok else None, "%", SINGLE_ROW_SHARE,
            failed=not ok))
    rows.append(Row("single-row retrieve p50 vs direct SQL (informational)", n, ms(single.one.p50_ms),
                    f"SQL {ms(single.sql_ms)}", _ratio(single.one.p50_ms, single.sql_ms)))
    return rows


def scheduler_rows(independent: SchedulerResult | None, chain: SchedulerResult | None) -> list[Row]:
    rows = []
    if independent is not None:
        rows.append(_scheduler_row("scheduler: independent zero-length jobs, one clock advance", independent,
                                   SCHEDULER_RATE, rate_target=True))
    if chain is not None:
        rows.append(_scheduler_row("scheduler: dependency chain (one dependencytoken), seconds", chain,
                                   CHAIN_SECONDS, rate_target=False))
    return rows


def _scheduler_row(measurement: str, result: SchedulerResult, target: Target, rate_target: bool) -> Row:
    if result.timed_out:
        # A bound, not a figure: slower than jobs/timeout, longer than the timeout.
        bound = result.jobs / result.timeout_s
        done = f"{result.succeeded} of {result.jobs} Succeeded by then" if result.succeeded is not None else "progress unknown"
        text = f"timed out after {result.timeout_s:.0f} s (< {bound:,.0f} jobs/s; {done})" if rate_target else \
            f"timed out after {result.timeout_s:.0f} s (≥ {result.timeout_s:.0f} s, < {bound:,.0f} jobs/s; {done})"
        if rate_target:  # surely below the target when the bound is; otherwise unknown
            value = bound if bound < target.threshold else None
        else:  # at least this long
            value = result.timeout_s
        return Row(measurement, DASH, text, target=target, value=value)
    if result.advance_s is None:
        return Row(measurement, DASH, "FAILED: " + ("; ".join(result.errors) or "not measured"), target=target,
                   failed=True)
    text = f"{result.jobs_per_s:,.0f} jobs/s, {result.jobs} jobs in {result.advance_s:.2f} s"
    if result.kind == "chain":
        order = {True: "ran in creation order", False: "NOT in creation order", None: "order not checked"}
        text = f"{result.advance_s:.2f} s for {result.jobs} jobs ({result.jobs_per_s:,.0f} jobs/s; " \
               f"{order[result.in_creation_order]})"
    if result.errors:
        text += "; FAILED: " + "; ".join(result.errors)
    return Row(measurement, DASH, text, target=target,
               value=result.jobs_per_s if rate_target else result.advance_s, failed=bool(result.errors))


def startup_rows(startup: StartupResult | None) -> list[Row]:
    if startup is None or startup.emulator_median_s is None:
        return []
    return [Row(f"start-up to first 200 on health (median of {len(startup.emulator_s)})", DASH,
                f"{startup.emulator_median_s:.2f} s", f"trivial starlette {startup.trivial_median_s:.2f} s",
                _ratio(startup.emulator_median_s, startup.trivial_median_s), target=STARTUP_SECONDS,
                value=startup.emulator_median_s)]
