"""`summary.json`: written atomically, read back with one-line errors. Schema: SCHEMA.md."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from rtbench.bundle.paths import SUMMARY_FILE
from rtbench.bundle.summary_types import Summary
from rtbench.errors import BundleError

__all__ = ["SCHEMA_VERSION", "write_summary", "read_summary", "read_document"]

SCHEMA_VERSION = 1


def _json_safe(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _readable_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_READABLE_MODE = _readable_mode()


def write_summary(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write `data` as JSON to `path` atomically: a reader sees the old file or the new one.

    `schema_version` is filled in when missing. Raises BundleError (the old file left intact, no
    temporary file left behind) when the data cannot be serialised or the file cannot be written.
    """
    path = Path(path)
    document = {"schema_version": SCHEMA_VERSION, **data}
    try:
        text = json.dumps(_json_safe(document), indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise BundleError(f"cannot write {path}: the summary is not JSON ({exc})") from exc
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), _READABLE_MODE)  # mkstemp makes 0600; bundles are shared
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise BundleError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    _fsync_dir(path.parent)


def read_summary(path: str | Path) -> Summary:
    """The summary at `path` (a summary.json or a bundle directory holding one): the one way
    summary.json is read.

    Raises BundleError with a one-line message when it is missing, not JSON, not an object or of
    an unknown schema version.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    return cast(Summary, read_document(path))


def read_document(path: str | Path) -> dict[str, Any]:
    """A JSON object written by `write_summary` (summary.json, run.json), its schema version checked.

    Raises BundleError with a one-line message when it is missing, not JSON, not an object or of
    an unknown schema version.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(f"no result summary at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path} does not hold a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(f"{path} has schema_version {version!r}; this rtbench reads version {SCHEMA_VERSION}")
    return data
