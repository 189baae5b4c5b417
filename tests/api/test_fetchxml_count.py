"""FetchXML `returntotalrecordcount`, end to end through `GET asyncoperations?fetchXml=...`.

Follows fetchxml/count-rows.md (Web API tab) and fetchxml/page-results.md: the attribute has the same
result as `$count=true` (`@odata.count`, up to 5000), the two count annotations come with
`Prefer: odata.include-annotations`, and `top` cannot be combined with it.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import pytest_asyncio

from tests.helpers import assert_error, assert_ok, copy_store, make_settings, running, seed_jobs, sql_rows

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOTAL = "@Microsoft.Dynamics.CRM.totalrecordcount"
EXCEEDED = "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"
COUNTS = "Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def store(tmp_path_factory, template_store):
    path = copy_store(template_store, tmp_path_factory.mktemp("fetchcount") / "store.db")
    async with running(make_settings(database=str(path))) as em:
        yield em, path


def fetch(head: str, inner: str = "<attribute name='name'/>") -> str:
    return f"<fetch {head}><entity name='asyncoperation'>{inner}</entity></fetch>"


async def get(em, xml: str, prefer: str | None = None):
    headers = {"Prefer": f'odata.include-annotations="{prefer}"'} if prefer else {}
    return await em.get(f"asyncoperations?fetchXml={quote(xml, safe='')}", headers=headers)


async def test_returntotalrecordcount_returns_the_count_and_its_annotations(store):
    """fetchxml/count-rows.md (Web API): "Setting the returntotalrecordcount attribute value to true has the
    same result as setting the OData $count query option" -- `@odata.count`, and with the Prefer header the
    totalrecordcount annotations, the same number and false below the limit."""
    em, path = store
    failed = sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode = 3")[0][0]
    xml = fetch("count='5' page='1' returntotalrecordcount='true'",
                "<attribute name='name'/><filter><condition attribute='statecode' operator='eq' value='3'/></filter>")
    plain = assert_ok(await get(em, xml))
    assert plain["@odata.count"] == failed and TOTAL not in plain and len(plain["value"]) == 5
    annotated = assert_ok(await get(em, xml, prefer=COUNTS))
    assert list(annotated)[:4] == ["@odata.context", "@odata.count", TOTAL, EXCEEDED]
    assert (annotated["@odata.count"], annotated[TOTAL], annotated[EXCEEDED]) == (failed, failed, False)
    starred = assert_ok(await get(em, xml, prefer="*"))
    assert (starred[TOTAL], starred[EXCEEDED]) == (failed, False)
    off = assert_ok(await get(em, xml.replace("returntotalrecordcount='true'", "returntotalrecordcount='false'"),
                         prefer=COUNTS))
    assert "@odata.count" not in off and (off[TOTAL], off[EXCEEDED]) == (-1, False)


async def test_returntotalrecordcount_stops_at_5000(store):
    """fetchxml/count-rows.md: "a count of all the records that meet the filter criteria, up to 5000";
    totalrecordcountlimitexceeded is true "if the results of the query exceeds the total record count"."""
    em, path = store
    await seed_jobs(em, *({"name": f"count {i}", "postponeuntil": "2099-01-01T00:00:00Z"} for i in range(5000)))
    assert sql_rows(path, "SELECT count(*) FROM asyncoperation")[0][0] > 5000
    body = assert_ok(await get(em, fetch("count='10' returntotalrecordcount='true'"), prefer=COUNTS))
    assert (body["@odata.count"], body[TOTAL], body[EXCEEDED]) == (5000, 5000, True)
    assert len(body["value"]) == 10


async def test_top_with_returntotalrecordcount_is_refused(store):
    """fetchxml/count-rows.md: "You can't apply the fetch element top attribute together with
    returntotalrecordcount"; fetchxml/page-results.md: top is not compatible with paging (count/page)."""
    em, _ = store
    for head in ("top='5' returntotalrecordcount='true'", "returntotalrecordcount='1' top='1'"):
        assert_error(await get(em, fetch(head)), 400, "0x80041108",
                     "The top attribute can't be specified with paging attribute returntotalrecordcount")
    assert_error(await get(em, fetch("top='5' page='2'")), 400, "0x80041108",
                 "The 'top' attribute can't be specified with paging attribute 'page' or 'count'.")
    assert_ok(await get(em, fetch("top='5' returntotalrecordcount='false'")))
