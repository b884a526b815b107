"""metrics/ stays pure: no I/O, sockets, gevent/locust, and no knowledge of protocols."""

from __future__ import annotations

import ast
from pathlib import Path

import rtbench.metrics

ALLOWED_TOP_LEVEL = {
    "__future__",
    "collections",
    "dataclasses",
    "enum",
    "weakref",
    "math",
    "re",
    "time",
    "typing",
    "zlib",
    "hdrh",
    "rtbench",
}
ALLOWED_RTBENCH = ("rtbench.metrics",)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_metrics_imports_only_pure_modules() -> None:
    package = Path(rtbench.metrics.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 6
    for module in modules:
        for name in _imports(module):
            assert name.split(".")[0] in ALLOWED_TOP_LEVEL, f"{module.name} imports {name}"
            if name.startswith("rtbench"):
                assert name.startswith(ALLOWED_RTBENCH), f"{module.name} imports {name}"


def test_hdrh_log_io_is_not_used_in_metrics() -> None:
    package = Path(rtbench.metrics.__file__).parent
    for module in package.glob("*.py"):
        assert "hdrh.log" not in _imports(module), module.name
