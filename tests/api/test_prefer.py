"""The `Prefer` request header: annotation lists quoted or not, several header lines, page sizes,
`return=representation`, `odata.continue-on-error`, and the `Preference-Applied` values."""

from __future__ import annotations

import time

import pytest

from odata_emulator.api.prefer import MAX_PAGE_SIZE, Preferences, parse_prefer
from odata_emulator.api.serialize import (
    ASSOCIATED_NAVIGATION,
    FORMATTED,
    LOOKUP_LOGICAL_NAME,
    TOTAL_COUNT,
    TOTAL_COUNT_EXCEEDED,
)


def test_no_header():
    prefs = parse_prefer([])
    assert prefs == Preferences()
    assert prefs.applied() == []
    assert not prefs.annotations.any


def test_quoted_annotation_list():
    prefs = parse_prefer([f'odata.include-annotations="{FORMATTED},{LOOKUP_LOGICAL_NAME}"'])
    assert prefs.annotations.patterns == (FORMATTED, LOOKUP_LOGICAL_NAME)
    assert prefs.annotations_text == f"{FORMATTED},{LOOKUP_LOGICAL_NAME}"
    assert prefs.annotations.formatted and prefs.annotations.wants(LOOKUP_LOGICAL_NAME)
    assert not prefs.annotations.wants(ASSOCIATED_NAVIGATION)
    assert prefs.max_page_size is None


def test_quoted_star():
    prefs = parse_prefer(['odata.include-annotations="*"'])
    assert prefs.annotations.patterns == ("*",)
    assert prefs.annotations.wants(TOTAL_COUNT) and prefs.annotations.formatted
    assert prefs.applied() == ['odata.include-annotations="*"']


def test_unquoted_annotation_followed_by_page_size():
    prefs = parse_prefer(["odata.include-annotations=OData.Community.Display.V1.FormattedValue,odata.maxpagesize=1"])
    assert prefs.annotations.patterns == (FORMATTED,)
    assert prefs.annotations_text == FORMATTED
    assert prefs.max_page_size == 1
    assert prefs.applied() == [f'odata.include-annotations="{FORMATTED}"', "odata.maxpagesize=1"]


def test_unquoted_annotation_list_spills_into_the_next_items():
    prefs = parse_prefer([f"odata.include-annotations={TOTAL_COUNT},{TOTAL_COUNT_EXCEEDED}, return=representation"])
    assert prefs.annotations.patterns == (TOTAL_COUNT, TOTAL_COUNT_EXCEEDED)
    assert prefs.annotations_text == f"{TOTAL_COUNT},{TOTAL_COUNT_EXCEEDED}"
    assert prefs.return_representation


def test_quoted_list_with_page_size_in_one_header_in_either_order():
    first = parse_prefer([f'odata.maxpagesize=10, odata.include-annotations="{FORMATTED},Microsoft.Dynamics.CRM.*"'])
    second = parse_prefer([f'odata.include-annotations="{FORMATTED},Microsoft.Dynamics.CRM.*",odata.maxpagesize=10'])
    assert first == second
    assert first.max_page_size == 10
    assert first.annotations.patterns == (FORMATTED, "Microsoft.Dynamics.CRM.*")
    assert first.annotations.wants(ASSOCIATED_NAVIGATION)


def test_multiple_header_lines():
    prefs = parse_prefer(['odata.include-annotations="*"', "odata.maxpagesize=25", "return=representation"])
    assert prefs.annotations.patterns == ("*",)
    assert prefs.max_page_size == 25
    assert prefs.return_representation
    assert prefs.applied() == ['odata.include-annotations="*"', "odata.maxpagesize=25", "return=representation"]


def test_unquoted_list_does_not_spill_into_the_next_header_preference():
    prefs = parse_prefer([f"odata.include-annotations={FORMATTED}", "odata.maxpagesize=3"])
    assert prefs.annotations.patterns == (FORMATTED,)
    assert prefs.max_page_size == 3


@pytest.mark.parametrize("value, size", [
    ("1", 1),
    ("5000", 5000),
    ("5001", MAX_PAGE_SIZE),
    ("100000", MAX_PAGE_SIZE),
    ("99999999999999999999999", MAX_PAGE_SIZE),
    ('"10"', 10),
])
def test_page_size_capped(value, size):
    prefs = parse_prefer([f"odata.maxpagesize={value}"])
    assert prefs.max_page_size == size
    assert prefs.applied() == [f"odata.maxpagesize={size}"]


# '²' arrives as such in a header decoded as Latin-1: str.isdigit() says yes, int() says no.
@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "1.5", "10x", "0x10", "²", "1²", "١٢"])
def test_page_size_zero_or_garbage_is_ignored(value):
    prefs = parse_prefer([f"odata.maxpagesize={value}"])
    assert prefs.max_page_size is None
    assert prefs.applied() == []


def test_page_size_name_is_case_insensitive_and_spaces_are_trimmed():
    assert parse_prefer(["  OData.MaxPageSize = 7 "]).max_page_size == 7


def test_return_representation():
    assert parse_prefer(["return=representation"]).return_representation
    assert parse_prefer(["return=Representation"]).return_representation
    minimal = parse_prefer(["return=minimal"])
    assert not minimal.return_representation and minimal.applied() == []


def test_continue_on_error():
    prefs = parse_prefer(["odata.continue-on-error"])
    assert prefs.continue_on_error
    assert prefs == Preferences(continue_on_error=True)
    assert parse_prefer(["odata.continue-on-error=true, odata.maxpagesize=2"]).continue_on_error
    assert not parse_prefer(["odata.maxpagesize=2"]).continue_on_error


def test_unknown_preferences_are_ignored():
    prefs = parse_prefer(["respond-async, wait=10, handling=lenient"])
    assert prefs == Preferences()


def test_track_changes_is_honoured_and_applied():
    """use-change-tracking-synchronize-data-external-systems.md: Preference-Applied: odata.track-changes."""
    prefs = parse_prefer(["odata.track-changes, odata.maxpagesize=10"])
    assert prefs.track_changes and prefs.applied() == ["odata.maxpagesize=10", "odata.track-changes"]
    assert prefs.without_page_size().applied() == ["odata.track-changes"]


def test_applied_lists_every_honoured_preference_in_a_fixed_order():
    prefs = parse_prefer([(f'return=representation,odata.maxpagesize=2,odata.include-annotations="{FORMATTED}",'
                          "odata.continue-on-error")])
    assert prefs.applied() == [f'odata.include-annotations="{FORMATTED}"', "odata.maxpagesize=2",
                               "return=representation"]


def test_applied_echoes_the_annotation_list_as_sent():
    text = f"{FORMATTED},Microsoft.Dynamics.CRM.*"
    assert parse_prefer([f'odata.include-annotations="{text}"']).applied() == [f'odata.include-annotations="{text}"']
    assert parse_prefer([f"odata.include-annotations={text}"]).applied() == [f'odata.include-annotations="{text}"']


def test_later_annotation_preference_wins():
    prefs = parse_prefer([f'odata.include-annotations="{FORMATTED}"', 'odata.include-annotations="*"'])
    assert prefs.annotations.patterns == ("*",)


@pytest.mark.parametrize("header", [
    'odata.include-annotations="*',  # unterminated quote
    '"',
    ",,,",
    "=",
    "a" + " " * 300 + '"',
    " " * 300 + '"',
    '"' * 301,
    "x=" + "," * 5000,
])
def test_malformed_headers_are_parsed_quickly_without_errors(header):
    started = time.perf_counter()
    prefs = parse_prefer([header])
    assert time.perf_counter() - started < 1  # the item regex once backtracked cubically on such input
    assert prefs.max_page_size is None and not prefs.return_representation
