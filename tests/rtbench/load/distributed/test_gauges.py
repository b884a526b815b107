"""The master's gauges merged with its workers': counts add up, the worst process decides the rest."""

from __future__ import annotations

from rtbench.load.distributed.gauges import merge_gauges


def test_counts_add_up_and_the_worst_process_decides_cpu_and_waiting() -> None:
    master = {"sessions": 0, "users_started": 0, "in_flight": 0, "client_rss_bytes": 100, "client_cpu": 3.0}
    master |= {"client_rss_idle_bytes": 90, "client_runq_ms": 900.0, "machine_cpu": 40.0, "config_error": None}
    workers = [
        {"sessions": 10, "users_started": 10, "in_flight": 2, "client_rss_bytes": 1000, "client_rss_idle_bytes": 800}
        | {"client_cpu": 35.0, "client_runq_ms": 12.0, "client_runq_delay_ms": 0.2, "machine_cpu": 55.0},
        {"sessions": 9, "users_started": 10, "in_flight": 1, "client_rss_bytes": 2000, "client_rss_idle_bytes": 700}
        | {"client_cpu": 80.0, "client_runq_ms": 340.0, "client_runq_delay_ms": 4.5, "machine_cpu": None},
    ]
    merged = merge_gauges(master, workers)
    assert (merged["sessions"], merged["users_started"], merged["in_flight"]) == (19, 20, 3)
    assert (merged["client_rss_bytes"], merged["client_rss_idle_bytes"]) == (3100, 1590)
    assert merged["client_cpu"] == 80.0
    # the master times no turn: its own wait for a core is left out
    assert (merged["client_runq_ms"], merged["client_runq_delay_ms"]) == (340.0, 4.5)
    assert merged["machine_cpu"] == 55.0
    assert merged["config_error"] is None


def test_a_lost_worker_leaves_the_merge_and_a_mismatch_is_kept() -> None:
    master = {"sessions": 0, "client_cpu": 1.0, "config_error": None}
    merged = merge_gauges(master, [{"sessions": 5, "config_error": "expected native frames"}])
    assert merged["sessions"] == 5 and merged["config_error"] == "expected native frames"
    assert merge_gauges(master, [])["sessions"] == 0
    assert merge_gauges(master, [])["client_runq_ms"] is None
