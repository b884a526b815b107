"""Secrets kept out of bundles, reports and the console: the one definition of what is secret."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "SECRET_MARKERS", "is_secret_name", "redacted_headers", "redacted_url"]

#: What a secret value is replaced with.
MASK = "***"
#: A header or query parameter whose name contains one of these is secret.
SECRET_MARKERS = ("token", "authorization", "secret", "password", "key", "cookie")


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter called `name` carries a secret (Authorization, X-Api-Key, ...)."""
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def redacted_headers(pairs: Iterable[Any], also_secret: Collection[str] = ()) -> list[Any]:
    """`[name, value]` pairs with the values of secret headers masked: those whose name says so and
    those named in `also_secret` (lower case; e.g. values read from the environment). Anything
    that is not a `[name, value]` pair is kept as it is."""
    return [
        [pair[0], MASK if is_secret_name(pair[0]) or pair[0].lower() in also_secret else pair[1]]
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
        else pair
        for pair in pairs
    ]


def redacted_url(text: str) -> str:
    """A URL with its password and secret-named query values masked ("?api_key=***"); other text as it is."""
    if "://" not in text:
        return text
    parts = urlsplit(text)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    query = [(k, MASK if is_secret_name(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))
