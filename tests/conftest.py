"""Shared pytest setup: `tests/` on the import path (for `support.*`) and reference-server fixtures.

from support.server import running_server          # in any test module

def test_x(reference_server):                      # --ttft-ms 50 --itl-ms 10 --tokens 20
    ws = websocket.create_connection(reference_server.ws_url)

def test_y(reference_server_factory):
    server = reference_server_factory("--tokens", "5", procs=2)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from support.ports import worker_port  # noqa: E402
from support.server import ServerHandle, running_server  # noqa: E402

import rtbench.local_server  # noqa: E402

#: Flags of the `reference_server` fixture.
DEFAULT_SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, tests that share module-scoped fixtures (a whole run, a server) go to
    one xdist worker, so each fixture runs once; every other test is handed out on its own."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        shared = sorted(n for n, defs in info.name2fixturedefs.items() if defs[-1].scope == "module") if info else []
        if shared:
            item.add_marker(pytest.mark.xdist_group(f"{item.nodeid.split('::')[0]}:{'+'.join(shared)}"))


@pytest.fixture(autouse=True, scope="session")
def ports_of_this_worker() -> Iterator[None]:
    """`LocalServer()` without a port, started in a test process, takes one of this xdist worker's
    own ports (`support.ports`) instead of one from the ephemeral range parallel workers share."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rtbench.local_server, "free_port", worker_port)
        yield


@pytest.fixture
def reference_server() -> Iterator[ServerHandle]:
    """A reference server with a fixed 50 ms TTFT, 10 ms ITL and 20 tokens per response."""
    with running_server(*DEFAULT_SERVER_FLAGS) as server:
        yield server


@pytest.fixture
def reference_server_factory() -> Iterator[Callable[..., ServerHandle]]:
    """`factory(*flags, procs=1, env=None)` starts a server; all are stopped after the test."""
    with ExitStack() as stack:

        def start(*flags: str, procs: int = 1, env: dict[str, str] | None = None) -> ServerHandle:
            return stack.enter_context(running_server(*flags, procs=procs, env=env))

        yield start
