from __future__ import annotations

from pathlib import Path

from rtbench.report.capacity import knee_chart, render_capacity
from rtbench.report.charts import PNG_SIGNATURE

STEPS = [
    {
        "load": 10,
        "passed": True,
        "saturated": False,
        "p95": 40.0,
        "p99": 55.0,
        "goodput": 25.0,
        "breached": [],
        "bundle": "step-01-10",
    },
    {
        "load": 40,
        "passed": False,
        "saturated": False,
        "p95": 800.0,
        "p99": 950.0,
        "goodput": 30.0,
        "breached": ["ttft p95 < 200ms (measured 800 ms)"],
        "bundle": "step-03-40",
    },
    {
        "load": 20,
        "passed": True,
        "saturated": False,
        "p95": None,
        "p99": None,
        "goodput": None,
        "breached": [],
        "bundle": "step-02-20",
    },
]


def test_knee_chart_is_a_png_even_with_gaps() -> None:
    assert knee_chart(STEPS, "ttft", 20, "users").startswith(PNG_SIGNATURE)
    assert knee_chart(STEPS, "ttft", None, "users").startswith(PNG_SIGNATURE)


def test_page_has_the_answer_and_every_step(tmp_path: Path) -> None:
    result = {
        "scenario": "s",
        "slo": "slo.toml",
        "by": "users",
        "metric": "ttft",
        "answer": 20,
        "line": "capacity: 20 sessions meet every SLO (<met> at 20)",
        "steps": STEPS,
    }
    page = render_capacity(result, tmp_path).read_text()
    assert "capacity: 20 sessions meet every SLO (&lt;met&gt; at 20)" in page
    assert page.count('<tr class="fail">') == 1 and page.count('<tr class="pass">') == 2
    assert "ttft p95 &lt; 200ms (measured 800 ms)" in page
    assert (tmp_path / "knee.png").read_bytes().startswith(PNG_SIGNATURE)
