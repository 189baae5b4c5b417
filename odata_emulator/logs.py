"""How `serve` logs: uvicorn's lines and the emulator's own, through the standard `logging` module.

Loggers: `odata_emulator.jobs` (INFO: one line per state a job enters), `odata_emulator.scheduler`
(DEBUG: what the scheduler decided: claims, lease renewals), `odata_emulator.requests` (INFO: one line
per refused request, with Dataverse's code and message), and uvicorn's `uvicorn.error` and
`uvicorn.access` (one line per request, its path decoded so `asyncoperations(...)` reads as sent).

`--log-format json` writes each record as one JSON object per line (for log collectors); the
default is text. The dictionary is handed to uvicorn as its `log_config`, so both sides share it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any
from urllib.parse import unquote

LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
FORMATS = ("text", "json")
_OWN = ("odata_emulator",)


class DecodedPath(logging.Filter):
    """uvicorn's access line shows the raw request target (`asyncoperations%28...%29`): decode it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], unquote(args[2]), args[3], args[4])
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """The `logging.config.dictConfig` for `serve`, at `level` (uvicorn's names; `trace` is below
    debug) in `fmt` (text or json)."""
    numeric = "DEBUG" if level == "trace" else level.upper()
    if fmt == "json":
        formatters: dict[str, Any] = {"plain": {"()": JsonLines}, "access": {"()": JsonLines}}
    else:
        formatters = {
            "plain": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s",
                      "use_colors": None},
            "access": {"()": "uvicorn.logging.AccessFormatter",
                       "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'},
        }
    handler = {"formatter": "plain", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"decoded_path": {"()": DecodedPath}},
        "formatters": formatters,
        "handlers": {
            "default": handler,
            "access": {**handler, "formatter": "access", "filters": ["decoded_path"], "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": numeric, "propagate": False},
            "uvicorn.error": {"level": numeric},
            "uvicorn.access": {"handlers": ["access"], "level": numeric, "propagate": False},
            **{name: {"handlers": ["default"], "level": numeric, "propagate": False} for name in _OWN},
        },
    }
