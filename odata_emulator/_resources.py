"""Where the grammar and the bundled fixtures are, and the emulator's cache.

A built wheel carries them inside the package (`odata_emulator/grammar`, `.../fixtures`); a
source checkout keeps them at the top of the repository. Both layouts are looked up here, and
nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the emulator's {name}/ directory is missing from {_PACKAGE}")


def grammar_text(filename: str) -> str:
    return (_resource_dir("grammar") / filename).read_text(encoding="utf-8")


def fixtures_dir() -> Path:
    return _resource_dir("fixtures")


CACHE_ENV = "ODATA_EMULATOR_CACHE_DIR"  # the cache directory; set empty: no cache


def cache_dir() -> Path | None:
    """The user's cache directory for what is derived from the package and costly to rebuild (lark's
    parse tables, fresh store templates): `$ODATA_EMULATOR_CACHE_DIR` (empty: none), else
    `$XDG_CACHE_HOME/odata-emulator`, else `~/.cache/odata-emulator`. A per-user directory, never the
    shared temporary one: what is cached there is unpickled or copied into stores. None (no cache) when
    it cannot be made."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        if not chosen:
            return None
        directory = Path(chosen).expanduser()
    else:
        directory = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "odata-emulator"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return directory


def cache_file(name: str) -> str | bool:
    """A file of the cache directory (`cache_dir`), as lark's `cache` takes it: False for none."""
    directory = cache_dir()
    return False if directory is None else str(directory / name)
