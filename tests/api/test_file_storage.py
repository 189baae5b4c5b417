"""File storage end to end through HTTP: a system job whose `data` is over 4 MB of UTF-8 keeps it in a
file (a `fileattachment` row, readable through `fileattachments`, and its content), with `datablobid`
pointing at it and `data` null in the row; below that, `data` stays in the row. `data` reads back the
same everywhere (`$select`, the single property, FetchXML, `$filter`), `datablobid` filters and groups
as the docs' file-storage queries do, and deleting the job (DELETE, BulkDelete, reset) deletes its
file. The store is checked with the stdlib sqlite3."""

from __future__ import annotations

import datetime as dt
import sqlite3
import urllib.parse

import pytest

from odata_emulator.model.files import FILE_STORAGE_THRESHOLD
from tests.helpers import API, make_settings, running, seed_jobs
from tests.helpers import sql_rows as store_rows
from tests.jobs.test_bulkdelete_runs import START, Service, bulk_delete, condition

LARGE = "Données du contexte " * 250_000  # 5,000,000 characters, 5,250,000 bytes of UTF-8
SMALL = "x" * 1_048_576  # 1 MB: stays in its row


@pytest.fixture
async def service(empty_store_copy):
    async with running(make_settings(database=str(empty_store_copy), fixtures=None)) as em:
        yield Service(em)


async def ok(service, url: str) -> dict:
    response = await service.client.get(url if url.startswith("http") else API + url)
    assert response.status_code == 200, response.text[:500]
    return response.json()


async def test_large_data_goes_to_file_storage_and_reads_back_the_same(service, empty_store_copy):
    large, small = await seed_jobs(service.em, {"name": "Large", "data": LARGE}, {"name": "Small", "data": SMALL})

    job = await ok(service, f"asyncoperations({large})?$select=data,datablobid")
    assert job["data"] == LARGE and job["datablobid"] is not None
    assert (await ok(service, f"asyncoperations({large})/data"))["value"] == LARGE
    inline = await ok(service, f"asyncoperations({small})?$select=data,datablobid")
    assert (inline["data"], inline["datablobid"]) == (SMALL, None)

    files = (await ok(service, "fileattachments"))["value"]
    assert [(f["fileattachmentid"], f["filesizeinbytes"], f["objecttypecode"], f["regardingfieldname"],
             f["_objectid_value"], f["mimetype"], f["filename"]) for f in files] == [
        (job["datablobid"], len(LARGE.encode("utf-8")), "asyncoperation", "data", large, "text/plain",
         "AsyncOperationData.txt")]
    assert (await ok(service, f"fileattachments({job['datablobid']})?$select=filename"))["filename"]

    # The row holds no data, the file its content.
    assert store_rows(empty_store_copy, f"SELECT data IS NULL, datablobid FROM asyncoperation "
                                        f"WHERE asyncoperationid = '{large}'") == [(1, job["datablobid"])]
    (compressed,), = store_rows(empty_store_copy, "SELECT content FROM emulator_file_content")
    assert store_rows(empty_store_copy, "SELECT fileattachmentid, length(file_content(content)), length(content) "
                                        "FROM emulator_file_content") == [
        (job["datablobid"], len(LARGE), len(compressed))]
    assert len(compressed) < len(LARGE) // 100  # kept compressed: the repeated context is 28 KB

    # Filters and FetchXML read the content too.
    found = (await ok(service, "asyncoperations?$select=name&$filter=contains(data,'contexte Données')"))["value"]
    assert [j["name"] for j in found] == ["Large"]
    fetch = ("<fetch><entity name='asyncoperation'><attribute name='name'/><attribute name='data'/>"
             "<filter><condition attribute='datablobid' operator='not-null'/></filter></entity></fetch>")
    rows = (await ok(service, "asyncoperations?fetchXml=" + urllib.parse.quote(fetch)))["value"]
    assert [(r["name"], r["data"]) for r in rows] == [("Large", LARGE)]


async def test_content_an_older_version_stored_uncompressed_reads_the_same(service, empty_store_copy):
    large, = await seed_jobs(service.em, {"name": "Large", "data": LARGE})
    with sqlite3.connect(empty_store_copy) as conn:  # as stores made before file content was compressed hold it
        conn.execute("UPDATE emulator_file_content SET content = ?", (LARGE,))
    conn.close()
    assert (await ok(service, f"asyncoperations({large})/data"))["value"] == LARGE
    found = (await ok(service, "asyncoperations?$select=name&$filter=contains(data,'contexte Données')"))["value"]
    assert [j["name"] for j in found] == ["Large"]


async def test_datablobid_counts_as_the_docs_count_it(service):
    await seed_jobs(service.em, {"name": "Large", "data": LARGE, "operationtype": 10},
                    {"name": "Small", "data": SMALL}, {"name": "None"})
    count = await ok(service, "asyncoperations?$apply=filter((datablobid ne null))/aggregate($count as FileStorageCount)")
    assert count["value"] == [{"FileStorageCount": 1}]
    count = await ok(service, "asyncoperations?$apply=filter((datablobid eq null))/aggregate($count as DBCount)")
    assert count["value"] == [{"DBCount": 2}]
    grouped = await ok(service, "asyncoperations?$apply=filter((datablobid ne null))/groupby((operationtype,name),"
                                "aggregate($count as jobs))")
    assert [(g["operationtype"], g["name"], g["jobs"]) for g in grouped["value"]] == [(10, "Large", 1)]
    assert [j["name"] for j in (await ok(service, "asyncoperations?$select=name&$filter=datablobid ne null"))["value"]] \
        == ["Large"]


async def test_the_threshold_is_4_mb_of_utf8(service):
    at, over, wide = await seed_jobs(service.em, {"name": "at", "data": "a" * FILE_STORAGE_THRESHOLD},
                                     {"name": "over", "data": "a" * (FILE_STORAGE_THRESHOLD + 1)},
                                     {"name": "wide", "data": "é" * (FILE_STORAGE_THRESHOLD // 2 + 1)})
    blobs = {j["name"]: j["datablobid"] for j in (await ok(service, "asyncoperations?$select=name,datablobid"))["value"]}
    assert blobs["at"] is None and blobs["over"] is not None and blobs["wide"] is not None


async def test_deleting_the_job_deletes_its_file(service, empty_store_copy):
    large, kept = await seed_jobs(service.em, {"name": "Large", "data": LARGE}, {"name": "Kept", "data": LARGE})
    response = await service.client.delete(f"{API}asyncoperations({large})")
    assert response.status_code == 204, response.text
    files = (await ok(service, "fileattachments?$select=_objectid_value"))["value"]
    assert [f["_objectid_value"] for f in files] == [kept]
    assert len(store_rows(empty_store_copy, "SELECT * FROM emulator_file_content")) == 1


async def test_a_bulk_delete_deletes_the_files_of_the_jobs_it_deletes(service, empty_store_copy):
    created = dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    await seed_jobs(service.em, {"name": "Old export", "data": LARGE, "statecode": 3, "statuscode": 30,
                                 "createdon": created, "completedon": created},
                    {"name": "Running", "data": LARGE, "postponeuntil": "2027-01-01T00:00:00Z"})
    job_id = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [condition("name", "Equal", "Old export")]}},
        name="Delete the old export", start=START))
    await service.advance_to(START + dt.timedelta(minutes=1))
    assert (await service.operation(job_id))["successcount"] == 1
    files = (await ok(service, "fileattachments?$select=_objectid_value&$expand=objectid_asyncoperation($select=name)"))
    assert [f["objectid_asyncoperation"]["name"] for f in files["value"]] == ["Running"]
    assert len(store_rows(empty_store_copy, "SELECT * FROM emulator_file_content")) == 1


async def test_reset_clears_the_files(service, empty_store_copy):
    await seed_jobs(service.em, {"name": "Large", "data": LARGE})
    assert len((await ok(service, "fileattachments"))["value"]) == 1
    assert (await service.client.post("/_emulator/v1/reset")).status_code == 200
    assert (await ok(service, "fileattachments"))["value"] == []
    assert store_rows(empty_store_copy, "SELECT count(*) FROM emulator_file_content") == [(0,)]


async def test_the_bundled_data_set_has_three_jobs_in_file_storage(emulated):
    count = (await emulated.get("asyncoperations?$apply=filter((datablobid ne null))/aggregate($count as "
                                "FileStorageCount)")).json()["value"]
    assert count == [{"FileStorageCount": 3}]
    files = (await emulated.get("fileattachments?$select=filesizeinbytes,filename,_objectid_value")).json()["value"]
    assert len(files) == 3 and {f["filename"] for f in files} == {"AsyncOperationData.xml"}
    for file in files:
        job = (await emulated.get(f"asyncoperations({file['_objectid_value']})?$select=data,datablobid,"
                                  f"operationtype")).json()
        assert (job["datablobid"], job["operationtype"]) == (file["fileattachmentid"], 1)
        assert len(job["data"].encode("utf-8")) == file["filesizeinbytes"] > FILE_STORAGE_THRESHOLD
