"""`--out` in real `rtbench` processes: an unwritable directory is refused in one line before any
load, a disk that fills mid-run leaves a partial bundle with its summary, another run's bundle is
refused unless `--overwrite` (which leaves only the new run's files), and a killed run is never
read with an older run's summary."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ports import worker_port
from support.runs import RTBENCH, scenario_text
from support.server import ServerHandle
from support.tmpfs import fill, tmpfs

from rtbench.bundle.outdir import is_bundle_entry
from rtbench.local_server import LocalServer

LOAD = ("--users", "2", "--spawn-rate", "2", "--duration", "2s", "--think-time", "0.2s")


def rtbench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RTBENCH, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The run's only output: one `error:` line on stderr, nothing on stdout, no traceback."""
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stdout + result.stderr
    assert result.stdout.strip() == ""
    return lines[0].removeprefix("error: ")


@pytest.fixture
def silent_target() -> Iterator[tuple[str, socket.socket]]:
    """A listening socket that answers nothing: any connection a run makes waits in its backlog."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", worker_port()))
    listener.listen(16)
    listener.setblocking(False)
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/ws", listener
    finally:
        listener.close()


def connections(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.mark.parametrize("case", ["file", "under_a_file", "read_only_mount", "full_disk"])
def test_an_unwritable_out_is_one_line_exit_3_and_no_load(
    tmp_path: Path, silent_target: tuple[str, socket.socket], case: str
) -> None:
    url, listener = silent_target
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(url, target_extra='connect_timeout = "1s"'))
    (tmp_path / "file").write_text("not a directory")
    with tmpfs(tmp_path, "1m", read_only=True) as ro, tmpfs(tmp_path, "2m") as full:
        fill(full)
        out, expected = {
            "file": (tmp_path / "file", ("is not a directory",)),
            "under_a_file": (tmp_path / "file" / "bundle", ("Not a directory",)),
            "read_only_mount": (ro / "bundle", ("Read-only file system",)),
            "full_disk": (full / "bundle", ("KiB free on its file system", "No space left on device")),
        }[case]
        result = rtbench("run", str(scenario), "--out", str(out), "--target", url, *LOAD, timeout=60)
    assert result.returncode == 3
    message = one_error_line(result)
    assert str(out) in message and any(e in message for e in expected), message
    assert connections(listener) == 0  # refused before preflight touched the target


def test_a_disk_that_fills_mid_run_leaves_a_partial_bundle_and_one_line(
    tmp_path: Path, reference_server: ServerHandle
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(reference_server.ws_url, users=10, duration="30s", think_time="0.05s"))
    log = tmp_path / "output.txt"
    with tmpfs(tmp_path, "8m") as disk:
        out = disk / "bundle"
        with open(log, "w") as output:
            cmd = [*RTBENCH, "run", str(scenario), "--out", str(out)]
            proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        try:
            deadline = time.monotonic() + 60
            while "steady" not in _text(out / "timeseries.csv"):
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            filled_at = time.time()
            fill(disk)
            code = proc.wait(timeout=90)  # the run stops at the first write that fails
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = log.read_text()
        assert code == 3, text
        assert "Traceback" not in text
        assert text.count("disk full") == 1, text  # the run's last line: "partial run: disk full: ..."
        summary = json.loads((out / "summary.json").read_text())
        assert summary["partial"] is True
        assert summary["partial_reason"].startswith("disk full: could not write "), summary["partial_reason"]
        assert summary["ended_at"] < filled_at + 20  # it stopped well before its 30 s
        assert summary["delivery"]["turns_completed"] > 0
        assert not (out / ".rtbench-reserve").exists()


def _started(out: Path) -> float | None:
    """run.json's start time (None while there is none to read)."""
    try:
        return float(json.loads((out / "run.json").read_text())["started_at"])
    except (OSError, ValueError, KeyError):
        return None


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


@pytest.fixture(scope="module")
def older_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle of a finished run, copied by each test that runs again into it."""
    out = tmp_path_factory.mktemp("older") / "bundle"
    with LocalServer(("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")) as server:
        first = rtbench("run", "--target", server.ws_url, "--out", str(out), *LOAD)
    assert first.returncode in (0, 1), first.stdout + first.stderr  # the run itself, its SLOs aside
    assert (out / "summary.json").is_file()
    return out


def test_another_runs_bundle_is_refused_and_overwrite_leaves_only_the_new_run(
    tmp_path: Path, older_run: Path, reference_server: ServerHandle
) -> None:
    out = tmp_path / "bundle"
    shutil.copytree(older_run, out)
    (out / "persona_switch.hlog").write_text("an interval log only the older run had\n")
    older = (out / "summary.json").read_bytes()

    refused = rtbench("run", "--target", reference_server.ws_url, "--out", str(out), *LOAD)
    assert refused.returncode == 3
    message = one_error_line(refused)
    assert message.startswith(f"--out {out} already holds another run's bundle (summary.json, run.json")
    assert "--overwrite" in message
    assert (out / "summary.json").read_bytes() == older

    again = rtbench("run", "--target", reference_server.ws_url, "--out", str(out), "--overwrite", *LOAD)
    assert again.returncode in (0, 1), again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    summary = json.loads((out / "summary.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert summary["started_at"] == run["started_at"] > json.loads(older)["started_at"]
    assert not (out / "persona_switch.hlog").exists()
    assert all(is_bundle_entry(entry) for entry in out.iterdir())


def test_a_killed_run_over_an_older_one_is_reported_partial(
    tmp_path: Path, older_run: Path, reference_server: ServerHandle
) -> None:
    """The case of the issue: a second run into the same --out is killed; `rtbench report` must not
    show the older run's summary as this one's."""
    out = tmp_path / "bundle"
    shutil.copytree(older_run, out)
    older = older_run / "summary.json"
    started = _started(out)

    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(reference_server.ws_url, users=2, duration="30s"))
    cmd = [*RTBENCH, "run", str(scenario), "--out", str(out), "--overwrite"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (_started(out) not in (None, started) and "steady" in _text(out / "timeseries.csv")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "summary.json").exists()  # the older run's went before this one started
    report = rtbench("report", str(out))
    assert report.returncode == 0, report.stdout + report.stderr
    assert "partial" in report.stderr and "killed" in report.stderr
    assert "PARTIAL RUN: killed" in (out / "report.html").read_text()

    # a directory mixed by an older rtbench: the summary of another run beside this one's files
    shutil.copy(older, out / "summary.json")
    mixed = rtbench("report", str(out))
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr
    assert "was an earlier run&#x27;s and was set aside" in (out / "report.html").read_text()


def test_capacity_refuses_an_earlier_search_and_foreign_files(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text("ws://127.0.0.1:1/ws", tables='[slo]\nttft = ["p95 < 1s"]\n'))
    out = tmp_path / "cap"
    (out / "step-01-10").mkdir(parents=True)
    (out / "step-01-10" / "summary.json").write_text("{}")
    (out / "capacity.json").write_text("{}")
    result = rtbench("capacity", str(scenario), "--out", str(out), timeout=60)
    assert result.returncode == 3
    assert one_error_line(result).startswith(f"--out {out} already holds an earlier capacity search (")
    (out / "notes.txt").write_text("mine")
    result = rtbench("capacity", str(scenario), "--out", str(out), "--overwrite", timeout=60)
    assert result.returncode == 3
    assert one_error_line(result) == (
        f"--out {out} holds files rtbench did not write (notes.txt); choose an empty or new directory"
    )
    assert sorted(p.name for p in out.iterdir()) == ["capacity.json", "notes.txt", "step-01-10"]


def test_demo_refuses_another_runs_bundle(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    result = rtbench("demo", "--out", str(out), "--duration", "1s", timeout=60)
    assert result.returncode == 3
    assert "Traceback" not in result.stdout + result.stderr
    assert f"error: --out {out} already holds another run's bundle (summary.json)" in result.stderr
