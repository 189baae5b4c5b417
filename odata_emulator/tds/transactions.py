"""Transaction manager requests (MS-TDS 2.2.7.17): accepted and acknowledged with the ENVCHANGEs a
client waits for. The endpoint is read-only, so there is nothing to begin, commit or roll back."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from . import tokens
from .errors import ProtocolError
from .outbox import Outbox
from .rpc import skip_all_headers

# Transaction manager request types (MS-TDS 2.2.6.9)
TM_GET_DTC_ADDRESS, TM_PROPAGATE_XACT, TM_BEGIN_XACT, TM_PROMOTE_XACT, TM_COMMIT_XACT, TM_ROLLBACK_XACT, \
    TM_SAVE_XACT = 0, 1, 5, 6, 7, 8, 9


@dataclass
class Transactions:
    """A session's transaction descriptor, as the client was last told it."""

    current: bytes | None = None
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def begin(self, outbox: Outbox) -> None:
        self.current = next(self.numbers).to_bytes(8, "little")
        outbox.add(tokens.envchange_bytes(tokens.ENV_BEGIN_TRANSACTION, self.current))


def answer_transaction(transactions: Transactions, data: bytes, outbox: Outbox) -> None:
    """Accepted and acknowledged; the endpoint is read-only, so there is nothing to commit."""
    start = skip_all_headers(data)
    if len(data) < start + 2:
        raise ProtocolError("truncated transaction manager request")
    request = int.from_bytes(data[start:start + 2], "little")
    if request == TM_BEGIN_XACT:
        transactions.begin(outbox)
    elif request in (TM_COMMIT_XACT, TM_ROLLBACK_XACT):
        old, transactions.current = transactions.current or b"", None
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
            transactions.begin(outbox)
    elif request not in (TM_SAVE_XACT, TM_GET_DTC_ADDRESS, TM_PROPAGATE_XACT, TM_PROMOTE_XACT):
        raise ProtocolError(f"transaction manager request {request}")
    outbox.add(tokens.done())
