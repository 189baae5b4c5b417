"""Start-up time: from spawning a server to its first 200 on the health path (polled every 5 ms),
median of a few runs; the emulator on a fresh store with its bundled fixtures and the real clock,
and the trivial starlette app as the limit."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .server import EmulatorServer, ServerProcess, TrivialServer

RUNS = 5


@dataclass
class StartupResult:
    emulator_s: list[float] = field(default_factory=list)
    trivial_s: list[float] = field(default_factory=list)

    @property
    def emulator_median_s(self) -> float | None:
        return statistics.median(self.emulator_s) if self.emulator_s else None

    @property
    def trivial_median_s(self) -> float | None:
        return statistics.median(self.trivial_s) if self.trivial_s else None


def measure_startup(emulator: str, python: str, work_dir: Path, runs: int = RUNS) -> StartupResult:
    result = StartupResult()
    for run in range(runs):
        database = work_dir / f"startup-{run}.db"
        result.emulator_s.append(_time_to_ready(lambda database=database: EmulatorServer(emulator, database, work_dir)))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        result.trivial_s.append(_time_to_ready(lambda: TrivialServer(python, work_dir)))
    return result


def _time_to_ready(make: Callable[[], ServerProcess]) -> float:
    server = make()
    server.start()
    try:
        return server.wait_ready(timeout=60.0, interval=0.005)
    finally:
        server.stop()
