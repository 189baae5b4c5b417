"""Fresh stores copied from a template instead of built.

A start on a new store file builds it: the schema (21 tables, 92 indexes), then the data set (values
converted, long texts expanded and compressed, rows inserted), about a quarter of a second of a one
second start. The first such start keeps a copy of what it built in the user's cache directory, its
timestamps moved back to the data set's reference time; the next start on a new file with the same
schema, model and data set copies that file and moves its timestamps forward by the same shift a
load would apply (`fixtures.shift_of`). The copy holds what the load would have written: same rows,
same row versions, same history, same files (`tests/store/test_templates.py` compares them).

A template is named by a digest of everything that decides its content: the store's and the model's
code, SQLAlchemy's and SQLite's versions, the model's entity definitions, and the data set file (path,
size, modification time), so that a change to any of them makes a new template instead of using a
stale one. They live in the emulator's cache directory (`_resources.cache_dir`: none, no templates).
Anything that fails here (a read-only directory, another process busy with the same file) falls back
to building the store, as without templates.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import secrets
import shutil
import sqlite3
from pathlib import Path

from .._resources import cache_dir
from ..model import EntityModel
from .engine import model_fingerprint
from .fixtures import DATASET, date_columns
from .schema import HISTORY

log = logging.getLogger("odata_emulator.store")

_PACKAGE = Path(__file__).resolve().parent.parent
KEPT = 8  # templates kept in the cache directory, the newest
# The code whose changes change what a built store holds: the schema, the model, and how values are stored.
_CONTENT_CODE = ("store", "model")


@functools.cache
def _code_digest() -> str:
    import sqlalchemy

    digest = hashlib.sha256(f"{sqlalchemy.__version__}\0{sqlite3.sqlite_version}".encode())
    for folder in _CONTENT_CODE:
        for path in sorted((_PACKAGE / folder).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def template_path(model: EntityModel, fixtures: Path | None) -> Path | None:
    """The template for a new store of `model` with the data set in `fixtures` (None: an empty store)."""
    directory = cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256(f"{_code_digest()}\0{model_fingerprint(model)}".encode())
    if fixtures is not None:
        dataset = (Path(fixtures) / DATASET).resolve()
        try:
            stat = dataset.stat()
        except OSError:  # the start says what is wrong with the data set
            return None
        digest.update(f"{dataset}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return directory / f"store-{digest.hexdigest()[:32]}.db"


def copy_template(template: Path | None, store_file: str, model: EntityModel, shift_seconds: int) -> bool:
    """A new store file made as a copy of `template`, its timestamps moved by `shift_seconds` before it
    takes the store's name (it appears whole or not at all); False (nothing done) when there is no
    template or the store file exists already (another process may be making it: the usual start
    sees to that)."""
    target = Path(store_file)
    if template is None or target.exists() or not template.is_file():
        return False
    try:
        partial = _scratch_beside(target)
        try:
            shutil.copyfile(template, partial)
            if shift_seconds:
                _shift(partial, model, shift_seconds)
            os.link(partial, target)  # only if nothing is there yet, atomically
        finally:
            _remove(partial)
    except (OSError, sqlite3.Error) as exc:  # a file there now, no hard links, a full disk: built instead
        log.debug("store template %s not used: %s", template, exc)
        return False
    return True


def save_template(store_file: str, template: Path | None, model: EntityModel, shift_seconds: int) -> None:
    """Keep what a start built (the store file, not yet written to by anything else) as the template,
    its timestamps moved back by `shift_seconds`."""
    if template is None:
        return
    try:
        partial = _scratch_beside(template)
        try:
            source = sqlite3.connect(store_file)
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                source.close()
                copy.close()
            if shift_seconds:
                _shift(partial, model, -shift_seconds)
            os.replace(partial, template)
        finally:
            _remove(partial)
        _prune(template.parent)
    except (OSError, sqlite3.Error) as exc:
        log.debug("store template %s not kept: %s", template, exc)


def _prune(directory: Path) -> None:
    """Only the KEPT templates made last stay: each change of the code or the data set makes a new one."""
    made = sorted(directory.glob("store-*.db"), key=lambda path: path.stat().st_mtime_ns, reverse=True)
    for old in made[KEPT:]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()


def _scratch_beside(path: Path) -> Path:
    """A new empty file in `path`'s directory (a rename or link from there to `path` is atomic), made
    with the process's usual permissions (a store file is made as SQLite would make it)."""
    while True:
        scratch = path.parent / f".{path.name}.{secrets.token_hex(6)}"
        try:
            open(scratch, "xb").close()
        except FileExistsError:
            continue
        return scratch


def _remove(path: Path) -> None:
    """A scratch store file and what SQLite may have left beside it."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _shift(store_file: Path, model: EntityModel, seconds: int) -> None:
    """Move every timestamp a data set load writes by `seconds`, in the store file (not in use), and
    fold the change into the file itself: the file alone is then linked or renamed into place."""
    db = sqlite3.connect(store_file, isolation_level=None)
    try:
        db.execute("BEGIN")
        for statement in shift_statements(model):
            db.execute(statement, {"seconds": seconds})
        db.execute("COMMIT")
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise sqlite3.OperationalError("the moved timestamps could not be written into the file")
    finally:
        db.close()


@functools.cache
def shift_statements(model: EntityModel) -> tuple[str, ...]:
    """The statements that move every timestamp a data set load writes by `:seconds`: the date and
    time columns of the records (the data set's, and the files made of its jobs' large data), and the
    job history."""
    statements = []
    for entity in model.entities:
        if entity.is_metadata:
            continue
        dates = date_columns(entity)
        if dates:
            moves = ", ".join(f"{name} = {name} + :seconds" for name in dates)
            statements.append(f"UPDATE {entity.logical_name} SET {moves}")
    statements.append(f"UPDATE {HISTORY.name} SET at = at + :seconds")
    return tuple(statements)

