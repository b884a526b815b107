"""Small real file systems for tests: a size-limited tmpfs (a disk that fills) or a read-only one.

with tmpfs(tmp_path, "4m") as disk:      # skips the test when this process cannot mount
    fill(disk)                            # no byte left
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["tmpfs", "fill", "free_bytes"]


@contextlib.contextmanager
def tmpfs(parent: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` (mount's syntax, e.g. 4m) mounted under `parent`, unmounted afterwards."""
    point = parent / f"tmpfs-{size}{'-ro' if read_only else ''}"
    point.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(disk: Path, name: str = "filler") -> int:
    """Write zeros into `disk/name` until the file system has no byte left; the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(disk / name, "wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            try:
                while True:
                    written += f.write(chunk[:size])
            except OSError:
                continue
    return written


def free_bytes(disk: Path) -> int:
    stat = os.statvfs(disk)
    return stat.f_bavail * stat.f_frsize
