"""The architecture the README describes, checked: only warmup/ledger talks to a database, only
the two backends know which one it is, and no module imports another that imports it back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "warmup"
DRIVERS = re.compile(r"^\s*(import|from) (sqlite3|psycopg|sqlalchemy|sqlmodel)\b", re.M)
BACKENDS = {"warmup/ledger/sqlite.py", "warmup/ledger/postgres.py"}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = path
    return out


def test_only_the_ledger_imports_a_database_driver():
    offenders = [
        str(p.relative_to(PACKAGE.parent))
        for p in modules().values()
        if DRIVERS.search(p.read_text()) and "ledger" not in p.parts
    ]
    assert offenders == []


def test_only_the_backends_ask_which_database_it_is():
    asks = re.compile(
        r"dialect\.name|\.scheme ==|isinstance\([^)]*(SQLiteLedger|PostgresLedger)"
        r"|drivername|get_backend_name"
    )
    offenders = [
        str(p.relative_to(PACKAGE.parent))
        for p in modules().values()
        if asks.search(p.read_text()) and str(p.relative_to(PACKAGE.parent)) not in BACKENDS
    ]
    assert offenders == []


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """warmup modules ``name`` imports at run time (anywhere in it; not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name and t.startswith("warmup"):
                found.add(t)
    return found


@pytest.mark.slow
def test_no_import_cycle():
    mods = modules()
    known = set(mods)
    graph = {name: _imports(name, path, known) for name, path in mods.items()}

    # A package's __init__ importing its own submodules, and the submodules importing the
    # package for its public names, is how packages work: only cycles between modules count.
    def edges(name: str) -> set[str]:
        return {
            t for t in graph[name] if not (t.startswith(name + ".") or name.startswith(t + "."))
        }

    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges(n)):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m) :] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []
