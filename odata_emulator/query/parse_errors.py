"""Syntax errors worded as ODataLib words them: an unterminated literal, a character no token
starts with, "')' or ',' expected", each with the 0-based position in the option text. lark
reports what it expected; this turns that into the sentence a Dataverse client would see.
"""

from __future__ import annotations

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import QuerySyntaxError


def _unterminated_literal(text: str) -> bool:
    """True when a single-quoted literal is still open at the end of the text ('' escapes a quote)."""
    inside = False
    i = 0
    while i < len(text):
        if text[i] == "'":
            if inside and i + 1 < len(text) and text[i + 1] == "'":
                i += 2
                continue
            inside = not inside
        i += 1
    return inside


# Characters that can begin some token of the grammar.
_TOKEN_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'\"@$()[],/*-.:;=")


_GROUPING_WORDS = {"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "add", "sub", "mul", "div", "divby", "mod",
                   "has", "filter"}


def _expected_before(lark: Lark, start: str, text: str, pos: int) -> set[str] | None:
    """What the grammar accepts at `pos`, with the parser's pending reductions done: the tokens that
    may end the text before `pos`. (LALR reports a wider set when the offending token is a literal.)"""
    try:
        lark.parse(text[:pos], start=start)
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            return set(exc.expected or ())
    except UnexpectedInput:
        pass
    return None


def _open_paren_kind(text: str, pos: int) -> str:
    """ODataLib wants "')' or ','" inside an argument list or a lambda, "')' or operator" after a
    parenthesized expression (including $apply's filter(...)). Looks at the innermost open '('."""
    inside, opened = False, []
    for i, ch in enumerate(text[:pos]):
        if ch == "'":
            inside = not inside
        elif not inside and ch == "(":
            opened.append(i)
        elif not inside and ch == ")" and opened:
            opened.pop()
    if not opened:
        return "','"
    head = text[:opened[-1]].rstrip()
    word = head[len(head.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")):]
    return "operator" if not word or word in _GROUPING_WORDS else "','"


def syntax_error(exc: UnexpectedInput, text: str, start: str, lark: Lark) -> QuerySyntaxError:
    """The QuerySyntaxError ODataLib would answer for the text lark refused with `exc`."""
    if _unterminated_literal(text):
        return QuerySyntaxError(f"There is an unterminated literal at position {len(text)} in '{text}'.",
                                position=len(text), text=text)
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END" and exc.token.value[:1] not in _TOKEN_START:
        pos = exc.token.start_pos or 0
        return QuerySyntaxError(f"Syntax error: character '{text[pos]}' is not valid at position {pos} in '{text}'.",
                                position=pos, text=text)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0  # lark types it optional; its lexer always sets it
        char = text[pos] if pos < len(text) else ""
        return QuerySyntaxError(f"Syntax error: character '{char}' is not valid at position {pos} in '{text}'.",
                                position=pos, text=text)
    if isinstance(exc, UnexpectedEOF):
        return QuerySyntaxError(f"Syntax error at position {len(text)} in '{text}'.", position=len(text), text=text)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        pos = len(text) if token.type == "$END" else (token.start_pos or 0)
        expected = set(exc.expected or ())
        if token.type != "$END":
            expected = _expected_before(lark, start, text, pos) or expected
        if expected and expected <= {"RPAR", "COMMA"}:
            what = "','" if "COMMA" in expected else _open_paren_kind(text, pos)
            return QuerySyntaxError(f"')' or {what} expected at position {pos} in '{text}'.", position=pos, text=text)
        return QuerySyntaxError(f"Syntax error at position {pos} in '{text}'.", position=pos, text=text)
    return QuerySyntaxError(f"Syntax error in '{text}'.", text=text)  # pragma: no cover
