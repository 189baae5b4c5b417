"""A batch of T-SQL: cut into statements, each classified and planned before any runs.

T-SQL needs no `;` between statements and sqlglot does: where the parser stops at a keyword that
starts a statement (`SELECT 1 SELECT 2`), the batch is cut there and parsing goes on. Any other
parse error is SQL Server's error 102 at the offending token; the parser runs in its strict mode
(never the lenient ones, which silently truncate a statement).

As in SQL Server, a batch that does not compile runs nothing: every statement is planned first.
Session chatter (SET options, USE, BEGIN TRAN/COMMIT/ROLLBACK, `IF @@TRANCOUNT > 0 COMMIT TRAN`) is
accepted and does nothing; DML, DDL and the rest of what Dataverse refuses get its error 40000.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.tsql import TSQL
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from .errors import NotDeclared, Refused, SqlError, SqlSyntaxError, UnclosedQuote
from .translate import Environment, Param, Query, Translator, data_type, parameter_key
from .types import SqlType

_DIALECT = TSQL()
MAX_BATCH_CHARACTERS = 4_000_000
MAX_STATEMENTS = 1000

# Words that begin a statement: where the parser stops at one of them, the previous statement ended.
STARTERS = frozenset("""SELECT SET DECLARE USE BEGIN COMMIT ROLLBACK SAVE IF WHILE INSERT UPDATE DELETE MERGE CREATE
ALTER DROP TRUNCATE EXEC EXECUTE PRINT RAISERROR THROW GRANT REVOKE DENY WITH RETURN WAITFOR BREAK CONTINUE GOTO
OPEN CLOSE FETCH DEALLOCATE BACKUP RESTORE DBCC KILL CHECKPOINT RECONFIGURE SHUTDOWN BULK READTEXT WRITETEXT
UPDATETEXT""".split())
# SQL Server says "near the keyword 'X'" for these.
RESERVED = frozenset("""ADD ALL ALTER AND ANY AS ASC BEGIN BETWEEN BY CASE CHECK COLUMN COMMIT CONSTRAINT CREATE CROSS
CURRENT DECLARE DEFAULT DELETE DESC DISTINCT DROP ELSE END ESCAPE EXCEPT EXEC EXECUTE EXISTS FETCH FOR FROM FULL
GROUP HAVING IF IN INNER INSERT INTERSECT INTO IS JOIN KEY LEFT LIKE NOT NULL OF ON OPTION OR ORDER OUTER PERCENT
PIVOT PRINT PROCEDURE RIGHT ROLLBACK SELECT SET TABLE THEN TO TOP TRAN TRANSACTION UNION UNPIVOT UPDATE USE VALUES
VIEW WHEN WHERE WHILE WITH""".split())

_NOT_KEYWORDS = frozenset({TokenType.STRING, TokenType.VAR, TokenType.IDENTIFIER, TokenType.NATIONAL_STRING})

# Control of flow, which Dataverse refuses: the statement is refused whole (its body is not parsed).
BLOCKS = frozenset({"IF", "WHILE"})

_TRANCOUNT = re.compile(r"^\s*IF\s+@@TRANCOUNT\s*>\s*0\s+(COMMIT|ROLLBACK)(\s+(TRAN|TRANSACTION))?\s*;?\s*$", re.I)


@dataclass
class Statement:
    node: exp.Expr | None
    tokens: list[Token]
    text: str
    refused: bool = False  # a statement Dataverse refuses, whatever it holds (IF, WHILE)

    @property
    def line(self) -> int:
        return self.tokens[0].line if self.tokens else 1

    @property
    def position(self) -> int:
        first = self.tokens[0]
        return max(1, first.col - len(first.text) + 1)

    @property
    def keyword(self) -> str:
        return self.tokens[0].text.upper() if self.tokens else ""


# ---------------------------------------------------------------------------- plans


@dataclass
class Quiet:
    """Accepted, does nothing (SET options, USE, transactions): answered with DONE alone."""

    line: int


@dataclass
class Select:
    query: Query
    line: int


@dataclass
class Assign:
    """A variable set by DECLARE ... = value or SET @x = value (`query` None: NULL)."""

    key: str
    query: Query | None
    line: int


Plan = Quiet | Select | Assign


# ---------------------------------------------------------------------------- parsing


def _tokenize(text: str) -> list[Token]:
    try:
        return _DIALECT.tokenize(text)
    except TokenError:
        raise _token_error(text) from None


class MissingCommentEnd(SqlError):
    number = 113
    severity = 15


def _token_error(text: str) -> SqlError:
    if text.count("/*") > text.count("*/"):
        return MissingCommentEnd("Missing end comment mark '*/'.", line=text.count("\n", 0, text.rfind("/*")) + 1)
    quote = max(text.rfind("'"), text.rfind("["), text.rfind('"'))
    tail = text[quote + 1:] if quote >= 0 else text
    return UnclosedQuote(f"Unclosed quotation mark after the character string '{tail}'.",
                         line=text.count("\n", 0, max(quote, 0)) + 1)


def _chunks(tokens: list[Token]) -> list[list[Token]]:
    """The tokens cut at `;` and at lines holding only GO (SSMS's batch separator)."""
    lines: dict[int, int] = {}
    for token in tokens:
        lines[token.line] = lines.get(token.line, 0) + 1
    chunks: list[list[Token]] = []
    current: list[Token] = []
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON or (token.text.upper() == "GO" and lines[token.line] == 1):
            chunks.append(current)
            current = []
        else:
            current.append(token)
    chunks.append(current)
    return [c for c in chunks if c]


def _depth_zero(tokens: list[Token], index: int) -> bool:
    depth = 0
    for token in tokens[:index]:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
    return depth == 0


def _starter_after(tokens: list[Token], start: int) -> int | None:
    for index in range(start, len(tokens)):
        if tokens[index].text.upper() in STARTERS and tokens[index].token_type not in _NOT_KEYWORDS \
                and _depth_zero(tokens, index):
            previous = tokens[index - 1].text.upper() if index else ""
            if tokens[index].text.upper() == "SELECT" and previous in ("UNION", "ALL", "EXCEPT", "INTERSECT", "("):
                continue
            if tokens[index].text.upper() == "WITH":  # a table hint, WITH (nolock)
                continue
            return index
    return None


def _syntax_error(chunk: list[Token], error: ParseError, text: str) -> SqlSyntaxError:
    detail = error.errors[0] if error.errors else {}
    highlight = detail.get("highlight") or (chunk[-1].text if chunk else "")
    line = detail.get("line") or (chunk[0].line if chunk else 1)
    index = _error_index(chunk, error)
    if index is not None and chunk[index].token_type == TokenType.STRING:
        highlight = chunk[index].text
    near = highlight
    if near.upper() in RESERVED and (index is None or chunk[index].token_type != TokenType.STRING):
        return SqlSyntaxError(near, line=line, keyword=True)
    return SqlSyntaxError(near, line=line)


def _error_index(chunk: list[Token], error: ParseError) -> int | None:
    detail = error.errors[0] if error.errors else {}
    line, col = detail.get("line"), detail.get("col")
    for index, token in enumerate(chunk):
        if token.line == line and token.col == col:
            return index
    return None


def _parse_chunk(chunk: list[Token], text: str) -> exp.Expr | None:
    parsed = _DIALECT.parser(error_level=ErrorLevel.IMMEDIATE).parse(chunk, text)
    if len(parsed) != 1:
        raise SqlSyntaxError(chunk[-1].text, line=chunk[-1].line)
    return parsed[0]


def parse(text: str) -> list[Statement]:
    """The batch's statements in order (raises SqlSyntaxError/UnclosedQuote)."""
    if len(text) > MAX_BATCH_CHARACTERS:
        raise Refused("The batch is too long for the emulator.")
    tokens = _tokenize(text)
    pending = _chunks(tokens)
    statements: list[Statement] = []
    while pending:
        chunk = pending.pop(0)
        if len(statements) > MAX_STATEMENTS:
            raise Refused("The batch has too many statements for the emulator.")
        source = text[chunk[0].start:chunk[-1].end + 1]
        if _TRANCOUNT.match(source):
            statements.append(Statement(exp.Commit(), chunk, source))
            continue
        if chunk[0].text.upper() in BLOCKS:  # control of flow: refused whole, whatever it holds
            statements.append(Statement(None, chunk, source, refused=True))
            continue
        try:
            node = _parse_chunk(chunk, text)
        except ParseError as error:
            index = _error_index(chunk, error)
            # The parser stopped at a statement's first word, or just after it (`SELECT 1 UPDATE t`:
            # a reserved word that sqlglot took for an alias): the previous statement ended there.
            for at in (index, index - 1 if index is not None else None):
                if at is not None and at > 0 and chunk[at].text.upper() in STARTERS \
                        and chunk[at].token_type not in _NOT_KEYWORDS \
                        and _depth_zero(chunk, at):
                    pending[:0] = [chunk[:at], chunk[at:]]
                    break
            else:
                raise _syntax_error(chunk, error, text) from None
            continue
        except RecursionError:
            raise Refused("The statement is nested too deeply for the emulator.") from None
        if isinstance(node, (exp.Command, exp.IfBlock)) or _swallowed(node):
            split = _starter_after(chunk, 1)
            if split is not None:
                pending[:0] = [chunk[:split], chunk[split:]]
                continue
        if isinstance(node, exp.Select) and not node.expressions:
            raise SqlSyntaxError(chunk[-1].text, line=chunk[-1].line, keyword=chunk[-1].text.upper() in RESERVED)
        statements.append(Statement(node, chunk, source))
    return statements


def _swallowed(node: exp.Expr | None) -> bool:
    """A DECLARE or SET that sqlglot read as a command with the next statements inside."""
    return isinstance(node, exp.Set) and any(isinstance(item, exp.Command) for item in node.expressions)


# ---------------------------------------------------------------------------- planning


def _refused(statement: Statement, name: str | None = None) -> Refused:
    keyword = name or statement.keyword
    return Refused(f"'{keyword}' statement is not supported. Line:{statement.line}, Position:{statement.position}",
                   line=statement.line)


def plan(text: str, env: Environment) -> list[Plan]:
    """Every statement of the batch planned (raises the first error; nothing has run)."""
    plans: list[Plan] = []
    for statement in parse(text):
        try:
            plans.extend(_plan_one(statement, env))
        except SqlError as error:
            if error.line == 1 and statement.line != 1:
                error.line = statement.line
            raise
    return plans


def _plan_one(statement: Statement, env: Environment) -> list[Plan]:
    node = statement.node
    line = statement.line
    if statement.refused:
        raise _refused(statement)
    if node is None:
        return []
    if isinstance(node, (exp.Select, exp.SetOperation, exp.Subquery)):
        if isinstance(node, exp.Select) and any(isinstance(p, exp.EQ) and isinstance(p.this, exp.Parameter)
                                                for p in node.expressions):
            raise Refused("Assigning variables with SELECT @variable = ... is not supported by the emulator.",
                          line=line)
        return [Select(Translator(env).translate(node), line)]
    if isinstance(node, (exp.Use, exp.Transaction, exp.Commit, exp.Rollback)):
        return [Quiet(line)]
    if isinstance(node, exp.Set):
        return _plan_set(node, env, line)
    if isinstance(node, exp.Command) and str(node.this).upper() == "SET":
        return [Quiet(line)]
    if isinstance(node, exp.Declare):
        return _plan_declare(node, env, line)
    if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
        raise _refused(statement, type(node).__name__.upper())
    if isinstance(node, (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)):
        raise _refused(statement)
    if isinstance(node, (exp.Execute, exp.ExecuteSql)) or statement.keyword in ("EXEC", "EXECUTE"):
        raise _refused(statement, "EXECUTE")
    raise _refused(statement)


def _plan_set(node: exp.Set, env: Environment, line: int) -> list[Plan]:
    """SET @x = value; any other SET (options such as NOCOUNT) is acknowledged and does nothing."""
    assignments = [item for item in node.expressions
                   if isinstance(item, exp.SetItem) and isinstance(item.this, exp.EQ)
                   and isinstance(item.this.this, exp.Parameter) and not isinstance(item.this.this.this,
                                                                                    exp.Parameter)]
    if not assignments:
        return [Quiet(line)]
    plans: list[Plan] = []
    for item in assignments:
        name = item.this.this.name.lower()
        param = env.params.get(name)
        if param is None:
            raise NotDeclared(f'Must declare the scalar variable "@{item.this.this.name}".', line=line)
        query = Translator(env).translate_expression(item.this.expression, param.type)
        plans.append(Assign(parameter_key(name), query, line))
    return plans


def _plan_declare(node: exp.Declare, env: Environment, line: int) -> list[Plan]:
    plans: list[Plan] = []
    for item in node.expressions:
        if not isinstance(item, exp.DeclareItem) or item.args.get("kind") is None:
            raise Refused("Only scalar variables can be declared.", line=line)
        names = item.this if isinstance(item.this, list) else [item.this]
        sqltype: SqlType = data_type(item.args["kind"])
        default = item.args.get("default")
        for variable in names:
            name = variable.name.lower()
            if name in env.params:
                raise SqlError(f"The variable name '@{variable.name}' has already been declared. Variable names "
                               "must be unique within a query batch or stored procedure.", line=line)
            query = Translator(env).translate_expression(default.copy(), sqltype) \
                if default not in (None, False) else None
            env.params[name] = Param(sqltype)
            plans.append(Assign(parameter_key(name), query, line))
    return plans
