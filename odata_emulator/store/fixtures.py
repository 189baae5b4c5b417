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
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete

from ..caller import Caller
from ..model import AttributeType as T
from ..model import Entity, EntityModel
from ..model.files import FILE_COLUMNS
from . import driver
from .engine import read_meta, write_meta
from .files import is_large, store_files
from .schema import HISTORY, METADATA, SIMULATIONS
from .values import compress_file, parse_datetime, to_epoch, to_storage

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


@dataclass(frozen=True)
class _Stored:
    """A data set in storage form, worked out once per data set and model (a data set is loaded at
    every fresh start and every reset): values converted, timestamps as written (unshifted), row
    versions numbered, long texts expanded, and a file column's large texts compressed."""

    tables: tuple[tuple[str, tuple[dict, ...], tuple[str, ...]], ...]  # (table, rows, its date and time columns)
    simulations: tuple[dict, ...]
    compressed: dict[int, bytes]  # id of a large text held in `tables` -> its file content

    def compress(self, text: str) -> bytes:
        found = self.compressed.get(id(text))  # the texts are held here: an id names one of them only
        return found if found is not None else compress_file(text)


_STORED: dict[int, tuple[dict, EntityModel, _Stored]] = {}  # id of a data set -> it, the model, its _Stored
_STORED_MAX = 4


def _stored(model: EntityModel, dataset: dict) -> _Stored:
    hit = _STORED.get(id(dataset))
    if hit is not None and hit[0] is dataset and hit[1] is model:
        return hit[2]
    stored = _to_storage(model, dataset)
    while len(_STORED) >= _STORED_MAX:
        _STORED.pop(next(iter(_STORED)))
    _STORED[id(dataset)] = (dataset, model, stored)  # the data set is held, so its id stays its own
    return stored


def _to_storage(model: EntityModel, dataset: dict) -> _Stored:
    version = 0
    simulations: list[dict] = []
    tables = []
    compressed: dict[int, bytes] = {}
    for table_name, rows in dataset["tables"].items():
        entity = model.entity(table_name)
        columns = entity.columns
        file_columns = {column for (table, column) in FILE_COLUMNS if table == table_name}
        prepared = []
        for row in rows:
            values: dict[str, object] = {name: None for name in columns}
            for name, value in row.items():
                if name == "simulation" and table_name == "asyncoperation":
                    simulations.append({"asyncoperationid": row["asyncoperationid"], "settings": json.dumps(value)})
                    continue
                stored = to_storage(columns[name], expand(value) if isinstance(value, dict) else value)
                if name in file_columns and is_large(stored):
                    assert isinstance(stored, str)  # is_large holds for text only
                    compressed[id(stored)] = compress_file(stored)
                values[name] = stored
            if entity.has_row_version:
                version += 1
                values["versionnumber"] = version
            prepared.append(values)
        tables.append((table_name, tuple(prepared), date_columns(entity)))
    return _Stored(tuple(tables), tuple(simulations), compressed)


def date_columns(entity: Entity) -> tuple[str, ...]:
    """The columns of `entity` whose values a load moves by its shift: its dates and times."""
    return tuple(name for name, attribute in entity.columns.items() if attribute.type is T.DATETIME)


async def _insert_rows(conn, table_name: str, rows: list[dict]) -> None:
    """Rows that all give the same columns, with one compiled statement."""
    if rows:
        await driver.execute_many(conn, driver.insert_sql(METADATA.tables[table_name], tuple(rows[0])), rows)


async def load_dataset(conn, model: EntityModel, dataset: dict, now: dt.datetime) -> Caller:
    shift = shift_seconds(dataset, now)
    stored = _stored(model, dataset)
    for table_name, rows, datetimes in stored.tables:
        prepared = [dict(row) for row in rows]  # store_files changes them; the shift too
        if shift:
            for values in prepared:
                for name in datetimes:
                    if values[name] is not None:
                        values[name] += shift
        await store_files(conn, table_name, prepared, compress=stored.compress)  # a job's data over 4 MB
        await _insert_rows(conn, table_name, prepared)
        if table_name == "asyncoperation":
            # Each job's history starts with the state the data set gives it.
            await _insert_rows(conn, HISTORY.name, [
                {"asyncoperationid": v["asyncoperationid"], "at": v["modifiedon"] or v["createdon"] or to_epoch(now),
                 "statecode": v["statecode"], "statuscode": v["statuscode"], "reason": "fixture", "host": None}
                for v in prepared
            ])
    await _insert_rows(conn, SIMULATIONS.name, list(stored.simulations))
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


def shift_seconds(dataset: dict | None, now: dt.datetime) -> int:
    """`shift_of` in whole seconds, as a load moves the timestamps (0 for no data set)."""
    return int(shift_of(dataset, now).total_seconds()) if dataset is not None else 0


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
