"""A plain blocking HTTP/1.1 client (http.client, keep-alive) for checks, paging walks and the
control API: the same client measures the emulator and, where it applies, the limit."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # from sending the request to the last byte of the body

    def json(self):
        return json.loads(self.body)


# uvicorn closes a keep-alive connection idle for 5 s; one idle longer than this is not reused.
IDLE_REUSE_S = 2.0


class Client:
    """One keep-alive connection to 127.0.0.1:port, reopened after an idle spell (a load run) and
    for requests with their own timeout."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def request(self, method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float | None = None) -> Reply:
        """`target` is a path, or an absolute URL on this server (an @odata.nextLink)."""
        if target.startswith("http"):
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        if self._connection is None or timeout is not None or time.perf_counter() - self._last_used > IDLE_REUSE_S:
            self.close()
            self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or self.timeout)
        started = time.perf_counter()
        try:
            self._connection.request(method, target, body=body, headers=headers or {})
            response = self._connection.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        self._last_used = time.perf_counter()
        elapsed = self._last_used - started
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data, elapsed)
        if response.will_close or timeout is not None:
            self.close()
        return reply

    def get(self, target: str, headers: dict[str, str] | None = None, timeout: float | None = None) -> Reply:
        return self.request("GET", target, headers=headers, timeout=timeout)

    def post_json(self, target: str, payload, timeout: float | None = None) -> Reply:
        return self.request("POST", target, body=json.dumps(payload).encode(),
                            headers={"Content-Type": "application/json"}, timeout=timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
