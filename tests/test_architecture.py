"""The import direction of DESIGN.md holds (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_contracts_cover_a_new_module_by_default(tmp_path: Path) -> None:
    """New modules nobody listed break the contracts: the rules name what is allowed, not the rest."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "src" / "rtbench", tmp_path / "src" / "rtbench", ignore=ignore)
    shutil.copytree(ROOT / "reference_server", tmp_path / "reference_server", ignore=ignore)
    (tmp_path / "src" / "rtbench" / "newcomer.py").write_text("import pandas\nimport rich\nimport locust\n")
    (tmp_path / "src" / "rtbench" / "protocols" / "newcomer.py").write_text("import socket\n")
    out = _lint_imports(tmp_path).stdout
    assert "- rtbench.newcomer\n" in out  # not placed in a layer nor named a shared module
    assert "rtbench.newcomer -> pandas" in out
    assert "rtbench.newcomer -> rich" in out
    assert "rtbench.newcomer -> locust" in out
    assert "rtbench.protocols.newcomer -> socket" in out
    assert re.search(r"Contracts: \d+ kept, 5 broken\.", out), out  # the five rules the probes break
