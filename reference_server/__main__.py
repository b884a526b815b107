"""`python -m reference_server`."""

from __future__ import annotations

from reference_server.cli import main

raise SystemExit(main())
