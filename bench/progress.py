"""Progress lines on stderr, stamped with the time since the run started."""

from __future__ import annotations

import sys
import time

_STARTED = time.perf_counter()


def say(message: str) -> None:
    elapsed = time.perf_counter() - _STARTED
    print(f"[bench {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] {message}", file=sys.stderr, flush=True)


def shout(message: str) -> None:
    """A failed measurement: never silent."""
    say(f"!!! FAILED: {message}")
