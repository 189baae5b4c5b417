"""Change tracking's memory (use-change-tracking-synchronize-data-external-systems.md): what changed in a
tracked table since a delta token was issued.

A new or updated row is a row whose `versionnumber` is above the token's (every write gives a row the
table's next version). A deleted row is gone from its table, so its deletion is recorded, in order, in
`emulator_deleted_row` by a trigger on each tracked table: one place, whichever path deletes (a
`DELETE`, BulkDelete, asyncautodelete, reset). A token is `<version>!<deletion>`: the highest row
version and the highest deletion number when it was issued.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from ..errors import BadRequest
from . import driver
from .schema import DELETED_ROWS, METADATA

# The tables whose changes can be tracked (EntityMetadata.ChangeTrackingEnabled).
TRACKED = ("asyncoperation", "account", "contact")


def trigger_statements() -> dict[str, str]:
    """The trigger of each tracked table by name, as `CREATE TRIGGER IF NOT EXISTS` (a store that lacks
    one gets it at start: `store/engine.py`)."""
    statements = {}
    for name in TRACKED:
        key = METADATA.tables[name].primary_key.columns.values()[0].name
        trigger = f"emulator_track_{name}_delete"
        statements[trigger] = (
            f"CREATE TRIGGER IF NOT EXISTS {trigger} AFTER DELETE ON {name} BEGIN "
            f"INSERT INTO {DELETED_ROWS.name} (tablename, recordid) VALUES ('{name}', old.{key}); END")
    return statements


@dataclass(frozen=True)
class Token:
    version: int  # rows with a higher versionnumber are new or updated since
    deletion: int  # deletions with a higher number happened since

    def text(self) -> str:
        return f"{self.version}!{self.deletion}"

    @classmethod
    def parse(cls, text: str) -> Token:
        version, bang, deletion = text.partition("!")
        if not (bang and version.isascii() and version.isdigit() and deletion.isascii() and deletion.isdigit()):
            raise BadRequest(f"The delta token '{text}' is not valid: use the @odata.deltaLink of an earlier answer "
                             f"as it was given.")
        return cls(int(version), int(deletion))


_MAX_VERSION = {name: driver.compile_sql(select(func.coalesce(func.max(METADATA.tables[name].c.versionnumber), 0)))
                for name in TRACKED}
_MAX_DELETION = driver.compile_sql(select(func.coalesce(func.max(DELETED_ROWS.c.id), 0)))
_DELETED_SINCE = driver.compile_sql(
    select(DELETED_ROWS.c.recordid).where(DELETED_ROWS.c.tablename == bindparam("table"),
                                          DELETED_ROWS.c.id > bindparam("after"))
    .order_by(DELETED_ROWS.c.id))


async def current(snap, table: str) -> Token:
    """The token that names this moment (read in the same snapshot as the rows it follows)."""
    (version,), = await snap.rows(_MAX_VERSION[table])
    (deletion,), = await snap.rows(_MAX_DELETION)
    return Token(version, deletion)


async def deleted_since(snap, table: str, token: Token) -> list[str]:
    """The ids of the rows of `table` deleted after `token`, oldest first (a row created and deleted
    in between included, as Dataverse includes it)."""
    return [row[0] for row in await snap.rows(_DELETED_SINCE, {"table": table, "after": token.deletion})]
