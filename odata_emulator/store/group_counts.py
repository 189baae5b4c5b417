"""Row counts kept per group (`schema.COUNTED_GROUPS`): for system jobs, how many hold each
(statecode, statuscode, operationtype). The documented diagnostic queries group and count every job
by these keys; read from here they cost a few hundred rows instead of a scan of every job
(`query/compile_apply.py` decides when a query can).

Triggers keep the counts in the same transaction as every write to the table, whichever path writes
(the Web API, the scheduler, BulkDelete, a data set load, a reset, another process on the same file),
so a reader's snapshot always sees counts that match the rows. A store that lacks the table or one of
its triggers (made by an older version) gets them at start, and its counts are rebuilt from the rows
then (`store/engine.py`).
"""

from __future__ import annotations

from .schema import COUNTED_GROUPS, GROUP_COUNTS, ROW_COUNT


def _matches(keys: tuple[str, ...], row: str) -> str:
    # IS, not =: a NULL key is a group of its own, as GROUP BY makes it
    return " AND ".join(f"{key} IS {row}.{key}" for key in keys)


def _add(counts: str, keys: tuple[str, ...], row: str, step: int) -> str:
    """The statements that count `row` (new or old) in or out of its group."""
    statements = []
    if step > 0:
        statements.append(f"INSERT INTO {counts} ({', '.join(keys)}, {ROW_COUNT}) "
                          f"SELECT {', '.join(f'{row}.{key}' for key in keys)}, 0 "
                          f"WHERE NOT EXISTS (SELECT 1 FROM {counts} WHERE {_matches(keys, row)});")
    statements.append(f"UPDATE {counts} SET {ROW_COUNT} = {ROW_COUNT} {'+' if step > 0 else '-'} 1 "
                      f"WHERE {_matches(keys, row)};")
    return " ".join(statements)


def trigger_statements(table: str | None = None) -> dict[str, str]:
    """The triggers of `table` (of every counted table when None) by name, as `CREATE TRIGGER IF NOT
    EXISTS`."""
    statements = {}
    for counted in COUNTED_GROUPS if table is None else (table,):
        keys = COUNTED_GROUPS[counted]
        counts = GROUP_COUNTS[counted].name
        prefix = f"emulator_count_{counted}"
        statements[f"{prefix}_insert"] = (
            f"CREATE TRIGGER IF NOT EXISTS {prefix}_insert AFTER INSERT ON {counted} BEGIN "
            f"{_add(counts, keys, 'new', +1)} END")
        statements[f"{prefix}_delete"] = (
            f"CREATE TRIGGER IF NOT EXISTS {prefix}_delete AFTER DELETE ON {counted} BEGIN "
            f"{_add(counts, keys, 'old', -1)} END")
        changed = " OR ".join(f"old.{key} IS NOT new.{key}" for key in keys)
        statements[f"{prefix}_update"] = (
            f"CREATE TRIGGER IF NOT EXISTS {prefix}_update AFTER UPDATE OF {', '.join(keys)} ON {counted} "
            f"WHEN {changed} BEGIN {_add(counts, keys, 'old', -1)} {_add(counts, keys, 'new', +1)} END")
    return statements


def create_triggers(connection, table: str) -> None:
    """Makes `table`'s triggers on a synchronous connection (when its counts table is made:
    `store/schema.py`)."""
    for statement in trigger_statements(table).values():
        connection.exec_driver_sql(statement)


def rebuild_statements(table: str) -> list[str]:
    """The statements that count `table`'s rows afresh."""
    keys = ", ".join(COUNTED_GROUPS[table])
    counts = GROUP_COUNTS[table].name
    return [f"DELETE FROM {counts}",
            f"INSERT INTO {counts} ({keys}, {ROW_COUNT}) SELECT {keys}, count(*) FROM {table} GROUP BY {keys}"]


async def ensure_counts(conn, existing: set[str]) -> None:
    """Gives a store whose catalog (`existing`, before this start's tables were made) lacks a counts
    table or one of its triggers the missing triggers and counts rebuilt from its rows, in the
    caller's transaction: from then on every write keeps them."""
    for table in COUNTED_GROUPS:
        triggers = trigger_statements(table)
        if GROUP_COUNTS[table].name in existing and triggers.keys() <= existing:
            continue
        for statement in triggers.values():
            await conn.exec_driver_sql(statement)
        for statement in rebuild_statements(table):
            await conn.exec_driver_sql(statement)
