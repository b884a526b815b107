"""The lint and type gates: ruff (rules and format) and mypy strict, with the pyproject.toml config.

Each runs from the venv of the interpreter running the tests, on the whole repository, and the test
fails with the tool's own report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GATES = {
    "ruff check": ["ruff", "check", "--no-cache", "."],
    "ruff format": ["ruff", "format", "--check", "--no-cache", "."],
    "mypy strict": ["mypy"],  # files and strictness from [tool.mypy]
}


@pytest.mark.parametrize("gate", GATES)
def test_gate_passes(gate: str) -> None:
    result = subprocess.run([sys.executable, "-m", *GATES[gate]], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, f"{gate} failed:\n{result.stdout}{result.stderr}"


def test_py_typed_ships_with_the_package() -> None:
    """Third-party adapters type-check against rtbench: the PEP 561 marker is in the package."""
    assert (ROOT / "src" / "rtbench" / "py.typed").is_file()


MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    """DESIGN.md: small modules, each with one job; a module that outgrows 400 lines is split."""
    sizes = {
        path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("src/rtbench", "reference_server")
        for path in (ROOT / package).rglob("*.py")
    }
    assert sizes, "no modules found"
    too_long = {str(path): n for path, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
