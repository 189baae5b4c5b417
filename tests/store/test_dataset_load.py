"""Loading the data set: its timestamps move by (the clock's start - its reference time), however many
times it is loaded in one process (at start or at reset) and at whatever shift."""

from __future__ import annotations

import datetime as dt
import json

from odata_emulator._resources import fixtures_dir
from tests.helpers import make_settings, running

DATASET = json.loads((fixtures_dir() / "dataset.json").read_text(encoding="utf-8"))
REFERENCE = dt.datetime.fromisoformat(DATASET["reference_time"].replace("Z", "+00:00"))
POSTPONED = next(row for row in DATASET["tables"]["asyncoperation"] if row.get("postponeuntil"))
LARGE = next(row for row in DATASET["tables"]["asyncoperation"] if isinstance(row.get("data"), dict))
SELECT = "?$select=createdon,modifiedon,postponeuntil,datablobid"


def moved(text: str, shift: dt.timedelta) -> str:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00")) + shift
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def the_jobs(em, shift: dt.timedelta) -> None:
    """The postponed job and a job with a file read as the data set wrote them, moved by `shift`."""
    row = (await em.get(f"asyncoperations({POSTPONED['asyncoperationid']}){SELECT}")).json()
    assert [row["createdon"], row["modifiedon"], row["postponeuntil"]] == [
        moved(POSTPONED[name], shift) for name in ("createdon", "modifiedon", "postponeuntil")]
    large = (await em.get(f"asyncoperations({LARGE['asyncoperationid']}){SELECT}")).json()
    assert large["createdon"] == moved(LARGE["createdon"], shift)
    file = (await em.get(f"fileattachments({large['datablobid']})?$select=createdon,filesizeinbytes")).json()
    assert file["createdon"] == moved(LARGE["createdon"], shift) and file["filesizeinbytes"] > 4 * 1024 * 1024


async def test_a_load_at_another_moment_moves_every_timestamp_and_a_reset_moves_them_again(tmp_path):
    for days in (3, -2):  # the second load starts from rows a shifted load and a reset have used
        shift = dt.timedelta(days=days)
        settings = make_settings(database=str(tmp_path / f"store{days}.db"), clock_start=REFERENCE + shift)
        async with running(settings) as em:
            await the_jobs(em, shift)
            assert (await em.client.post("/_emulator/v1/reset")).status_code == 200
            await the_jobs(em, shift)
