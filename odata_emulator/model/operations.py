"""The functions and actions the Web API serves, declared once as Dataverse's `$metadata` declares
them: their parameters, return types, and the complex and enum types those need.

`model/csdl.py` renders these into `$metadata`; `api/routes.py` routes the same names. What each
operation does lives in `api/` (documents.py, operations.py, actions.py) and `jobs/bulkdelete.py`.

Sources: use-web-api-functions.md (WhoAmI, bound functions, `Target=@tid` record references),
use-web-api-actions.md, the Web API reference pages of BulkDelete, RetrieveTotalRecordCount,
RetrievePrincipalAccess and RetrieveVersion, and of the QueryExpression complex types BulkDelete's
`QuerySet` takes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    """A parameter of an operation, or a property of a complex type. `type` is an Edm type, or a
    schema type by its unqualified name (`QueryExpression`), either maybe inside `Collection(...)`."""

    name: str
    type: str
    nullable: bool | None = None  # None: not written (CSDL's default, nullable)
    unicode: bool | None = None


@dataclass(frozen=True)
class Operation:
    """A Function (GET, no side effects) or an Action (POST). A bound operation's first parameter
    is the entity it is bound to (`bound_to`, an entity type of the model)."""

    name: str
    kind: str  # "Function" | "Action"
    parameters: tuple[Param, ...]
    returns: str | None
    bound_to: str | None = None


@dataclass(frozen=True)
class ComplexType:
    name: str
    properties: tuple[Param, ...]
    base: str | None = None
    abstract: bool = False


@dataclass(frozen=True)
class EnumType:
    name: str
    members: tuple[tuple[str, int], ...]
    flags: bool = False


def _enum(name: str, names: str, flags: bool = False) -> EnumType:
    return EnumType(name, tuple((member, value) for value, member in enumerate(names.split())), flags)


# Microsoft.Xrm.Sdk.Query.ConditionOperator, in its order (the member's value is its position).
CONDITION_OPERATOR = _enum("ConditionOperator", """
    Equal NotEqual GreaterThan LessThan GreaterEqual LessEqual Like NotLike In NotIn Between NotBetween Null
    NotNull Yesterday Today Tomorrow Last7Days Next7Days LastWeek ThisWeek NextWeek LastMonth ThisMonth NextMonth
    On OnOrBefore OnOrAfter LastYear ThisYear NextYear LastXHours NextXHours LastXDays NextXDays LastXWeeks
    NextXWeeks LastXMonths NextXMonths LastXYears NextXYears EqualUserId NotEqualUserId EqualBusinessId
    NotEqualBusinessId ChildOf Mask NotMask MasksSelect Contains DoesNotContain EqualUserLanguage NotOn
    OlderThanXMonths BeginsWith DoesNotBeginWith EndsWith DoesNotEndWith ThisFiscalYear ThisFiscalPeriod
    NextFiscalYear NextFiscalPeriod LastFiscalYear LastFiscalPeriod LastXFiscalYears LastXFiscalPeriods
    NextXFiscalYears NextXFiscalPeriods InFiscalYear InFiscalPeriod InFiscalPeriodAndYear
    InOrBeforeFiscalPeriodAndYear InOrAfterFiscalPeriodAndYear EqualUserTeams EqualUserOrUserTeams Under NotUnder
    UnderOrEqual Above AboveOrEqual EqualUserOrUserHierarchy EqualUserOrUserHierarchyAndTeams OlderThanXYears
    OlderThanXWeeks OlderThanXDays OlderThanXHours OlderThanXMinutes ContainValues DoesNotContainValues
    EqualRoleBusinessId""")

# Microsoft.Crm.Sdk.Messages.AccessRights: a flags enum, written as "ReadAccess, WriteAccess, ...".
ACCESS_RIGHTS = EnumType("AccessRights", (
    ("None", 0), ("ReadAccess", 1), ("WriteAccess", 2), ("AppendAccess", 4), ("AppendToAccess", 16),
    ("CreateAccess", 32), ("DeleteAccess", 65536), ("ShareAccess", 262144), ("AssignAccess", 524288),
), flags=True)

ENUM_TYPES: tuple[EnumType, ...] = (
    CONDITION_OPERATOR,
    _enum("LogicalOperator", "And Or"),
    _enum("JoinOperator", "Inner LeftOuter Natural MatchFirstRowUsingCrossApply In Exists Any NotAny All NotAll"),
    _enum("OrderType", "Ascending Descending"),
    ACCESS_RIGHTS,
)

_STRING = "Edm.String"
_BOOL = "Edm.Boolean"

COMPLEX_TYPES: tuple[ComplexType, ...] = (
    ComplexType("WhoAmIResponse", (Param("BusinessUnitId", "Edm.Guid", False), Param("UserId", "Edm.Guid", False),
                                   Param("OrganizationId", "Edm.Guid", False))),
    ComplexType("RetrieveVersionResponse", (Param("Version", _STRING),)),
    ComplexType("BulkDeleteResponse", (Param("JobId", "Edm.Guid", False),)),
    ComplexType("EntityRecordCountCollection", (
        Param("Count", "Edm.Int32"), Param("IsReadOnly", _BOOL),
        Param("Keys", f"Collection({_STRING})", False), Param("Values", "Collection(Edm.Int64)", False))),
    ComplexType("RetrieveTotalRecordCountResponse", (Param("EntityRecordCountCollection", "EntityRecordCountCollection"),)),
    ComplexType("RetrievePrincipalAccessResponse", (Param("AccessRights", "AccessRights", False),)),
    # The query BulkDelete's QuerySet holds (Microsoft.Xrm.Sdk.Query), as the Web API's types name it.
    ComplexType("QueryBase", (), abstract=True),
    ComplexType("QueryExpression", (
        Param("EntityName", _STRING), Param("ColumnSet", "ColumnSet"), Param("Distinct", _BOOL),
        Param("NoLock", _BOOL), Param("PageInfo", "PagingInfo"), Param("LinkEntities", "Collection(LinkEntity)"),
        Param("Criteria", "FilterExpression"), Param("Orders", "Collection(OrderExpression)"),
        Param("TopCount", "Edm.Int32"), Param("DataSource", _STRING)), base="QueryBase"),
    ComplexType("ColumnSet", (Param("AllColumns", _BOOL), Param("Columns", f"Collection({_STRING})"))),
    ComplexType("PagingInfo", (
        Param("PageNumber", "Edm.Int32"), Param("Count", "Edm.Int32"), Param("PagingCookie", _STRING),
        Param("ReturnTotalRecordCount", _BOOL))),
    ComplexType("FilterExpression", (
        Param("FilterOperator", "LogicalOperator"), Param("Conditions", "Collection(ConditionExpression)"),
        Param("Filters", "Collection(FilterExpression)"), Param("IsQuickFindFilter", _BOOL),
        Param("FilterHint", _STRING))),
    ComplexType("ConditionExpression", (
        Param("EntityName", _STRING), Param("AttributeName", _STRING), Param("Operator", "ConditionOperator"),
        Param("Values", "Collection(Object)"), Param("CompareColumns", _BOOL))),
    ComplexType("Object", (Param("Type", _STRING), Param("Value", _STRING))),
    ComplexType("OrderExpression", (
        Param("AttributeName", _STRING), Param("OrderType", "OrderType"), Param("Alias", _STRING),
        Param("EntityName", _STRING))),
    ComplexType("LinkEntity", (
        Param("LinkFromAttributeName", _STRING), Param("LinkFromEntityName", _STRING),
        Param("LinkToEntityName", _STRING), Param("LinkToAttributeName", _STRING),
        Param("JoinOperator", "JoinOperator"), Param("LinkCriteria", "FilterExpression"),
        Param("LinkEntities", "Collection(LinkEntity)"), Param("Columns", "ColumnSet"),
        Param("EntityAlias", _STRING), Param("Orders", "Collection(OrderExpression)"))),
    ComplexType("BulkDeleteOptions", (Param("CanRecoverDeletedRecords", _BOOL), Param("RunJobForSandbox", _BOOL))),
)

# Entity types an operation's parameters name that the emulator holds no table of: declared so
# the document is whole (`activityparty`, BulkDelete's recipients), with their key only.
PARAMETER_ENTITY_TYPES: tuple[tuple[str, str], ...] = (("activityparty", "activitypartyid"),)

OPERATIONS: tuple[Operation, ...] = (
    Operation("WhoAmI", "Function", (), "WhoAmIResponse"),
    Operation("RetrieveVersion", "Function", (), "RetrieveVersionResponse"),
    Operation("RetrieveTotalRecordCount", "Function",
              (Param("EntityNames", f"Collection({_STRING})", False),), "RetrieveTotalRecordCountResponse"),
    Operation("RetrievePrincipalAccess", "Function",
              (Param("entity", "systemuser", False), Param("Target", "crmbaseentity", False)),
              "RetrievePrincipalAccessResponse", bound_to="systemuser"),
    Operation("RetrievePrincipalAccess", "Function",
              (Param("entity", "team", False), Param("Target", "crmbaseentity", False)),
              "RetrievePrincipalAccessResponse", bound_to="team"),
    Operation("BulkDelete", "Action", (
        Param("QuerySet", "Collection(QueryExpression)", False),
        Param("JobName", _STRING, False, unicode=False),
        Param("SendEmailNotification", _BOOL, False),
        Param("ToRecipients", "Collection(activityparty)", False),
        Param("CCRecipients", "Collection(activityparty)", False),
        Param("RecurrencePattern", _STRING, False, unicode=False),
        Param("StartDateTime", "Edm.DateTimeOffset", False),
        Param("SourceImportId", "Edm.Guid"),
        Param("RunNow", _BOOL),
        Param("Options", "BulkDeleteOptions"),
    ), "BulkDeleteResponse"),
    # webapi/reference/executeworkflow: bound to a workflow, returns the asyncoperation it files
    # (InputArguments, "for internal use only", is not declared).
    Operation("ExecuteWorkflow", "Action", (Param("entity", "workflow", False), Param("EntityId", "Edm.Guid", False)),
              "asyncoperation", bound_to="workflow"),
)
