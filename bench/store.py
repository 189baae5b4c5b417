"""Deterministic stores of N system jobs, cached on disk.

A store starts as exactly what the emulator creates for itself: the emulator under test is run
once (`serve --clock virtual` on an empty file) so that its own start-up builds the schema and
loads its bundled fixtures (users, teams, business units... that `$expand` reaches), with no
knowledge of its internals here. N generated `asyncoperation` rows are then appended with stdlib
sqlite3, following the storage conventions of `odata_emulator/store/schema.py` (GUIDs lowercase
text, date-times epoch seconds, booleans 0/1) and the way `fixtures/generate.py` fills each
column. No ANALYZE, no extra index: the file holds what the emulator would hold.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from . import server

# Bump whenever the generated rows change: it is part of the cache key.
GENERATOR_VERSION = 1
DEFAULT_SEED = 20261101
CACHE_DIR = Path(__file__).resolve().parent / ".cache"
YEAR_SECONDS = 365 * 86400
SLICE = 50_000  # jobs per generated batch (and per random stream; part of what the seed means)

# (statecode, statuscode) -> weight. Users' jobs and the platform's own maintenance jobs differ:
# the platform never pauses or cancels its jobs.
USER_STATUS_WEIGHTS = {30: 780, 31: 85, 32: 40, 10: 50, 0: 30, 20: 12, 21: 2, 22: 1}
SYSTEM_STATUS_WEIGHTS = {30: 900, 31: 40, 10: 30, 0: 20, 20: 10}
STATE_OF_STATUS = {0: 0, 10: 1, 20: 2, 21: 2, 22: 2, 30: 3, 31: 3, 32: 3}

# Operation type -> weight: workflows dominate, then plug-in (system event) jobs.
OPERATION_TYPE_WEIGHTS = {
    10: 400, 1: 300, 54: 60, 50: 30, 51: 30, 13: 15, 35: 10, 57: 10, 58: 8, 6: 10, 3: 6, 4: 6, 5: 6, 8: 4,
    9: 6, 16: 6, 18: 6, 19: 6, 20: 6, 22: 6, 24: 6, 25: 6, 27: 6, 31: 6, 202: 3, 203: 3, 204: 3,
}
MAINTENANCE = {  # operation type -> (name as Dataverse writes it, recurrence)
    9: ("SQM Data Collection", "FREQ=DAILY;"), 16: ("Collect Organization Statistics", "FREQ=DAILY;"),
    18: ("Calculate Organization Storage Size", "FREQ=DAILY;"), 24: ("Update Statistic Intervals", "FREQ=WEEKLY;"),
    19: ("Collect Organization Database Statistics", "FREQ=DAILY;INTERVAL=3;"),
    20: ("Collection Organization Size Statistics", "FREQ=DAILY;"), 27: ("Update Contract States", "FREQ=DAILY;"),
    22: ("Calculate Organization Maximum Storage Size", "FREQ=DAILY;"),
    25: ("Organization Full Text Catalog Index", "FREQ=HOURLY;"), 31: ("Storage Limit Notification", "FREQ=DAILY;INTERVAL=3;"),
}
SIMPLE_NAMES = {  # operation type -> (names, messagename, primaryentitytype)
    54: (("contoso_RecalculateCreditLimit", "contoso_SyncAccountToErp", "contoso_RefreshAccountHierarchy"), None, "account"),
    50: (("Outgoing Activity",), None, None),
    51: (("Incoming Email Processing",), None, None),
    13: (("Bulk Delete - Inactive contacts", "Bulk Delete - Test accounts", "Bulk delete succeeded workflow jobs"),
         None, "asyncoperation"),
    35: (("Recurring Series Expansion",), None, None),
    57: (("Calculate Rollup Field for account: contoso_totalopenrevenue",
          "Calculate Rollup Field for account: contoso_openopportunities"), None, "account"),
    58: (("Mass Calculate Rollup Field for account: contoso_totalopenrevenue",
          "Mass Calculate Rollup Field for contact: contoso_casecount"), None, "account"),
    6: (("Activity Propagation",), None, None),
    3: (("Import File Parse: Contacts_2026.csv", "Import File Parse: Accounts_Q3.csv"), "ParseImport", None),
    4: (("Transform Parse Data: Contacts_2026.csv", "Transform Parse Data: Accounts_Q3.csv"), "TransformImport", None),
    5: (("Import: Contacts_2026.csv", "Import: Accounts_Q3.csv"), "ImportRecordsImport", None),
    8: (("Duplicate detection: Accounts with the same name", "Duplicate detection: Contacts with the same email"),
        "BulkDetectDuplicates", None),
    202: (("Export solution: ContosoCore", "Export solution: ContosoIntegration"), "ExportSolutionAsync", None),
    203: (("Import solution: ContosoCore_1_5_0_managed",), "ImportSolutionAsync", None),
    204: (("PublishAll",), "PublishAllXmlAsync", None),
}
ADMIN_OWNED = {13, 202, 203, 204, 58}
HOSTS = ("AsyncService_8c9d", "AsyncService_41f0", "AsyncService_b27e", "AsyncService_e513")
TIME_ZONES = (4, 35, 110, 85, 110, 235, 85, 110, 65)
CALLER_ORIGINS = ("Web", "Application", "Async", "WebApi")
WORKFLOW_STAGES = ("Validate record", "Notify owner", "Wait for response", "Follow-up")
NULL_REF = "System.NullReferenceException: Object reference not set to an instance of an object."
ERRORS = (  # (HRESULT as stored (signed), message, friendly message)
    (0x80040265 - (1 << 32), "Unexpected exception from plug-in (Execute): Contoso.Plugins: " + NULL_REF,
     "An unexpected error occurred from ISV code. (ErrorType = ClientError)"),
    (0x80044150 - (1 << 32), "Generic SQL error. CRM ErrorCode: -2147204784 Sql ErrorCode: -2146232060 Sql Number: 1205",
     "Generic SQL error."),
    (0x80044306 - (1 << 32), ("System.Net.Http.HttpRequestException: An error occurred while sending the request. "
     "---> System.Net.WebException: The remote server returned an error: (502) Bad Gateway."),
     "An error occurred while sending the request."),
    (0x80044182 - (1 << 32), ("This workflow job was canceled because the workflow that started it included an "
     "infinite loop. Correct the workflow logic and try again."), ("This workflow job was canceled because it included "
     "an infinite loop.")),
)
RETRYABLE_ERRORS = ERRORS[1:3]

# The columns this generator fills; any other column of the emulator's table stays NULL.
COLUMNS = (
    "asyncoperationid", "name", "operationtype", "statecode", "statuscode", "createdon", "createdby", "modifiedon",
    "modifiedby", "createdonbehalfby", "modifiedonbehalfby", "ownerid", "owneridtype", "owningbusinessunit",
    "owninguser", "owningteam", "correlationid", "correlationupdatedtime", "requestid", "depth", "retainjobhistory",
    "subtype", "timezoneruleversionnumber", "iswaitingforevent", "retrycount", "executiontimespan",
    "utcconversiontimezonecode", "callerorigin", "workload", "startedon", "completedon", "hostid", "postponeuntil",
    "errorcode", "message", "friendlymessage", "messagename", "primaryentitytype", "regardingobjectid",
    "regardingobjecttypecode", "owningextensionid", "owningextensiontypecode", "workflowactivationid",
    "workflowstagename", "data", "dependencytoken", "recurrencepattern", "recurrencestarttime", "sequence",
    "versionnumber",
)
_EMPTY_ROW = dict.fromkeys(COLUMNS)


@dataclass(frozen=True)
class BaseStore:
    """What the emulator creates on an empty file, and a fingerprint of it for the cache key."""
    path: Path
    fingerprint: str
    reference_epoch: int  # the virtual clock's default start: the fixtures' reference time


@dataclass(frozen=True)
class Store:
    path: Path
    size: int
    total_jobs: int  # generated + fixture jobs
    sample_job_id: str  # a generated job, for single-row retrieves
    generated_in_s: float | None  # None when taken from the cache


@dataclass(frozen=True)
class Organization:
    """The fixture rows a generated job refers to, read from the base store."""
    caller_id: str
    root_unit: str
    system_user: str
    app_user: str | None
    people: list[tuple[str, str]]  # (systemuserid, businessunitid) of enabled people
    teams: list[tuple[str, str]]  # (teamid, businessunitid)
    members: dict[str, list[str]]  # businessunitid -> people in it
    time_zone: dict[str, int]
    workflows: list[tuple[str, str, str]]  # (workflowid, name, primary entity)
    steps: list[tuple[str, str, str, str]]  # (stepid, name, message, entity)
    records: dict[str, list[str]]  # account/contact -> ids


def create_base_store(emulator: str, directory: Path) -> BaseStore:
    """Let the emulator initialise an empty file (schema + bundled fixtures) as it does on start-up."""
    path = directory / "base.db"
    with server.EmulatorServer(emulator, path, directory, extra_args=("--clock", "virtual")) as running:
        reference = running.get_json("/_emulator/v1/clock")["now"]
    reference_epoch = int(dt.datetime.fromisoformat(reference.replace("Z", "+00:00")).timestamp())
    return BaseStore(path, _fingerprint(path, reference_epoch), reference_epoch)


def _fingerprint(path: Path, reference_epoch: int) -> str:
    """The schema DDL and the fixture rows: a different emulator schema or data set is a different store."""
    digest = hashlib.sha256(str(reference_epoch).encode())
    with closing(sqlite3.connect(path)) as db:
        ddl = sorted(sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
        digest.update("\n".join(ddl).encode())
        for table in sorted(_tables(db)):
            for row in db.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                digest.update(repr(row).encode())
    return digest.hexdigest()[:16]


def materialize(base: BaseStore, size: int, seed: int, work_dir: Path, cache_dir: Path = CACHE_DIR) -> Store:
    """A fresh copy (the server may write to it) of the cached store of `size` generated jobs."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / f"jobs-{size}-seed{seed}-gen{GENERATOR_VERSION}-{base.fingerprint}.db"
    generated_in = None
    if not cached.exists():
        started = time.perf_counter()
        partial = cached.with_suffix(f".partial-{os.getpid()}")
        try:
            shutil.copyfile(base.path, partial)
            append_jobs(partial, size, seed, base.reference_epoch)
            os.replace(partial, cached)
        finally:
            partial.unlink(missing_ok=True)
        generated_in = time.perf_counter() - started
    os.utime(cached)  # recently used: kept by _prune_cache
    _prune_cache(cache_dir, size, seed)
    copy = work_dir / f"store-{size}.db"
    shutil.copyfile(cached, copy)
    with closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as db:
        total = db.execute("SELECT count(*) FROM asyncoperation").fetchone()[0]
        # The middle generated job (rows are appended after the fixtures, in creation order).
        sample = db.execute("SELECT asyncoperationid FROM asyncoperation ORDER BY rowid LIMIT 1 OFFSET ?",
                            (total - size + size // 2,)).fetchone()[0]
    return Store(copy, size, total, sample, generated_in)


def _prune_cache(cache_dir: Path, size: int, seed: int, keep: int = 2) -> None:
    """Keep the `keep` most recently used stores of this size and seed (say, the emulator being
    optimised and an older install): a million jobs take well over a gigabyte each."""
    stores = sorted(cache_dir.glob(f"jobs-{size}-seed{seed}-*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in stores[keep:]:
        stale.unlink(missing_ok=True)


def append_jobs(path: Path, size: int, seed: int, reference_epoch: int) -> None:
    """Append `size` generated jobs (and their first history entry, as a data set load writes it)
    in one transaction."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        # A rollback journal for the bulk load (the emulator's WAL mode is set back below).
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-1048576")  # 1 GiB: a million rows and their indexes stay in memory until COMMIT
        organization = read_organization(db)
        table_columns = {row[1] for row in db.execute("PRAGMA table_info(asyncoperation)")}
        columns = [c for c in COLUMNS if c in table_columns]
        sequence = (db.execute("SELECT max(sequence) FROM asyncoperation").fetchone()[0] or 0) + 1
        version = _max_version(db) + 1
        history = "emulator_job_history" in _tables(db)
        db.execute("BEGIN")
        # Indexes are built once after the load instead of row by row, from their own DDL and in
        # their original order: the schema ends up exactly as the emulator made it, only faster.
        indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                             "AND tbl_name IN ('asyncoperation', 'emulator_job_history') ORDER BY rowid").fetchall()
        for name, _ in indexes:
            db.execute(f'DROP INDEX "{name}"')
        pick_history = itemgetter(*(columns.index(c) for c in ("asyncoperationid", "modifiedon", "statecode", "statuscode")))
        insert_job = f"INSERT INTO asyncoperation ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        history_entries: list[tuple] = []
        # A worker process makes the next slice while this one stores the last (both cores busy).
        for rows in generate_jobs(size, seed, reference_epoch, organization, sequence, version, columns):
            db.executemany(insert_job, rows)
            history_entries.extend(map(pick_history, rows))
        if history:  # each job's history starts with the state it was loaded in
            db.executemany("INSERT INTO emulator_job_history (asyncoperationid, at, statecode, statuscode, reason, host) "
                           "VALUES (?, ?, ?, ?, 'fixture', NULL)", history_entries)
        for _, sql in indexes:
            db.execute(sql)
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()


def _tables(db: sqlite3.Connection) -> set[str]:
    return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _max_version(db: sqlite3.Connection) -> int:
    """Row versions are one counter across the versioned tables (as the fixture load numbers them)."""
    highest = 0
    for table in _tables(db):
        if any(row[1] == "versionnumber" for row in db.execute(f'PRAGMA table_info("{table}")')):
            highest = max(highest, db.execute(f'SELECT max(versionnumber) FROM "{table}"').fetchone()[0] or 0)
    return highest


def read_organization(db: sqlite3.Connection) -> Organization:
    caller = json.loads(db.execute("SELECT value FROM emulator_meta WHERE key = 'caller'").fetchone()[0])
    users = db.execute("SELECT systemuserid, fullname, isdisabled, businessunitid FROM systemuser "
                       "ORDER BY systemuserid").fetchall()
    system_user = next((u for u, name, _, _ in users if name == "SYSTEM"), caller["systemuserid"])
    app_user = next((u for u, name, _, _ in users if name and name.startswith("#")), None)
    # People: enabled users who are neither SYSTEM nor an application user.
    people = [(u, unit) for u, name, disabled, unit in users
              if not disabled and u not in (system_user, app_user)]
    members: dict[str, list[str]] = {}
    for user, unit in people:
        members.setdefault(unit, []).append(user)
    teams = db.execute("SELECT teamid, businessunitid FROM team ORDER BY teamid").fetchall()
    workflows = db.execute("SELECT workflowid, name, primaryentity FROM workflow ORDER BY workflowid").fetchall()
    steps = []
    for step_id, name in db.execute("SELECT sdkmessageprocessingstepid, name FROM sdkmessageprocessingstep "
                                    "ORDER BY sdkmessageprocessingstepid"):
        # "Contoso.Plugins.AccountPostCreate: Create of account"
        message, _, entity = name.rpartition(": ")[2].partition(" of ")
        steps.append((step_id, name, message or "Update", entity or "account"))
    records = {table: [r for (r,) in db.execute(f"SELECT {table}id FROM {table} ORDER BY {table}id")]
               for table in ("account", "contact")}
    return Organization(
        caller_id=caller["systemuserid"], root_unit=caller["businessunitid"], system_user=system_user,
        app_user=app_user, people=people, teams=teams, members=members,
        time_zone={user: TIME_ZONES[i % len(TIME_ZONES)] for i, (user, _) in enumerate(people)},
        workflows=workflows, steps=steps, records=records)


def generate_jobs(size: int, seed: int, reference_epoch: int, org: Organization, first_sequence: int,
                  first_version: int, columns: Sequence[str] = COLUMNS, parallel: bool = True) -> Iterator[list[tuple]]:
    """`size` jobs in creation order, as lists of value tuples (`columns`), slice by slice.

    Only the seed decides anything: the plan comes from `random.Random(seed)`, and each slice of
    SLICE jobs from its own generator seeded with (seed, slice number), so the rows are the same
    whether the slices are made here or by a worker process while this one stores the previous ones.
    """
    plan = plan_jobs(size, seed, reference_epoch, first_sequence)
    tasks = [_Slice(index, plan[start:start + SLICE], first_version + start, seed, reference_epoch, org, tuple(columns))
             for index, start in enumerate(range(0, size, SLICE))]
    if not parallel or len(tasks) < 2:
        yield from map(_make_slice, tasks)
        return
    with multiprocessing.get_context("fork").Pool(1) as pool:
        yield from pool.imap(_make_slice, tasks)


def plan_jobs(size: int, seed: int, reference_epoch: int, first_sequence: int) -> list[tuple[int, int, int, int]]:
    """(createdon, operationtype, statuscode, sequence) of every job, sorted by createdon, so that
    sequence and versionnumber increase in creation order as the platform numbers them.
    (createdon values may repeat: at a million jobs the recent pending ones outnumber the seconds.)"""
    rng = random.Random(seed)
    optypes, optype_weights = list(OPERATION_TYPE_WEIGHTS), list(OPERATION_TYPE_WEIGHTS.values())
    system_statuses = rng.choices(list(SYSTEM_STATUS_WEIGHTS), list(SYSTEM_STATUS_WEIGHTS.values()), k=size)
    user_statuses = rng.choices(list(USER_STATUS_WEIGHTS), list(USER_STATUS_WEIGHTS.values()), k=size)
    shapes = []
    for i, optype in enumerate(rng.choices(optypes, optype_weights, k=size)):
        status = (system_statuses if optype in MAINTENANCE else user_statuses)[i]
        shapes.append((reference_epoch - _age(rng, status), optype, status))
    shapes.sort()
    plan, sequence = [], first_sequence
    for created, optype, status in shapes:
        plan.append((created, optype, status, sequence))
        sequence += _between(rng, 1, 25)  # gaps: jobs deleted since
    return plan


@dataclass(frozen=True)
class _Slice:
    index: int
    plan: list[tuple[int, int, int, int]]
    first_version: int
    seed: int
    reference_epoch: int
    org: Organization
    columns: tuple[str, ...]


def _make_slice(task: _Slice) -> list[tuple]:
    rng = random.Random(task.seed * 1_000_003 + task.index + 1)
    values = itemgetter(*task.columns)
    rows = []
    for offset, (created, optype, status, sequence) in enumerate(task.plan):
        job = _new_job(rng, task.org, optype, created)
        _run(rng, task.org, job, status, task.reference_epoch)
        job["sequence"] = sequence
        job["versionnumber"] = task.first_version + offset
        rows.append(values(job))
    return rows


def _age(rng: random.Random, status: int) -> int:
    """Seconds before the reference time: finished jobs over a year, pending and running ones recent."""
    if status == 0:
        return _between(rng, 60, 5400)
    if status in (20, 21, 22):
        return _between(rng, 180, 2400)
    if status == 10:
        return _between(rng, 1800, 6 * 3600)
    return _between(rng, 7200, YEAR_SECONDS)


# random.choice/randint draw bits in a loop; a float draw is half the cost, and a million jobs
# make a dozen draws each.
def _pick(rng: random.Random, options):
    return options[int(rng.random() * len(options))]


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _guid(rng: random.Random) -> str:
    """A version-4 GUID from the seeded generator, lowercase (what str(uuid.UUID(..., version=4))
    gives, without its cost: a million jobs need three million of them)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _new_job(rng: random.Random, org: Organization, optype: int, created: int) -> dict:
    job = dict(_EMPTY_ROW)
    if optype in MAINTENANCE:
        owner, owner_type, unit, creator = org.system_user, "systemuser", org.root_unit, org.system_user
    elif optype in ADMIN_OWNED:
        owner, owner_type, unit, creator = org.caller_id, "systemuser", org.root_unit, org.caller_id
    elif org.teams and rng.random() < 0.12:
        owner, unit = _pick(rng, org.teams)
        owner_type = "team"
        creator = _pick(rng, org.members.get(unit) or [org.caller_id])
    else:
        owner, unit = _pick(rng, org.people)
        owner_type, creator = "systemuser", owner
    job.update(
        asyncoperationid=_guid(rng), operationtype=optype, createdon=created, createdby=creator, modifiedby=creator,
        ownerid=owner, owneridtype=owner_type, owningbusinessunit=unit, correlationid=_guid(rng),
        correlationupdatedtime=created, requestid=_guid(rng), depth=1, retainjobhistory=0, subtype=0,
        timezoneruleversionnumber=0, iswaitingforevent=0, retrycount=0, executiontimespan=0.0)
    job["owninguser" if owner_type == "systemuser" else "owningteam"] = owner
    if creator in org.time_zone:  # people, not SYSTEM
        job["utcconversiontimezonecode"] = org.time_zone[creator]
        if org.app_user and rng.random() < 0.05:
            job["createdonbehalfby"] = job["modifiedonbehalfby"] = org.app_user
        if rng.random() < 0.3:
            job["callerorigin"] = _pick(rng, CALLER_ORIGINS)
    _describe(rng, org, job, optype)
    return job


def _describe(rng: random.Random, org: Organization, job: dict, optype: int) -> None:
    """Name, message, entity, regarding record and payload, by operation type."""
    if optype == 10:
        flow_id, name, entity = _pick(rng, org.workflows)
        job.update(name=name, workflowactivationid=flow_id, messagename=_pick(rng, ("Create", "Update")),
                   primaryentitytype=entity)
        _regarding(rng, org, job, entity)
    elif optype == 1:
        step_id, name, message, entity = _pick(rng, org.steps)
        job.update(name=name, owningextensionid=step_id, owningextensiontypecode="sdkmessageprocessingstep",
                   messagename=message, primaryentitytype=entity, depth=_pick(rng, (1, 1, 1, 1, 2, 2, 3)),
                   subtype=int(rng.random() < 0.1))
        record = _regarding(rng, org, job, entity)
        if rng.random() < 0.6:
            job["data"] = (f'<ExecutionContext Message="{message}" PrimaryEntityName="{entity}" '
                           f'PrimaryEntityId="{record}" Stage="40" Mode="1" />')
    elif optype in MAINTENANCE:
        job["name"] = MAINTENANCE[optype][0]
    else:
        names, message, entity = SIMPLE_NAMES[optype]
        job.update(name=_pick(rng, names), messagename=message, primaryentitytype=entity)
        if optype == 54:
            job["messagename"] = job["name"]
            record = _regarding(rng, org, job, "account")
            job["data"] = json.dumps({"RequestName": job["name"], "Target": f"account:{record}"})
            if rng.random() < 0.3:  # serialised per record, as the fixtures' chains are
                job["dependencytoken"] = f"account:{record}"
        elif optype in (50, 51):
            job.update(regardingobjectid=job["createdby"], regardingobjecttypecode="systemuser")


def _regarding(rng: random.Random, org: Organization, job: dict, entity: str) -> str | None:
    ids = org.records.get(entity)
    if not ids:
        return None
    record = _pick(rng, ids)
    job.update(regardingobjectid=record, regardingobjecttypecode=entity)
    return record


def _duration(rng: random.Random, scale: float) -> float:
    return round(min(rng.expovariate(1 / scale), scale * 8) + 0.05, 2)


def _fail(rng: random.Random, job: dict, errors: tuple = ERRORS) -> None:
    code, message, friendly = _pick(rng, errors)
    job.update(errorcode=code, message=message, friendlymessage=friendly)


def _run(rng: random.Random, org: Organization, job: dict, status: int, reference: int) -> None:
    """The life-cycle columns for `status` (the CHECK constraint's legal pairs only)."""
    created = job["createdon"]
    job.update(statecode=STATE_OF_STATUS[status], statuscode=status, modifiedon=created)
    begin = created + _between(rng, 1, 40)
    if status == 0:
        return
    if status == 10:
        _suspend(rng, job, begin, reference)
        return
    job.update(hostid=_pick(rng, HOSTS), startedon=begin, modifiedon=begin)
    if status in (21, 22, 32):  # somebody asked to pause or cancel
        job["modifiedby"] = _pick(rng, org.members.get(org.root_unit, []) + [job["createdby"]])
    if status in (21, 22):
        job["modifiedon"] = reference - _between(rng, 2, 60)
    if status in (20, 21, 22):
        return
    if status == 32 and rng.random() < 0.5:  # canceled before it started
        job.update(hostid=None, startedon=None)
        end = begin
    else:
        job["executiontimespan"] = ran = _duration(rng, 45.0 if job["operationtype"] in MAINTENANCE else 4.0)
        end = begin + round(ran)
    if status == 31:
        _fail(rng, job)
        if job["errorcode"] in (e[0] for e in RETRYABLE_ERRORS):  # retried, then given up
            job["retrycount"] = _between(rng, 1, 5)
    if job["operationtype"] == 10 and rng.random() < 0.4:
        job["workflowstagename"] = _pick(rng, WORKFLOW_STAGES)
    job["completedon"] = job["modifiedon"] = end


def _suspend(rng: random.Random, job: dict, begin: int, reference: int) -> None:
    """Waiting 1/10: postponed before it ran, waiting to retry, or a workflow waiting for an event."""
    optype = job["operationtype"]
    if optype in MAINTENANCE:  # recurring platform job waiting for its next occurrence
        pattern = MAINTENANCE[optype][1]
        job.update(recurrencepattern=pattern, recurrencestarttime=job["createdon"] - job["createdon"] % 86400,
                   hostid=_pick(rng, HOSTS), startedon=begin, modifiedon=begin + 30,
                   postponeuntil=reference + _between(rng, 600, 86400))
        return
    kind = _pick(rng, ("event", "retry", "postponed")) if optype == 10 else _pick(rng, ("retry", "postponed"))
    if kind == "postponed":
        job["postponeuntil"] = reference + _between(rng, 3600, 10 * 86400)
        return
    job["executiontimespan"] = ran = _duration(rng, 2.0)
    job.update(hostid=_pick(rng, HOSTS), startedon=begin, modifiedon=begin + round(ran))
    if kind == "retry":
        _fail(rng, job, RETRYABLE_ERRORS)
        job["retrycount"] = _between(rng, 1, 4)
        job["postponeuntil"] = reference + _between(rng, 60, 900)
    else:
        job.update(iswaitingforevent=1, workflowstagename="Wait for response")
        if rng.random() < 0.4:  # a wait condition with a timeout
            job["postponeuntil"] = reference + _between(rng, 1, 14) * 86400
