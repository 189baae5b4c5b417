"""The pytest plugin as a new user meets it: the README's example, run as a test file of its own
in a fresh pytest process that finds the plugin through its entry point."""

from __future__ import annotations

import re

import pytest

from tests.helpers import REPO

pytest_plugins = ("pytester",)
pytestmark = pytest.mark.slow  # each test runs pytest in a subprocess


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- pytest-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "the README lost its pytest example"
    return match.group(1)


def test_the_readme_example_passes_as_written(pytester):
    pytester.makepyfile(test_readme_example=readme_example())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_server_fixture_serves_a_url(pytester):
    pytester.makepyfile(test_server="""
import httpx

def test_a_real_server(dataverse_server):
    assert dataverse_server.url.startswith("http://127.0.0.1:")
    [job] = dataverse_server.seed_jobs({"name": "Hello", "simulation": {"duration": 0}})
    dataverse_server.advance(minutes=5)
    # Any client with a URL: a fresh httpx client stands for another process's SDK.
    row = httpx.get(f"{dataverse_server.api_url}asyncoperations({job})?$select=name,statecode,statuscode").json()
    assert (row["name"], row["statecode"], row["statuscode"]) == ("Hello", 3, 30)
    assert [h["reason"] for h in dataverse_server.history(job)][:2] == ["created", "claim"]
    dataverse_server.reset()
    assert httpx.get(f"{dataverse_server.api_url}asyncoperations({job})").status_code == 404
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_ini_options_choose_an_empty_store(pytester):
    pytester.makeini("""
[pytest]
odata_emulator_fixtures = none
asyncio_mode = auto
""")
    pytester.makepyfile(test_empty="""
async def test_empty(dataverse):
    response = await dataverse.get("asyncoperations/$count")
    assert response.text == "0"
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
