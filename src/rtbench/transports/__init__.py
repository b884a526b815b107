"""rtbench.transports: connections under gevent (WebSocket; streaming HTTP later).

Importing the package registers the built-in transports in `rtbench.transports.base.TRANSPORTS`.
"""

from __future__ import annotations

from rtbench.transports import http_sse as _http_sse  # noqa: F401  (registers "http-sse")
from rtbench.transports import websocket as _websocket  # noqa: F401  (registers "websocket")
