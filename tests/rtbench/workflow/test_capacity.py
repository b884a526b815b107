"""`search_capacity`'s checks before any step runs (whole searches: tests/rtbench/cli/test_capacity.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rtbench.errors import ConfigError
from rtbench.workflow import CapacityRequest, search_capacity
from rtbench.workflow.capacity import answer_line

SCENARIO = '[scenario]\nname = "c"\n[slo]\nttft = ["p95 < 100ms"]\n'


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start": 20, "maximum": 10}, "--start 20 is above --max 10"),
        ({"by": "sessions"}, "--by: expected users or rate, got 'sessions'"),
        ({"arrival": "closed"}, "--arrival: expected constant or poisson, got 'closed'"),
        ({"duration": "soon"}, "--duration: expected a duration such as 30s, 500ms or 2m, got 'soon'"),
    ],
)
def test_bad_requests_are_one_line_before_any_step(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    scenario = tmp_path / "c.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        search_capacity(CapacityRequest(scenario, out=out, **changes))
    assert str(info.value) == message and not out.exists()


def test_slos_are_required(tmp_path: Path) -> None:
    scenario = tmp_path / "c.toml"
    scenario.write_text('[scenario]\nname = "c"\n')
    with pytest.raises(ConfigError, match="capacity needs SLOs"):
        search_capacity(CapacityRequest(scenario))


def test_answer_line() -> None:
    assert answer_line(24, "SLOs met at 24 and breached at 26", "users").startswith("capacity: 24 sessions meet")
    assert answer_line(1200, "r", "rate") == "capacity: 1,200 turns/s (open loop) meet every SLO (r)"
    assert answer_line(None, "r", "users") == "capacity: none found (r)"
