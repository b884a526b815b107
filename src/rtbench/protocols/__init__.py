"""rtbench.protocols: sans-I/O protocol adapters (frames in, events out; no sockets, no clocks).

Importing the package registers the built-in adapters, so `ADAPTERS` is complete as soon as any
module of it is imported.
"""

from __future__ import annotations

from rtbench.protocols import native as _native  # noqa: F401  (registers "native")
from rtbench.protocols import openai_chat as _openai_chat  # noqa: F401  (registers "openai-chat")
from rtbench.protocols import openai_realtime as _openai_realtime  # noqa: F401  (registers "openai-realtime")
from rtbench.protocols import ws_json as _ws_json  # noqa: F401  (registers "ws-json")
