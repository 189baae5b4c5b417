"""Every error the emulator reports, as one tree. Each class carries the Dataverse error code
and HTTP status it is answered with; `api/errors.py` turns any of them into
`{"error": {"code": "0x...", "message": "..."}}` in one place.

    DataverseError
    ├── BadRequest (400, 0x80040203)
    │   ├── QueryError (400, 0x80060888)             malformed or unresolvable query options
    │   │   ├── QuerySyntaxError                      points at the position in the option text
    │   │   ├── UnknownProperty                       "Could not find a property named ..."
    │   │   ├── TypeMismatch                          incompatible operand types
    │   │   └── InvalidSkipToken
    │   ├── UnsupportedQuery (400, 0x8006088a)        valid OData that Dataverse refuses (strict mode)
    │   ├── FetchXmlError (400, 0x80040203)           malformed, hostile or unresolvable FetchXML or
    │   │                                             QueryExpression (QueryBuilder codes 0x800411xx)
    │   ├── AggregateLimitExceeded (400, 0x8004e023)
    │   ├── InvalidKey (400, 0x80060888)              malformed or quoted key segment
    │   ├── InvalidPayload (400, 0x80048d19)          unreadable JSON body
    │   ├── InvalidState (400, 0x80040203)            a forbidden state transition
    │   └── NotSupported (400, 0x80040203)            an operation the platform refuses
    ├── ResourceNotFound (404, 0x8006088a)            unknown entity set, segment or function
    ├── RecordNotFound (404, 0x80040217)
    ├── MethodNotAllowed (405, 0x80060888)
    ├── UriTooLong (414, no code)                     a request URL longer than Dataverse takes
    ├── UnsupportedMediaType (415, 0x80060888)
    ├── PreconditionFailed (412, 0x80060882)          If-Match with a stale ETag
    └── Unauthorized (401, 0x80044306)
"""

from __future__ import annotations


class DataverseError(Exception):
    status: int = 400
    code: str = "0x80040203"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class BadRequest(DataverseError):
    status = 400
    code = "0x80040203"


class QueryError(BadRequest):
    code = "0x80060888"


class QuerySyntaxError(QueryError):
    def __init__(self, message: str, *, position: int | None = None, text: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.text = text


class UnknownProperty(QueryError):
    def __init__(self, name: str, type_name: str) -> None:
        super().__init__(f"Could not find a property named '{name}' on type '{type_name}'.")
        self.name = name


class TypeMismatch(QueryError):
    pass


class InvalidSkipToken(QueryError):
    pass


class UnsupportedQuery(BadRequest):
    code = "0x8006088a"


class FetchXmlError(BadRequest):
    code = "0x80040203"

    @classmethod
    def no_attribute(cls, entity: str, name: str) -> "FetchXmlError":
        return cls(f"'{entity}' entity doesn't contain attribute with Name = '{name}' and NameMapping = 'Logical'.",
                   code="0x80041103")

    @classmethod
    def no_entity(cls, name: str) -> "FetchXmlError":
        return cls(f"The entity with a name = '{name}' with namemapping = 'Logical' was not found in the "
                   f"MetadataCache.", code="0x80041102")


class AggregateLimitExceeded(BadRequest):
    code = "0x8004e023"

    def __init__(self) -> None:
        super().__init__("AggregateQueryRecordLimit exceeded. Cannot perform this operation.")


class InvalidKey(BadRequest):
    code = "0x80060888"


class InvalidPayload(BadRequest):
    code = "0x80048d19"


class InvalidState(BadRequest):
    code = "0x80040203"


class NotSupported(BadRequest):
    code = "0x80040203"


class ResourceNotFound(DataverseError):
    status = 404
    code = "0x8006088a"


class RecordNotFound(DataverseError):
    status = 404
    code = "0x80040217"

    @classmethod
    def for_id(cls, logical_name: str, record_id: str) -> "RecordNotFound":
        return cls(f"Entity '{logical_name}' With Id = {record_id} Does Not Exist")


class MethodNotAllowed(DataverseError):
    status = 405
    code = "0x80060888"


class UriTooLong(DataverseError):
    """A request URL longer than Dataverse accepts (32,768 characters; 65,536 for a request inside
    `$batch`), answered by `api/errors.py`'s `ErrorBoundary` before any route runs. Dataverse's web
    server refuses these itself, with status 414 and no Dataverse error code."""

    status = 414
    code = ""


class UnsupportedMediaType(DataverseError):
    status = 415
    code = "0x80060888"


class PreconditionFailed(DataverseError):
    status = 412
    code = "0x80060882"


class Unauthorized(DataverseError):
    status = 401
    code = "0x80044306"
