"""File storage: the `fileattachment` table, where Dataverse keeps a column's content too large to
keep in its row (a system job's `data` over 4 MB, `asynchronous-service.md`, "Queries for File
Storage"). The emulator keeps the content itself in a table of its own (`store/schema.py`); a
`fileattachment` row describes it, and the job's `datablobid` points at that row."""

from __future__ import annotations

from .columns import datetime_, guid, hidden, lookup, string
from .types import Attribute, Entity, ManyToOne
from .types import AttributeType as T

# Content longer than this many bytes of UTF-8 goes to file storage (4 MB).
FILE_STORAGE_THRESHOLD = 4 * 1024 * 1024

FILEATTACHMENT = Entity(
    logical_name="fileattachment",
    schema_name="FileAttachment",
    entity_set="fileattachments",
    primary_id="fileattachmentid",
    primary_name="filename",
    display_name="FileAttachment",
    display_collection_name="FileAttachments",
    object_type_code=55,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e20",
    ownership="None",
    description="File Attachment",
    attributes=(
        datetime_("createdon", description="Date and time when the attachment was created."),
        guid("fileattachmentid", description="Unique identifier of the file attachment.", required=True),
        string("filename", 255, description="File name of the attachment.", display_name="File Name"),
        Attribute("filesizeinbytes", T.BIGINT, min_value=0, max_value=9223372036854775807,
                  description="File size of the attachment in bytes.", display_name="File Size (Bytes)"),
        string("mimetype", 256, description="MIME type of the attachment.", display_name="MIME Type"),
        Attribute("objecttypecode", T.ENTITYNAME, description="Type of entity with which the file attachment is associated.",
                  display_name="Object Type"),
        lookup("objectid", "asyncoperation", description="Unique identifier of the object with which the attachment is associated."),
        # The object type code of the row `objectid` points at, as the docs' SQL compares it (4700).
        hidden("objectidtypecode", T.INTEGER),
        string("regardingfieldname", 256, description="Regarding attribute schema name of the attachment.",
               display_name="Regarding Attribute Schema Name"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("objectid_asyncoperation", "objectid", "asyncoperation", "asyncoperation_FileAttachments"),
    ),
)

# The columns whose content may live in file storage: column -> the column holding the file's id.
FILE_COLUMNS: dict[tuple[str, str], str] = {("asyncoperation", "data"): "datablobid"}
