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
    ├── PreconditionFailed (412, 0x80060882)          If-Match with a stale ETag
    └── Unauthorized (401, 0x80044306)
"""

from __future__ import annotations


class Code:
    """The Dataverse error codes the emulator answers with, named once: pass `code=Code.X` where an
    error's class does not already carry the code. (The names say what the emulator uses each for;
    Dataverse's own names for them are not all documented.)"""

    INVALID_ARGUMENT = "0x80040203"  # the generic 400: an invalid value or request
    SQL_ERROR = "0x80040216"  # "An unexpected error occurred" (the 500)
    RECORD_NOT_FOUND = "0x80040217"
    DUPLICATE_RECORD = "0x80040237"  # a record with the same key exists
    QUERY_ENTITY_NOT_FOUND = "0x80041102"  # FetchXML/QueryExpression: no such table
    QUERY_ATTRIBUTE_NOT_FOUND = "0x80041103"  # FetchXML/QueryExpression: no such column
    QUERY_CONDITION_VALUE = "0x80041106"  # a condition's values do not fit its operator or column
    QUERY_PAGING_LIMIT = "0x80041108"  # top/count/page past what Dataverse allows
    QUERY_DUPLICATE_ALIAS = "0x80041109"
    QUERY_UNKNOWN_ALIAS = "0x8004110a"
    QUERY_ALIAS_REQUIRED = "0x8004110b"  # an aggregate or group-by attribute without an alias
    QUERY_STRUCTURE = "0x80041117"  # FetchXML elements in a place or number Dataverse refuses
    QUERY_AGGREGATE = "0x8004111a"  # an aggregate query breaking its own rules
    FETCHXML_MALFORMED = "0x8004111c"  # FetchXML that is not a valid document of its schema
    QUERY_CONDITION_OPERATOR = "0x80041120"
    QUERY_ORDER = "0x80041121"
    QUERY_FILTER_TYPE = "0x80041122"
    FETCHXML_EMPTY = "0x80041124"
    FETCHXML_ROOT = "0x80041125"
    QUERY_ENTITY_SET_MISMATCH = "0x80041128"  # FetchXML sent to the entity set of another table
    REQUEST_TOO_LARGE = "0x8004418a"  # a body past the size Dataverse reads (413)
    UNAUTHORIZED = "0x80044306"
    LINK_ENTITY_LIMIT = "0x8004430d"  # more link-entities than Dataverse joins
    BULK_DELETE_INVALID = "0x80044331"  # a BulkDelete request Dataverse refuses
    INVALID_PAYLOAD = "0x80048d19"  # a body that cannot be read, or a value of the wrong type
    AGGREGATE_LIMIT = "0x8004e023"  # AggregateQueryRecordLimit
    PRECONDITION_FAILED = "0x80060882"  # If-Match with a stale ETag
    QUERY_SYNTAX = "0x80060888"  # malformed or unresolvable OData (also a method a resource refuses)
    RESOURCE_NOT_FOUND = "0x8006088a"  # unknown segment; also valid OData Dataverse refuses
    CRM_EXCEPTION = "0x0"  # Dataverse's code for a CrmException raised while validating input
    NONE = ""  # Dataverse's web server answers some errors with an empty code (404 routes, 414)


class DataverseError(Exception):
    """The root: every error answered to a client (`api/errors.py` shapes it) carries its HTTP
    `status` and Dataverse `code`; `message` is the text Dataverse sends."""

    status: int = 400
    code: str = Code.INVALID_ARGUMENT

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class BadRequest(DataverseError):
    """Raised when a request is refused as invalid (400) and no narrower class fits."""

    status = 400
    code = Code.INVALID_ARGUMENT


class QueryError(BadRequest):
    """Raised when OData query options are malformed or name what does not exist."""

    code = Code.QUERY_SYNTAX


class QuerySyntaxError(QueryError):
    """Raised by the query parser at the position where an option's text stops making sense."""

    def __init__(self, message: str, *, position: int | None = None, text: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.text = text


class UnknownProperty(QueryError):
    """Raised when a query names a property the table does not have."""

    def __init__(self, name: str, type_name: str) -> None:
        super().__init__(f"Could not find a property named '{name}' on type '{type_name}'.")
        self.name = name


class TypeMismatch(QueryError):
    """Raised by the binder when operand types cannot be compared or combined."""


class InvalidSkipToken(QueryError):
    """Raised when a paging cookie or `$skiptoken` cannot be read back."""


class UnsupportedQuery(BadRequest):
    """Raised in strict mode for valid OData that Dataverse refuses (`$skip`, `tolower`...)."""

    code = Code.RESOURCE_NOT_FOUND


class FetchXmlError(BadRequest):
    """Raised when FetchXML or a QueryExpression is malformed, hostile or unresolvable."""

    code = Code.INVALID_ARGUMENT

    @classmethod
    def no_attribute(cls, entity: str, name: str) -> FetchXmlError:
        return cls(f"'{entity}' entity doesn't contain attribute with Name = '{name}' and NameMapping = 'Logical'.",
                   code=Code.QUERY_ATTRIBUTE_NOT_FOUND)

    @classmethod
    def no_entity(cls, name: str) -> FetchXmlError:
        return cls(f"The entity with a name = '{name}' with namemapping = 'Logical' was not found in the "
                   f"MetadataCache.", code=Code.QUERY_ENTITY_NOT_FOUND)


class AggregateLimitExceeded(BadRequest):
    """Raised when an aggregate reads more rows than the aggregate limit (`--aggregate-limit`)."""

    code = Code.AGGREGATE_LIMIT

    def __init__(self) -> None:
        super().__init__("AggregateQueryRecordLimit exceeded. Cannot perform this operation.")


class InvalidKey(BadRequest):
    """Raised when a key segment (`asyncoperations(<key>)`) is malformed or quoted."""

    code = Code.QUERY_SYNTAX


class InvalidPayload(BadRequest):
    """Raised when a request body cannot be read (not JSON, too large, a value of the wrong type)."""

    code = Code.INVALID_PAYLOAD


class InvalidState(BadRequest):
    """Raised when a job is asked to move to a state its current state does not allow."""

    code = Code.INVALID_ARGUMENT


class NotSupported(BadRequest):
    """Raised for an operation the platform refuses (creating system jobs, platform-job commands)."""

    code = Code.INVALID_ARGUMENT


class ResourceNotFound(DataverseError):
    """Raised when a URL names an entity set, segment or function that does not exist (404)."""

    status = 404
    code = Code.RESOURCE_NOT_FOUND


class RecordNotFound(DataverseError):
    """Raised when the record a key names does not exist (404)."""

    status = 404
    code = Code.RECORD_NOT_FOUND

    @classmethod
    def for_id(cls, logical_name: str, record_id: str) -> RecordNotFound:
        return cls(f"Entity '{logical_name}' With Id = {record_id} Does Not Exist")


class MethodNotAllowed(DataverseError):
    """Raised when a resource exists but does not take the request's method (405)."""

    status = 405
    code = Code.QUERY_SYNTAX


class UriTooLong(DataverseError):
    """A request URL longer than Dataverse accepts (32,768 characters; 65,536 for a request inside
    `$batch`), answered by `api/errors.py`'s `ErrorBoundary` before any route runs. Dataverse's web
    server refuses these itself, with status 414 and no Dataverse error code."""

    status = 414
    code = Code.NONE


class PreconditionFailed(DataverseError):
    """Raised when `If-Match`/`If-None-Match` does not hold (412): a stale ETag, or a record that exists."""

    status = 412
    code = Code.PRECONDITION_FAILED


class Unauthorized(DataverseError):
    """Raised with `--require-auth` when a request carries no bearer token (401)."""

    status = 401
    code = Code.UNAUTHORIZED
