"""Prometheus metrics: tallies flushed into counters, process samples, multiprocess aggregation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from reference_server.metrics import REJECT_REASONS, ServerMetrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_refusals_are_counted_by_kind() -> None:
    metrics = ServerMetrics()
    for code in ("bad_json", "unknown_type", "too_large", "rate_limited", "unknown_persona", "injected"):
        metrics.error(code)
    metrics.reject("slow_reader")
    values = samples(metrics.render().decode())
    rejected = {reason: values[("rtref_rejected_total", (("reason", reason),))] for reason in REJECT_REASONS}
    assert rejected == {
        **dict.fromkeys(REJECT_REASONS, 0.0),
        "malformed": 2,
        "oversize": 1,
        "rate_limited": 1,
        "slow_reader": 1,
    }  # every reason is there from the start; plain errors are not refusals
    assert values[("rtref_errors_total", (("code", "rate_limited"),))] == 1


def test_tallies_flush_into_counters() -> None:
    metrics = ServerMetrics()
    tally = metrics.tallies["openai"]
    tally.frames, tally.tokens, tally.bytes = 3, 12, 900
    metrics.error("bad_json")
    values = samples(metrics.render().decode())
    assert values[("rtref_frames_total", (("protocol", "openai"),))] == 3
    assert values[("rtref_tokens_total", (("protocol", "openai"),))] == 12
    assert values[("rtref_bytes_sent_total", (("protocol", "openai"),))] == 900
    assert values[("rtref_errors_total", (("code", "bad_json"),))] == 1
    assert (tally.frames, tally.tokens, tally.bytes) == (0, 0, 0)
    assert values[("rtref_resident_memory_bytes", ())] > 10e6
    assert values[("rtref_process_resident_memory_bytes", (("process_id", str(os.getpid())),))] > 10e6


class Connection:
    """Stands for a connection's transport (asyncio's and uvloop's take weak references)."""


def test_wire_tallies_flush_and_http_connections_count_once() -> None:
    metrics = ServerMetrics()
    tally = metrics.tallies["native"]
    tally.bytes_in, tally.payload_in, tally.payload_out = 70, 60, 500
    first, second = Connection(), Connection()  # the transports of two connections
    for transport in (first, first, second, first):
        metrics.http_request("openai", transport)
    values = samples(metrics.render().decode())
    native = (("protocol", "native"),)
    assert values[("rtref_bytes_received_total", native)] == 70
    assert values[("rtref_payload_bytes_received_total", native)] == 60
    assert values[("rtref_payload_bytes_sent_total", native)] == 500
    assert (tally.bytes_in, tally.payload_in, tally.payload_out) == (0, 0, 0)
    assert values[("rtref_http_requests_total", (("protocol", "openai"),))] == 4
    assert values[("rtref_http_connections_total", (("protocol", "openai"),))] == 2


def test_every_protocol_is_listed_from_the_start() -> None:
    values = samples(ServerMetrics().render().decode())
    for protocol in ("native", "openai", "realtime"):
        assert values[("rtref_sessions_open", (("protocol", protocol),))] == 0
        assert values[("rtref_prompts_total", (("protocol", protocol),))] == 0


WRITER = textwrap.dedent("""
    import sys
    from reference_server.metrics import REJECT_REASONS, ServerMetrics
    m = ServerMetrics(sys.argv[1])
    m.prompts.labels("native").inc(int(sys.argv[2]))
    m.sessions_open.labels("native").inc(int(sys.argv[2]))
    m.flush()
""")


def test_multiprocess_values_are_summed(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in ("2", "5"):
        subprocess.run(
            [sys.executable, "-c", WRITER, str(tmp_path), count],
            env=env,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
    values = samples(ServerMetrics(str(tmp_path)).render().decode())
    assert values[("rtref_prompts_total", (("protocol", "native"),))] == 7
    # livesum gauges count live processes only: the two writers have exited, but their files
    # remain until the supervisor marks them dead, so the sum is still visible here.
    assert values[("rtref_sessions_open", (("protocol", "native"),))] == 7
    pids = {labels for (name, labels) in values if name == "rtref_process_resident_memory_bytes"}
    assert len(pids) >= 2
