"""The page's building blocks: everything escaped, images embedded, rows coloured."""

from __future__ import annotations

import base64
import re

from rtbench.report.page import ChartImage, badge, image, note, page, pairs_table, paragraph, section, table

HOSTILE = '<script>alert("x")</script>&'


def test_text_is_escaped_everywhere() -> None:
    html = page(
        HOSTILE,
        HOSTILE,
        [
            section("s", HOSTILE, [paragraph(HOSTILE), note(HOSTILE, warn=True)]),
            table([HOSTILE], [[HOSTILE]], [HOSTILE]),
            pairs_table([(HOSTILE, HOSTILE)]),
            badge(HOSTILE, "fail"),
        ],
    )
    assert "<script>" not in html
    assert (
        html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;") == 12
    )  # title twice, every other piece once


def test_table_rows_carry_classes_and_numeric_cells() -> None:
    html = table(("name", "value"), [("a", "1"), ("b", "2")], ["pass", "fail"], [False, True], table_id="t")
    assert '<table id="t">' in html
    assert '<tr class="pass"><td>a</td><td class="num">1</td></tr>' in html
    assert '<tr class="fail"><td>b</td><td class="num">2</td></tr>' in html


def test_image_is_an_embedded_data_uri() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    html = image(ChartImage("latency", "TTFT <p99>", png))
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match is not None and base64.b64decode(match.group(1)) == png
    assert 'alt="TTFT &lt;p99&gt;"' in html and 'id="chart-latency"' in html


def test_page_is_self_contained() -> None:
    html = page("t", "m", [])
    assert "<style>" in html and "<link" not in html and "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "max-width:1080px" in html
