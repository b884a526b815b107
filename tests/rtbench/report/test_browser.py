"""report.html in a real browser: headless Chromium driven over the DevTools protocol.

The page must load from a file:// URL with no console error and no exception, show the verdict
and every SLO row, load every embedded image, and fit a laptop-width window. Chromium must be
installed (CI's `.ci/run` installs Debian's `chromium`); without it the test fails.
"""

from __future__ import annotations

import json
from typing import Any

from support.chromium import WINDOW_WIDTH, headless_chromium, open_page

from rtbench.bundle.summary import read_summary
from rtbench.report import render_report
from rtbench.report.render import CHART_DIR
from rtbench.slo.evaluate import evaluate
from rtbench.slo.sources import spec_from_summary

PAGE_STATE = """(() => {
  const rows = Array.from(document.querySelectorAll('#slo-table tbody tr'));
  return {
    badge: (document.getElementById('verdict-badge') || {}).textContent || null,
    slo: rows.map(tr => [tr.cells[0].textContent, tr.className, tr.cells[4].textContent]),
    images: Array.from(document.images).map(img => [img.complete, img.naturalWidth]),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  };
})()"""


def test_report_in_headless_chromium(make_bundle: Any) -> None:
    baseline = make_bundle("old", seed=3)
    bundle = make_bundle("new", seed=4)
    report = render_report(bundle, baseline_dir=baseline)
    summary = read_summary(bundle)
    expected = evaluate(spec_from_summary(summary, bundle), summary).results
    charts = sorted((bundle / CHART_DIR).glob("*.png"))
    assert len(charts) == 7

    with headless_chromium() as devtools:
        session = open_page(devtools, report.as_uri())
        state = devtools.evaluate(PAGE_STATE, session)
        page_errors = devtools.errors()
        devtools.evaluate("console.error('probe: errors are seen')", session)  # the listener works
        devtools.wait_for("Runtime.consoleAPICalled")
        probed = devtools.errors()

    assert page_errors == []
    assert len(probed) == 1 and "probe" in json.dumps(probed[0])
    assert state["badge"] == "FAIL"  # e2e p99 < 100 ms is breached
    assert [row[0] for row in state["slo"]] == [r.label for r in expected]
    assert [row[1] for row in state["slo"]] == ["pass" if r.passed else "fail" for r in expected]
    assert len(state["images"]) == len(charts)
    assert all(complete and width > 0 for complete, width in state["images"])
    assert state["innerWidth"] == WINDOW_WIDTH and state["scrollWidth"] <= state["innerWidth"]
