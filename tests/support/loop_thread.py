"""A test server whose asyncio loop runs in a thread of the test process, as a context manager.

class MyServer(LoopThreadServer):
    async def _start(self) -> None: ...   # bind, set self.port
    async def _stop(self) -> None: ...
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

__all__ = ["LoopThreadServer"]


class LoopThreadServer:
    """Starts its loop thread and `_start()` on enter; `_stop()` and the loop end on exit."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> Self:
        self._thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *_: object) -> None:
        self.run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def run(self, coroutine: Any, timeout: float = 10.0) -> Any:
        """Run `coroutine` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=timeout)

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError
