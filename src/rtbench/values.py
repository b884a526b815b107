"""Value parsers shared by scenario files and command-line options: each raises ValueError("what
was expected") for the caller to name the file and key, or the option."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rtbench.config import ThinkTime, parse_duration
from rtbench.errors import ConfigError

__all__ = [
    "ARRIVALS",
    "at_least_one",
    "boolean",
    "compression",
    "existing_file",
    "non_empty_string",
    "non_negative_int",
    "positive_int",
    "positive_number",
    "probability",
    "source_addrs",
    "string_list",
    "string_table",
    "weights",
    "expand_headers",
    "parse_arrival",
    "parse_duration",
    "parse_header",
    "parse_host_port",
    "parse_source_addrs",
    "parse_think_time",
    "parse_workers",
    "validate_target",
]

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
TARGET_SCHEMES = ("ws", "wss", "http", "https")


def parse_think_time(value: Any, pacing: bool = False) -> ThinkTime:
    """A think time from a duration ("2s") or a range ("1s..3s", or a two-item list)."""
    if isinstance(value, list) and len(value) == 2:
        low, high = (parse_duration(v) for v in value)
    elif isinstance(value, str) and ".." in value:
        low, high = (parse_duration(v) for v in value.split("..", 1))
    else:
        low = high = parse_duration(value)
    if high < low:
        raise ValueError("a range whose low end is not above its high end")
    return ThinkTime(low=low, high=high, pacing=pacing)


def validate_target(url: str) -> str:
    """Return `url` if it is a ws/wss/http/https URL with a host, else raise ValueError."""
    parsed = urlparse(url)
    if parsed.scheme not in TARGET_SCHEMES or not parsed.hostname:
        raise ValueError("a ws://, wss://, http:// or https:// URL with a host")
    return url


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("a positive integer")
    return value


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("an integer that is not negative")
    return value


def positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError("a positive number")
    return float(value)


def probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("a number from 0 to 1")
    return float(value)


def at_least_one(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        raise ValueError("a number of at least 1")
    return float(value)


def non_empty_string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("a non-empty string")
    return value


def string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("a non-empty list of strings")
    return tuple(value)


def weights(value: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, dict) or not value:
        raise ValueError("a table of persona = weight")
    pairs = tuple((str(k), positive_number(v)) for k, v in value.items())
    return pairs


def string_table(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError('a table of name = "value" strings')
    return tuple((str(k), v) for k, v in value.items())


def parse_host_port(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """("host", port) from "HOST:PORT" or ":PORT"."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("HOST:PORT, e.g. 0.0.0.0:5557")
    return (host.strip("[]") or default_host), int(port)


def parse_header(value: str) -> tuple[str, str]:
    """("Name", "value") from "Name: value"."""
    name, sep, rest = value.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise ValueError('a header such as "Authorization: Bearer ${API_KEY}"')
    return name.strip(), rest.strip()


def expand_headers(
    pairs: tuple[tuple[str, str], ...], where: str
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Headers with `${VAR}` replaced from the environment, and the names of those that used one
    (they are secrets, redacted in bundles). An unset variable is a one-line `ConfigError`."""
    expanded, secret = [], []

    def lookup(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise ConfigError(f"{where}: environment variable {match.group(1)} is not set")
        return value

    for name, value in pairs:
        new = _ENV_REFERENCE.sub(lookup, value)
        if new != value or _ENV_REFERENCE.search(value):
            secret.append(name)
        expanded.append((name, new))
    return tuple(expanded), tuple(secret)


ARRIVALS = ("closed", "constant", "poisson")


def parse_arrival(value: Any) -> str:
    """ "closed" (the default), or an open-loop arrival process: "constant" or "poisson"."""
    if value not in ARRIVALS:
        raise ValueError(f"one of {', '.join(ARRIVALS)}")
    return str(value)


def parse_workers(value: Any) -> int:
    """A worker count from a positive integer or "auto" (0 in `RunConfig`: decided before the run)."""
    if value == "auto":
        return 0
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError('a positive integer or "auto"')
    return value


MAX_SOURCE_ADDRS = 4096


def parse_source_addrs(value: str) -> tuple[str, ...]:
    """Addresses from "127.0.0.2-127.0.0.9" (a range), "127.0.0.2,127.0.0.3" or a mix."""
    addrs: list[str] = []
    for part in (p.strip() for p in value.split(",")):
        first, sep, last = part.partition("-")
        try:
            start = ipaddress.ip_address(first.strip())
            end = ipaddress.ip_address(last.strip()) if sep else start
        except ValueError:
            raise ValueError("IP addresses, as a range 127.0.0.2-127.0.0.9 or a list a,b") from None
        if end.version != start.version or int(end) < int(start):
            raise ValueError("a range whose first address is not after its last")
        if int(end) - int(start) + len(addrs) >= MAX_SOURCE_ADDRS:
            raise ValueError(f"at most {MAX_SOURCE_ADDRS} addresses")
        addrs += [str(start + offset) for offset in range(int(end) - int(start) + 1)]
    return tuple(dict.fromkeys(addrs))


def source_addrs(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError('addresses such as "127.0.0.2-127.0.0.9"')
    return parse_source_addrs(value)


def existing_file(value: Any) -> str:
    path = Path(non_empty_string(value)).expanduser()
    if not path.is_file():
        raise ValueError("the path of an existing file")
    return str(path)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


#: The keys of a `[target] compression` table besides `method`, and the smallest value of each window.
COMPRESSION_WINDOWS = {"client_max_window_bits": 9, "server_max_window_bits": 8}
COMPRESSION_FLAGS = ("client_no_context_takeover", "server_no_context_takeover")
_COMPRESSION_FORMS = '"deflate", "none" or a table such as { method = "deflate", server_max_window_bits = 12 }'


def compression(value: Any) -> dict[str, Any] | None:
    """`[target] compression`: "deflate" (permessage-deflate, offered as browsers offer it),
    "none", or a table of `method` ("deflate", the default) and RFC 7692's parameters; the
    table as given (None for "none"), every key checked."""
    if value == "none":
        return None
    if value == "deflate":
        return {"method": "deflate"}
    if not isinstance(value, dict):
        raise ValueError(_COMPRESSION_FORMS)
    table = {"method": "deflate", **value}
    for key, given in table.items():
        if key == "method":
            if given != "deflate":
                raise ValueError(f'method "deflate" (the one compression there is), in {_COMPRESSION_FORMS}')
        elif key in COMPRESSION_WINDOWS:
            low = COMPRESSION_WINDOWS[key]
            if type(given) is not int or not low <= given <= 15:
                raise ValueError(f"{key} a whole number from {low} to 15")
        elif key in COMPRESSION_FLAGS:
            if not isinstance(given, bool):
                raise ValueError(f"{key} true or false")
        else:
            known = ", ".join(["method", *COMPRESSION_WINDOWS, *COMPRESSION_FLAGS])
            raise ValueError(f"compression keys among {known} (not {key!r})")
    return table
