"""rtbench.transports: connections under gevent (WebSocket, streaming HTTP, in-memory for tests).

Importing the package registers the built-in transports in `rtbench.transports.base.TRANSPORTS`,
where `transport_for(adapter_class, url)` finds them by the adapter's wire and the URL's scheme.
"""

from __future__ import annotations

from rtbench.transports import http_sse as _http_sse  # noqa: F401  (registers http:// and https://)
from rtbench.transports import memory as _memory  # noqa: F401  (registers memory://)
from rtbench.transports import websocket as _websocket  # noqa: F401  (registers ws:// and wss://)
