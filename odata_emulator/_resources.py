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


def cache_file(name: str) -> str | bool:
    """A file of the user's cache directory (`$XDG_CACHE_HOME/odata-emulator`, else
    `~/.cache/odata-emulator`) for what is derived from the package and costly to rebuild (lark's
    parse tables: `cache` as lark takes it). A per-user directory, never the shared temporary one:
    what is cached there is unpickled. False (no cache) when that directory cannot be made."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    directory = Path(base) / "odata-emulator"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    return str(directory / name)
