"""The System Jobs page in a real browser: Debian's Chromium driven by Playwright against a real
`odata-emulator serve --clock virtual`. Every check of what the page did is made through the Web API
(or the control API), as another client would see it.

One server and one browser serve the module, each test a fresh browser context. Tests compare the page with
the Web API of the moment and act on jobs they seed, so only the one that needs the data set as it started
resets it (`fresh`). Screenshots of the grid, the More Actions
menu, the Postpone dialog and a job's details are saved to $PAGE_SCREENSHOTS (default: a pytest temporary
directory)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import Server

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FORMATTED = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'
PLATFORM_TYPES = {9, 16, 18, 19, 20, 22, 24, 25, 27, 31}

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, browser): the server starts while Chromium launches."""
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install '.[test]')")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    server = Server(tmp_path_factory.mktemp("page"), "--clock", "virtual", "--database", ":memory:")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                server.wait_ready()
                yield server, browser
            finally:
                browser.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("PAGE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Api:
    """The Web API and the control API of the server, as a plain client."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=10)

    def get(self, path: str, **headers) -> dict:
        response = self.client.get(f"/api/data/v9.2/{path}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def job(self, job_id: str) -> dict:
        return self.get(f"asyncoperations({job_id})?$select=name,statecode,statuscode,postponeuntil")

    def exists(self, job_id: str) -> bool:
        return self.client.get(f"/api/data/v9.2/asyncoperations({job_id})?$select=name").status_code == 200

    def ids(self, filter_: str = "", order: str = "createdon desc", size: int = 50, page: int = 1) -> tuple[list[str], int]:
        query = f"asyncoperations?$select=name&$orderby={quote(order)}&$count=true"
        if filter_:
            query += f"&$filter={quote(filter_)}"
        answer = self.get(query, Prefer=f"odata.maxpagesize={size}")
        count = answer["@odata.count"]
        for _ in range(page - 1):
            answer = self.client.get(answer["@odata.nextLink"], headers={"Prefer": f"odata.maxpagesize={size}"}).json()
        return [row["asyncoperationid"] for row in answer["value"]], count

    def seed(self, *jobs: dict) -> list[str]:
        response = self.client.post("/_emulator/v1/jobs", json=list(jobs))
        assert response.status_code == 201, response.text
        return [j["asyncoperationid"] for j in response.json()["value"]]


@pytest.fixture
def api(served):
    client = Api(served[0].base)
    yield client
    client.client.close()


@pytest.fixture
def fresh(api):
    """The data set and the virtual clock as they started (`POST /_emulator/v1/reset`). Tests that only
    need their own seeded jobs skip it: every check compares the page with the Web API of the moment."""
    assert api.client.post("/_emulator/v1/reset").status_code == 200


@pytest.fixture
def page(served, api):
    server, browser = served
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(server.base + "/")
    opened.wait_for_function("Number(document.body.dataset.shown || 0) >= 1")
    yield opened
    context.close()
    assert not errors, errors


# ------------------------------------------------------------------------------------------ helpers


def then_loaded(page: Page, action) -> None:
    """Do `action`, then wait until the grid shows the answer to it. Each navigation, command or clock move
    starts a new generation of what the grid shows (a poll does not), so a newer one answers the action."""
    before = page.evaluate("Number(document.body.dataset.generation || 0)")
    action()
    page.wait_for_function("n => Number(document.body.dataset.shown || 0) > n", arg=before)


def shown_ids(page: Page) -> list[str]:
    return page.eval_on_selector_all("#grid-body tr", "rows => rows.map(r => r.dataset.id)")


def total(page: Page) -> int:
    return int(re.search(r"of (\d+)", page.inner_text("#page-info")).group(1))


def search(page: Page, text: str) -> None:
    page.fill("#search", text)
    then_loaded(page, lambda: page.press("#search", "Enter"))


def pick(page: Page, job_id: str) -> None:
    page.check(f'#grid-body tr[data-id="{job_id}"] input[data-role="pick"]')


def command(page: Page, name: str):
    return page.locator(f'[data-command="{name}"]')


def menu(page: Page, name: str) -> None:
    """More Actions, then the command (confirmation or dialog left to the caller)."""
    page.click("#more-actions")
    page.click(f'#more-menu [data-command="{name}"]')


def notice(page: Page) -> str:
    page.wait_for_selector("#notice:not([hidden])")
    return page.inner_text("#notice")


# ------------------------------------------------------------------------------------------ the grid


def test_the_grid_loads_the_data_sets_jobs_and_counts(served, page, api, screenshots):
    server = served[0]
    assert f"  System Jobs   {server.base}/\n" in server.log_path.read_text()  # the banner names the page
    ids, count = api.ids()
    assert shown_ids(page) == ids
    assert total(page) == count > 400
    groups = api.get("asyncoperations?$apply=groupby((statuscode),aggregate($count as count))")["value"]
    shown = {int(li.get_attribute("data-statuscode")): int(li.inner_text().split()[-1])
             for li in page.query_selector_all("#counts li[data-statuscode]")}
    assert shown == {g["statuscode"]: g["count"] for g in groups}
    # Formatted values, as Dataverse's grid shows them.
    first = api.get(f"asyncoperations({ids[0]})?$select=name,operationtype,statuscode,createdon", Prefer=FORMATTED)
    row = page.locator(f'#grid-body tr[data-id="{ids[0]}"]')
    assert row.locator('td[data-column="operationtype"]').inner_text() == \
        first["operationtype@OData.Community.Display.V1.FormattedValue"]
    assert row.locator('td[data-column="statuscode"]').inner_text() == \
        first["statuscode@OData.Community.Display.V1.FormattedValue"]
    assert row.locator('td[data-column="createdon"]').inner_text() == \
        first["createdon@OData.Community.Display.V1.FormattedValue"]
    headers = page.eval_on_selector_all("#grid-head th[data-column]", "ths => ths.map(t => t.innerText.trim())")
    assert [h.rstrip("▲▼ ") for h in headers] == [
        "System Job Name", "System Job Type", "Status Reason", "Regarding", "Owner", "Created On", "Started On",
        "Completed On", "Postpone Until", "Message"]
    page.screenshot(path=str(screenshots / "grid.png"))
    # Multi-select: rows one by one, or the whole page.
    pick(page, ids[0])
    pick(page, ids[1])
    assert page.inner_text("#selection") == "2 selected"
    assert page.locator('#grid-body tr[aria-selected="true"]').count() == 2
    page.check("#select-all")
    assert page.inner_text("#selection") == f"{len(ids)} selected"
    page.uncheck("#select-all")
    assert page.inner_text("#selection") == ""




VIEWS = {
    "all": "",
    "mine": "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')",
    "recurring": "recurrencepattern ne null",
    "waiting": "statecode eq 1",
    "inprogress": "statecode eq 2",
    "succeeded": "statuscode eq 30",
    "failed": "statuscode eq 31",
    "canceled": "statuscode eq 32",
}


def test_each_view_shows_the_rows_its_filter_selects(page, api):
    names = page.eval_on_selector_all("#view option", "options => options.map(o => o.textContent)")
    assert names == ["All System Jobs", "My System Jobs", "Recurring System Jobs", "Waiting System Jobs",
                     "System Jobs In Progress", "Succeeded System Jobs", "Failed System Jobs", "Canceled System Jobs"]
    for key, filter_ in VIEWS.items():
        then_loaded(page, lambda key=key: page.select_option("#view", key))
        ids, count = api.ids(filter_)
        assert shown_ids(page) == ids, key
        assert total(page) == count, key
    # The table filter narrows the view.
    then_loaded(page, lambda: page.select_option("#view", "failed"))
    then_loaded(page, lambda: page.select_option("#table", "contact"))
    ids, count = api.ids("(statuscode eq 31) and (primaryentitytype eq 'contact')")
    assert shown_ids(page) == ids and total(page) == count > 0


def test_sort_by_a_column_and_search_by_name(page, api):
    then_loaded(page, lambda: page.click('#grid-head th[data-column="name"] button'))
    assert page.get_attribute('#grid-head th[data-column="name"]', "aria-sort") == "ascending"
    assert shown_ids(page) == api.ids(order="name asc")[0]
    then_loaded(page, lambda: page.click('#grid-head th[data-column="name"] button'))
    assert shown_ids(page) == api.ids(order="name desc")[0]
    search(page, "MarketingListSync")
    ids, count = api.ids("contains(name,'MarketingListSync')", order="name desc")
    assert shown_ids(page) == ids and total(page) == count > 0
    counts = sum(int(li.inner_text().split()[-1]) for li in page.query_selector_all("#counts li[data-statuscode]"))
    assert counts == count


def test_paging_follows_the_next_link(page, api):
    then_loaded(page, lambda: page.select_option("#page-size", "25"))
    assert shown_ids(page) == api.ids(size=25)[0]
    then_loaded(page, lambda: page.click("#next-page"))
    assert shown_ids(page) == api.ids(size=25, page=2)[0]
    assert page.inner_text("#page-info").startswith(f"26–50 of {api.ids()[1]}")
    then_loaded(page, lambda: page.click("#next-page"))
    assert shown_ids(page) == api.ids(size=25, page=3)[0]
    then_loaded(page, lambda: page.click("#prev-page"))
    assert shown_ids(page) == api.ids(size=25, page=2)[0]
    then_loaded(page, lambda: page.click("#first-page"))
    assert shown_ids(page) == api.ids(size=25)[0]


# ------------------------------------------------------------------------------------------ commands


def test_cancel_a_ready_job_through_more_actions(page, api, screenshots):
    [job] = api.seed({"name": "Page test: cancel me"})
    search(page, "Page test: cancel me")
    pick(page, job)
    assert command(page, "cancel").get_attribute("aria-disabled") == "false"
    page.click("#more-actions")
    page.screenshot(path=str(screenshots / "more-actions.png"))
    page.click('#more-menu [data-command="cancel"]')
    then_loaded(page, lambda: page.click("#confirm-ok"))
    assert (api.job(job)["statecode"], api.job(job)["statuscode"]) == (3, 32)
    assert page.locator(f'tr[data-id="{job}"] td[data-column="statuscode"]').inner_text() == "Canceled"


def test_commands_are_enabled_only_where_the_state_table_allows(page, api):
    [platform, ready] = api.seed({"name": "Page test: SQM", "operationtype": 9}, {"name": "Page test: ready"})
    search(page, "Page test:")
    pick(page, platform)
    for name in ("cancel", "pause", "resume"):
        assert command(page, name).get_attribute("aria-disabled") == "true", name
        assert "platform job" in command(page, name).get_attribute("title")
    assert command(page, "postpone").get_attribute("aria-disabled") == "false"
    assert command(page, "delete").get_attribute("aria-disabled") == "false"
    # A disabled command does nothing but say why (force: Playwright will not click an aria-disabled item).
    page.click("#more-actions")
    page.click('#more-menu [data-command="cancel"]', force=True)
    assert "platform jobs cannot be cancelled, paused or resumed" in notice(page)
    assert api.job(platform)["statecode"] == 0
    # Two jobs: a command must apply to each.
    pick(page, ready)
    assert command(page, "postpone").get_attribute("aria-disabled") == "false"
    assert command(page, "cancel").get_attribute("aria-disabled") == "true"
    # A completed job takes no status change.
    then_loaded(page, lambda: page.fill("#search", ""))
    then_loaded(page, lambda: page.select_option("#view", "succeeded"))
    first = shown_ids(page)[0]
    pick(page, first)
    for name in ("cancel", "pause", "resume", "postpone"):
        assert command(page, name).get_attribute("aria-disabled") == "true", name
        assert "completed job takes no status change" in command(page, name).get_attribute("title")
    assert command(page, "delete").get_attribute("aria-disabled") == "false"


def test_pause_resume_and_postpone_through_the_menu(fresh, page, api, screenshots):
    running = api.ids("statuscode eq 20 and operationtype eq 1")[0][0]
    then_loaded(page, lambda: page.select_option("#view", "inprogress"))
    pick(page, running)
    assert command(page, "resume").get_attribute("aria-disabled") == "true"
    menu(page, "pause")
    page.wait_for_function(f"""document.querySelector('tr[data-id="{running}"]').dataset.statuscode !== '20'""")
    assert (api.job(running)["statecode"], api.job(running)["statuscode"]) in {(2, 21), (1, 10)}  # Pausing, Waiting
    [waiting] = api.seed({"name": "Page test: waiting", "postponeuntil": "2027-01-01T00:00:00Z"})
    then_loaded(page, lambda: page.select_option("#view", "waiting"))
    search(page, "Page test: waiting")
    pick(page, waiting)
    assert command(page, "pause").get_attribute("aria-disabled") == "true"
    then_loaded(page, lambda: menu(page, "resume"))
    assert (api.job(waiting)["statecode"], api.job(waiting)["statuscode"]) == (0, 0)
    # Postpone asks for the date and time in the "Postpone Job" dialog.
    [ready] = api.seed({"name": "Page test: postpone me"})
    then_loaded(page, lambda: page.select_option("#view", "all"))
    search(page, "Page test: postpone me")
    pick(page, ready)
    menu(page, "postpone")
    assert page.inner_text("#postpone-title") == "Postpone Job"
    assert page.input_value("#postpone-until") in {"2026-11-01T13:00", "2026-11-01T13:00:00"}  # the clock, +1 h
    page.fill("#postpone-until", "2027-02-03T04:05:06")
    page.screenshot(path=str(screenshots / "postpone-dialog.png"))
    then_loaded(page, lambda: page.click("#postpone-ok"))
    postponed = api.job(ready)
    assert (postponed["statecode"], postponed["statuscode"], postponed["postponeuntil"]) == \
        (1, 10, "2027-02-03T04:05:06Z")


def test_a_refused_command_shows_dataverses_message(page, api):
    [job] = api.seed({"name": "Page test: raced"})
    page.uncheck("#live")
    search(page, "Page test: raced")
    pick(page, job)
    # Another client cancels it first; the page has not seen that yet.
    api.client.patch(f"/api/data/v9.2/asyncoperations({job})", json={"statecode": 3, "statuscode": 32})
    refused = api.client.patch(f"/api/data/v9.2/asyncoperations({job})", json={"statecode": 3, "statuscode": 32})
    assert refused.status_code == 400
    menu(page, "cancel")
    then_loaded(page, lambda: page.click("#confirm-ok"))
    text = notice(page)
    assert refused.json()["error"]["message"] in text
    assert refused.json()["error"]["code"] in text
    assert page.get_attribute("#notice", "class") == "notice error"


def test_delete_a_job(page, api):
    [job, kept] = api.seed({"name": "Page delete test: delete me"}, {"name": "Page delete test: keep me"})
    search(page, "Page delete test:")
    pick(page, job)
    then_loaded(page, lambda: (page.click("#cmd-delete"), page.click("#confirm-ok")))
    assert not api.exists(job) and api.exists(kept)
    assert shown_ids(page) == [kept]


def test_keyboard_only_cancel(page, api):
    [job] = api.seed({"name": "Page test: keyboard"})
    search(page, "Page test: keyboard")
    box = f'tr[data-id="{job}"] input[data-role="pick"]'
    for _ in range(80):
        if page.evaluate(f"document.activeElement === document.querySelector('{box}')"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("Tab never reached the row's checkbox")
    page.keyboard.press("Space")
    assert page.get_attribute(f'tr[data-id="{job}"]', "aria-selected") == "true"
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == "more-actions":
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    assert page.get_attribute("#more-actions", "aria-expanded") == "true"
    page.keyboard.press("ArrowDown")  # Bulk Delete -> Cancel
    assert page.evaluate("document.activeElement.dataset.command") == "cancel"
    page.keyboard.press("Enter")
    then_loaded(page, lambda: page.keyboard.press("Enter"))  # OK has the focus
    assert (api.job(job)["statecode"], api.job(job)["statuscode"]) == (3, 32)


# ------------------------------------------------------------------------------------------ bulk delete, details, live


def test_the_bulk_delete_wizard_files_a_job_that_runs_when_the_clock_moves(page, api):
    victims = api.seed(*({"name": f"Page test: victim {i}", "statecode": 3, "statuscode": 30} for i in range(3)))
    [bystander] = api.seed({"name": "Page test: bystander", "statecode": 3, "statuscode": 30})
    menu(page, "bulkdelete")
    condition = page.locator("#bulk-conditions .condition").first
    condition.locator("select.field").select_option("name")
    condition.locator("select.operator").select_option("BeginsWith")
    condition.locator(".value").fill("Page test: victim")
    page.click("#bulk-next")
    page.fill("#bulk-name", "Page test: bulk deletion")
    page.click("#bulk-next")
    assert page.is_checked('input[name="bulk-when"][value="now"]')
    then_loaded(page, lambda: page.click("#bulk-submit"))
    job_id = re.search(r"system job ([0-9a-f-]{36})", notice(page)).group(1)
    job = api.get(f"asyncoperations({job_id})?$select=name,operationtype,statecode,recurrencepattern")
    assert (job["name"], job["operationtype"], job["statecode"]) == ("Page test: bulk deletion", 13, 0)
    assert all(api.exists(v) for v in victims)
    # The 41 Ready jobs of the data set run first (four at a time, a few seconds each): an hour is plenty.
    then_loaded(page, lambda: page.click('#clock [data-advance="PT1H"]'))
    assert (api.job(job_id)["statecode"], api.job(job_id)["statuscode"]) == (3, 30)
    assert not any(api.exists(v) for v in victims) and api.exists(bystander)
    assert page.inner_text("#clock-now") == "2026-11-01 13:00:00"


def test_a_recurring_bulk_delete_carries_its_pattern(page, api):
    menu(page, "bulkdelete")
    page.click("#bulk-next")
    page.fill("#bulk-name", "Page test: every three days")
    page.click("#bulk-next")
    page.check('input[name="bulk-when"][value="recurring"]')
    assert page.input_value("#bulk-pattern") == "FREQ=DAILY;INTERVAL=3;"
    page.fill("#bulk-start", "2027-03-01T02:00:00")
    then_loaded(page, lambda: page.click("#bulk-submit"))
    job_id = re.search(r"system job ([0-9a-f-]{36})", notice(page)).group(1)
    job = api.get(f"asyncoperations({job_id})?$select=recurrencepattern,postponeuntil,statecode")
    assert (job["recurrencepattern"], job["postponeuntil"], job["statecode"]) == \
        ("FREQ=DAILY;INTERVAL=3;", "2027-03-01T02:00:00Z", 1)
    # A pattern the service refuses: the wizard shows Dataverse's message.
    menu(page, "bulkdelete")
    page.click("#bulk-next")
    page.click("#bulk-next")
    page.check('input[name="bulk-when"][value="recurring"]')
    page.fill("#bulk-pattern", "FREQ=SOMETIMES;")
    page.click("#bulk-submit")
    page.wait_for_selector("#bulk-error:not([hidden])")
    assert page.inner_text("#bulk-error").startswith("BulkDelete was refused: ")


def test_details_show_the_columns_why_and_the_history_timeline(page, api, screenshots):
    now = dt.datetime.fromisoformat(api.client.get("/_emulator/v1/clock").json()["now"].replace("Z", "+00:00"))
    later = (now + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    [job] = api.seed({"name": "Page test: details", "postponeuntil": later,
                      "simulation": {"outcome": "fail", "errorcode": -2147220891, "message": "Boom"}})
    then_loaded(page, lambda: page.click('#clock [data-advance="PT1H"]'))
    search(page, "Page test: details")
    page.click(f'tr[data-id="{job}"] button[data-role="open"]')
    page.wait_for_selector("#details-body .timeline li")
    assert page.inner_text("#details-title") == "Page test: details"
    history = httpx.get(f"{api.base}/_emulator/v1/jobs/{job}/history").json()["value"]
    items = page.locator("#details-body .timeline li")
    assert items.count() == len(history) >= 4
    assert [int(s) for s in page.eval_on_selector_all("#details-body .timeline li", "l => l.map(i => i.dataset.statuscode)")] \
        == [h["statuscode"] for h in history]
    assert history[-1]["statuscode"] == 31
    body = page.inner_text("#details-body")
    assert "Boom" in body and "-2147220891" in body
    assert page.locator("#details-body .why").count() == 1
    page.click("#details-body details summary")
    assert "asyncoperationid" in page.inner_text("#details-body table.columns")
    page.screenshot(path=str(screenshots / "details.png"))
    page.keyboard.press("Escape")
    assert not page.is_visible("#details-dialog")


def test_the_grid_follows_a_job_live_on_the_virtual_clock(page, api):
    # Everything already due runs first (an hour on), so that the job below is the next one claimed.
    then_loaded(page, lambda: page.click('#clock [data-advance="PT1H"]'))
    [job] = api.seed({"name": "Page test: live", "simulation": {"duration": 90}})
    page.wait_for_selector(f'tr[data-id="{job}"]', timeout=5000)  # the next poll brings it
    cell = f'tr[data-id="{job}"] td[data-column="statuscode"]'
    assert page.inner_text(cell) == "Waiting For Resources"
    row = page.locator(f'tr[data-id="{job}"]')
    pick(page, job)
    # Ready -> In Progress: a minute into its 90-second run it is still running ...
    then_loaded(page, lambda: page.click('#clock [data-advance="PT1M"]'))
    assert page.inner_text(cell) == "In Progress"
    # ... -> Succeeded a minute later.
    then_loaded(page, lambda: page.click('#clock [data-advance="PT1M"]'))
    assert page.inner_text(cell) == "Succeeded"
    assert row.get_attribute("aria-selected") == "true"  # the selection survives the refresh
    assert api.job(job)["statuscode"] == 30
