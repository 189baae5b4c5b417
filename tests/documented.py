"""Reading the documented queries as printed, the way a client replaying them would."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote


def webapi_request(path: Path) -> tuple[str, dict[str, str]]:
    """The request target (after the organization URL) and headers of a `.webapi.http` file.
    A URL spread over several lines is joined with no whitespace, as the docs' readers do."""
    text = path.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    headers = {}
    url_parts = []
    for line in lines:
        match = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
        if match and not line.startswith(("GET ", "http")) and url_parts:
            headers[match.group(1)] = match.group(2).strip()
        else:
            url_parts.append(line)
    target = "".join(url_parts)
    assert target.startswith("GET "), path
    target = target[4:]
    target = re.sub(r"^(\[Organization URI\]|<organization URL>)", "", target)
    return target, headers


def encode_like_a_browser(target: str) -> str:
    """Percent-encode what must be (spaces, quotes), keep OData's literal characters."""
    return quote(target, safe="/?&=$(),'@*:;")
