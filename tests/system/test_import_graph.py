"""The import rules of docs/contracts.md, read statically from the source (``ast``, imports
inside functions included, so a lazy import cannot hide a wrong-way dependency):

- ``backend`` never imports ``trainer``, ``dashboard`` or ``mixscope`` (the CLI);
- ``dashboard`` imports nothing of ``backend``, ``trainer`` or ``mixscope``: it is an HTTP
  client of the API;
- ``trainer`` never imports ``dashboard`` or the CLI;
- no cycles among our modules through module-level imports (a function-level import is how
  a module defers a heavy dependency, not a way around this rule: see the allow-list).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from paths import ROOT

PACKAGES = ("backend", "trainer", "dashboard", "mixscope")

FORBIDDEN = {
    "backend": {"trainer", "dashboard", "mixscope"},
    "dashboard": {"backend", "trainer", "mixscope"},
    "trainer": {"dashboard", "mixscope"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts:  # alembic scripts: run by alembic, not imported
                continue
            out[_module_name(path)] = path
    return out


def _imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text("utf-8"))
    is_pkg = path.name == "__init__.py"
    top_level = {id(n) for n in tree.body}
    # imports under `if TYPE_CHECKING:` at module level count as module level too
    for node in tree.body:
        if isinstance(node, ast.If):
            top_level |= {id(n) for n in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((mod, id(node) in top_level))
            for a in node.names:  # `from pkg import submodule`
                found.append((f"{mod}.{a.name}", id(node) in top_level))
    return found


MODULES = _modules()


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_wrong_way_imports(package):
    bad = []
    for name, path in MODULES.items():
        if name.split(".")[0] != package:
            continue
        for mod, _ in _imports(name, path):
            if mod.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{name} imports {mod}")
    assert not bad, "\n".join(sorted(set(bad)))


def test_no_import_cycles_among_our_modules():
    graph: dict[str, set[str]] = {n: set() for n in MODULES}
    for name, path in MODULES.items():
        for mod, module_level in _imports(name, path):
            if not module_level:
                continue
            # the longest of our modules that the import names (a.b.c -> a.b if c is a symbol)
            parts = mod.split(".")
            while parts and ".".join(parts) not in MODULES:
                parts.pop()
            target = ".".join(parts)
            if target and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    # Tarjan's strongly connected components
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    import sys
    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    assert not comps, "import cycles: " + "; ".join(" <-> ".join(c) for c in comps)


def test_the_rules_are_written_where_developers_look():
    text = (ROOT / "docs" / "contracts.md").read_text("utf-8")
    assert "tests/system/test_import_graph.py" in text


def test_each_vocabulary_is_written_once():
    """Run statuses, datasets and methods are spelled out only in backend/vocab.py."""
    spelled = {'"queued", "running", "succeeded"': [], '"digits", "two-moons"': [],
               '"erm", "input-mixup", "manifold-mixup"': []}
    for name, path in MODULES.items():
        text = path.read_text("utf-8")
        for literal, where in spelled.items():
            if literal in text:
                where.append(name)
    assert spelled == {k: ["backend.vocab"] for k in spelled}, spelled


def test_the_api_serves_the_vocabularies(client):
    from backend import vocab

    body = client.get("/api/vocab").json()
    assert body["run_statuses"] == list(vocab.RUN_STATUSES)
    assert body["methods"] == list(vocab.METHODS) and "cifar100" in body["datasets"]
