"""TLS on the TDS endpoint, each mode with a real client, watched from a proxy in the middle:

    none        python-tds without a CA file (ENCRYPT_NOT_SUP): login and queries in the clear
    login-only  pymssql (FreeTDS's default) and mssql-python Encrypt=no: LOGIN7 inside TLS, then clear
    full        python-tds with the certificate, mssql-python Encrypt=yes: everything inside TLS
    strict      mssql-python Encrypt=strict (TDS 8.0): TLS first, ALPN tds/8.0

The proxy sees whether the user name and the SQL text cross the wire in the clear.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from odata_emulator.tds import prelogin
from tests.tds.conftest import endpoint, in_thread
from tests.tds.wire import Raw

# A real server: the TDS endpoint listening on a port of 127.0.0.1 (the fast loop leaves real servers out).
pytestmark = pytest.mark.slow

USER = "tls-matrix-user"
MARKER = "tls-matrix-marker"
QUERY = f"select count(*) from asyncoperation where name = '{MARKER}'"


class Tap:
    """A TCP proxy in front of the endpoint that keeps what the client sent."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.sent = bytearray()
        self.port = 0
        self._server = None

    async def __aenter__(self) -> Tap:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()

    async def _pipe(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def copy(reader, writer, keep: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    if keep:
                        self.sent += data
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(copy(client_reader, server_writer, True), copy(server_reader, client_writer, False))

    def saw(self, text: str) -> bool:
        return text.encode("utf-16-le") in self.sent


def pytds_query(port: int, cafile: str | None = None):
    import pytds
    options = dict(cafile=cafile, validate_host=False) if cafile else {}
    with pytds.connect("127.0.0.1", port=port, user=USER, password="x", database="emulator", autocommit=True,
                       login_timeout=10, timeout=10, **options) as conn:
        with conn.cursor() as cursor:
            cursor.execute(QUERY)
            return cursor.fetchall()


def pymssql_query(port: int):
    import pymssql
    conn = pymssql.connect(server="127.0.0.1", port=str(port), user=USER, password="x", database="emulator",
                           login_timeout=10, timeout=10)
    try:
        cursor = conn.cursor()
        cursor.execute(QUERY)
        return cursor.fetchall()
    finally:
        conn.close()


def mssql_python_query(port: int, options: str):
    import mssql_python
    conn = mssql_python.connect(f"Server=127.0.0.1,{port};Database=emulator;UID={USER};PWD=x;{options}")
    try:
        cursor = conn.cursor()
        cursor.execute(QUERY)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        conn.close()


CASES = [
    ("none", "python-tds", lambda port, cert: pytds_query(port)),
    ("login-only", "pymssql", lambda port, cert: pymssql_query(port)),
    ("login-only", "mssql-python", lambda port, cert: mssql_python_query(port, "Encrypt=no")),
    ("full", "python-tds", lambda port, cert: pytds_query(port, cert)),
    ("full", "mssql-python", lambda port, cert: mssql_python_query(port, "Encrypt=yes;TrustServerCertificate=yes")),
    ("strict", "mssql-python", lambda port, cert: mssql_python_query(port, f"Encrypt=strict;ServerCertificate={cert}")),
]


@pytest.mark.parametrize("mode, client, run", CASES, ids=[f"{m}-{c}" for m, c, _ in CASES])
async def test_each_encryption_mode_with_a_real_client(store_copy, mode, client, run):
    async with endpoint(str(store_copy)) as found, Tap(found.port) as tap:
        rows = await in_thread(run, tap.port, found.cert)
        assert [tuple(r) for r in rows] == [(0,)]
        record = found.server.connections[-1]
    assert record.encryption == mode
    assert tap.saw(USER) is (mode == "none")  # LOGIN7 in the clear only without TLS
    assert tap.saw(MARKER) is (mode in ("none", "login-only"))  # the SQL in the clear unless fully encrypted
    if mode == "strict":
        assert tap.sent[:1] == b"\x16" and record.alpn == "tds/8.0"


async def test_encryption_required_refuses_a_client_without_tls(store_copy):
    async with endpoint(str(store_copy), tds_encrypt="required") as found:
        def scenario():
            with Raw(found.port) as raw:
                answer = raw.prelogin(prelogin.Encrypt.NOT_SUP)
                raw.send_raw(b"\x10\x01\x00\x08\x00\x00\x01\x00")  # a client that goes on anyway
                return answer.encryption, raw.closed()
        assert await in_thread(scenario) == (prelogin.Encrypt.REQ, True)


async def test_encryption_off_answers_not_supported(store_copy):
    async with endpoint(str(store_copy), tds_encrypt="off") as found:
        assert found.server.certificate is None

        def scenario():
            with Raw(found.port) as raw:
                return raw.prelogin(prelogin.Encrypt.ON).encryption
        assert await in_thread(scenario) == prelogin.Encrypt.NOT_SUP
