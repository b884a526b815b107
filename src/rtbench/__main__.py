"""`python -m rtbench` is the `rtbench` command."""

from __future__ import annotations

from rtbench.cli.main import app

app(prog_name="rtbench")
