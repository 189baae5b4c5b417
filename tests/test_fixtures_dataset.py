"""`fixtures/dataset.json` against the entity model, and the generator that writes it."""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from odata_emulator.model import MODEL, PLATFORM_MAINTENANCE_TYPES
from odata_emulator.model.types import AttributeType as T

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "fixtures" / "dataset.json"
GENERATOR = ROOT / "fixtures" / "generate.py"
TABLE_ORDER = ["businessunit", "systemuser", "team", "sdkmessage", "sdkmessagefilter", "plugintype",
               "sdkmessageprocessingstep", "workflow", "account", "contact", "asyncoperation"]
NOT_WRITTEN = {"versionnumber", "workflowisblocked", "workflowstate"}
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
LEGAL_PAIRS = {(0, 0), (1, 10), (2, 20), (2, 21), (2, 22), (3, 30), (3, 31), (3, 32)}


@pytest.fixture(scope="module")
def dataset() -> dict:
    return json.loads(DATASET.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tables(dataset) -> dict[str, list[dict]]:
    return dataset["tables"]


@pytest.fixture(scope="module")
def jobs(tables) -> list[dict]:
    return tables["asyncoperation"]


@pytest.fixture(scope="module")
def ids(tables) -> dict[str, set[str]]:
    return {name: {row[MODEL.entity(name).primary_id] for row in rows} for name, rows in tables.items()}


def is_guid(value) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def rows_with_columns(tables):
    for name, rows in tables.items():
        entity = MODEL.entity(name)
        for row in rows:
            for key, value in row.items():
                if key in entity.columns:  # `simulation` is the emulator's, not a column
                    yield name, row, entity.columns[key], value


def load_generator():
    spec = importlib.util.spec_from_file_location("fixtures_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_top_level_shape(dataset):
    assert list(dataset) == ["reference_time", "caller", "tables"]
    assert DATETIME.fullmatch(dataset["reference_time"])
    assert list(dataset["tables"]) == TABLE_ORDER  # parents before children


def test_tables_and_columns_are_in_the_model(tables):
    for name, rows in tables.items():
        entity = MODEL.by_logical_name.get(name)
        assert entity is not None and not entity.is_metadata, name
        assert rows, name
        for row in rows:
            unknown = set(row) - set(entity.columns) - ({"simulation"} if name == "asyncoperation" else set())
            assert not unknown, (name, unknown)
            assert not set(row) & NOT_WRITTEN, (name, row)
            assert None not in row.values(), (name, row)  # absent values are omitted, not null


def test_primary_keys_are_unique_canonical_guids(tables):
    for name, rows in tables.items():
        keys = [row.get(MODEL.entity(name).primary_id) for row in rows]
        assert all(is_guid(key) for key in keys), name
        assert len(set(keys)) == len(keys), name


def test_values_match_their_column_types(tables):
    for name, _row, column, value in rows_with_columns(tables):
        where = (name, column.name, value)
        kind = column.type
        if kind in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
            assert is_guid(value), where
        elif kind is T.MEMO and isinstance(value, dict):  # a long text written compactly
            assert set(value) == {"repeat", "times"} and value["repeat"] and value["times"] > 0, where
            assert len(value["repeat"]) * value["times"] <= column.max_length, where
        elif kind in (T.STRING, T.MEMO):
            assert isinstance(value, str) and value, where
            assert column.max_length is None or len(value) <= column.max_length, where
        elif kind is T.ENTITYNAME:
            # `none`: a message filter's secondary table when there is none, as Dataverse writes it.
            assert value in MODEL.by_logical_name or (column.name == "secondaryobjecttypecode" and value == "none"), where
        elif kind in (T.INTEGER, T.BIGINT):
            assert isinstance(value, int) and not isinstance(value, bool), where
            assert column.min_value is None or value >= column.min_value, where
            assert column.max_value is None or value <= column.max_value, where
        elif kind is T.DOUBLE:
            assert isinstance(value, float), where
            assert column.min_value <= value <= column.max_value, where
        elif kind is T.BOOLEAN:
            assert isinstance(value, bool), where
        elif kind is T.DATETIME:
            assert isinstance(value, str) and DATETIME.fullmatch(value), where
        elif kind.is_choice:
            assert value in column.option_set.by_value, where
        else:  # pragma: no cover - a new attribute type needs a rule here
            pytest.fail(f"no rule for {kind}")


def test_lookups_point_at_existing_rows(tables, ids):
    checked = 0
    for name, rows in tables.items():
        entity = MODEL.entity(name)
        lookups = [a for a in entity.attributes if a.is_lookup]
        for row in rows:
            for attribute in lookups:
                type_value = row.get(attribute.type_column) if attribute.type_column else None
                if attribute.name not in row:
                    assert type_value is None, (name, attribute.name, row)
                    continue
                if attribute.type_column:
                    assert type_value in attribute.targets, (name, attribute.name, type_value)
                    target = type_value
                else:
                    assert len(attribute.targets) == 1
                    target = attribute.targets[0]
                assert row[attribute.name] in ids[target], (name, attribute.name, row[attribute.name])
                checked += 1
    assert checked > 1000


def test_state_and_status_pairs_are_legal(tables):
    for name, rows in tables.items():
        entity = MODEL.entity(name)
        if "statecode" not in entity.columns:
            continue
        options = entity.columns["statuscode"].option_set.by_value
        for row in rows:
            assert options[row["statuscode"]].state == row["statecode"], (name, row)


def test_every_job_state_and_status_pair_occurs(jobs):
    pairs = {(job["statecode"], job["statuscode"]) for job in jobs}
    assert pairs == LEGAL_PAIRS
    succeeded = sum(1 for job in jobs if job["statuscode"] == 30)
    assert succeeded > len(jobs) / 2  # most jobs have succeeded


def test_job_volume_and_variety(jobs):
    assert 400 <= len(jobs) <= 500
    types = {job["operationtype"] for job in jobs}
    assert {1, 10, 13, 54, 57, 58, 50, 51, 202, 203, 204, 35, 41} | PLATFORM_MAINTENANCE_TYPES <= types


def test_completion_and_start_times_follow_the_state(jobs):
    for job in jobs:
        completed = job["statecode"] == 3
        assert ("completedon" in job) == completed, job
        if job["statecode"] == 2 or job["statuscode"] in (30, 31):
            assert "startedon" in job, job
        if "startedon" not in job:
            assert job["executiontimespan"] == 0, job
        if job["statuscode"] == 31:
            assert job["errorcode"] < 0 and job["message"] and job["friendlymessage"], job


def test_job_timeline(dataset, jobs):
    reference = dataset["reference_time"]
    created = [job["createdon"] for job in jobs]
    assert len(set(created)) == len(created)  # the queue is ordered by createdon
    assert max(created) < reference
    by_created = sorted(jobs, key=lambda job: job["createdon"])
    sequences = [job["sequence"] for job in by_created]
    assert all(a < b for a, b in zip(sequences, sequences[1:]))
    for job in jobs:
        assert job["createdon"] <= job["modifiedon"] <= reference, job
        assert job["createdon"] <= job.get("startedon", job["createdon"]) <= reference, job
        assert job.get("startedon", job["createdon"]) <= job.get("completedon", reference) <= reference, job
        assert job["correlationupdatedtime"] == job["createdon"]
        assert 1 <= job["depth"] <= 3


def test_ownership_is_consistent(tables, jobs):
    bu_of = {row["systemuserid"]: row["businessunitid"] for row in tables["systemuser"]}
    bu_of.update({row["teamid"]: row["businessunitid"] for row in tables["team"]})
    for job in jobs:
        owner, kind = job["ownerid"], job["owneridtype"]
        assert job.get("owninguser" if kind == "systemuser" else "owningteam") == owner, job
        assert ("owningteam" if kind == "systemuser" else "owninguser") not in job, job
        assert job["owningbusinessunit"] == bu_of[owner], job
    assert {job["owneridtype"] for job in jobs} == {"systemuser", "team"}


def test_platform_jobs_are_system_owned_and_never_paused_or_canceled(tables, jobs):
    system = next(row["systemuserid"] for row in tables["systemuser"] if row["fullname"] == "SYSTEM")
    platform = [job for job in jobs if job["operationtype"] in PLATFORM_MAINTENANCE_TYPES]
    assert platform and all(job["ownerid"] == system for job in platform)
    assert not {job["statuscode"] for job in platform} & {21, 22, 32}
    assert any("recurrencepattern" in job and "recurrencestarttime" in job for job in platform)


def test_postponed_waiting_and_dependency_chains(dataset, jobs):
    reference = dataset["reference_time"]
    suspended = [job for job in jobs if job["statecode"] == 1]
    assert any(job.get("postponeuntil", "") > reference for job in suspended)
    assert any(job["iswaitingforevent"] for job in suspended)
    assert all(not job["iswaitingforevent"] for job in jobs if job["statecode"] != 1)
    chains = defaultdict(list)
    for job in sorted(jobs, key=lambda job: job["createdon"]):
        if "dependencytoken" in job:
            chains[job["dependencytoken"]].append(job)
    assert len(chains) >= 3 and all(3 <= len(chain) <= 6 for chain in chains.values())
    blocked = [
        chain for chain in chains.values()
        for i, job in enumerate(chain)
        if 0 < i < len(chain) - 1 and job["statuscode"] == 10 and job.get("postponeuntil", "") > reference
        and all(later["statuscode"] == 0 for later in chain[i + 1:])
    ]
    assert blocked, "a chain whose middle job is postponed, with Ready jobs behind it"
    for chain in chains.values():  # nothing runs before its predecessor has completed
        for before, after in zip(chain, chain[1:]):
            if "startedon" in after:
                assert before["statecode"] == 3 and before["completedon"] <= after["startedon"]


def test_caller_is_the_system_administrator_of_the_root_business_unit(dataset, tables):
    caller = dataset["caller"]
    assert all(is_guid(value) for value in caller.values())
    user = next(row for row in tables["systemuser"] if row["systemuserid"] == caller["systemuserid"])
    assert user["fullname"] == "System Administrator" and user["businessunitid"] == caller["businessunitid"]
    root = next(row for row in tables["businessunit"] if row["businessunitid"] == caller["businessunitid"])
    assert "parentbusinessunitid" not in root


def test_generator_is_deterministic_and_the_file_is_current(dataset):
    generator = load_generator()
    first, second = generator.build(), generator.build()
    assert first == second
    assert first == dataset, "fixtures/dataset.json is stale: run fixtures/generate.py"
    text = json.dumps(first, indent=1, sort_keys=False, ensure_ascii=False) + "\n"
    assert DATASET.read_text(encoding="utf-8") == text


def test_pending_jobs_carry_valid_simulation_settings(jobs):
    from odata_emulator.jobs.simulation import Simulation

    simulated = [j for j in jobs if "simulation" in j]
    assert simulated and all(j["statecode"] in (0, 1) for j in simulated)
    outcomes = {Simulation.from_json(j["simulation"]).outcome for j in simulated}
    assert outcomes == {"succeed", "fail", "fail-then-succeed", "hang"}
