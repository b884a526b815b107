"""The directory a run writes to, checked before the load starts: it can be created and written
to, has room, and holds no other run's files.

A directory that holds a bundle (only files rtbench writes in one) is refused unless the run
overwrites it, and then those files are removed first, so no file of the older run (its
summary.json above all) can sit beside the new ones. A directory that holds any other file is
refused even then: rtbench deletes only what it wrote.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rtbench.bundle.paths import (
    CHART_DIR,
    ERROR_FILE,
    EVENTS_FILE,
    HLOG_SUFFIX,
    REPORT_FILE,
    RESERVE_FILE,
    RUN_FILE,
    SUMMARY_FILE,
    TIMESERIES_FILE,
    TURNS_FILE,
)
from rtbench.errors import BundleError

__all__ = [
    "MIN_FREE_BYTES",
    "OutDir",
    "claim_out_dir",
    "is_bundle_dir",
    "is_bundle_entry",
    "prepare_out_dir",
    "temporary_of",
]

#: Free space a run needs before it starts: more than the summary's reserve and a few seconds.
MIN_FREE_BYTES = 1 << 20
_BUNDLE_FILES = frozenset(
    {SUMMARY_FILE, TIMESERIES_FILE, RUN_FILE, EVENTS_FILE, ERROR_FILE, RESERVE_FILE, REPORT_FILE, TURNS_FILE}
)
#: What an atomic writer (mkstemp beside its file) leaves when it is killed: `.<name>.<random>.tmp`.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$")

#: Whether a directory entry is one that `prepare_out_dir` may remove.
Owned = Callable[[Path], bool]


def temporary_of(name: str) -> str:
    """The file a temporary `.<name>.<random>.tmp` stands for; `name` itself otherwise."""
    match = _TEMPORARY.match(name)
    return match["name"] if match else name


def _is_file(entry: Path) -> bool:
    return entry.is_file() and not entry.is_symlink()


def _is_dir(entry: Path) -> bool:
    return entry.is_dir() and not entry.is_symlink()


def is_bundle_entry(entry: Path) -> bool:
    """True for a file rtbench writes in a bundle, or its chart directory holding only charts.
    Symbolic links are never a bundle's."""
    if _is_dir(entry):
        return entry.name == CHART_DIR and all(
            _is_file(chart) and temporary_of(chart.name).endswith(".png") for chart in entry.iterdir()
        )
    name = temporary_of(entry.name)
    return _is_file(entry) and (name in _BUNDLE_FILES or name.endswith(HLOG_SUFFIX))


def is_bundle_dir(entry: Path) -> bool:
    """True for a directory (not a link) that holds nothing but a bundle's files."""
    return _is_dir(entry) and all(is_bundle_entry(child) for child in entry.iterdir())


@dataclass(frozen=True)
class OutDir:
    """A checked output directory. `created` is the topmost directory the check made (None when
    `path` existed)."""

    path: Path
    created: Path | None = None

    def discard(self) -> None:
        """Remove the directories the check made, as long as nothing was written into them (a
        run refused before its load started leaves no empty directory behind)."""
        if self.created is None:
            return
        current = self.path
        while True:
            try:
                current.rmdir()
            except OSError:
                return
            if current == self.created or current.parent == current:
                return
            current = current.parent


def _names(names: Sequence[str], most: int = 3) -> str:
    """ "summary.json, run.json, a.hlog and 9 more": a run's own records first."""
    first = (SUMMARY_FILE, RUN_FILE)
    ordered = sorted(names, key=lambda name: (first.index(name) if name in first else len(first), name))
    shown = ", ".join(ordered[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _make(path: Path) -> Path:
    """Create `path` and its missing parents; return the topmost one created."""
    top = path
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise BundleError(f"cannot create --out {path}: {_why(exc)}") from None
    return top


def _check_writable(path: Path, min_free: int, label: str = "--out") -> None:
    """Write (and remove) a file in `path`, and look at the free space of its file system."""
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{RESERVE_FILE}.", suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(probe)
        stat = os.statvfs(path)
    except OSError as exc:
        raise BundleError(f"cannot write to {label} {path}: {_why(exc)}") from None
    free = stat.f_bavail * stat.f_frsize
    if free < min_free:
        raise BundleError(
            f"{label} {path}: only {free // 1024} KiB free on its file system;"
            f" a run needs at least {min_free // 1024} KiB"
        )


def _clear(path: Path, overwrite: bool, owned: Owned, what: str) -> None:
    """Refuse a directory with files; with `overwrite`, remove them when all are `owned`."""
    try:
        entries = sorted(path.iterdir())
        foreign = [entry.name + ("/" if _is_dir(entry) else "") for entry in entries if not owned(entry)]
    except OSError as exc:
        raise BundleError(f"cannot read --out {path}: {_why(exc)}") from None
    if not entries:
        return
    if foreign:
        raise BundleError(
            f"--out {path} holds files rtbench did not write ({_names(foreign)}); choose an empty or new directory"
        )
    if not overwrite:
        raise BundleError(
            f"--out {path} already holds {what} ({_names([e.name for e in entries])});"
            " pass --overwrite to replace it, or choose another directory"
        )
    for entry in entries:
        try:
            if _is_dir(entry):
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:
            raise BundleError(f"--overwrite: cannot remove {entry}: {_why(exc)}") from None


def prepare_out_dir(
    path: Path,
    overwrite: bool = False,
    owned: Owned = is_bundle_entry,
    what: str = "another run's bundle",
    min_free: int = MIN_FREE_BYTES,
) -> OutDir:
    """Check (and create) the output directory `path` before a run; raise BundleError, one
    line, when it cannot be written, has less than `min_free` bytes free, holds files that are
    not `owned`, or holds owned files and `overwrite` is false. With `overwrite`, those files
    are removed."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise BundleError(f"--out {path} is not a directory")
        out = OutDir(path)
    else:
        out = OutDir(path, _make(path))
    try:
        _check_writable(path, 0)
        _clear(path, overwrite, owned, what)
        _check_writable(path, min_free)
    except BaseException:
        out.discard()
        raise
    return out


def claim_out_dir(base: Path, min_free: int = MIN_FREE_BYTES) -> OutDir:
    """Create a new directory `base`, or `base-2`, `base-3`, ... when that name is taken (by a
    run started in the same second): no two runs ever share one."""
    base = Path(base)
    for n in itertools.count(1):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        top = candidate
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        try:
            candidate.mkdir(parents=True)  # atomic: only one process creates a given name
        except FileExistsError:
            continue
        except OSError as exc:
            raise BundleError(f"cannot create the output directory {candidate}: {_why(exc)}") from None
        out = OutDir(candidate, top)
        try:
            _check_writable(candidate, min_free, "the output directory")
        except BaseException:
            out.discard()
            raise
        return out
    raise AssertionError("unreachable")  # pragma: no cover
