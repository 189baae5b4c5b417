"""Where the grammar and the bundled fixtures are.

A built wheel carries them inside the package (`odata_emulator/grammar`, `.../fixtures`); a
source checkout keeps them at the top of the repository. Both layouts are looked up here, and
nowhere else.
"""

from __future__ import annotations

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
