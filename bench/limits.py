"""The limits measured beside the emulator: the same question asked of SQLite directly (stdlib
sqlite3 on the same file, one read-only connection), and for whole pages the fetch plus a plain
`json.dumps` of the rows as dicts: what a server could not beat in Python."""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path


class DirectSql:
    """One read-only connection to the store, opened once. Each statement is timed once: a Web
    API query and its FetchXML twin are compared with the same figure."""

    def __init__(self, path: Path) -> None:
        from odata_emulator.store.values import register_functions

        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        # The SQL functions every store connection has: the emulator's own translation of a documented
        # SQL query (the limit of 01 through TDS) reads a job's data through odata_file_text.
        register_functions(self.connection)
        self._timed: dict[tuple, float] = {}

    def rows(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        return self.connection.execute(sql, parameters).fetchall()

    def median_seconds(self, sql: str, parameters: tuple = ()) -> float:
        """Median of repeated executions including fetchall (after one warm-up run)."""
        key = ("rows", sql, parameters)
        if key not in self._timed:
            self._timed[key] = median_of(lambda: self.connection.execute(sql, parameters).fetchall(),
                                         min_runs=5, max_runs=200, budget_s=1.0)
        return self._timed[key]

    def median_seconds_as_json(self, sql: str, *, min_runs: int = 3, budget_s: float = 2.0,
                               warm_up: bool = True) -> float:
        """Median time to fetch the rows and `json.dumps` them as a list of dicts."""
        def fetch_and_dump() -> None:
            cursor = self.connection.execute(sql)
            names = [column[0] for column in cursor.description]
            json.dumps([dict(zip(names, row)) for row in cursor.fetchall()])

        key = ("json", sql)
        if key not in self._timed:
            self._timed[key] = median_of(fetch_and_dump, min_runs, max_runs=50, budget_s=budget_s, warm_up=warm_up)
        return self._timed[key]

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> DirectSql:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def median_of(action: Callable[[], object], min_runs: int, max_runs: int, budget_s: float,
              warm_up: bool = True) -> float:
    """Run once to warm the page cache, then at least `min_runs` times and until `budget_s` is spent."""
    if warm_up:
        action()
    timings = []
    spent_until = time.perf_counter() + budget_s
    while len(timings) < min_runs or (len(timings) < max_runs and time.perf_counter() < spent_until):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
