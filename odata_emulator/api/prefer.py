"""The `Prefer` request header: a comma-separated list in any order, possibly over several
header lines, with `odata.include-annotations` quoted or not."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..query.numbers import whole_number
from .serialize import Annotations

DEFAULT_PAGE_SIZE = 5000
MAX_PAGE_SIZE = 5000

# The items between commas that are not inside double quotes. Kept free of nested or adjacent
# quantifiers over the same characters: a leading/trailing `\s*` around the run made matching
# cubic on a header of spaces with a stray quote.
_ITEM = re.compile(r'(?:[^,"]|"[^"]*")+')


@dataclass(frozen=True)
class Preferences:
    annotations: Annotations = Annotations()
    annotations_text: str | None = None
    max_page_size: int | None = None
    return_representation: bool = False
    continue_on_error: bool = False
    track_changes: bool = False

    def applied(self) -> list[str]:
        """The `Preference-Applied` values, one per honoured preference."""
        values = []
        if self.annotations_text is not None:
            values.append(f'odata.include-annotations="{self.annotations_text}"')
        if self.max_page_size is not None:
            values.append(f"odata.maxpagesize={self.max_page_size}")
        if self.return_representation:
            values.append("return=representation")
        if self.track_changes:
            values.append("odata.track-changes")
        return values

    def without_page_size(self) -> Preferences:
        """What an answer that does not page (a single row, an aggregate, FetchXML) applied."""
        return Preferences(self.annotations, self.annotations_text, None, self.return_representation,
                           track_changes=self.track_changes)


def parse_prefer(headers: list[str]) -> Preferences:
    items: list[str] = []
    for header in headers:
        items.extend(m.group(0).strip() for m in _ITEM.finditer(header) if m.group(0).strip())
    patterns: list[str] = []
    annotations_text = None
    page_size = None
    representation = False
    continue_on_error = False
    track_changes = False
    pending_annotation = False
    for item in items:
        name, _, value = item.partition("=")
        name = name.strip().lower()
        value = value.strip().strip('"')
        if name == "odata.include-annotations":
            patterns = [p.strip() for p in value.split(",") if p.strip()]
            annotations_text = value
            pending_annotation = True
            continue
        if "=" not in item and pending_annotation and name and not name.startswith(("odata.", "return")):
            # An unquoted list (`odata.include-annotations=A,B`) spills into the next items.
            patterns.append(item.strip().strip('"'))
            annotations_text = ",".join(patterns)
            continue
        pending_annotation = False
        if name == "odata.maxpagesize":
            # ASCII only: str.isdigit() admits '²' (a Latin-1 header byte), which int() refuses; and
            # whole_number, not int(), which refuses more than 4,300 digits (a size that long is capped
            # like any other above the largest page).
            if value.isascii() and value.isdigit() and whole_number(value) > 0:
                page_size = min(whole_number(value), MAX_PAGE_SIZE)
        elif name == "return" and value.lower() == "representation":
            representation = True
        elif name == "odata.continue-on-error":
            continue_on_error = True
        elif name == "odata.track-changes":
            track_changes = True
    return Preferences(Annotations(tuple(patterns)), annotations_text, page_size, representation, continue_on_error,
                       track_changes)
