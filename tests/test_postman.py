"""The shipped Postman collection: generated from the documented queries, and green under newman
against a freshly started emulator (`odata-emulator serve`, on the virtual and on the real clock),
as CI runs it.

newman comes from npm (`.ci/run` installs it into .ci/node_modules); where it is not installed the
run is skipped, never faked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO, Server

COLLECTION = REPO / "examples" / "postman" / "odata-emulator.postman_collection.json"


def newman() -> str | None:
    candidates = [os.environ.get("NEWMAN"), str(REPO / ".ci" / "node_modules" / ".bin" / "newman"),
                  shutil.which("newman")]
    return next((c for c in candidates if c and os.path.exists(c)), None)


def test_the_collection_is_what_the_generator_writes():
    sys.path.insert(0, str(COLLECTION.parent))
    try:
        import build_collection
    finally:
        sys.path.pop(0)
    assert COLLECTION.read_text(encoding="utf-8") == build_collection.render(), \
        "run: python examples/postman/build_collection.py"
    names = [item["name"] for folder in json.loads(build_collection.render())["item"] for item in folder["item"]]
    documented = sorted(p.name.split(".")[0] for p in (REPO / "fixtures" / "documented-queries").glob("*.webapi.http"))
    for stem in documented:
        assert f"{stem} (Web API)" in names
        if (REPO / "fixtures" / "documented-queries" / f"{stem}.fetchxml.xml").exists():
            assert f"{stem} (FetchXML)" in names


@pytest.mark.slow  # newman against a real `odata-emulator serve`
@pytest.mark.parametrize("clock", ["virtual", "real"])
def test_newman_runs_the_collection_green(tmp_path, clock):
    """On both clocks: on the real one (the README's default command) the bundled data set's demo
    jobs run on their own slots, so the collection's own jobs never wait behind them."""
    binary = newman()
    if binary is None:
        pytest.skip("newman is not installed (npm install newman@6; .ci/run does)")
    server = Server(tmp_path, "--clock", clock, "--database", ":memory:")
    try:
        server.wait_ready()
        report = tmp_path / "newman.json"
        result = subprocess.run(
            [binary, "run", str(COLLECTION), "--env-var", f"baseUrl={server.base}", "--color", "off",
             "--reporters", "cli,json", "--reporter-json-export", str(report)],
            capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        stats = json.loads(report.read_text())["run"]["stats"]
        assert stats["assertions"]["failed"] == 0 and stats["requests"]["failed"] == 0
        assert stats["assertions"]["total"] >= 50
    finally:
        server.stop()
