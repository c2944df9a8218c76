"""The packages' import graph: no cycle between packages, and every import points down the layers below.

A package may import only the packages listed for it. Read from the source (every import statement,
function-level ones included), so a lazy import cannot hide a wrong direction.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

ALLOWED: dict[str, set[str]] = {
    "data": set(),
    "codec": set(),
    "rtc": set(),
    "lab": set(),
    "record": set(),
    "ouster_reader": set(),  # runs in .venv-ouster, where nothing of the streamer's is installed
    "stream": {"codec", "data", "rtc", "record"},
    "sfu": {"stream", "rtc", "lab"},
    "viewers": {"sfu", "stream", "rtc", "data"},
    "signaling": {"viewers", "sfu", "stream", "rtc", "data"},
    "headless": {"stream", "rtc", "signaling"},
    "bench": {"headless", "signaling", "viewers", "stream", "codec", "rtc", "data", "lab"},
    "natlab": {"headless", "lab"},
    "live": {"signaling", "viewers", "stream", "data", "record"},
}
"""What each package may import (the rest of the project: server.py, tests/, tools/, may import anything)."""


def project_imports(path: Path) -> set[str]:
    """Top-level project packages that ``path`` imports."""
    package = path.relative_to(ROOT).parts[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            found.add(package if node.level else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return {name for name in found if name in ALLOWED}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            graph[package] |= project_imports(path) - {package}
    return graph


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong = {f"{package} imports {target}" for package, targets in package_graph().items()
             for target in targets if target not in ALLOWED[package]}
    assert not wrong, sorted(wrong)


def test_there_is_no_cycle_between_packages() -> None:
    graph = package_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*trail, node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            visit(target, [*trail, node])
        state[node] = 2

    for package in sorted(graph):
        visit(package, [])


def test_the_layer_check_sees_a_wrong_import(tmp_path: Path) -> None:
    """The check itself: a module of the lowest layer importing a higher one is caught."""
    probe = ROOT / "data" / "_layer_probe.py"
    probe.write_text("def f() -> None:\n    from signaling.app import init_app  # noqa: F401\n")
    try:
        assert "signaling" in package_graph()["data"]
    finally:
        probe.unlink()
