"""Storage forms (`store/values.py`): GUIDs and file storage's content."""

from __future__ import annotations

import uuid

import pytest

from odata_emulator.store.values import compress_file, file_text, normalize_guid

GUID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"


@pytest.mark.parametrize("spelling", [
    GUID, GUID.upper(), "{" + GUID + "}", "{" + GUID.upper() + "}", GUID.replace("-", ""), "urn:uuid:" + GUID,
    uuid.UUID(GUID), "0A1b2C3d-4E5f-6789-AbCd-eF0123456789",
])
def test_every_spelling_of_a_guid_is_stored_lowercase_and_hyphenated(spelling) -> None:
    assert normalize_guid(spelling) == GUID


@pytest.mark.parametrize("text", ["", "not a guid", GUID[:-1], GUID + "0", GUID.replace("-", "_"), GUID + "\n",
                                  "g" + GUID[1:]])
def test_what_is_not_a_guid_is_refused(text) -> None:
    with pytest.raises(ValueError):
        normalize_guid(text)


def test_file_content_reads_back_compressed_or_as_an_older_version_stored_it() -> None:
    text = "Données du contexte " * 10_000
    stored = compress_file(text)
    assert isinstance(stored, bytes) and len(stored) < len(text) // 50
    assert file_text(stored) == text
    assert file_text(text) == text and file_text(None) is None
