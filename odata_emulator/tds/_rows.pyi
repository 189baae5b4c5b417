# The compiled ROW encoder (_rows.c), present where the install could build it (hatch_build.py).
from collections.abc import Callable
from typing import Any

class Unusual(ValueError): ...

def encode(rows: list[Any], kinds: bytes, others: tuple[Callable[[Any], bytes] | None, ...], /) -> bytes: ...
