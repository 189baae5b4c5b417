"""The store written out as a data set: what `GET /_emulator/v1/snapshot` answers and `--fixtures DIR`
reads back (saved as `DIR/dataset.json`). The format is the bundled data set's, described in
`docs/dataset-format.md`: the moment it was taken (`reference_time`), the caller, and every table's
rows in JSON form, a system job's simulation settings inline under `simulation`.

Loaded again, every date-time moves by (load time - `reference_time`), as the bundled data set's do,
so a snapshot taken on a virtual clock and loaded on the same virtual clock start is the same store.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from ..caller import Caller
from ..model import EntityModel
from .async_engine import AsyncConnection
from .schema import FILES, METADATA, SIMULATIONS, readable_column
from .values import format_datetime, to_epoch, to_json


async def snapshot(conn: AsyncConnection, model: EntityModel, now: dt.datetime, caller: Caller) -> dict:
    """Every row of every data table, in the model's order of tables and columns (rows by key)."""
    simulations = {job: json.loads(settings) for job, settings in
                   (await conn.execute(select(SIMULATIONS.c.asyncoperationid, SIMULATIONS.c.settings))).all()}
    tables: dict[str, list[dict]] = {}
    for entity in model.entities:
        table = METADATA.tables[entity.logical_name]
        if entity.is_metadata or table is FILES:  # a job's file is written as its job's data, loaded as such
            continue
        columns = [a for a in entity.attributes if a.name != "versionnumber" and a.name in table.c]
        rows = (await conn.execute(select(*(readable_column(table, a.name) for a in columns))
                                   .order_by(table.c[entity.primary_id]))).all()
        key = [a.name for a in columns].index(entity.primary_id)
        written = []
        for row in rows:
            values = {a.name: to_json(a, value) for a, value in zip(columns, row) if value is not None}
            if entity.logical_name == "asyncoperation" and row[key] in simulations:
                values["simulation"] = simulations[row[key]]
            written.append(values)
        tables[entity.logical_name] = written
    return {
        "reference_time": format_datetime(to_epoch(now)),
        "caller": {"systemuserid": caller.user_id, "businessunitid": caller.business_unit_id,
                   "organizationid": caller.organization_id},
        "tables": tables,
    }
