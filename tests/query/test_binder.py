"""The binder against the entity model, for `asyncoperation`: name resolution, type checks,
what strict mode refuses (and loose mode evaluates), the Dataverse query functions, parameter
aliases, $select/$expand and $apply. No HTTP, no database."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from odata_emulator.errors import DataverseError, QueryError, TypeMismatch, UnknownProperty, UnsupportedQuery
from odata_emulator.model import MODEL
from odata_emulator.model import AttributeType as T
from odata_emulator.query import bound as b
from odata_emulator.query.binder import Binder
from odata_emulator.query.datefunctions import CLOCK_FUNCTIONS
from odata_emulator.query.limits import MAX_EXPANSIONS
from odata_emulator.query.options import QueryOptions, parse_query_string
from odata_emulator.query.parser import parse
from tests.helpers import DOCUMENTED, webapi_request

ASYNC = MODEL.entity("asyncoperation")
SYSTEMUSER = MODEL.entity("systemuser")
N = "Microsoft.Dynamics.CRM"
GUID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
# 2024-05-01T00:00:00Z and 2024-01-01T00:00:00Z as epoch seconds (the storage form of instants).
MAY_1 = 1714521600
JAN_1 = 1704067200


def bind(text: str, *, strict: bool = True, aliases: dict | None = None, entity=ASYNC):
    return Binder(MODEL, entity, strict, dict(aliases or {})).bind_filter(parse("filter", text))


def query(*, strict: bool = True, entity=ASYNC, **options) -> b.BoundQuery:
    return Binder(MODEL, entity, strict).bind_query(QueryOptions(**options))


def refusal(call, *args, **kwargs) -> DataverseError:
    with pytest.raises(DataverseError) as caught:
        call(*args, **kwargs)
    return caught.value


def ref_path(ref: b.PropertyRef) -> str:
    return "/".join([s.navigation for s in ref.steps] + [f"{ref.entity.logical_name}.{ref.attribute.name}"])


def unknown(name: str, entity: str = "asyncoperation") -> str:
    return f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{entity}'."


def mismatch(left: str, right: str, kind: str) -> str:
    return (f"A binary operator with incompatible types was detected. Found operand types '{left}' and "
            f"'{right}' for operator kind '{kind}'.")


NOT_BOOLEAN = "The $filter expression must evaluate to a single boolean value."


# ------------------------------------------------------------------------------ name resolution


def test_lookup_value_property_resolves_to_the_lookup_column() -> None:
    expr = bind(f"_ownerid_value eq {GUID}")
    assert isinstance(expr, b.Compare) and expr.op == "eq"
    assert expr.left.steps == () and expr.left.entity is ASYNC
    assert expr.left.attribute.name == "ownerid" and expr.left.attribute.type is T.OWNER
    assert expr.left.via is None
    assert expr.right == b.Const(GUID, "Edm.Guid")


def test_path_through_a_lookup_is_one_step() -> None:
    expr = bind("owninguser/fullname eq 'Jane Doe'")
    ref = expr.left
    assert isinstance(ref, b.PropertyRef)
    assert len(ref.steps) == 1
    assert ref.steps[0] is ASYNC.navigations["owninguser"]
    assert ref.entity is SYSTEMUSER and ref.attribute.name == "fullname"
    assert expr.right == b.Const("Jane Doe", "Edm.String")


def test_path_through_two_lookups() -> None:
    ref = bind("owninguser/businessunitid/name eq 'Sales'").left
    assert [s.navigation for s in ref.steps] == ["owninguser", "businessunitid"]
    assert ref_path(ref) == "owninguser/businessunitid/businessunit.name"


@pytest.mark.parametrize("entity,column", [("systemuser", "systemuserid"), ("team", "teamid")])
def test_inherited_ownerid_on_principals(entity: str, column: str) -> None:
    expr = bind(f"ownerid eq {GUID}", entity=MODEL.entity(entity))
    assert expr.left.attribute.name == column
    assert expr.left.edm_type == "Edm.Guid"


@pytest.mark.parametrize("text,name,entity", [
    ("foo eq 1", "foo", "asyncoperation"),
    ("Name eq 'x'", "Name", "asyncoperation"),  # names are case-sensitive
    ("ownerid eq null", "ownerid", "asyncoperation"),  # the property is _ownerid_value
    ("owneridtype eq 'systemuser'", "owneridtype", "asyncoperation"),  # stored, not a Web API property
    ("workflowstate eq 'x'", "workflowstate", "asyncoperation"),  # not valid for read
    ("owninguser/foo eq 1", "foo", "systemuser"),
    ("foo/bar eq 1", "foo", "asyncoperation"),
    ("contains(foo,'x')", "foo", "asyncoperation"),
])
def test_unknown_property(text: str, name: str, entity: str) -> None:
    error = refusal(bind, text)
    assert isinstance(error, UnknownProperty)
    assert error.message == unknown(name, entity)
    assert error.code == "0x80060888" and error.status == 400


def test_unknown_property_in_systemuser_scope() -> None:
    error = refusal(bind, f"_ownerid_value eq {GUID}", entity=SYSTEMUSER)
    assert error.message == unknown("_ownerid_value", "systemuser")


def test_navigation_property_used_as_a_value() -> None:
    error = refusal(bind, "owninguser eq null")
    assert error.message == ("The navigation property 'owninguser' cannot be used here: name a property of it, "
                             "as in 'owninguser/fullname'.")


def test_property_used_as_a_navigation() -> None:
    error = refusal(bind, "name/x eq 1")
    assert error.message == "The property 'name' is not a navigation property and has no property named 'x'."


def test_collection_navigation_in_a_path() -> None:
    error = refusal(bind, "AsyncOperation_BulkDeleteOperation/name eq 'x'")
    assert error.message == ("The collection-valued navigation property 'AsyncOperation_BulkDeleteOperation' can only "
                             "be filtered with any() or all().")


def test_lambda_binds_its_variable_in_the_target_entity() -> None:
    expr = bind("AsyncOperation_BulkDeleteOperation/any(o:o/statecode eq 1 and o/successcount gt 0)")
    assert isinstance(expr, b.Lambda)
    assert expr.operator == "any" and expr.variable == "o"
    assert expr.target.logical_name == "bulkdeleteoperation"
    assert expr.navigation is ASYNC.navigations["AsyncOperation_BulkDeleteOperation"]
    left = expr.predicate.left.left
    assert ref_path(left) == "bulkdeleteoperation.statecode"
    assert left.via is not None and left.via.navigation is expr.navigation


def test_lambda_without_predicate() -> None:
    expr = bind("AsyncOperation_BulkDeleteOperation/any()")
    assert isinstance(expr, b.Lambda) and expr.predicate is None and expr.variable is None
    assert refusal(bind, "AsyncOperation_BulkDeleteOperation/all()").message == "The all() operator requires a predicate."


def test_lambda_on_a_single_valued_navigation() -> None:
    error = refusal(bind, "owninguser/any(u:u/fullname eq 'x')")
    assert error.message == ("The any/all operators apply to collection-valued navigation properties; "
                             "'owninguser' is single-valued.")


def test_comparing_two_columns_of_the_same_row() -> None:
    expr = bind("modifiedon gt createdon")
    assert ref_path(expr.left) == "asyncoperation.modifiedon"
    assert ref_path(expr.right) == "asyncoperation.createdon"


# ------------------------------------------------------------------------------ types


@pytest.mark.parametrize("text,left,right,kind", [
    ("statecode eq 'x'", "Edm.Int32", "Edm.String", "Equal"),
    ("name ne 1", "Edm.String", "Edm.Int32", "NotEqual"),
    ("createdon gt 'yesterday'", "Edm.DateTimeOffset", "Edm.String", "GreaterThan"),
    ("createdon le true", "Edm.DateTimeOffset", "Edm.Boolean", "LessThanOrEqual"),
    ("iswaitingforevent eq 1", "Edm.Boolean", "Edm.Int32", "Equal"),
    ("_ownerid_value eq 1", "Edm.Guid", "Edm.Int32", "Equal"),
    (f"name eq {GUID}", "Edm.String", "Edm.Guid", "Equal"),
    ("name lt statecode", "Edm.String", "Edm.Int32", "LessThan"),
    ("depth ge 2024-01-01", "Edm.Int32", "Edm.Date", "GreaterThanOrEqual"),
    ("statecode eq 1 and name", "Edm.Boolean", "Edm.String", "And"),
    ("depth or statecode eq 1", "Edm.Int32", "Edm.Boolean", "Or"),
])
def test_binary_operator_type_mismatch(text: str, left: str, right: str, kind: str) -> None:
    error = refusal(bind, text)
    assert isinstance(error, TypeMismatch)
    assert error.message == mismatch(left, right, kind)


@pytest.mark.parametrize("text", [
    "statecode eq 3", "depth gt 1.5", "executiontimespan ge 2", "sequence eq 99999999999", "executiontimespan lt 1e3",
    "completedon eq null", "null ne completedon", "name eq null", "iswaitingforevent ne false",
])
def test_compatible_types(text: str) -> None:
    assert isinstance(bind(text), b.Compare)


def test_not_requires_a_boolean() -> None:
    error = refusal(bind, "not statecode")
    assert error.message == ("A unary operator with an incompatible type was detected. Found operand type "
                             "'Edm.Int32' for operator kind 'Not'.")
    assert isinstance(bind("not (statecode eq 1)"), b.NotOp)


@pytest.mark.parametrize("text", ["statecode", "name", "owninguser/fullname", "'x'", "3", "null"])
def test_filter_must_be_boolean(text: str) -> None:
    assert refusal(bind, text).message == NOT_BOOLEAN


def test_literal_true_is_a_boolean_filter() -> None:
    assert bind("true") == b.Const(True, "Edm.Boolean")


@pytest.mark.parametrize("text", [
    "_ownerid_value eq 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE'",
    "_ownerid_value eq '{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}'",
    f"_ownerid_value eq {GUID.upper()}",
])
def test_guid_literals_are_lowercased_and_quoted_guids_coerced(text: str) -> None:
    assert bind(text).right == b.Const(GUID, "Edm.Guid")


def test_quoted_guid_on_the_left() -> None:
    expr = bind(f"'{GUID.upper()}' ne _owninguser_value")
    assert expr.left == b.Const(GUID, "Edm.Guid")
    assert expr.right.attribute.name == "owninguser"


def test_quoted_guid_that_is_not_a_guid() -> None:
    error = refusal(bind, "_ownerid_value eq 'nope'")
    assert error.message == "Unrecognized 'Edm.Guid' literal 'nope'."


def test_quoted_string_stays_a_string_against_a_string_column() -> None:
    assert bind(f"name eq '{GUID.upper()}'").right == b.Const(GUID.upper(), "Edm.String")


def test_date_literal_against_a_datetimeoffset_column() -> None:
    date = bind("createdon ge 2024-01-01")
    instant = bind("createdon ge 2024-01-01T00:00:00Z")
    assert date.right == b.Const(JAN_1, "Edm.Date")
    assert instant.right == b.Const(JAN_1, "Edm.DateTimeOffset")
    assert bind("createdon ge 2024-01-01T00:00:00+02:00").right.value == JAN_1 - 7200
    assert bind("createdon lt 2024-01-01T00:00:00.999Z").right.value == JAN_1


def test_numeric_literals_in_storage_form() -> None:
    assert bind("executiontimespan gt 1.5").right == b.Const(1.5, "Edm.Decimal")
    assert bind("executiontimespan gt 2E3").right == b.Const(2000.0, "Edm.Double")
    assert bind("sequence gt 3000000000").right == b.Const(3000000000, "Edm.Int64")


# ------------------------------------------------------------------------------ strict refusals, loose evaluation


@pytest.mark.parametrize("text,kind", [
    ("depth add 1 eq 2", "Add"), ("depth sub 1 eq 0", "Subtract"), ("depth mul 2 eq 4", "Multiply"),
    ("depth div 2 eq 1", "Divide"), ("depth mod 2 eq 0", "Modulo"),
])
def test_arithmetic(text: str, kind: str) -> None:
    error = refusal(bind, text)
    assert isinstance(error, UnsupportedQuery) and error.code == "0x8006088a"
    assert error.message == f"The binary operator '{kind}' is not supported."
    expr = bind(text, strict=False)
    assert isinstance(expr, b.Compare) and isinstance(expr.left, b.Arith)
    assert expr.left.op == text.split()[1]
    assert ref_path(expr.left.left) == "asyncoperation.depth"


def test_loose_arithmetic_type_checks() -> None:
    assert refusal(bind, "name add 1 eq 2", strict=False).message == mismatch("Edm.String", "Edm.Int32", "Add")
    expr = bind("executiontimespan mul 2 gt 10", strict=False)
    assert expr.left.edm_type == "Edm.Double"


def test_negation() -> None:
    error = refusal(bind, "-depth eq -1")
    assert isinstance(error, UnsupportedQuery)
    assert error.message == "The unary operator 'Negate' is not supported."
    expr = bind("-depth eq -1", strict=False)
    assert expr.left == b.NegateOp(expr.left.operand, "Edm.Int32")
    assert expr.right == b.Const(-1, "Edm.Int32")
    assert refusal(bind, "-name eq 'x'", strict=False).message == (
        "A unary operator with an incompatible type was detected. Found operand type 'Edm.String' for operator "
        "kind 'Negate'.")


def test_in_operator() -> None:
    error = refusal(bind, "statuscode in (30,31)")
    assert isinstance(error, UnsupportedQuery)
    assert error.message == "The query node In is not supported"
    expr = bind("statuscode in (30,31)", strict=False)
    assert isinstance(expr, b.InList) and not expr.negated
    assert ref_path(expr.operand) == "asyncoperation.statuscode" and expr.values == (30, 31)
    guids = bind(f"_ownerid_value in ('{GUID.upper()}', {GUID})", strict=False)
    assert guids.values == (GUID, GUID)
    assert refusal(bind, "statuscode in ('x')", strict=False).message == mismatch("Edm.Int32", "Edm.String", "Equal")
    assert refusal(bind, "statuscode in (depth)", strict=False).message == "The 'in' operator takes a list of literals."


@pytest.mark.parametrize("strict", [True, False])
def test_has_is_refused_in_both_modes(strict: bool) -> None:
    # Option sets are Edm.Int32 in Dataverse: there is no enum for `has` to test.
    error = refusal(bind, "operationtype has 1", strict=strict)
    assert isinstance(error, UnsupportedQuery)
    assert error.message == "The query node Has is not supported"


@pytest.mark.parametrize("text,name,edm", [
    ("tolower(name) eq 'x'", "tolower", "Edm.String"),
    ("toupper(name) eq 'X'", "toupper", "Edm.String"),
    ("length(name) gt 3", "length", "Edm.Int32"),
    ("year(createdon) eq 2024", "year", "Edm.Int32"),
    ("substring(name,1,2) eq 'ab'", "substring", "Edm.String"),
    ("round(executiontimespan) eq 2", "round", "Edm.Double"),
])
def test_canonical_functions_refused_in_strict_mode(text: str, name: str, edm: str) -> None:
    error = refusal(bind, text)
    assert isinstance(error, UnsupportedQuery)
    assert error.message == f"The '{name}' function is not supported."
    function = bind(text, strict=False).left
    assert isinstance(function, b.Function) and function.name == name and function.edm_type == edm


def test_string_functions() -> None:
    expr = bind("contains(name, 'x') and not startswith(name,'a') or endswith(name,'z')")
    assert expr.op == "or"
    contains = expr.left.left
    assert contains == b.Function("contains", (contains.args[0], b.Const("x", "Edm.String")), "Edm.Boolean")
    assert isinstance(expr.left.right, b.NotOp)
    error = refusal(bind, "contains(statecode,'3')")
    assert error.message == ("No function signature for the function with name 'contains' matches the specified "
                             "arguments. The function signatures considered are: contains(Edm.String Nullable=true, "
                             "Edm.String Nullable=true).")


def test_functions_never_evaluated() -> None:
    assert refusal(bind, "cast(name) eq 'x'", strict=False).message == "The 'cast' function is not supported."
    assert refusal(bind, "substring(name) eq 'x'", strict=False).message == "The function 'substring' takes 2 or 3 arguments."
    assert refusal(bind, "foo(name) eq 1").message == (
        "An unknown function with name 'foo' was found. This may also be a function import or a key lookup on a "
        "navigation property, which is not allowed.")


# ------------------------------------------------------------------------------ Dataverse query functions


def test_in_and_not_in_convert_values_to_storage_form() -> None:
    expr = bind(f'{N}.In(PropertyName=\'statuscode\',PropertyValues=["31","32"])')
    assert isinstance(expr, b.InList) and not expr.negated
    assert ref_path(expr.operand) == "asyncoperation.statuscode"
    assert expr.values == (31, 32)
    expr = bind(f"{N}.NotIn(PropertyName='statuscode',PropertyValues=['31',32])")
    assert expr.negated and expr.values == (31, 32)


def test_in_with_guids_and_strings() -> None:
    expr = bind(f'{N}.In(PropertyName=\'ownerid\',PropertyValues=["{GUID.upper()}","{{{GUID}}}"])')
    assert ref_path(expr.operand) == "asyncoperation.ownerid"
    assert expr.values == (GUID, GUID)
    expr = bind(f'{N}.In(PropertyName=\'name\',PropertyValues=["O\'Brian",\'a\'\'b\'])')
    assert expr.values == ("O'Brian", "a'b")
    expr = bind(f"{N}.In(PropertyName='iswaitingforevent',PropertyValues=[\"true\",\"0\"])")
    assert expr.values == (1, 0)


def test_between_and_not_between() -> None:
    expr = bind(f'{N}.Between(PropertyName=\'createdon\',PropertyValues=["2024-01-01","2024-05-01T00:00:00Z"])')
    assert expr == b.Range(expr.operand, JAN_1, MAY_1, negated=False)
    assert ref_path(expr.operand) == "asyncoperation.createdon"
    expr = bind(f'{N}.NotBetween(PropertyName=\'depth\',PropertyValues=["5","2000"])')
    assert (expr.lower, expr.upper, expr.negated) == (5, 2000, True)


@pytest.mark.parametrize("name", sorted(CLOCK_FUNCTIONS))
def test_clock_functions(name: str) -> None:
    takes_value = CLOCK_FUNCTIONS[name].takes_value
    value = ",PropertyValue=7" if takes_value else ""
    expr = bind(f"{N}.{name}(PropertyName='createdon'{value})")
    assert isinstance(expr, b.ClockCondition)
    assert expr.function == name
    assert ref_path(expr.operand) == "asyncoperation.createdon"
    assert expr.amount == (7 if takes_value else None)


def test_clock_function_value_written_as_a_string() -> None:
    assert bind(f"{N}.LastXHours(PropertyName='createdon',PropertyValue='24')").amount == 24


@pytest.mark.parametrize("function,lower,upper", [
    ("On", MAY_1, MAY_1 + 86400),
    ("OnOrAfter", MAY_1, None),
    ("OnOrBefore", None, MAY_1 + 86400),
])
@pytest.mark.parametrize("value", ["'2024-05-01'", "2024-05-01", "2024-05-01T13:00:00Z", "'2024-05-01T13:00:00Z'"])
def test_date_functions_bounds_in_epoch_seconds(function: str, lower, upper, value: str) -> None:
    expr = bind(f"{N}.{function}(PropertyName='startedon',PropertyValue={value})")
    assert expr == b.DateCondition(expr.operand, lower, upper)
    assert ref_path(expr.operand) == "asyncoperation.startedon"


@pytest.mark.parametrize("function,column,which,negated", [
    ("EqualUserId", "ownerid", "user", False),
    ("NotEqualUserId", "owninguser", "user", True),
    ("EqualBusinessId", "owningbusinessunit", "businessunit", False),
    ("NotEqualBusinessId", "owningbusinessunit", "businessunit", True),
])
def test_caller_functions(function: str, column: str, which: str, negated: bool) -> None:
    expr = bind(f"{N}.{function}(PropertyName='{column}')")
    assert expr == b.CallerCondition(expr.operand, which, negated)
    assert expr.operand.attribute.name == column


def test_property_name_may_be_the_lookup_property_name() -> None:
    expr = bind(f'{N}.In(PropertyName=\'_ownerid_value\',PropertyValues=["{GUID}"])')
    assert expr.operand.attribute.name == "ownerid"


def test_query_functions_combine_with_other_conditions() -> None:
    expr = bind(f"{N}.Today(PropertyName='createdon') and not {N}.EqualUserId(PropertyName='ownerid')")
    assert isinstance(expr, b.BoolOp) and isinstance(expr.left, b.ClockCondition)
    assert isinstance(expr.right, b.NotOp) and isinstance(expr.right.operand, b.CallerCondition)


@pytest.mark.parametrize("text,message", [
    (f"{N}.In(PropertyValues=[\"31\"])", "The parameter 'PropertyName' of function 'In' is missing."),
    (f"{N}.Today()", "The parameter 'PropertyName' of function 'Today' is missing."),
    (f"{N}.In(PropertyName='statuscode')", "The parameter 'PropertyValues' of function 'In' is missing."),
    (f"{N}.LastXHours(PropertyName='createdon')", "The parameter 'PropertyValue' of function 'LastXHours' is missing."),
    (f"{N}.Today(PropertyName=1)", "The parameter 'PropertyName' of function 'Today' must be a string literal."),
    (f"{N}.In(PropertyName='foo',PropertyValues=[\"1\"])", unknown("foo")),
    (f"{N}.In(PropertyName='owninguser/fullname',PropertyValues=[\"x\"])", unknown("owninguser/fullname")),
    (f"{N}.Today(PropertyName='owneridtype')", unknown("owneridtype")),
    (f"{N}.LastXHours(PropertyName='name',PropertyValue=1)",
     "The function 'LastXHours' applies to date and time columns; 'name' is Edm.String."),
    (f"{N}.On(PropertyName='statecode',PropertyValue='2024-05-01')",
     "The function 'On' applies to date and time columns; 'statecode' is Edm.Int32."),
    (f"{N}.EqualUserId(PropertyName='name')", "The function 'EqualUserId' applies to lookup columns; 'name' is Edm.String."),
    (f"{N}.In(PropertyName='statuscode',PropertyValues='31')",
     "The parameter 'PropertyValues' of function 'In' must be a JSON array."),
    (f"{N}.In(PropertyName='statuscode',PropertyValues=[])",
     "The parameter 'PropertyValues' of function 'In' must hold at least one value."),
    (f"{N}.Between(PropertyName='depth',PropertyValues=[\"5\",\"2000\",\"3\"])",
     "The parameter 'PropertyValues' of function 'Between' must hold exactly two values."),
    (f"{N}.NotBetween(PropertyName='depth',PropertyValues=[\"5\"])",
     "The parameter 'PropertyValues' of function 'NotBetween' must hold exactly two values."),
    (f"{N}.In(PropertyName='statuscode',PropertyValues=[\"x\"])",
     "The value 'x' in PropertyValues of function 'In' is not valid for 'statuscode' of type Edm.Int32."),
    (f"{N}.In(PropertyName='createdby',PropertyValues=['bad'])",
     "The value 'bad' in PropertyValues of function 'In' is not valid for 'createdby' of type Edm.Guid."),
    (f"{N}.LastXHours(PropertyName='createdon',PropertyValue=-1)",
     "The parameter 'PropertyValue' of function 'LastXHours' must not be negative."),
    (f"{N}.LastXDays(PropertyName='createdon',PropertyValue=1.5)",
     "The parameter 'PropertyValue' of function 'LastXDays' must be a whole number."),
    (f"{N}.LastXDays(PropertyName='createdon',PropertyValue='two')",
     "The parameter 'PropertyValue' of function 'LastXDays' must be a whole number."),
    (f"{N}.Today(PropertyName='createdon',PropertyValue=1)", "The function 'Today' takes no 'PropertyValue' parameter."),
    (f"{N}.On(PropertyName='createdon',PropertyValue='soon')", "The parameter 'PropertyValue' of function 'On' must be a date."),
    ("Foo.Bar(PropertyName='createdon')", "An unknown function with name 'Foo.Bar' was found."),
])
def test_query_function_argument_errors(text: str, message: str) -> None:
    error = refusal(bind, text)
    assert isinstance(error, QueryError)
    assert error.message == message


@pytest.mark.parametrize("name", ["InFiscalYear", "Under", "ContainValues", "EqualUserLanguage"])
def test_query_functions_the_emulator_does_not_implement(name: str) -> None:
    error = refusal(bind, f"{N}.{name}(PropertyName='createdon',PropertyValue=1)")
    assert isinstance(error, UnsupportedQuery) and error.code == "0x8006088a"
    assert error.message == f"The query function '{N}.{name}' is not supported by the emulator."


# ------------------------------------------------------------------------------ parameter aliases


def test_alias_resolves_to_its_value() -> None:
    expr = bind("statecode eq @p1 and name eq @name", aliases={"@p1": "3", "@name": "'O''Bryan'"})
    assert expr.left.right == b.Const(3, "Edm.Int32")
    assert expr.right.right == b.Const("O'Bryan", "Edm.String")


def test_alias_values_are_type_checked_and_coerced() -> None:
    assert bind("_ownerid_value eq @o", aliases={"@o": f"'{GUID.upper()}'"}).right == b.Const(GUID, "Edm.Guid")
    error = refusal(bind, "statecode eq @p1", aliases={"@p1": "'x'"})
    assert error.message == mismatch("Edm.Int32", "Edm.String", "Equal")


@pytest.mark.parametrize("aliases", [{}, {"@p1": ""}])
def test_unassigned_or_empty_alias_is_null(aliases: dict) -> None:
    assert bind("completedon eq @p1", aliases=aliases).right == b.Const(None, "null")


def test_alias_as_property_name_and_value() -> None:
    expr = bind(f"{N}.OlderThanXMinutes(PropertyName=@p1,PropertyValue=@p2)", aliases={"@p1": "'createdon'", "@p2": "42"})
    assert expr == b.ClockCondition("OlderThanXMinutes", expr.operand, 42)
    assert ref_path(expr.operand) == "asyncoperation.createdon"


def test_alias_as_property_values() -> None:
    expr = bind(f"{N}.In(PropertyName=@p1,PropertyValues=@p2)", aliases={"@p1": "'statuscode'", "@p2": '["31","32"]'})
    assert expr.values == (31, 32)


def test_unassigned_alias_as_a_function_argument() -> None:
    error = refusal(bind, f"{N}.OlderThanXMinutes(PropertyName=@zz,PropertyValue=5)")
    assert error.message == "The parameter alias '@zz' of function 'OlderThanXMinutes' has no value."


def test_alias_referring_to_another_alias() -> None:
    assert bind("statecode eq @a", aliases={"@a": "@b", "@b": "2"}).right == b.Const(2, "Edm.Int32")


def test_alias_referring_to_itself() -> None:
    error = refusal(bind, "statecode eq @a", aliases={"@a": "@b", "@b": "@a"})
    assert isinstance(error, QueryError)
    assert error.message == "The parameter alias '@a' refers to itself."


def test_aliases_from_query_options() -> None:
    bound = query(filter="statecode eq @s and createdon ge @d", aliases=(("@s", "3"), ("@d", "2024-01-01")))
    assert bound.filter.left.right == b.Const(3, "Edm.Int32")
    assert bound.filter.right.right == b.Const(JAN_1, "Edm.Date")


# ------------------------------------------------------------------------------ $select / $expand


def test_select_keeps_request_order_and_dedupes() -> None:
    projection = query(select="statecode,name,createdon,name,_ownerid_value").projection
    assert projection.explicit
    assert projection.context_items == ("statecode", "name", "createdon", "_ownerid_value")
    assert [a.name for a in projection.properties] == ["statecode", "name", "createdon", "ownerid"]


def test_select_star_and_no_select() -> None:
    star = query(select="*").projection
    assert star.context_items == ("*",) and not star.explicit
    assert star.properties == tuple(ASYNC.properties.values())
    assert query(select="name,*").projection.context_items == ("*",)
    default = query().projection
    assert default.context_items == () and not default.explicit
    assert default.properties == tuple(ASYNC.properties.values())


def test_select_unknown_property() -> None:
    error = refusal(query, select="name,Name")
    assert isinstance(error, UnknownProperty) and error.message == unknown("Name")


def test_select_path() -> None:
    error = refusal(query, select="owninguser/fullname")
    assert error.message.startswith("Found a path with multiple navigation properties or a bad complex property path "
                                    "in a select clause.")


def test_documented_query_01_binds() -> None:
    target, _ = webapi_request(DOCUMENTED / "01-retrieve-system-jobs.webapi.http")
    options = parse_query_string(urlsplit(target).query)
    bound = Binder(MODEL, ASYNC).bind_query(options)
    assert bound.top == 1000
    assert bound.projection.context_items == tuple(options.select.split(","))
    assert "_regardingobjectid_value" in bound.projection.context_items
    expansions = [(e.navigation.navigation, e.projection.context_items) for e in bound.projection.expansions]
    assert expansions == [
        ("createdby", ("fullname",)), ("modifiedby", ("fullname",)), ("owningbusinessunit", ("name",)),
        ("owningextensionid", ("name",)), ("owningteam", ("name",)), ("owninguser", ("fullname",)),
    ]
    assert all(not e.is_collection for e in bound.projection.expansions)


def test_expand_collection_with_options() -> None:
    projection = query(expand="AsyncOperation_BulkDeleteOperation($select=name,successcount;$filter=statecode eq 3;"
                              "$orderby=name desc;$top=5)").projection
    (expansion,) = projection.expansions
    assert expansion.is_collection
    assert expansion.projection.entity.logical_name == "bulkdeleteoperation"
    assert expansion.projection.context_items == ("name", "successcount")
    assert ref_path(expansion.filter.left) == "bulkdeleteoperation.statecode"
    assert [(ref_path(k.expr), k.descending) for k in expansion.orderby] == [("bulkdeleteoperation.name", True)]
    assert expansion.top == 5


def test_nested_expand() -> None:
    (owner,) = query(expand="owninguser($select=fullname;$expand=businessunitid($select=name))").projection.expansions
    (unit,) = owner.projection.expansions
    assert unit.navigation.target == "businessunit" and unit.projection.context_items == ("name",)


def test_expand_unknown_navigation() -> None:
    error = refusal(query, expand="owner")
    assert isinstance(error, UnknownProperty) and error.message == unknown("owner")


def test_expand_ref_on_a_lookup() -> None:
    (expansion,) = query(expand="owninguser/$ref").projection.expansions
    assert expansion.projection.context_items == ("$ref",)
    assert [a.name for a in expansion.projection.properties] == ["systemuserid"]


def test_expand_ref_on_a_collection() -> None:
    error = refusal(query, expand="AsyncOperation_BulkDeleteOperation/$ref")
    assert error.message == "Expand with $ref is only supported on lookup type navigation property."
    assert error.code == "0x80060888"


def test_expand_options_on_a_single_valued_navigation() -> None:
    error = refusal(query, expand="owninguser($filter=fullname eq 'x')")
    assert error.message == ("$filter, $orderby and $top inside $expand apply to collection-valued navigation "
                             "properties; 'owninguser' is single-valued.")


def test_expand_options_dataverse_refuses() -> None:
    error = refusal(query, expand="AsyncOperation_BulkDeleteOperation($skip=1)")
    assert isinstance(error, UnsupportedQuery)
    assert error.message == "The query option '$skip' is not supported inside $expand."


def _navigations(count: int) -> str:
    names = [n for n, nav in ASYNC.navigations.items()]
    assert len(names) >= count
    return ",".join(names[:count])


def test_at_most_fifteen_expansions() -> None:
    assert MAX_EXPANSIONS == 15
    assert len(query(expand=_navigations(15)).projection.expansions) == 15
    error = refusal(query, expand=_navigations(16))
    assert error.message == "The $expand query option can include at most 15 expansions."


def test_nested_expansions_count_towards_the_limit() -> None:
    names = _navigations(14).split(",")
    names[names.index("owninguser")] = "owninguser($expand=businessunitid($expand=parentbusinessunitid))"
    error = refusal(query, expand=",".join(names))
    assert error.message == "The $expand query option can include at most 15 expansions."


def test_orderby() -> None:
    keys = query(orderby="owninguser/fullname desc,createdon").orderby
    assert [(ref_path(k.expr), k.descending) for k in keys] == [
        ("owninguser/systemuser.fullname", True), ("asyncoperation.createdon", False)]
    assert refusal(query, orderby="statecode eq 1").message == "Only properties can be used in $orderby."


# ------------------------------------------------------------------------------ $apply


DOCUMENTED_APPLY = {
    "02": ("groupby((statecode,statuscode,operationtype),aggregate($count as count))", None),
    "03": ("filter((statecode eq 1))/groupby((statecode,statuscode,operationtype),aggregate($count as count))",
           ("statecode", 1)),
    "04": ("filter((operationtype eq 10))/groupby((statecode,statuscode,operationtype),aggregate($count as count))",
           ("operationtype", 10)),
}


@pytest.mark.parametrize("number", sorted(DOCUMENTED_APPLY))
def test_documented_apply_queries(number: str) -> None:
    text, condition = DOCUMENTED_APPLY[number]
    bound = query(apply=text)
    apply = bound.apply
    assert [(k.output_name, ref_path(k.ref)) for k in apply.keys] == [
        ("statecode", "asyncoperation.statecode"), ("statuscode", "asyncoperation.statuscode"),
        ("operationtype", "asyncoperation.operationtype")]
    assert apply.aggregates == (b.AggregateValue("count", None, "count", "Edm.Int32"),)
    assert apply.having is None and apply.orderby == ()
    if condition is None:
        assert apply.where is None
    else:
        assert ref_path(apply.where.left) == f"asyncoperation.{condition[0]}"
        assert apply.where.right == b.Const(condition[1], "Edm.Int32")
    assert bound.projection.properties == () and bound.filter is None


def test_documented_apply_query_05() -> None:
    where = query(apply="filter((statecode eq 0 and statuscode eq 0))/groupby((statecode,statuscode,operationtype),"
                        "aggregate($count as count))").apply.where
    assert isinstance(where, b.BoolOp) and where.op == "and"
    assert ref_path(where.right.left) == "asyncoperation.statuscode"


def test_group_by_a_navigation_path() -> None:
    apply = query(apply="groupby((owninguser/fullname),aggregate($count as n))").apply
    (key,) = apply.keys
    assert key.output_name == "systemuser_fullname"
    assert len(key.ref.steps) == 1 and ref_path(key.ref) == "owninguser/systemuser.fullname"
    for name in ("systemuser_fullname", "owninguser/fullname"):
        order = query(apply="groupby((owninguser/fullname))", orderby=f"{name} desc").apply.orderby
        assert order == (b.AggregateOrder("systemuser_fullname", True),)


def test_aggregate_methods() -> None:
    apply = query(apply="aggregate(executiontimespan with sum as t,executiontimespan with average as a,"
                        "createdon with min as first,depth with max as deepest,$count as n)").apply
    assert [(a.method, a.alias, a.edm_type) for a in apply.aggregates] == [
        ("sum", "t", "Edm.Double"), ("average", "a", "Edm.Decimal"), ("min", "first", "Edm.DateTimeOffset"),
        ("max", "deepest", "Edm.Int32"), ("count", "n", "Edm.Int32")]
    assert apply.keys == ()


def test_order_by_an_aggregate_alias() -> None:
    text = "groupby((statecode),aggregate($count as count))"
    error = refusal(query, apply=text, orderby="count desc")
    assert isinstance(error, UnsupportedQuery)
    assert error.message == "The query node SingleValueOpenPropertyAccess is not supported"
    assert query(apply=text, orderby="count desc", strict=False).apply.orderby == (b.AggregateOrder("count", True),)
    assert query(apply=text, orderby="statecode").apply.orderby == (b.AggregateOrder("statecode", False),)


def test_filter_on_an_aggregate_alias() -> None:
    text = "groupby((statecode),aggregate($count as count))"
    error = refusal(query, apply=text, filter="count gt 1")
    assert error.message == "The query node SingleValueOpenPropertyAccess is not supported"
    having = query(apply=text, filter="count gt 1", strict=False).apply.having
    assert having == b.Compare("gt", b.AggregateRef("count", "Edm.Int32"), b.Const(1, "Edm.Int32"))
    having = query(apply=text, filter="statecode eq 3").apply.having
    assert ref_path(having.left) == "asyncoperation.statecode"


def test_group_by_a_datetime() -> None:
    error = refusal(query, apply="groupby((createdon))")
    assert isinstance(error, UnsupportedQuery)
    assert error.message == "groupby with datetime values is not supported. Use FetchXML dategrouping to group by date."
    (key,) = query(apply="groupby((createdon))", strict=False).apply.keys
    assert key.output_name == "createdon"


def test_countdistinct() -> None:
    error = refusal(query, apply="aggregate(name with countdistinct as names)")
    assert isinstance(error, UnsupportedQuery)
    assert error.message == "You can't get a distinct number of values using CountColumn with OData. Use FetchXML."
    (value,) = query(apply="aggregate(name with countdistinct as names)", strict=False).apply.aggregates
    assert (value.method, value.alias, value.edm_type, ref_path(value.ref)) == (
        "countdistinct", "names", "Edm.Int32", "asyncoperation.name")


def test_filter_after_groupby() -> None:
    text = "groupby((statecode))/filter(statecode eq 1)"
    assert refusal(query, apply=text).message == "A filter transformation after groupby or aggregate is not supported."
    assert query(apply=text, strict=False).apply.having is not None


@pytest.mark.parametrize("options,message", [
    (dict(apply="groupby((statecode))", select="statecode"), "$select and $expand cannot be combined with $apply."),
    (dict(apply="filter(statecode eq 1)"), "$apply must group or aggregate: use $filter to filter rows."),
    (dict(apply="groupby((statecode))/groupby((statuscode))"),
     "Only one groupby or aggregate transformation is supported in $apply."),
    (dict(apply="orderby(statecode)/groupby((statecode))"), "The transformation 'orderby' is not supported in $apply."),
    (dict(apply="groupby((statecode),aggregate($count as statecode))"), "The names in groupby and aggregate must be distinct."),
    (dict(apply="aggregate(name with sum as total)"),
     "The aggregation method 'sum' cannot be applied to 'name' of type Edm.String."),
    (dict(apply="aggregate(depth with median as m)"), "The aggregation method 'median' is not supported."),
    (dict(apply="groupby((foo))"), unknown("foo")),
    (dict(apply="groupby((statecode))", orderby="statuscode"),
     "Could not find a property named 'statuscode' on the aggregated result."),
])
def test_apply_errors(options: dict, message: str) -> None:
    assert refusal(query, **options).message == message
