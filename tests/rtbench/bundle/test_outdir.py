"""The bundle directory checked before a run, on real file systems: a file in the way, a read-only
mount, a full disk, another run's bundle (refused, or replaced with --overwrite), foreign files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.tmpfs import fill, tmpfs

from rtbench.bundle.outdir import MIN_FREE_BYTES, claim_out_dir, is_bundle_entry, prepare_out_dir
from rtbench.errors import BundleError

#: The files a finished run leaves (and a killed atomic write's temporary one).
BUNDLE = (
    "summary.json",
    "run.json",
    "events.jsonl",
    "timeseries.csv",
    "ttft.hlog",
    "e2e.hlog",
    "report.html",
    "report/ttft_percentiles.png",
    ".summary.json.k3j_x9.tmp",
)


def _bundle(root: Path) -> None:
    for name in BUNDLE:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old run")


def _one_line(exc: pytest.ExceptionInfo[BundleError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_new_directory_is_created_with_its_parents(tmp_path: Path) -> None:
    out = prepare_out_dir(tmp_path / "a" / "b")
    assert out.path.is_dir() and out.created == tmp_path / "a"
    out.discard()  # nothing written: a run refused later leaves no empty directory
    assert not (tmp_path / "a").exists()


def test_discard_keeps_a_directory_a_run_wrote_into(tmp_path: Path) -> None:
    out = prepare_out_dir(tmp_path / "a" / "b")
    (out.path / "run.json").write_text("{}")
    out.discard()
    assert (out.path / "run.json").exists()


def test_a_file_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(BundleError) as exc:
        prepare_out_dir(tmp_path / "f")
    assert _one_line(exc) == f"--out {tmp_path / 'f'} is not a directory"


def test_a_path_under_a_file_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(BundleError) as exc:
        prepare_out_dir(tmp_path / "f" / "bundle")
    assert _one_line(exc) == f"cannot create --out {tmp_path / 'f' / 'bundle'}: Not a directory"


def test_a_read_only_file_system_is_refused(tmp_path: Path) -> None:
    with tmpfs(tmp_path, "1m", read_only=True) as disk:
        with pytest.raises(BundleError) as exc:
            prepare_out_dir(disk / "bundle")
        assert "Read-only file system" in _one_line(exc)
        with pytest.raises(BundleError) as exc:
            prepare_out_dir(disk)  # exists, but no file can be made in it
        assert _one_line(exc) == f"cannot write to --out {disk}: Read-only file system"


def test_a_full_disk_is_refused_before_the_run(tmp_path: Path) -> None:
    with tmpfs(tmp_path, "2m") as disk:
        (disk / "b").mkdir()
        fill(disk)
        with pytest.raises(BundleError) as exc:
            prepare_out_dir(disk / "b")
        message = _one_line(exc)
        assert "KiB free on its file system" in message or "No space left on device" in message
        assert message.startswith(("--out", "cannot write to --out"))
        os.unlink(disk / "filler")
        assert prepare_out_dir(disk / "b").path == disk / "b"


def test_another_runs_bundle_is_refused_and_left_alone(tmp_path: Path) -> None:
    _bundle(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(BundleError) as exc:
        prepare_out_dir(tmp_path)
    message = _one_line(exc)
    assert message.startswith(f"--out {tmp_path} already holds another run's bundle (summary.json, run.json")
    assert message.endswith("pass --overwrite to replace it, or choose another directory")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_overwrite_removes_the_bundle_files(tmp_path: Path) -> None:
    _bundle(tmp_path)
    prepare_out_dir(tmp_path, overwrite=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("foreign", ["notes.txt", "report/notes.txt", ".git/HEAD"])
def test_a_foreign_file_is_refused_even_with_overwrite_and_nothing_is_deleted(tmp_path: Path, foreign: str) -> None:
    _bundle(tmp_path)
    (tmp_path / foreign).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / foreign).write_text("mine")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(BundleError) as exc:
        prepare_out_dir(tmp_path, overwrite=True)
    top = foreign.split("/")[0] + ("/" if "/" in foreign else "")
    assert _one_line(exc) == (
        f"--out {tmp_path} holds files rtbench did not write ({top}); choose an empty or new directory"
    )
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_link_is_never_a_bundle_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report").symlink_to(elsewhere)
    (out / "summary.json").symlink_to(elsewhere / "keep.txt")
    assert not is_bundle_entry(out / "report") and not is_bundle_entry(out / "summary.json")
    with pytest.raises(BundleError):
        prepare_out_dir(out, overwrite=True)
    assert (elsewhere / "keep.txt").read_text() == "keep"


def test_two_runs_started_in_the_same_second_get_two_directories(tmp_path: Path) -> None:
    base = tmp_path / "reports" / "20260101-120000-chat"
    first, second, third = (claim_out_dir(base) for _ in range(3))
    assert [first.path, second.path, third.path] == [
        base,
        base.with_name(base.name + "-2"),
        base.with_name(base.name + "-3"),
    ]
    assert all(out.path.is_dir() for out in (first, second, third))


def test_the_minimum_free_space_is_more_than_the_summary_reserve() -> None:
    from rtbench.load.bundle_writer import SUMMARY_RESERVE_BYTES

    assert MIN_FREE_BYTES > SUMMARY_RESERVE_BYTES
