"""Microsoft's *sync* Python client (`DataverseClient`), unmodified, as the README tells a user to run
it: it insists on https, so the emulator serves HTTPS with a self-signed certificate
(`--tls-cert/--tls-key`) that the client trusts through `REQUESTS_CA_BUNDLE`."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("PowerPlatform.Dataverse")
from PowerPlatform.Dataverse.client import DataverseClient  # noqa: E402

from odata_emulator.tds.tls import generate  # noqa: E402
from tests.helpers import Server, SyncDummyCredential  # noqa: E402

pytestmark = pytest.mark.slow  # a real `odata-emulator serve` over TLS


def test_the_sync_client_reads_over_https_with_a_trusted_self_signed_certificate(tmp_path, monkeypatch):
    certificate = generate(tmp_path)
    server = Server(tmp_path, "--clock", "virtual", "--database", ":memory:",
                    "--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key))
    try:
        server.wait_ready()
        assert server.base.startswith("https://127.0.0.1:")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert))
        expected = httpx.get(f"{server.base}/api/data/v9.2/asyncoperations?$select=name&$filter=statecode eq 3 "
                             f"and statuscode eq 31&$orderby=createdon desc", verify=server.verify).json()["value"]
        with DataverseClient(server.base, SyncDummyCredential()) as client:
            rows = client.records.list("asyncoperation", select=["name", "statuscode"],
                                       filter="statecode eq 3 and statuscode eq 31", orderby=["createdon desc"])
            ids = [row["asyncoperationid"] for row in rows]
        assert ids == [row["asyncoperationid"] for row in expected] and ids
    finally:
        server.stop()
