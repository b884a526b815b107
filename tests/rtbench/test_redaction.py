"""What is secret, once: header names, values from the environment, URL passwords and query keys."""

from __future__ import annotations

import pytest

from rtbench.redaction import MASK, is_secret_name, redacted_headers, redacted_url


@pytest.mark.parametrize("name", ["Authorization", "X-Api-Key", "cookie", "X-Session-Token", "client_secret"])
def test_names_that_say_secret_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["X-Team", "Accept", "model", "user"])
def test_other_names_are_not(name: str) -> None:
    assert not is_secret_name(name)


def test_header_values_are_masked_by_name_or_by_origin() -> None:
    pairs = [("Authorization", "Bearer abc"), ["X-Team", "blue"], ("X-Custom", "from-env"), "not a pair"]
    assert redacted_headers(pairs, {"x-custom"}) == [
        ["Authorization", MASK],
        ["X-Team", "blue"],
        ["X-Custom", MASK],
        "not a pair",
    ]


def test_urls_lose_their_password_and_secret_query_values() -> None:
    url = "https://user:hunter2@example.test:8443/v1?api_key=abc&model=m&token="
    assert redacted_url(url) == "https://user:***@example.test:8443/v1?api_key=***&model=m&token=***"
    assert redacted_url("ws://127.0.0.1:8765/ws") == "ws://127.0.0.1:8765/ws"
    assert redacted_url("plain text, no url") == "plain text, no url"
