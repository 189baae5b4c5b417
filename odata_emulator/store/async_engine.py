"""SQLAlchemy's asyncio engine (`create_async_engine`, `AsyncEngine`, `AsyncConnection`) without its ORM.

Why: importing the package `sqlalchemy.ext.asyncio` imports its ORM session too (`sqlalchemy.orm`, about
0.2 s, a fifth of the emulator's start), and the store never uses it: it runs Core statements on
connections. The engine lives in the package's `engine` module, which needs no ORM.

How: the package is registered in `sys.modules` without running its `__init__`, and its `engine` and
`result` modules are imported into it, with the names its `__init__` would take from them. The first
time anything in the process asks the package for another name (`from sqlalchemy.ext.asyncio import
AsyncSession`), the package runs its real `__init__` and answers: other code in the same process (a
user's tests beside the pytest plugin) sees the whole package as usual, and pays for the ORM then.
If the package was imported whole already, it is simply used.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING

_PACKAGE = "sqlalchemy.ext.asyncio"
# What the package's __init__ takes from its `engine` and `result` modules (the rest is the ORM session).
_ENGINE_NAMES = ("async_engine_from_config", "AsyncConnection", "AsyncEngine", "AsyncTransaction",
                 "create_async_engine", "create_async_pool_from_url")
_RESULT_NAMES = ("AsyncMappingResult", "AsyncResult", "AsyncScalarResult", "AsyncTupleResult")


def _package_without_orm() -> ModuleType:
    loaded = sys.modules.get(_PACKAGE)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(_PACKAGE)
    assert spec is not None and spec.loader is not None
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)

    def complete(name: str):
        """PEP 562: a name the partial package lacks makes it run its real `__init__` (once)."""
        if name.startswith("__"):  # dunders (copy, pickle, inspect probes) never complete it
            raise AttributeError(name)
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    sys.modules[_PACKAGE] = package
    try:
        engine = importlib.import_module(f"{_PACKAGE}.engine")
        result = importlib.import_module(f"{_PACKAGE}.result")
    except BaseException:
        sys.modules.pop(_PACKAGE, None)
        raise
    for name in _ENGINE_NAMES:
        setattr(package, name, getattr(engine, name))
    for name in _RESULT_NAMES:
        setattr(package, name, getattr(result, name))
    package.__dict__["__getattr__"] = complete
    # The one other thing the package's __init__ does: fail now, not at the first statement, without greenlet.
    from sqlalchemy.util import concurrency
    concurrency._concurrency_shim._initialize()
    return package


if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
else:
    _asyncio = _package_without_orm()
    AsyncConnection = _asyncio.AsyncConnection
    AsyncEngine = _asyncio.AsyncEngine
    create_async_engine = _asyncio.create_async_engine
