"""Hypothesis settings for the fuzz modules (see tests/fuzz/harness.py for what every answer must pass).

Profiles, chosen with the HYPOTHESIS_PROFILE environment variable:
- `ci` (the default): a bounded budget, deterministic (derandomized: the same examples on every
  run), so CI is never flaky; about 30 s for the whole folder on a 2-core machine.
- `long`: 40 times as many examples, random: `HYPOTHESIS_PROFILE=long pytest tests/fuzz -q`
  (several minutes per module) to hunt for new failures.

No example database is kept (`database=None`), and Hypothesis's own cache (the constants it
collects from the source) goes to the temporary directory, not `.hypothesis/` in the checkout
(set HYPOTHESIS_STORAGE_DIRECTORY to put it elsewhere).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.fuzz.harness import Harness
from tests.helpers import make_settings

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "odata-emulator-hypothesis")

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
               HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SUPPRESSED, print_blob=True)
settings.register_profile("long", max_examples=4000, deadline=None, database=None,
                          suppress_health_check=_SUPPRESSED, print_blob=True)
# `explore`: `long` without shrinking, to list failures fast while hunting.
settings.register_profile("explore", settings.get_profile("long"), phases=[Phase.explicit, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Every fuzz test takes seconds: out of the fast loop (`pytest -m "not slow"`), in CI."""
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def harness(request):
    """One emulator for the module, on the bundled data set with the virtual clock; a module changes
    its settings with a module-level `EMULATOR = dict(...)` (e.g. strict=False)."""
    started = Harness(make_settings(**getattr(request.module, "EMULATOR", {})))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def loose_harness(request):
    """`harness` in loose mode (standard OData that Dataverse refuses is evaluated)."""
    started = Harness(make_settings(**{**getattr(request.module, "EMULATOR", {}), "strict": False}))
    try:
        yield started
    finally:
        started.close()
