"""A real `rtbench run` against a hostile native server (tests/support/hostile_server.py): string,
negative, huge and fractional token counts, frames that are not JSON, and thousands of distinct
error codes. Every broken turn is a protocol error of that turn: no traceback, no timeout, tokens
never negative, and the error counters stay few."""

from __future__ import annotations

from pathlib import Path

from support.hostile_server import SCRIPT, HostileNativeServer
from support.runs import run_scenario, scenario_text

from rtbench.metrics.names import ERROR_CODES_KEPT, OWN_ERROR_CODES, error_frame_code


def test_a_hostile_target_fails_its_turns_as_protocol_errors_and_names_few_codes(tmp_path: Path) -> None:
    with HostileNativeServer(error_codes_per_turn=300) as server:
        result, summary = run_scenario(tmp_path, scenario_text(server.url, users=4, duration="3s", think_time="0.02s"))
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "frame handler" not in output, output[-3000:]
    assert server.codes_sent >= 3000 and set(server.turns) == set(SCRIPT)  # every kind of hostility was sent
    counters, delivery = summary["counters"], summary["delivery"]
    failed = delivery["failed"]
    assert failed["timeout"] == 0 and failed["incomplete"] == 0 and failed["seq_gap"] == 0
    sent, cancelled = delivery["turns_sent"], delivery["turns_cancelled"]
    assert sent == delivery["turns_completed"] + failed["error"] + cancelled
    good = server.turns["good"]  # one script entry in ten answers well; the rest break the protocol
    assert abs(delivery["turns_completed"] - good) <= 4 and failed["error"] >= 8 * good - 4
    assert counters["tokens"] == 3 * counters["turns_completed"] >= 0  # no string, negative or huge sum
    codes = [code for name in counters if (code := error_frame_code(name)) is not None]
    foreign = [code for code in codes if code not in OWN_ERROR_CODES]
    assert len(foreign) <= ERROR_CODES_KEPT and "other" in codes and "bad_field" in codes
    assert counters["error_frame_other"] >= server.codes_sent // 2  # the codes after the first few
    assert all(code.replace("_", "").replace("-", "").replace(".", "").isalnum() for code in codes)
    assert all(len(code) <= 48 for code in codes)
