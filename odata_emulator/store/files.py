"""File storage (`model/files.py`): a column whose value is over 4 MB of UTF-8 (a system job's
`data`) keeps it in a file: a `fileattachment` row describing it (size, MIME type, the row and column
it belongs to) and the content, compressed, in `emulator_file_content`; the row keeps the file's id in its file
column (`datablobid`) and null in the column itself. Below the threshold the value stays in its row
and the file column is null. Readers never see the difference: `schema.readable_column` reads the
content back wherever the column is read.

Every path that creates system jobs goes through `store_files` (the job engine's `insert_jobs`, the
data set loader), and every path that deletes them through `delete_files` first."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.sql import ColumnElement

from ..model import MODEL
from ..model.files import FILE_COLUMNS, FILE_STORAGE_THRESHOLD
from .schema import FILE_CONTENT, FILES
from .values import compress_file

MIME_TYPE = "text/plain"
FILE_NAME = "AsyncOperationData.txt"  # a file's name when its row names none (`datablobid_name`)


def is_large(value: object) -> bool:
    """Whether `value` goes to file storage: text of more than 4 MB (4,194,304 bytes) of UTF-8."""
    if not isinstance(value, str) or len(value) * 4 <= FILE_STORAGE_THRESHOLD:
        return False  # a character is at most 4 bytes of UTF-8
    return len(value) > FILE_STORAGE_THRESHOLD or len(value.encode("utf-8")) > FILE_STORAGE_THRESHOLD


async def store_files(conn, table_name: str, rows: list[dict[str, Any]],
                      compress: Callable[[str], bytes] = compress_file) -> None:
    """Before `rows` (storage forms, every column present) are inserted into `table_name`: move each
    large file-column value into file storage, in place. A file column given with a large value
    names its file (a data set keeps its files' ids); with a small one it is cleared. `compress`:
    the content of a text (the data set loader has its texts' compressed already)."""
    columns = [(column, file_id) for (table, column), file_id in FILE_COLUMNS.items() if table == table_name]
    if not columns or not rows:
        return
    entity = MODEL.entity(table_name)
    files: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for row in rows:
        for column, file_id in columns:
            value = row.get(column)
            if not is_large(value):
                row[file_id] = None
                if f"{file_id}_name" in row:
                    row[f"{file_id}_name"] = None
                continue
            assert isinstance(value, str)  # is_large holds for text only
            identifier = row.get(file_id) or str(uuid.uuid4())
            name = row.get(f"{file_id}_name") or FILE_NAME
            files.append({
                "fileattachmentid": identifier, "createdon": row.get("createdon"), "filename": name,
                "filesizeinbytes": len(value.encode("utf-8")), "mimetype": MIME_TYPE,
                "objecttypecode": table_name, "objectid": row[entity.primary_id],
                "objectidtypecode": entity.object_type_code, "regardingfieldname": column,
            })
            contents.append({"fileattachmentid": identifier, "content": compress(value)})
            row.update({column: None, file_id: identifier})
            if f"{file_id}_name" in row:
                row[f"{file_id}_name"] = name
    if not files:
        return
    version = (await conn.execute(select(func.max(FILES.c.versionnumber)))).scalar_one_or_none() or 0
    for offset, file in enumerate(files, start=1):
        file["versionnumber"] = version + offset
    await conn.execute(insert(FILES), files)
    await conn.execute(insert(FILE_CONTENT), contents)


async def delete_files(conn, table: Table, *where: ColumnElement[bool]) -> None:
    """Before the rows of `table` that `where` selects are deleted: delete their files (the
    `fileattachment` rows and their content)."""
    for (name, _column), file_id in FILE_COLUMNS.items():
        if name != table.name:
            continue
        ids = select(table.c[file_id]).where(*where, table.c[file_id].is_not(None))
        await conn.execute(delete(FILE_CONTENT).where(FILE_CONTENT.c.fileattachmentid.in_(ids)))
        await conn.execute(delete(FILES).where(FILES.c.fileattachmentid.in_(ids)))
