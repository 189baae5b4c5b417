"""What can go wrong on the TDS endpoint, as one small tree. `session.py` turns every `SqlError` into
an ERROR token (and a DONE with the error bit) in one place; a `ProtocolError` closes the connection.

    SqlError                 answered with an ERROR token; the connection stays open
    ├── SqlSyntaxError       102 / class 15  "Incorrect syntax near '<token>'."  (SQL Server's)
    ├── Refused              40000 / class 16  what Dataverse's endpoint refuses: DML, DDL, unknown
    │                        names, unsupported clauses... (Dataverse adds "RequestId: TDS;..." lines)
    ├── ConversionFailed     241 / class 16  a value that does not convert (a string to a date, a GUID...)
    ├── Grouping             8120 / class 16  a column neither grouped on nor inside an aggregate
    ├── NotDeclared          137 / class 15  an @variable the batch never declared
    └── LoginFailed          18456 / class 14  the connection is closed after it
    ProtocolError            malformed bytes: the connection is closed (after an ERROR token when the
                             session is far enough along to send one)
"""

from __future__ import annotations


class SqlError(Exception):
    number = 50000
    severity = 16  # the token's "class"
    state = 1
    # Dataverse's own errors carry "RequestId: TDS;<guid>;<n>" and "Time: ..." lines under the message.
    request_id = False

    def __init__(self, message: str, *, line: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class SqlSyntaxError(SqlError):
    """A statement SQL Server's parser rejects (sqlglot's ParseError, mapped to the offending token)."""

    number = 102
    severity = 15

    def __init__(self, near: str, *, line: int = 1, keyword: bool = False) -> None:
        where = f"the keyword '{near}'" if keyword else f"'{near}'"
        super().__init__(f"Incorrect syntax near {where}.", line=line)
        self.near = near


class UnclosedQuote(SqlError):
    number = 105
    severity = 15


class Refused(SqlError):
    """What Dataverse's endpoint refuses, with its error number and class (40000, 16)."""

    number = 40000
    severity = 16
    request_id = True


class Overflow(SqlError):
    """A value that does not fit the column's type (SQL Server's 8115)."""

    number = 8115
    severity = 16


class ConversionFailed(SqlError):
    number = 241
    severity = 16


class Grouping(SqlError):
    number = 8120
    severity = 16


class NotDeclared(SqlError):
    number = 137
    severity = 15


class LoginFailed(SqlError):
    number = 18456
    severity = 14
    request_id = True


class ProtocolError(Exception):
    """Bytes that are not TDS as this server speaks it: the connection is closed."""
