"""The direction of every import (issue 13): read from the source with ``ast``, so a lazy import
inside a function counts as much as one at the top of a module.

- no circle of files: a module never imports, through any chain, itself;
- ``drivers/`` imports from ``kiosk`` only the ports (``kiosk.ports``) and ``kiosk.errors``;
- the loop (``kiosk/loop.py``) imports no driver, not the assembly (``kiosk.app``), not the
  uploader (``sync.client``) and no command;
- ``city/`` imports nothing from ``kiosk`` or ``drivers``; ``sync/`` nothing from ``drivers``;
- the assembly is imported only by the commands (and the demo kit they run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kiosk", "drivers", "sync", "city")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str], root: Path = REPO) -> set[str]:
    """The project's modules ``path`` imports (``from package import module`` names the module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str, names: list[str]) -> None:
        for item in names:
            if f"{target}.{item}" in modules:  # from kiosk import formats: the module kiosk.formats
                found.add(f"{target}.{item}")
            elif target in modules:
                found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] in PACKAGES:
                add(target, [alias.name for alias in node.names])
    found.discard(name)
    return found


def graph(root: Path = REPO) -> dict[str, set[str]]:
    files = {module_name(p, root): p for package in PACKAGES for p in (root / package).rglob("*.py")}
    return {name: imports_of(path, set(files), root) for name, path in files.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# (who, what it must not import, except) -> why
RULES = [
    (("drivers",), ("kiosk",), ("kiosk.ports", "kiosk.errors"), "drivers see the core only through its ports"),
    (("kiosk.loop",), ("drivers", "kiosk.app", "kiosk.commands", "kiosk.cli", "sync.client", "kiosk.demo"), (),
     "the loop holds ports, not drivers, assembly or the uploader"),
    (("city",), ("kiosk", "drivers"), (), "the city server speaks the protocol (sync), never the kiosk's code"),
    (("sync",), ("drivers",), (), "the protocol and the uploader need no hardware"),
    (("kiosk",), ("kiosk.app",), ("kiosk.app", "kiosk.commands", "kiosk.demo", "kiosk.release_gate"),
     "assembly is for the commands"),
]


def broken_rules(edges: dict[str, set[str]]) -> list[str]:
    problems = []
    for who, forbidden, allowed, why in RULES:
        for module, targets in sorted(edges.items()):
            if not under(module, *who) or under(module, *allowed):
                continue
            for target in sorted(targets):
                if under(target, *forbidden) and not under(target, *allowed):
                    problems.append(f"{module} imports {target}: {why}")
    return problems


def test_no_circle_of_files():
    found = circles(graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(group) for group in found)


def test_every_import_points_the_allowed_way():
    assert broken_rules(graph()) == []


def test_the_rules_see_real_imports():
    edges = graph()
    assert "kiosk.ports" in edges["drivers.camera"]
    assert "kiosk.ports" in edges["kiosk.loop"]
    assert "drivers.camera" in edges["kiosk.app"]  # a lazy import inside a function counts
    assert "kiosk.formats" in edges["kiosk.chunks"]  # from kiosk import formats: the module


def test_a_circle_and_a_backward_import_are_caught(tmp_path):
    """The checks fail on what they are for: a planted circle and a driver importing the loop."""
    for package, files in {
        "kiosk": {"__init__.py": "", "loop.py": "from kiosk import a\n", "a.py": "def f():\n    import kiosk.loop\n",
                  "ports.py": ""},
        "drivers": {"__init__.py": "", "cam.py": "from kiosk.ports import Frame\nfrom kiosk.loop import Kiosk\n"},
        "sync": {"__init__.py": ""},
        "city": {"__init__.py": "", "app.py": "from ..sync import wire\nfrom kiosk import journal\n"},
    }.items():
        (tmp_path / package).mkdir()
        for name, text in files.items():
            (tmp_path / package / name).write_text(text)
    edges = graph(tmp_path)
    assert circles(edges) == [["kiosk.a", "kiosk.loop"]]
    problems = broken_rules(edges)
    assert "drivers.cam imports kiosk.loop: drivers see the core only through its ports" in problems
    assert "city.app imports kiosk: the city server speaks the protocol (sync), never the kiosk's code" in problems
    assert not any(p.startswith("drivers.cam imports kiosk.ports") for p in problems)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_read(package):
    assert any(under(m, package) for m in graph()), f"no module found under {package}/"
