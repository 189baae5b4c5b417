"""Shared fixtures: an emulator app on a store of its own, and an httpx client talking to it in-process.

The store with the default settings (the bundled data set loaded on the virtual clock at its
reference time) is built once per session as a template file, and every test gets a copy: a
started emulator leaves an initialized store as it is, so the copy answers exactly as a fresh load
would (`tests/test_template_store.py` checks it). So is the empty store (`fixtures=None`). Settings
that do not change what is loaded (strict, require_auth, concurrency, limits...) may start on a
copy; tests with other data settings build their own. The helpers live in `tests/helpers.py`."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# The helpers (and with them the emulator, SQLAlchemy, httpx) are imported by the fixtures that use
# them, not here: with `-n N` the controller process loads this file too and runs no test, and the
# imports cost it about a second of CPU at every start, taken from the workers starting beside it.

_TESTS = Path(__file__).resolve().parent
# The emulator's cache (lark's parse tables, fresh store templates: `_resources.cache_dir`) is this
# run's own in the tests, never the user's, and goes with the run.
if "ODATA_EMULATOR_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="odata-emulator-test-cache-")
    os.environ["ODATA_EMULATOR_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
# A module says all its tests are slow with this line; the fuzz folder's conftest marks all of its own.
_SLOW_MODULE = re.compile(rb"^pytestmark = pytest\.mark\.slow\b", re.MULTILINE)
_SLOW_FOLDERS = {_TESTS / "fuzz"}


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """The fast loop (`-m "not slow"`) does not even import what it would deselect whole: a module
    declaring `pytestmark = pytest.mark.slow`, and the fuzz folder. Their imports (Microsoft's SDK,
    Playwright, hypothesis, the SQL clients) cost seconds on each worker."""
    if not _fast_loop(config):
        return None
    if collection_path in _SLOW_FOLDERS:
        return True
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return True if _SLOW_MODULE.search(collection_path.read_bytes()) else None
    return None


def pytest_configure(config) -> None:
    """The fast loop runs no property-based test, and hypothesis's pytest plugin imports all of
    hypothesis to write its summary (0.2 s, in the controller, after the last test): it is left out."""
    if _fast_loop(config):
        plugin = config.pluginmanager.get_plugin("hypothesispytest")
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def _fast_loop(config) -> bool:
    return config.getoption("markexpr", "") == "not slow"


# Python's cyclic garbage collector walks every object it tracks on each full pass: a worker holds
# hundreds of thousands (the emulator, SQLAlchemy, lark's tables, sqlglot, hypothesis, the collected
# tests) and made about ten full passes, 1.4 s in all, plus one at exit that the controller waited for
# (0.5 s per process). What is
# imported and collected by then lives as long as the session, so it is frozen (`gc.freeze`: moved
# where the collector never looks); what the tests make is still collected.
def pytest_collection_finish(session) -> None:
    gc.freeze()


def pytest_sessionstart(session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller of `-n N` collects nothing
        gc.freeze()


# A worker of `-n N` that has sent its last report still took about a second to exit (the interpreter
# tearing down every module and object it holds), and the controller waits for it before printing
# the summary. By the time the worker's Python shuts down it has nothing left to say: it leaves at
# once, after flushing its output.
def pytest_unconfigure(config) -> None:
    if hasattr(config, "workerinput"):
        atexit.register(_leave_at_once)


def _leave_at_once() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@pytest.fixture(scope="session")
def template_store(tmp_path_factory) -> Path:
    """The store the default settings make, built once: copy it, never open it for writing."""
    from tests.helpers import build_store

    return build_store(tmp_path_factory.mktemp("template") / "store.db")


@pytest.fixture(scope="session")
def empty_template(tmp_path_factory) -> Path:
    """The store `fixtures=None` makes (schema, no data), built once."""
    from tests.helpers import build_store

    return build_store(tmp_path_factory.mktemp("template") / "empty.db", fixtures=None)


@contextlib.contextmanager
def _scratch_copy(template: Path):
    """A private copy of a template store, removed afterwards (as a `:memory:` store is)."""
    from tests.helpers import copy_store

    scratch = Path(tempfile.mkdtemp(prefix="odata-emulator-test-"))
    try:
        yield copy_store(template, scratch / "store.db")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def store_copy(template_store):
    """A copy of the template store: pass it as `database` with the default data settings."""
    with _scratch_copy(template_store) as path:
        yield path


@pytest.fixture
def empty_store_copy(empty_template):
    """A copy of the empty template store: pass it as `database` with `fixtures=None`."""
    with _scratch_copy(empty_template) as path:
        yield path


@pytest.fixture
async def emulated(store_copy):
    from tests.helpers import make_settings, running

    async with running(make_settings(database=str(store_copy))) as em:
        yield em


@pytest.fixture
async def loose(store_copy):
    from tests.helpers import make_settings, running

    async with running(make_settings(database=str(store_copy), strict=False)) as em:
        yield em


@pytest.fixture
async def file_store(tmp_path, template_store):
    """An emulator on a SQLite file, so that tests can read the same store with the stdlib sqlite3."""
    from tests.helpers import copy_store, make_settings, running

    path = copy_store(template_store, tmp_path / "store.db")
    async with running(make_settings(database=str(path))) as em:
        yield em, path
