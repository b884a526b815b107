"""The rtbench reference streaming server: a realtime AI endpoint with an exactly known latency.

Run it with `python -m reference_server --help`; the wire protocols are in PROTOCOL.md. This
package never imports rtbench.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
