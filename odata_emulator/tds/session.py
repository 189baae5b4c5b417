"""One client connection, from its first byte to its last (MS-TDS 3.3, the server's states).

    TLS first? (0x16: TDS 8.0 strict) ─▶ PRELOGIN ─▶ TLS inside PRELOGIN (7.x, when negotiated)
    ─▶ LOGIN7 (login-only encryption stops here) ─▶ logged in: SQLBatch, RPC, transaction-manager
    requests and attention, one request at a time, answers streamed in packets of the negotiated size.

This module is the message loop; a request is answered by `execute.py` (SQLBatch), `procedures.py`
(RPC) or `transactions.py`, through an `Outbox`. Every `SqlError` becomes an ERROR token and a DONE
with the error bit here, in `error`, the one place; a `ProtocolError` (malformed bytes) closes the
connection. The session's task reads each request from its `Channel` itself; while it answers one, the
channel watches the bytes that arrive, so that an attention (the client's cancel) is seen at once: it
sets `cancel` and interrupts the store, and so does the client going away.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import login as login7
from . import prelogin, rpc, tokens
from .channel import Channel, ClosedByPeer
from .errors import LoginFailed, ProtocolError, Refused, SqlError
from .execute import run_batch
from .outbox import Outbox
from .packets import DEFAULT_PACKET_SIZE, Message, PacketType, packetize
from .procedures import Prepared, answer_rpc
from .reader import Cancelled, StoreReader
from .transactions import Transactions, answer_transaction

if TYPE_CHECKING:  # pragma: no cover
    from .server import TdsServer

log = logging.getLogger("odata_emulator.tds")

LOGIN_TIMEOUT = 30.0  # seconds from connecting to logged in
MAX_LOGIN_BYTES = 128 * 1024
SQL_SERVER = (12, 0, 2000, 8)  # what Dataverse's endpoint reports: SQL Azure 12.0.2000.8
PROGRAM = "Microsoft SQL Server"

@dataclass
class State:
    """What a session remembers between requests."""

    database: str = "emulator"
    prepared: dict[int, Prepared] = field(default_factory=dict)
    handles: itertools.count = field(default_factory=lambda: itertools.count(1))
    transactions: Transactions = field(default_factory=Transactions)


class Session:
    def __init__(self, server: TdsServer, channel: Channel, spid: int) -> None:
        self.server = server
        self.channel = channel
        self.spid = spid
        self.packet_size = DEFAULT_PACKET_SIZE
        self.state = State()
        self.store = StoreReader(server.database_path, server.executor, server.long_statements)
        self.mode: prelogin.Mode | None = None
        self.login: login7.Login7 | None = None
        self.cancel = asyncio.Event()
        self._request_counter = itertools.count(1)

    # ------------------------------------------------------------------ the whole connection

    async def run(self) -> None:
        try:
            if not await asyncio.wait_for(self._log_in(), LOGIN_TIMEOUT):
                return
            await self._serve()
        except (TimeoutError, ClosedByPeer, ConnectionError):
            pass
        except ProtocolError as exc:
            log.debug("TDS session %s: %s", self.spid, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection ends; the server goes on
            log.exception("TDS session %s failed", self.spid)
        finally:
            self.channel.watch(None)
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
            assert server.wrapped_context is not None  # negotiated only when there is a certificate
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

    async def _serve(self) -> None:
        channel = self.channel
        while True:
            message = await channel.read_message()
            outbox = Outbox(channel, self.packet_size, self.spid)
            if message.type == PacketType.ATTENTION:  # a cancel that found nothing running
                outbox.add(tokens.done(tokens.DONE_ATTN))
                await outbox.end()
                continue
            self.cancel.clear()
            channel.watch(self._interrupt)
            try:
                await self._answer(message, outbox)
            finally:
                channel.watch(None)
            if self.cancel.is_set() and not channel.closing:
                # An attention that came as the answer ended: acknowledged on its own.
                self.cancel.clear()
                outbox.add(tokens.done(tokens.DONE_ATTN))
                await outbox.end()

    def _interrupt(self) -> None:
        """An attention while a request is answered (or the client gone): the answer stops at once."""
        self.cancel.set()
        self.store.interrupt()

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
                await run_batch(self, rpc.batch_text(message.data), outbox)
            elif message.type == PacketType.RPC:
                await answer_rpc(self, message.data, outbox)
            elif message.type == PacketType.TRANSACTION_MANAGER:
                answer_transaction(self.state.transactions, message.data, outbox)
            else:
                raise ProtocolError(f"unexpected packet type {message.type:#x}")
        except Cancelled:
            outbox.add(tokens.done(tokens.DONE_ATTN))
            self.cancel.clear()
        await outbox.end()

    # ------------------------------------------------------------------ errors, in one place

    def _error_token(self, error: SqlError) -> bytes:
        text = error.message
        if error.request_id:
            now = self.server.clock.now().astimezone(dt.timezone.utc)
            text = (f"{text}\nRequestId: TDS;{uuid.uuid4()};{next(self._request_counter)}\n"
                    f"Time: {now.strftime('%Y-%m-%dT%H:%M:%S.%f')}0Z")
        return tokens.message(error.number, error.state, error.severity, text, self.server.name, "", error.line)

    def error(self, outbox: Outbox, error: SqlError, in_procedure: bool, *, final: bool = False) -> None:
        """`error` answered: its ERROR token, then the DONE (in a procedure, DONEINPROC or DONEPROC)."""
        outbox.add(self._error_token(error))
        if in_procedure and not final:
            outbox.add(tokens.done(tokens.DONE_ERROR | tokens.DONE_MORE, token=tokens.DONEINPROC))
        elif in_procedure:
            outbox.add(tokens.done(tokens.DONE_ERROR, token=tokens.DONEPROC))
        else:
            outbox.add(tokens.done(tokens.DONE_ERROR))
