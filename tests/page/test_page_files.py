"""The System Jobs page's files as the server hands them out (in process, no browser): `/` and
`/_emulator/v1/ui/` answer the page for GET and HEAD only; everything else keeps its Dataverse-shaped 404."""

from __future__ import annotations

import re

from odata_emulator.api.page import PAGE_DIR
from tests.helpers import BASE

UI = f"{BASE}/_emulator/v1/ui"


async def test_the_root_and_the_ui_path_serve_the_page(emulated):
    root = await emulated.client.get(f"{BASE}/")
    assert root.status_code == 200
    assert root.headers["content-type"] == "text/html; charset=utf-8"
    assert root.headers["cache-control"] == "no-cache"
    assert "<h1>System Jobs</h1>" in root.text
    ui = await emulated.client.get(f"{UI}/")
    assert ui.text == root.text
    redirect = await emulated.client.get(UI)
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/_emulator/v1/ui/")
    head = await emulated.client.head(f"{BASE}/")
    assert head.status_code == 200 and head.content == b""


async def test_every_file_the_page_names_is_served(emulated):
    index = (PAGE_DIR / "index.html").read_text()
    named = re.findall(r'(?:href|src)="/_emulator/v1/ui/([^"]+)"', index)
    for module in (PAGE_DIR / "js").glob("*.js"):
        named += [f"js/{m}" for m in re.findall(r'from "\./([^"]+)"', module.read_text())]
    assert {"style.css", "js/app.js", "js/api.js", "js/rules.js", "js/dialogs.js"} <= set(named)
    for name in set(named):
        response = await emulated.client.get(f"{UI}/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/css" if name.endswith(".css") else "text/javascript")


async def test_other_methods_and_missing_files_keep_the_dataverse_404(emulated):
    for method, url in [("POST", f"{BASE}/"), ("DELETE", f"{BASE}/"), ("GET", f"{UI}/missing.js"),
                        ("GET", f"{UI}/../../../etc/passwd"), ("PATCH", f"{UI}/js/app.js"), ("GET", f"{BASE}/other")]:
        response = await emulated.client.request(method, url)
        assert response.status_code == 404, (method, url)
        assert response.json()["error"]["code"] == "", (method, url)


async def test_the_page_calls_only_the_web_api_and_the_control_api():
    for module in (PAGE_DIR / "js").glob("*.js"):
        text = module.read_text()
        assert "fetch(" not in text or module.name == "api.js", module.name
    api = (PAGE_DIR / "js" / "api.js").read_text()
    assert re.findall(r'const (?:API|CONTROL) = "([^"]+)"', api) == ["/api/data/v9.2/", "/_emulator/v1/"]
