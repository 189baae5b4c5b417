"""The README's "System jobs from your own events" pytest example, run as a new user's test file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ("pytester",)


def events_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- events-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "the README lost its events example"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_events_example_passes_as_written(pytester):
    pytest.importorskip("odata_emulator.events", reason="steps fire on writes once odata_emulator/events/ is there")
    pytester.makepyfile(test_readme_events=events_example())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
