"""The detail annotations of an error, on `Prefer: odata.include-annotations`.

Follows webapi/compose-http-requests-handle-errors.md, "Include more details with errors": with
`Prefer: odata.include-annotations="*"` the error carries `@Microsoft.PowerApps.CDS.HelpLink`,
`...TraceText` and `...InnerError.Message` after `code` and `message`; a list names the ones wanted
(`Microsoft.PowerApps.CDS.ErrorDetails*`, `Microsoft.PowerApps.CDS.HelpLink`); without the preference the
body is `{"error": {"code", "message"}}` and nothing else.
"""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, assert_json

pytestmark = pytest.mark.asyncio

HELP = "@Microsoft.PowerApps.CDS.HelpLink"
TRACE = "@Microsoft.PowerApps.CDS.TraceText"
INNER = "@Microsoft.PowerApps.CDS.InnerError.Message"
MISSING = "00000000-0000-0000-0000-000000000001"
NOT_FOUND = f"Entity 'asyncoperation' With Id = {MISSING} Does Not Exist"


def prefer(value: str) -> dict[str, str]:
    return {"Prefer": f'odata.include-annotations="{value}"'}


async def test_all_annotations_add_the_help_link_trace_and_inner_message(emulated):
    """compose-http-requests-handle-errors.md: the response to a request with `odata.include-annotations="*"`
    includes the HelpLink (`http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a<code>
    &client=platform`), the TraceText and the InnerError.Message ("the same as the error message")."""
    response = await emulated.get(f"asyncoperations({MISSING})", headers=prefer("*"))
    error = assert_json(response, 404)["error"]
    assert list(error) == ["code", "message", HELP, TRACE, INNER]
    assert error["code"] == "0x80040217" and error["message"] == NOT_FOUND
    assert error[HELP] == ("http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a80040217"
                           "&client=platform")
    assert error[TRACE] == "" and error[INNER] == NOT_FOUND
    assert "preference-applied" not in response.headers


async def test_without_the_preference_the_error_is_unchanged(emulated):
    """compose-http-requests-handle-errors.md, "Parse errors from the response": `{"error": {"code", "message"}}`;
    a preference naming only other annotations adds nothing to an error."""
    assert_error(await emulated.get(f"asyncoperations({MISSING})"), 404, "0x80040217", NOT_FOUND)
    assert_error(await emulated.get(f"asyncoperations({MISSING})", headers=prefer(
        "OData.Community.Display.V1.FormattedValue")), 404, "0x80040217", NOT_FOUND)


async def test_one_annotation_by_name(emulated):
    """compose-http-requests-handle-errors.md: `odata.include-annotations="OData.Community.Display.V1.FormattedValue,
    Microsoft.PowerApps.CDS.HelpLink"` returns formatted values for reads "and the helplink if an error occurs"."""
    response = await emulated.get("asyncoperations?$filter=nosuch eq 1", headers=prefer(
        "OData.Community.Display.V1.FormattedValue,Microsoft.PowerApps.CDS.HelpLink"))
    error = assert_json(response, 400)["error"]
    assert list(error) == ["code", "message", HELP]
    assert error[HELP].endswith(f"CrmException%3a{error['code'][2:]}&client=platform")


async def test_details_on_every_kind_of_refusal(emulated):
    """compose-http-requests-handle-errors.md: the details come with any error the request gets -- a refused
    write, a refused query, a route that does not exist -- and the InnerError.Message repeats the message."""
    for method, url, body in (("PATCH", f"asyncoperations({MISSING})", {"statecode": 3, "statuscode": 32}),
                              ("GET", "asyncoperations?$skip=1", None),
                              ("POST", "asyncoperations", {"name": "x"})):
        response = await emulated.request(method, url, json=body, headers=prefer("*"))
        error = response.json()["error"]
        assert response.status_code >= 400 and error[INNER] == error["message"], (method, url)
        assert error[HELP].endswith(f"%3a{error['code'][2:]}&client=platform")
    nowhere = (await emulated.get("BulkDelete", headers=prefer("*"))).json()["error"]
    assert nowhere["code"] == "" and HELP not in nowhere and nowhere[INNER] == nowhere["message"]
