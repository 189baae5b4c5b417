"""What is measured: the documented queries (Web API and FetchXML forms, read verbatim from
fixtures/documented-queries/), the single-row retrieve and the 5000-row page, each with the
plain SQL that is its limit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DOCUMENTED = Path(__file__).resolve().parent.parent / "fixtures" / "documented-queries"
API = "/api/data/v9.2/"
ORGANIZATION_PLACEHOLDER = re.compile(r"^(\[Organization URI\]|<organization URL>)")
PAGE_SIZE = 5000

# Query 01 as plain SQL (its `.sql` twin is T-SQL with columns SQLite's table does not have): the
# selected columns, versionnumber (the @odata.etag), and the six expanded names through LEFT JOINs.
# The emulator orders a collection by its primary key when no $orderby is given; so does this.
_EXPANDED_ROWS = """
SELECT a.asyncoperationid, a.completedon, a.createdon, a.data, a.dependencytoken, a.depth, a.errorcode,
       a.executiontimespan, a.friendlymessage, a.iswaitingforevent, a.message, a.messagename, a.modifiedon,
       a.name, a.operationtype, a.ownerid, a.postponeuntil, a.primaryentitytype, a.recurrencepattern,
       a.recurrencestarttime, a.regardingobjectid, a.retrycount, a.sequence, a.startedon, a.statecode,
       a.utcconversiontimezonecode, a.workflowstagename, a.versionnumber,
       a.createdby, createdby.fullname AS createdby_fullname,
       a.modifiedby, modifiedby.fullname AS modifiedby_fullname,
       a.owningbusinessunit, owningbusinessunit.name AS owningbusinessunit_name,
       a.owningextensionid, owningextensionid.name AS owningextensionid_name,
       a.owningteam, owningteam.name AS owningteam_name,
       a.owninguser, owninguser.fullname AS owninguser_fullname
FROM asyncoperation AS a
LEFT JOIN systemuser AS createdby ON createdby.systemuserid = a.createdby
LEFT JOIN systemuser AS modifiedby ON modifiedby.systemuserid = a.modifiedby
LEFT JOIN businessunit AS owningbusinessunit ON owningbusinessunit.businessunitid = a.owningbusinessunit
LEFT JOIN sdkmessageprocessingstep AS owningextensionid
       ON owningextensionid.sdkmessageprocessingstepid = a.owningextensionid
LEFT JOIN team AS owningteam ON owningteam.teamid = a.owningteam
LEFT JOIN systemuser AS owninguser ON owninguser.systemuserid = a.owninguser
ORDER BY a.asyncoperationid
LIMIT {limit}
"""
SINGLE_ROW_SQL = "SELECT asyncoperationid, name, statecode, statuscode, versionnumber FROM asyncoperation " \
                 "WHERE asyncoperationid = ?"


def expanded_rows_sql(limit: int) -> str:
    return _EXPANDED_ROWS.format(limit=int(limit))


@dataclass(frozen=True)
class Query:
    number: str  # "01".."05"
    form: str  # "Web API" | "FetchXML"
    target: str  # request target on the server: path and encoded query string
    headers: dict[str, str]
    limit_sql: str  # the same question asked of SQLite directly
    aggregate: bool  # one row per (statecode, statuscode, operationtype) group with a count
    top: int | None  # rows the query asks for, when it pages

    @property
    def label(self) -> str:
        return f"{self.number} {self.form}"


def documented_queries() -> list[Query]:
    queries = []
    for webapi in sorted(DOCUMENTED.glob("*.webapi.http")):
        number = webapi.name[:2]
        stem = webapi.name.removesuffix(".webapi.http")
        fetchxml = DOCUMENTED / f"{stem}.fetchxml.xml"
        aggregate = number != "01"
        sql = (DOCUMENTED / f"{stem}.sql").read_text(encoding="utf-8") if aggregate else expanded_rows_sql(1000)
        top = None if aggregate else 1000
        target, headers = webapi_request(webapi)
        queries.append(Query(number, "Web API", target, headers, sql, aggregate, top))
        if fetchxml.exists():
            queries.append(Query(number, "FetchXML", fetchxml_target(fetchxml), {}, sql, aggregate, top))
    return queries


def webapi_request(path: Path) -> tuple[str, dict[str, str]]:
    """The request target and headers of a `.webapi.http` file, as a client replaying it sends them:
    `GET <placeholder>/api/...` then either URL continuation lines (query 01 spreads its $select
    and $expand over many lines; they are joined with no whitespace) or `Header: value` lines."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or not lines[0].startswith("GET "):
        raise ValueError(f"{path.name}: the first line is not a GET request")
    url_parts, headers = [lines[0][4:].strip()], {}
    for line in lines[1:]:
        header = re.match(r"^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$", line)
        if header:
            headers[header.group(1)] = header.group(2).strip()
        elif not headers:
            url_parts.append(line)
    url = ORGANIZATION_PLACEHOLDER.sub("", "".join(url_parts))
    # Percent-encode what must be (the spaces of `$count as count`), keep OData's literal characters.
    return quote(url, safe="/?&=$(),'@*:;%"), headers


def fetchxml_target(path: Path) -> str:
    return f"{API}asyncoperations?fetchXml={quote(path.read_text(encoding='utf-8'), safe='')}"


def page_target() -> str:
    """Query 01's documented $select and $expand without $top: the collection, page by page."""
    query01 = next(DOCUMENTED.glob("01-*.webapi.http"))
    target, _ = webapi_request(query01)
    path, _, options = target.partition("?")
    kept = [option for option in options.split("&") if not option.startswith("$top=")]
    return f"{path}?{'&'.join(kept)}"


def single_row_target(job_id: str) -> str:
    return f"{API}asyncoperations({job_id})?$select=name,statecode,statuscode"
