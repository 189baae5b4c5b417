"""Loading a fixture data set (`fixtures/dataset.json`) into an empty store.

Timestamps in the data set are relative to its `reference_time`: they are shifted by
(now - reference_time) when loaded, so postponed jobs are still in the future and "last hour"
still means something, whatever the day. With the virtual clock starting at the reference time
(the default) the shift is zero and the data set loads exactly as written.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

from sqlalchemy import delete, insert

from ..caller import Caller
from ..model import AttributeType as T
from ..model import EntityModel
from .engine import read_meta, write_meta
from .files import store_files
from .schema import HISTORY, METADATA, SIMULATIONS
from .values import parse_datetime, to_epoch, to_storage

DATASET = "dataset.json"


def read_dataset(directory: Path) -> dict:
    """The data set in `directory`, parsed once per process for as long as its file is unchanged
    (tests and `reset` start many emulators on one data set). Shared: read it, never modify it."""
    path = Path(directory) / DATASET
    stat = path.stat()
    return _parsed(path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def reference_time(directory: Path) -> dt.datetime:
    return parse_datetime(read_dataset(directory)["reference_time"])


async def load_dataset(conn, model: EntityModel, dataset: dict, now: dt.datetime) -> Caller:
    shift = int(shift_of(dataset, now).total_seconds())
    version = 0
    simulations = []
    for table_name, rows in dataset["tables"].items():
        entity = model.entity(table_name)
        columns = entity.columns
        prepared = []
        for row in rows:
            values: dict[str, object] = {name: None for name in columns}
            for name, value in row.items():
                if name == "simulation" and table_name == "asyncoperation":
                    simulations.append({"asyncoperationid": row["asyncoperationid"], "settings": json.dumps(value)})
                    continue
                attribute = columns[name]
                stored = to_storage(attribute, expand(value) if isinstance(value, dict) else value)
                if attribute.type is T.DATETIME and stored is not None:
                    stored += shift
                values[name] = stored
            if entity.has_row_version:
                version += 1
                values["versionnumber"] = version
            prepared.append(values)
        await store_files(conn, table_name, prepared)  # a job's data over 4 MB goes to file storage
        if prepared:
            await conn.execute(insert(METADATA.tables[table_name]), prepared)
        if table_name == "asyncoperation" and prepared:
            # Each job's history starts with the state the data set gives it.
            await conn.execute(insert(HISTORY), [
                {"asyncoperationid": v["asyncoperationid"], "at": v["modifiedon"] or v["createdon"] or to_epoch(now),
                 "statecode": v["statecode"], "statuscode": v["statuscode"], "reason": "fixture", "host": None}
                for v in prepared
            ])
    if simulations:
        await conn.execute(insert(SIMULATIONS), simulations)
    caller = dataset["caller"]
    await write_meta(conn, "caller", json.dumps(caller))
    await write_meta(conn, "initialized", "fixtures")
    return Caller(caller["systemuserid"], caller["businessunitid"], caller["organizationid"])


def expand(value: dict) -> str:
    """A long text written compactly in a data set: `{"repeat": "<text>", "times": N}` is the text N
    times (what keeps a job's 4 MB `data` out of the data set file)."""
    text, times = value.get("repeat"), value.get("times")
    if set(value) != {"repeat", "times"} or not isinstance(text, str) or not isinstance(times, int) or times < 0:
        raise ValueError(f'a text written as an object is {{"repeat": "<text>", "times": N}}, not {value!r}')
    return text * times


def shift_of(dataset: dict, now: dt.datetime) -> dt.timedelta:
    """How far the data set's timestamps move when it is loaded at `now`."""
    return dt.timedelta(seconds=int((now - parse_datetime(dataset["reference_time"])).total_seconds()))


async def stored_caller(conn) -> Caller | None:
    """The caller of a store that holds a data set (or was initialized empty) already; None for a
    store never initialized."""
    return caller_of(await read_meta(conn, "caller"))


def caller_of(stored: str | None) -> Caller | None:
    """The caller as the store's meta holds it (JSON), or None."""
    if stored is None:
        return None
    caller = json.loads(stored)
    return Caller(caller["systemuserid"], caller["businessunitid"], caller["organizationid"])


async def ensure_initialized(conn, model: EntityModel, dataset: dict | None, now: dt.datetime) -> Caller:
    """Load the data set (None: none) into an empty store; an initialized store is left as it is."""
    caller = await stored_caller(conn)
    if caller is not None:
        return caller
    if dataset is not None:
        return await load_dataset(conn, model, dataset, now)
    caller = EMPTY_CALLER
    await write_meta(conn, "caller", json.dumps({"systemuserid": caller.user_id, "businessunitid": caller.business_unit_id,
                                                 "organizationid": caller.organization_id}))
    await write_meta(conn, "initialized", "empty")
    return caller


async def clear_data(conn, model: EntityModel) -> None:
    for entity in model.entities:
        if not entity.is_metadata:
            await conn.execute(delete(METADATA.tables[entity.logical_name]))
    # The emulator's own per-job tables go too: the fixtures load them again.
    for name in ("emulator_job_history", "emulator_job_simulation", "emulator_file_content", "emulator_deleted_row", "emulator_meta"):
        await conn.execute(delete(METADATA.tables[name]))


# The caller of a store started without fixtures: ids that no row carries.
EMPTY_CALLER = Caller(
    "00000000-0000-0000-0000-00000000a001",
    "00000000-0000-0000-0000-00000000b001",
    "00000000-0000-0000-0000-00000000c001",
)
