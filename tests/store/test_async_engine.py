"""SQLAlchemy's asyncio engine without its ORM (`store/async_engine.py`): the emulator's start never
imports `sqlalchemy.orm`, and the rest of the process still finds the whole `sqlalchemy.ext.asyncio`
package when it asks for it. Each check runs in a fresh interpreter (this one has imported everything)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test starts an interpreter and imports the emulator (about a second)


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_serving_imports_no_orm():
    assert run("import sys, odata_emulator.cli\n"
               "from odata_emulator.api.app import create_app\n"
               "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.orm')))") == "[]"


def test_the_whole_package_is_there_for_whoever_asks():
    assert run("import odata_emulator.store.engine\n"
               "from sqlalchemy.ext.asyncio import AsyncSession, AsyncConnection, create_async_engine\n"
               "from odata_emulator.store.async_engine import AsyncConnection as ours\n"
               "import sqlalchemy.ext.asyncio as package\n"
               "print(AsyncSession.__module__, ours is AsyncConnection, package.async_sessionmaker.__name__)"
               ) == "sqlalchemy.ext.asyncio.session True async_sessionmaker"


def test_a_package_imported_whole_first_is_used_as_it_is():
    assert run("import sqlalchemy.ext.asyncio as package\n"
               "from odata_emulator.store.async_engine import AsyncEngine\n"
               "print(AsyncEngine is package.AsyncEngine, hasattr(package, 'AsyncSession'))") == "True True"
