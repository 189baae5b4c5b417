"""`odata-emulator serve` as a user starts it: a real uvicorn on 127.0.0.1, from another directory,
answering the documented queries over real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import DOCUMENTED
from tests.documented import encode_like_a_browser, webapi_request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str]:
    script = Path(sys.executable).parent / "odata-emulator"
    if script.exists():
        return [str(script)]
    found = shutil.which("odata-emulator")
    return [found] if found else [sys.executable, "-m", "odata_emulator.cli"]


class Server:
    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"server-{self.port}.log", "w+")
        self.process = subprocess.Popen(
            [*serve_command(), "serve", "--port", str(self.port), *args],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self, timeout: float = 30.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise AssertionError(f"server exited early:\n{self.log.read()}")
            try:
                if httpx.get(f"{self.base}/_emulator/v1/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not become ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


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
