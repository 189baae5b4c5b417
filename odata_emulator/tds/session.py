"""One client connection, from its first byte to its last (MS-TDS 3.3, the server's states).

    TLS first? (0x16: TDS 8.0 strict) ─▶ PRELOGIN ─▶ TLS inside PRELOGIN (7.x, when negotiated)
    ─▶ LOGIN7 (login-only encryption stops here) ─▶ logged in: SQLBatch, RPC, transaction-manager
    requests and attention, one request at a time, answers streamed in packets of the negotiated size.

Every `SqlError` becomes an ERROR token and a DONE with the error bit here, in `_error`, the one
place; a `ProtocolError` (malformed bytes) closes the connection. Reading the socket runs in its own
task while a request is answered, so that an attention (the client's cancel) is seen at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import batch, prelogin, rpc, tokens
from . import login as login7
from .channel import Channel, ClosedByPeer
from .errors import LoginFailed, ProtocolError, Refused, SqlError
from .packets import DEFAULT_PACKET_SIZE, HEADER_SIZE, Message, PacketType, packetize
from .reader import Cancelled, StoreReader, next_chunk_rows
from .rows import rows_encoder
from .translate import Environment, Param, parameter_key
from .types import INT, epoch_of

if TYPE_CHECKING:  # pragma: no cover
    from .server import TdsServer

log = logging.getLogger("odata_emulator.tds")

LOGIN_TIMEOUT = 30.0  # seconds from connecting to logged in
QUEUE_LIMIT = 8  # requests read ahead of the one being answered
MAX_LOGIN_BYTES = 128 * 1024
SQL_SERVER = (12, 0, 2000, 8)  # what Dataverse's endpoint reports: SQL Azure 12.0.2000.8
PROGRAM = "Microsoft SQL Server"

# Transaction manager request types (MS-TDS 2.2.6.9)
TM_GET_DTC_ADDRESS, TM_PROPAGATE_XACT, TM_BEGIN_XACT, TM_PROMOTE_XACT, TM_COMMIT_XACT, TM_ROLLBACK_XACT, \
    TM_SAVE_XACT = 0, 1, 5, 6, 7, 8, 9

_ATTENTION = object()
_CLOSED = object()


class Outbox:
    """Tokens cut into packets of the negotiated size and written as they fill, with back-pressure."""

    def __init__(self, channel: Channel, packet_size: int, spid: int) -> None:
        self.channel = channel
        self.packet_size = packet_size
        self.spid = spid
        self.buffer = bytearray()
        self.packet_id = 1

    def add(self, data: bytes) -> None:
        self.buffer += data

    async def flush(self) -> None:
        """Write every full packet (keeping what the last one needs)."""
        room = self.packet_size - HEADER_SIZE
        if len(self.buffer) <= room:
            return
        count = (len(self.buffer) - 1) // room
        size = count * room
        self.channel.write(packetize(PacketType.TABULAR_RESULT, bytes(self.buffer[:size]), self.packet_size,
                                     self.spid, self.packet_id, last=False))
        del self.buffer[:size]
        self.packet_id = (self.packet_id + count) & 0xFF
        await self.channel.drain()

    async def end(self) -> None:
        """The rest of the message, its last packet marked EOM."""
        self.channel.write(packetize(PacketType.TABULAR_RESULT, bytes(self.buffer), self.packet_size, self.spid,
                                     self.packet_id))
        self.buffer.clear()
        self.packet_id = 1
        await self.channel.drain()


@dataclass
class Prepared:
    statement: str
    declarations: list[tuple[str, Any]]


@dataclass
class State:
    """What a session remembers between requests."""

    database: str = "emulator"
    prepared: dict[int, Prepared] = field(default_factory=dict)
    handles: itertools.count = field(default_factory=lambda: itertools.count(1))
    transaction: bytes | None = None
    transactions: itertools.count = field(default_factory=lambda: itertools.count(1))


class Session:
    def __init__(self, server: "TdsServer", reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 spid: int) -> None:
        self.server = server
        self.channel = Channel(reader, writer)
        self.spid = spid
        self.packet_size = DEFAULT_PACKET_SIZE
        self.state = State()
        self.store = StoreReader(server.database_path, server.executor)
        self.mode: prelogin.Mode | None = None
        self.login: login7.Login7 | None = None
        self._busy = False
        self._cancel = asyncio.Event()
        self._queue: asyncio.Queue = asyncio.Queue(QUEUE_LIMIT)
        self._request_counter = itertools.count(1)

    # ------------------------------------------------------------------ the whole connection

    async def run(self) -> None:
        reader_task = None
        try:
            if not await asyncio.wait_for(self._log_in(), LOGIN_TIMEOUT):
                return
            reader_task = asyncio.create_task(self._read_requests())
            await self._serve()
        except (ClosedByPeer, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except ProtocolError as exc:
            log.debug("TDS session %s: %s", self.spid, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection ends; the server goes on
            log.exception("TDS session %s failed", self.spid)
        finally:
            if reader_task is not None:
                reader_task.cancel()
            self.store.interrupt()
            try:
                await self.store.close()
            except Exception:  # pragma: no cover - closing a read-only connection
                pass
            await self.channel.close()

    # ------------------------------------------------------------------ PRELOGIN, TLS, LOGIN7

    async def _log_in(self) -> bool:
        server = self.server
        strict = await self.channel.peek_byte() == 0x16
        if strict:
            if server.strict_context is None:
                raise ProtocolError("a TLS handshake, and no certificate to answer it")
            await self.channel.start_tls_direct(server.strict_context)
        message = await self.channel.read_message(MAX_LOGIN_BYTES, frozenset({PacketType.PRELOGIN}))
        offered = prelogin.parse(message.data)
        if strict:
            answer, mode = prelogin.Encrypt.NOT_SUP, prelogin.Mode.STRICT
        else:
            answer, mode = prelogin.negotiate(offered.encryption, server.encrypt, server.wrapped_context is not None)
        self.mode = mode
        self.server.record(self.spid, mode, self.channel.alpn)
        reply = prelogin.response(answer, SQL_SERVER, fedauth_echo=offered.fedauth_required)
        self.channel.write(packetize(PacketType.TABULAR_RESULT, reply, DEFAULT_PACKET_SIZE, 0))
        await self.channel.drain()
        if mode is prelogin.Mode.REFUSED:
            # The client gives up here. One that goes on anyway gets no login.
            await asyncio.wait_for(self.channel.read_message(MAX_LOGIN_BYTES), 5.0)
            raise ProtocolError("the client went on after encryption was refused")
        if mode in (prelogin.Mode.FULL, prelogin.Mode.LOGIN_ONLY):
            await self.channel.start_tls_in_prelogin(server.wrapped_context, 0)
        message = await self.channel.read_message(MAX_LOGIN_BYTES, frozenset({PacketType.LOGIN7}))
        if mode is prelogin.Mode.LOGIN_ONLY:
            self.channel.stop_tls()
        outbox = Outbox(self.channel, DEFAULT_PACKET_SIZE, self.spid)
        try:
            login = login7.parse(message.data)
        except ProtocolError as exc:
            await self._send_login_error(outbox, f"Login failed: the login packet is malformed ({exc}).")
            return False
        refusal = self._refuse_login(login)
        if refusal is not None:
            await self._send_login_error(outbox, refusal)
            return False
        self.login = login
        log.debug("TDS session %s: LOGIN7 TDS %#010x, packet size %s, features %s, library %r", self.spid,
                  login.tds_version, login.packet_size, sorted(login.features), login.library)
        self.packet_size = login.negotiated_packet_size
        if login.database:
            self.state.database = login.database
        outbox.add(login7.response(database=self.state.database, packet_size=self.packet_size, program=PROGRAM,
                                   version=SQL_SERVER[:3], features=login.features, server=server.name))
        await outbox.end()
        return True

    def _refuse_login(self, login: login7.Login7) -> str | None:
        if login.tds_version < 0x72000000 and login.tds_version != login7.TDS_80:
            return "Login failed: the emulator speaks TDS 7.2 and later."
        if login7.FEATURE_FEDAUTH in login.features:
            return ("Login failed: Microsoft Entra ID sign-in is not available in the emulator. Use SQL "
                    "authentication (any user name; with --require-auth, the configured password or a bearer "
                    "token as the password).")
        if login.sspi:
            return "Login failed: Windows authentication is not supported. Use SQL authentication."
        if not self.server.require_auth:
            return None
        if self.server.accepts_password(login.password):
            return None
        return "Login failed: Request is not authenticated."

    async def _send_login_error(self, outbox: Outbox, text: str) -> None:
        error = LoginFailed(text)
        outbox.add(self._error_token(error))
        outbox.add(tokens.done(tokens.DONE_ERROR))
        await outbox.end()

    # ------------------------------------------------------------------ logged in

    async def _read_requests(self) -> None:
        """Reads messages while requests are answered; an attention interrupts the running one."""
        try:
            while True:
                message = await self.channel.read_message()
                if message.type == PacketType.ATTENTION:
                    if self._busy:
                        self._cancel.set()
                        self.store.interrupt()
                    else:
                        await self._queue.put(_ATTENTION)
                    continue
                await self._queue.put(message)
        except (ClosedByPeer, ConnectionError, asyncio.IncompleteReadError):
            pass
        except ProtocolError as exc:
            log.debug("TDS session %s: %s", self.spid, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # pragma: no cover - reading bytes
            log.exception("TDS session %s: reading failed", self.spid)
        self._cancel.set()
        self.store.interrupt()
        await self._queue.put(_CLOSED)

    async def _serve(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            outbox = Outbox(self.channel, self.packet_size, self.spid)
            if item is _ATTENTION:
                outbox.add(tokens.done(tokens.DONE_ATTN))
                await outbox.end()
                continue
            self._busy = True
            self._cancel.clear()
            try:
                await self._answer(item, outbox)
            finally:
                self._busy = False
            if self._cancel.is_set() and not self.channel.writer.is_closing():
                # An attention that came as the answer ended: acknowledged on its own.
                self._cancel.clear()
                outbox.add(tokens.done(tokens.DONE_ATTN))
                await outbox.end()

    async def _answer(self, message: Message, outbox: Outbox) -> None:
        if message.ignored:  # the client cancelled it while sending: one DONE, no attention ack
            outbox.add(tokens.done())
            await outbox.end()
            return
        if message.reset:
            self.state.prepared.clear()
            outbox.add(tokens.envchange_bytes(tokens.ENV_RESET_ACK, b"", b""))
        if message.oversized:
            outbox.add(self._error_token(Refused("The request is larger than the emulator accepts.")))
            outbox.add(tokens.done(tokens.DONE_ERROR))
            await outbox.end()
            return
        try:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("TDS session %s: request type %#x, %d bytes", self.spid, message.type, len(message.data))
            if message.type == PacketType.SQL_BATCH:
                await self._batch(rpc.batch_text(message.data), outbox)
            elif message.type == PacketType.RPC:
                await self._rpc(message.data, outbox)
            elif message.type == PacketType.TRANSACTION_MANAGER:
                self._transaction(message.data, outbox)
            else:
                raise ProtocolError(f"unexpected packet type {message.type:#x}")
        except Cancelled:
            outbox.add(tokens.done(tokens.DONE_ATTN))
            self._cancel.clear()
        await outbox.end()

    # ------------------------------------------------------------------ SQL

    def _environment(self, params: dict[str, Param] | None = None) -> Environment:
        return Environment(self.server.catalog, dict(params or {}), server=self.server.name,
                           database=self.state.database)

    async def _plans(self, text: str, params: dict[str, Param]) -> list:
        key = (text, tuple(sorted((name, str(p.type)) for name, p in params.items())), self.state.database)
        cached = self.server.plans.get(key)
        if cached is not None:
            return cached
        environment = self._environment(params)
        if len(text) < 2000:
            plans = batch.plan(text, environment)
        else:  # a long batch is parsed off the event loop
            plans = await asyncio.get_running_loop().run_in_executor(self.server.executor, batch.plan, text,
                                                                     environment)
        self.server.plans.put(key, plans)
        return plans

    async def _batch(self, text: str, outbox: Outbox, values: dict[str, Any] | None = None,
                     params: dict[str, Param] | None = None, *, in_procedure: bool = False) -> bool:
        """Runs a batch; answers its tokens. False when it ended with an error."""
        done_token = tokens.DONEINPROC if in_procedure else tokens.DONE
        try:
            plans = await self._plans(text, params or {})
        except SqlError as error:
            self._error(outbox, error, in_procedure)
            return False
        except RecursionError:
            self._error(outbox, Refused("The statement is nested too deeply for the emulator."), in_procedure)
            return False
        except Exception as exc:  # a statement the translator does not handle: the session goes on
            log.exception("TDS session %s: translating %r failed", self.spid, text[:200])
            self._error(outbox, Refused(f"The emulator cannot run this statement ({type(exc).__name__})."),
                        in_procedure)
            return False
        values = dict(values or {})
        values["__now"] = self._now()
        values["__rowcount"] = 0
        values["__spid"] = self.spid
        for index, plan in enumerate(plans):
            more = tokens.DONE_MORE if (index < len(plans) - 1 or in_procedure) else 0
            try:
                if isinstance(plan, batch.Quiet):
                    values["__rowcount"] = 0
                    outbox.add(tokens.done(more, token=done_token))
                elif isinstance(plan, batch.Assign):
                    if plan.query is None:
                        values[plan.key] = None
                    else:
                        row = await self.store.first(plan.query.sql, _arguments(plan.query, values))
                        values[plan.key] = row[0] if row else None
                    values["__rowcount"] = 1
                    outbox.add(tokens.done(more, token=done_token))
                else:
                    count = await self._stream(plan.query, values, outbox)
                    if count is None:  # cancelled: acknowledged
                        return False
                    values["__rowcount"] = count
                    outbox.add(tokens.done(more | tokens.DONE_COUNT, count, tokens.CMD_SELECT, done_token))
            except SqlError as error:
                if error.line == 1:
                    error.line = plan.line
                self._error(outbox, error, in_procedure)
                return False
            await outbox.flush()
        if not plans:
            outbox.add(tokens.done(tokens.DONE_MORE if in_procedure else 0, token=done_token))
        return True

    async def _stream(self, query, values: dict[str, Any], outbox: Outbox) -> int | None:
        """COLMETADATA then ROWs, a chunk at a time; the row count, or None when cancelled."""
        encode = rows_encoder([sqltype for _, sqltype in query.columns])
        cursor = None
        try:
            arguments = _arguments(query, values)
            started = self.store.start_inline(query.wire_sql, arguments, encode, next_chunk_rows(0, 0))
            if started is None:
                started = await self.store.start(query.wire_sql, arguments, encode, next_chunk_rows(0, 0))
            cursor, data, count, finished = started
            outbox.add(tokens.colmetadata(query.columns))
            outbox.add(data)
            sent_bytes = len(data)
            while not finished:
                await outbox.flush()
                if self._cancel.is_set():
                    raise Cancelled()
                data, rows, finished = await self.store.fetch(cursor, encode, next_chunk_rows(count, sent_bytes))
                count += rows
                sent_bytes += len(data)
                outbox.add(data)
            return count
        except Cancelled:  # the tokens written so far stay whole; the acknowledgement ends them
            outbox.add(tokens.done(tokens.DONE_ATTN))
            self._cancel.clear()
            return None
        finally:
            if cursor is not None:
                await self.store.close_cursor(cursor)

    def _now(self) -> float:
        return epoch_of(self.server.clock.now())

    # ------------------------------------------------------------------ RPC

    async def _rpc(self, data: bytes, outbox: Outbox) -> None:
        try:
            calls = rpc.parse(data)
        except SqlError as error:
            self._error(outbox, error, True, final=True)
            return
        for index, call in enumerate(calls):
            last = index == len(calls) - 1
            returned = await self._call(call, outbox)
            status = 0 if last else tokens.DONE_MORE
            outbox.add(tokens.returnstatus(0 if returned is not False else 1))
            for parameter, value in (returned or []):
                outbox.add(tokens.returnvalue(parameter.ordinal, parameter.name, INT, value))
            outbox.add(tokens.done(status | (tokens.DONE_ERROR if returned is False else 0), token=tokens.DONEPROC))
            await outbox.flush()

    async def _call(self, call: rpc.Call, outbox: Outbox):
        """Runs one call; the output parameters to return, or False after an error."""
        name = call.procedure
        params = call.parameters
        log.debug("TDS session %s: RPC %s with %d parameter(s)", self.spid, name, len(params))
        try:
            if name == "sp_executesql":
                statement, declared, values = self._statement_parameters(params, 0)
                ok = await self._batch(statement, outbox, values, declared, in_procedure=True)
                return [] if ok else False
            if name == "sp_prepare":
                handle_param = self._output(params, 0)
                declarations_text = _text_value(params, 1)
                statement = _text_value(params, 2)
                if statement is None:
                    raise Refused("Procedure or function 'sp_prepare' expects parameter '@stmt', which was not "
                                  "supplied.")
                handle = next(self.state.handles)
                self.state.prepared[handle] = Prepared(statement, rpc.declarations(declarations_text))
                return [(handle_param, handle)] if handle_param is not None else []
            if name == "sp_prepexec":
                handle_param = self._output(params, 0)
                declarations_text = _text_value(params, 1)
                statement = _text_value(params, 2)
                if statement is None:
                    raise Refused("Procedure or function 'sp_prepexec' expects parameter '@stmt', which was not "
                                  "supplied.")
                handle = next(self.state.handles)
                prepared = Prepared(statement, rpc.declarations(declarations_text))
                self.state.prepared[handle] = prepared
                declared, values = _bind(prepared.declarations, params[3:])
                ok = await self._batch(statement, outbox, values, declared, in_procedure=True)
                if not ok:
                    return False
                return [(handle_param, handle)] if handle_param is not None else []
            if name == "sp_execute":
                if not params or not isinstance(params[0].value, int):
                    raise Refused("Procedure or function 'sp_execute' expects parameter '@handle', which was not "
                                  "supplied.")
                prepared = self.state.prepared.get(params[0].value)
                if prepared is None:
                    raise Refused(f"Could not find prepared statement with handle {params[0].value}.")
                declared, values = _bind(prepared.declarations, params[1:])
                ok = await self._batch(prepared.statement, outbox, values, declared, in_procedure=True)
                return [] if ok else False
            if name == "sp_unprepare":
                if params and isinstance(params[0].value, int):
                    self.state.prepared.pop(params[0].value, None)
                return []
            if name.startswith("sp_cursor"):
                raise Refused(f"'{name}' is not supported: use sp_executesql or sp_prepexec.")
            raise Refused("'EXECUTE' statement is not supported. Line:1, Position:1")
        except SqlError as error:
            self._error(outbox, error, True)
            return False

    def _statement_parameters(self, params: list[rpc.Parameter], first: int):
        statement = _text_value(params, first)
        if statement is None:
            raise Refused("Procedure or function 'sp_executesql' expects parameter '@statement', which was not "
                          "supplied.")
        declarations = rpc.declarations(_text_value(params, first + 1))
        declared, values = _bind(declarations, params[first + 2:])
        return statement, declared, values

    @staticmethod
    def _output(params: list[rpc.Parameter], index: int) -> rpc.Parameter | None:
        return params[index] if index < len(params) and params[index].output else None

    # ------------------------------------------------------------------ transactions

    def _transaction(self, data: bytes, outbox: Outbox) -> None:
        """Accepted and acknowledged; the endpoint is read-only, so there is nothing to commit."""
        start = rpc.skip_all_headers(data)
        if len(data) < start + 2:
            raise ProtocolError("truncated transaction manager request")
        request = int.from_bytes(data[start:start + 2], "little")
        state = self.state
        if request == TM_BEGIN_XACT:
            state.transaction = next(state.transactions).to_bytes(8, "little")
            outbox.add(tokens.envchange_bytes(tokens.ENV_BEGIN_TRANSACTION, state.transaction))
        elif request in (TM_COMMIT_XACT, TM_ROLLBACK_XACT):
            old, state.transaction = state.transaction or b"", None
            kind = tokens.ENV_COMMIT_TRANSACTION if request == TM_COMMIT_XACT else tokens.ENV_ROLLBACK_TRANSACTION
            outbox.add(tokens.envchange_bytes(kind, b"", old))
            # fBeginXact: a new transaction begins at once (a client with autocommit off)
            flags_at = start + 2
            begin_again = False
            if len(data) > flags_at:
                name_length = data[flags_at]
                flags_position = flags_at + 1 + name_length * 2
                if len(data) > flags_position:
                    begin_again = bool(data[flags_position] & 0x01)
            if begin_again:
                state.transaction = next(state.transactions).to_bytes(8, "little")
                outbox.add(tokens.envchange_bytes(tokens.ENV_BEGIN_TRANSACTION, state.transaction))
        elif request not in (TM_SAVE_XACT, TM_GET_DTC_ADDRESS, TM_PROPAGATE_XACT, TM_PROMOTE_XACT):
            raise ProtocolError(f"transaction manager request {request}")
        outbox.add(tokens.done())

    # ------------------------------------------------------------------ errors, in one place

    def _error_token(self, error: SqlError) -> bytes:
        text = error.message
        if error.request_id:
            now = self.server.clock.now().astimezone(dt.timezone.utc)
            text = (f"{text}\nRequestId: TDS;{uuid.uuid4()};{next(self._request_counter)}\n"
                    f"Time: {now.strftime('%Y-%m-%dT%H:%M:%S.%f')}0Z")
        return tokens.message(error.number, error.state, error.severity, text, self.server.name, "", error.line)

    def _error(self, outbox: Outbox, error: SqlError, in_procedure: bool, *, final: bool = False) -> None:
        outbox.add(self._error_token(error))
        if in_procedure and not final:
            outbox.add(tokens.done(tokens.DONE_ERROR | tokens.DONE_MORE, token=tokens.DONEINPROC))
        elif in_procedure:
            outbox.add(tokens.done(tokens.DONE_ERROR, token=tokens.DONEPROC))
        else:
            outbox.add(tokens.done(tokens.DONE_ERROR))


def _arguments(query, values: dict[str, Any]) -> dict[str, Any]:
    if not query.late:
        return query.args
    arguments = dict(query.args)
    for key in query.late:
        arguments[key] = values.get(key)
    return arguments


def _text_value(params: list[rpc.Parameter], index: int) -> str | None:
    if index >= len(params):
        return None
    value = params[index].value
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _bind(declarations: list[tuple[str, Any]], params: list[rpc.Parameter]) -> tuple[dict[str, Param], dict[str, Any]]:
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
