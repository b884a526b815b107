"""The HTML report of a result bundle: pandas frames, matplotlib charts, one self-contained page.

`render_report(bundle_dir, baseline_dir=None, slo_spec=None) -> Path` writes
`BUNDLE/report.html` and `BUNDLE/report/*.png`.
"""

from __future__ import annotations

from rtbench.report.render import render_report

__all__ = ["render_report"]
