"""The tree shows the design: stream_models' packages import only downwards, the pure part
does no I/O, and no module grows past what one reads in a sitting."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.fixtures import REPO

ROOT = REPO / "stream_models"
# lowest first: a package may import from its own level and the levels below it
LAYERS = (("wire", "mathutil", "packing"), ("seismology",), ("features",), ("skill",),
          ("learners",), ("fusion",), ("online",), ("retraining",), ("evaluation",))
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}
IO_WING = "retraining"  # says so in its docstring: processes, files, torch
NOT_PURE = {"sqlite3", "pickle", "threading", "multiprocessing", "concurrent", "subprocess",
            "socket", "kafka", "aiokafka", "faust", "torch"}
MAX_LINES = 450


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth of its code (not its docstrings)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append(node.module)
    return out


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_module_has_a_layer() -> None:
    for path in ROOT.rglob("*.py"):
        if path.name != "__init__.py" or path.parent != ROOT:
            assert _package(path) in LEVEL, path


def test_packages_import_only_their_own_level_and_below() -> None:
    upward = []
    for path in ROOT.rglob("*.py"):
        if path.parent == ROOT and path.name == "__init__.py":
            continue
        here = LEVEL[_package(path)]
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "stream_models" and len(parts) > 1:
                if LEVEL[parts[1]] > here:
                    upward.append(f"{path.relative_to(REPO)} imports {name}")
            elif parts[0] in ("daemon", "replay", "config"):
                upward.append(f"{path.relative_to(REPO)} imports {name}")
    assert not upward, upward


def test_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        mod = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        graph[mod] = {n for n in _imports(path) if n.startswith("stream_models.")}
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert seen.get(nxt) != 1, " -> ".join([*path, node, nxt])
            if nxt not in seen:
                visit(nxt, [*path, node])
        seen[node] = 2

    for mod in sorted(graph):
        if mod not in seen:
            visit(mod, [])


def test_the_pure_part_does_no_io_of_its_own() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        if _package(path) == IO_WING:
            continue
        for name in _imports(path):
            if name.split(".")[0] in NOT_PURE:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_no_source_file_is_over_450_lines() -> None:
    long = [f"{p.relative_to(REPO)}: {n}" for p in REPO.rglob("*.py")
            if ".venv" not in p.parts and (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, long
