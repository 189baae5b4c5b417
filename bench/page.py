"""The System Jobs page's load time on a store of N jobs: a real Chromium (Debian's, through Playwright)
opens `/` on `odata-emulator serve` and the time is taken from the navigation to the grid showing its
first page (the page marks `document.body.dataset.shown`), the median of a few fresh loads. The
target (issue 17): under 1 s at 100,000 jobs. Skipped, with the reason, without Playwright or Chromium.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .progress import say
from .report import Row, Target, size_label
from .server import EmulatorServer, read_only_args
from .store import Store

CHROMIUM = Path("/usr/bin/chromium")
LOADS = 5
TARGET = Target("<=", 1.0, "value", "≤ 1 s")
TARGET_SIZES = (100_000,)


@dataclass
class PageResult:
    size: int
    seconds: list[float] = field(default_factory=list)
    skipped: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def measure_page(emulator: str, store: Store, work_dir: Path, workers: int = 1) -> PageResult:
    result = PageResult(store.size)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        result.skipped = "Playwright for Python is not installed (pip install playwright)"
        return result
    if not CHROMIUM.exists():
        result.skipped = f"{CHROMIUM} is missing (apt-get install chromium)"
        return result
    with EmulatorServer(emulator, store.path, work_dir, read_only_args(workers)) as running, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for attempt in range(LOADS + 1):  # the first load warms the server's caches: not counted
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(running.base_url + "/")
                page.wait_for_function("Number(document.body.dataset.shown || 0) >= 1", timeout=60_000)
                seconds = time.perf_counter() - started
                context.close()
                if attempt:
                    result.seconds.append(seconds)
        finally:
            browser.close()
    say(f"N={store.size}: System Jobs page shown in {result.median:.2f} s (median of {LOADS})")
    return result


def rows(results: list[PageResult]) -> list[Row]:
    table = []
    for result in results:
        n = size_label(result.size)
        if result.skipped:
            table.append(Row("System Jobs page load (Chromium)", n, f"skipped: {result.skipped}"))
            continue
        median = result.median
        table.append(Row("System Jobs page load to first grid (Chromium, median of 5)", n,
                         f"{median:.2f} s" if median is not None else "—",
                         target=TARGET if result.size in TARGET_SIZES else None, value=median))
    return table


NOTE = ("System Jobs page: Debian's Chromium through Playwright opens `/` on the same server (a fresh browser "
        "context each time, after one warm-up load) and waits until the grid shows its first page; the median "
        "of 5 loads.")
