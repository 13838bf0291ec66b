"""The layout shows the pipeline: no import cycles, no import against the pipeline's
direction, no module over 400 lines, and no test module name used twice.

Every import counts, lazy and ``TYPE_CHECKING`` ones too: a cycle hidden in a
function body is still a cycle between two concepts.  ``docs/ARCHITECTURE.md``
draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harness"
MAX_LINES = 400

#: The layers, lowest first.  A module imports only from its own group or from a
#: lower rank; two groups of one rank never import each other.
LAYERS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    # The worker side runs in the app's interpreter: it imports nothing from the controller.
    (0, "worker", ("harness.worker",)),
    (1, "vocabulary", ("harness.errors", "harness.observe", "harness.hooks",
                       "harness.history", "harness.verdict")),
    (2, "checkers", ("harness.checkers",)),
    (2, "topology", ("harness.topology", "harness.interrupt", "harness.client",
                     "harness.environment", "harness.load")),
    (3, "workloads", ("harness.workloads", "harness.nemesis")),
    (4, "reports", ("harness.expectations", "harness.report", "harness.diff")),
    (5, "run", ("harness.options", "harness.option_values", "harness.config_values",
                "harness.probe", "harness.schedule")),
    (6, "front doors", ("harness", "harness.__main__", "harness.cli", "harness.plugin",
                        "harness.scenario", "harness.entry")),
)


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "_bundle" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _owner(name: str, mods: dict[str, tuple[Path, bool]]) -> str | None:
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in mods else None


def imports() -> dict[str, set[str]]:
    """Every module's harness imports, by module (``from . import x`` names module x)."""
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, is_package) in mods.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [_owner(a.name, mods) for a in node.names
                           if a.name.split(".")[0] == "harness"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[:len(here) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                    if source.split(".")[0] != "harness":
                        continue
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in mods
                           else _owner(source, mods) for a in node.names]
            edges[name].update(t for t in targets if t and t != name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> tuple[int, str]:
    best = max(((len(p), rank, group) for rank, group, prefixes in LAYERS for p in prefixes
                if module == p or module.startswith(p + ".") and p != "harness"),
               default=None)
    if best is None:
        return next((rank, group) for rank, group, prefixes in LAYERS if "harness" in prefixes)
    return best[1], best[2]


def test_no_import_cycles() -> None:
    assert cycles(imports()) == [], "break each cycle: move the shared fact to the lower module"


def test_no_import_runs_back_up_the_pipeline() -> None:
    back = []
    for source, targets in sorted(imports().items()):
        rank, group = layer(source)
        for target in sorted(targets):
            t_rank, t_group = layer(target)
            if t_group != group and t_rank >= rank:
                back.append(f"{source} ({group}) imports {target} ({t_group})")
    assert back == [], "move the fact the import needs down to a lower layer"


def test_no_module_over_400_lines() -> None:
    long = {name: n for name, (path, _) in modules().items()
            if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split each along its seams into modules of one job (<= {MAX_LINES} lines)"


def test_every_module_has_a_layer() -> None:
    # The front-door fallback catches only the package itself and new top-level modules,
    # which must be placed in LAYERS on purpose.
    unplaced = [m for m in modules() if m.count(".") == 1
                and not any(m == p or m.startswith(p + ".") for _, _, ps in LAYERS for p in ps)]
    assert unplaced == [], "add each module to LAYERS in tests/test_layout.py"


def test_no_test_module_name_is_used_twice() -> None:
    tests = {p.name for p in (ROOT / "tests").glob("test_*.py")}
    scenarios = {p.name for p in (ROOT / "scenarios").glob("test_*.py")}
    assert tests & scenarios == set(), "rename one of each pair: pytest imports both as one module"
