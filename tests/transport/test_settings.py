"""Which Kapso API a connection speaks, and what the current API's connection carries."""

from __future__ import annotations

import pytest

from kapso_provider.exceptions import KapsoConfigurationError
from kapso_provider.get_provider_info import CURRENT_BASE_URL, DEFAULT_BASE_URL
from kapso_provider.transport.settings import parse_connection


@pytest.mark.parametrize(
    ("host", "extra", "generation", "base_url"),
    [
        # Every connection that worked before the current API was supported keeps speaking v1.
        (None, {}, "v1", DEFAULT_BASE_URL),
        ("https://app.kapso.ai/api/v1", {}, "v1", DEFAULT_BASE_URL),
        ("http://127.0.0.1:8765/api/v1", {}, "v1", "http://127.0.0.1:8765/api/v1"),
        # The current API's host says so by itself; the extra says so anywhere.
        ("https://api.kapso.ai", {}, "current", CURRENT_BASE_URL),
        ("api.kapso.ai", {}, "current", CURRENT_BASE_URL),
        (None, {"api": "current"}, "current", CURRENT_BASE_URL),
        ("http://127.0.0.1:8765", {"api": "current"}, "current", "http://127.0.0.1:8765"),
        ("https://api.kapso.ai", {"api": "v1"}, "v1", CURRENT_BASE_URL),
        ("http://127.0.0.1:8765/api/v1", {"api": "v1"}, "v1", "http://127.0.0.1:8765/api/v1"),
        (None, {"extra__kapso__api": "current"}, "current", CURRENT_BASE_URL),
    ],
)
def test_the_generation_and_base_url(host: str | None, extra: dict[str, str], generation: str, base_url: str) -> None:
    settings = parse_connection("c", host=host, password="k", extra=extra)
    assert (settings.generation, settings.base_url) == (generation, base_url)


def test_the_current_api_carries_its_ids() -> None:
    settings = parse_connection(
        "c", host=None, password="k", extra={"api": "current", "phone_number_id": 123456, "business_account_id": "987"}
    )
    assert (settings.phone_number_id, settings.business_account_id) == ("123456", "987")
    assert "123456" in repr(settings)


@pytest.mark.parametrize(
    ("host", "extra", "message"),
    [
        (None, {"api": "v2"}, r"extra 'api' must be one of current, v1, got 'v2'"),
        ("https://api.kapso.ai/api/v1", {"api": "current"}, r"the host ends in /api/v1, the Legacy API's path"),
        (None, {"phone_number_id": "123"}, r"extra phone_number_id belongs to Kapso's current API"),
        (None, {"api": "current", "phone_number_id": "+1 555"}, r"extra 'phone_number_id' must be Meta's numeric id"),
        (None, {"api": "current", "business_account_id": True}, r"'business_account_id' must be Meta's numeric id"),
    ],
)
def test_a_connection_that_mixes_the_generations_is_refused(
    host: str | None, extra: dict[str, object], message: str
) -> None:
    with pytest.raises(KapsoConfigurationError, match=message):
        parse_connection("c", host=host, password="k", extra=extra)
