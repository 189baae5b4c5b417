"""RPC requests answered: the system procedures clients use for parameterised SQL (`sp_executesql`,
`sp_prepare`, `sp_execute`, `sp_prepexec`, `sp_unprepare`), each call ending with RETURNSTATUS, its
output parameters (a prepared statement's handle) and DONEPROC. Cursor procedures and stored
procedures are refused. Parameters are bound by name, else by position, in the store's form.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from . import rpc, tokens
from .errors import Refused, SqlError
from .execute import run_batch
from .outbox import Outbox
from .translate import Param, parameter_key
from .types import INT

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

log = logging.getLogger("odata_emulator.tds")


@dataclass
class Prepared:
    statement: str
    declarations: list[tuple[str, Any]]


async def answer_rpc(session: Session, data: bytes, outbox: Outbox) -> None:
    try:
        calls = rpc.parse(data)
    except SqlError as error:
        session.error(outbox, error, True, final=True)
        return
    for index, call in enumerate(calls):
        last = index == len(calls) - 1
        returned = await _call(session, call, outbox)
        status = 0 if last else tokens.DONE_MORE
        outbox.add(tokens.returnstatus(0 if returned is not False else 1))
        for parameter, value in (returned or []):
            outbox.add(tokens.returnvalue(parameter.ordinal, parameter.name, INT, value))
        outbox.add(tokens.done(status | (tokens.DONE_ERROR if returned is False else 0), token=tokens.DONEPROC))
        await outbox.flush()


# What a call returns: its output parameters and their values, or False after an error.
_Outputs = list[tuple[rpc.Parameter, int]]


async def _call(session: Session, call: rpc.Call, outbox: Outbox) -> _Outputs | Literal[False]:
    """Runs one call; the output parameters to return, or False after an error."""
    name = call.procedure
    params = call.parameters
    log.debug("TDS session %s: RPC %s with %d parameter(s)", session.spid, name, len(params))
    try:
        procedure = _PROCEDURES.get(name)
        if procedure is not None:
            return await procedure(session, params, outbox)
        if name.startswith("sp_cursor"):
            raise Refused(f"'{name}' is not supported: use sp_executesql or sp_prepexec.")
        raise Refused("'EXECUTE' statement is not supported. Line:1, Position:1")
    except SqlError as error:
        session.error(outbox, error, True)
        return False


async def _sp_executesql(session: Session, params: list[rpc.Parameter], outbox: Outbox) -> _Outputs | Literal[False]:
    statement, declared, values = _statement_parameters(params, 0)
    ok = await run_batch(session, statement, outbox, values, declared, in_procedure=True)
    return [] if ok else False


def _prepare(session: Session, params: list[rpc.Parameter], procedure: str) -> tuple[int, Prepared]:
    declarations_text = _text_value(params, 1)
    statement = _text_value(params, 2)
    if statement is None:
        raise Refused(f"Procedure or function '{procedure}' expects parameter '@stmt', which was not "
                      "supplied.")
    handle = next(session.state.handles)
    prepared = Prepared(statement, rpc.declarations(declarations_text))
    session.state.prepared[handle] = prepared
    return handle, prepared


async def _sp_prepare(session: Session, params: list[rpc.Parameter], outbox: Outbox) -> _Outputs | Literal[False]:
    handle_param = _output(params, 0)
    handle, _prepared = _prepare(session, params, "sp_prepare")
    return [(handle_param, handle)] if handle_param is not None else []


async def _sp_prepexec(session: Session, params: list[rpc.Parameter], outbox: Outbox) -> _Outputs | Literal[False]:
    handle_param = _output(params, 0)
    handle, prepared = _prepare(session, params, "sp_prepexec")
    declared, values = bind(prepared.declarations, params[3:])
    ok = await run_batch(session, prepared.statement, outbox, values, declared, in_procedure=True)
    if not ok:
        return False
    return [(handle_param, handle)] if handle_param is not None else []


async def _sp_execute(session: Session, params: list[rpc.Parameter], outbox: Outbox) -> _Outputs | Literal[False]:
    if not params or not isinstance(params[0].value, int):
        raise Refused("Procedure or function 'sp_execute' expects parameter '@handle', which was not "
                      "supplied.")
    prepared = session.state.prepared.get(params[0].value)
    if prepared is None:
        raise Refused(f"Could not find prepared statement with handle {params[0].value}.")
    declared, values = bind(prepared.declarations, params[1:])
    ok = await run_batch(session, prepared.statement, outbox, values, declared, in_procedure=True)
    return [] if ok else False


async def _sp_unprepare(session: Session, params: list[rpc.Parameter], outbox: Outbox) -> _Outputs | Literal[False]:
    if params and isinstance(params[0].value, int):
        session.state.prepared.pop(params[0].value, None)
    return []


_PROCEDURES: dict[str, Callable[[Session, list[rpc.Parameter], Outbox], Awaitable[_Outputs | Literal[False]]]] = {
    "sp_executesql": _sp_executesql,
    "sp_prepare": _sp_prepare,
    "sp_prepexec": _sp_prepexec,
    "sp_execute": _sp_execute,
    "sp_unprepare": _sp_unprepare,
}


def _statement_parameters(params: list[rpc.Parameter], first: int):
    statement = _text_value(params, first)
    if statement is None:
        raise Refused("Procedure or function 'sp_executesql' expects parameter '@statement', which was not "
                      "supplied.")
    declarations = rpc.declarations(_text_value(params, first + 1))
    declared, values = bind(declarations, params[first + 2:])
    return statement, declared, values


def _output(params: list[rpc.Parameter], index: int) -> rpc.Parameter | None:
    return params[index] if index < len(params) and params[index].output else None


def _text_value(params: list[rpc.Parameter], index: int) -> str | None:
    if index >= len(params):
        return None
    value = params[index].value
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def bind(declarations: list[tuple[str, Any]], params: list[rpc.Parameter]) -> tuple[dict[str, Param], dict[str, Any]]:
    """The declared parameters' types, and their values (by name, else by position) in storage form."""
    declared = {name: Param(sqltype) for name, sqltype in declarations}
    values: dict[str, Any] = {}
    order = [name for name, _ in declarations]
    for position, parameter in enumerate(params):
        name = parameter.name.lstrip("@").lower() if parameter.name else (order[position] if position < len(order) else None)
        if name is None or name not in declared:
            raise Refused(f"'@{name or position + 1}' is not a parameter for procedure sp_executesql.")
        values[parameter_key(name)] = rpc.to_storage(parameter.value, declared[name].type)
    for name in order:
        values.setdefault(parameter_key(name), None)
    return declared, values
