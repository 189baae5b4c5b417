"""`odata-emulator serve` as a user starts it: a real uvicorn on 127.0.0.1, from another directory,
answering the documented queries over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import DOCUMENTED, Server, encode_like_a_browser, webapi_request

pytestmark = pytest.mark.slow  # real `odata-emulator serve` processes


@pytest.fixture
def server(tmp_path):
    started = []

    def start(*args: str) -> Server:
        s = Server(tmp_path, *args)
        started.append(s)
        s.wait_ready()
        return s

    yield start
    for s in started:
        s.stop()


def test_serve_answers_every_documented_query(server, tmp_path):
    s = server()  # defaults: 127.0.0.1, durable ./odata-emulator.db, bundled fixtures, real clock
    assert (tmp_path / "odata-emulator.db").exists()
    health = httpx.get(f"{s.base}/_emulator/v1/health").json()
    assert health["status"] == "ok" and health["clock"] == "real"
    for path in sorted(DOCUMENTED.glob("*.webapi.http")):
        target, headers = webapi_request(path)
        response = httpx.get(s.base + encode_like_a_browser(target), headers=headers, timeout=30)
        assert response.status_code == 200, (path.name, response.text)
        body = response.json()
        assert body["@odata.context"].startswith(f"{s.base}/api/data/v9.2/$metadata#asyncoperations")
        assert body["value"], path.name


def test_store_is_durable_and_fixtures_load_only_into_an_empty_store(server, tmp_path):
    database = str(tmp_path / "durable.db")
    first = server("--database", database, "--clock", "virtual")
    count = httpx.get(f"{first.base}/api/data/v9.2/asyncoperations/$count").text
    first.stop()
    second = server("--database", database)
    assert httpx.get(f"{second.base}/api/data/v9.2/asyncoperations/$count").text == count
    second.stop()
    empty = server("--database", str(tmp_path / "empty.db"), "--no-fixtures")
    assert httpx.get(f"{empty.base}/api/data/v9.2/asyncoperations/$count").text == "0"
