"""solvelab's import graph: no cycles between modules, and every import goes down the layers.

The graph is read from the source (the AST of every module, function-local imports and
``if TYPE_CHECKING:`` blocks included), so an import that only runs on some path counts.
What counts as an edge is what ``../shared/tools/check_imports.py`` counts: ``from .x
import y`` reads ``x`` (or ``x.y`` when that is a module), and ``from . import x`` reads
the package itself as well (its ``__init__`` runs first).

The layers, top to bottom (a layer may import itself, the layers listed for it, and the
leaves):

    bench, cli, compare, solvelab/__init__   anything
    cvxpy_method, ot, sklearn                anything (front ends in other libraries' words)
    problems, paths                          model, engine, compile, ir, families
    model                                    engine, compile, ir, families
    engine                                   backends, compile, ir, families, kernels
    compile                                  ir, families
    backends                                 ir, families, kernels
    families                                 ir, kernels, compile
    ir                                       kernels
    kernels                                  nothing
    leaves: discovery, errors, result        nothing of solvelab

A new top-level module or package has to be given a layer here.
"""
from __future__ import annotations

import ast
import textwrap
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "solvelab"

LEAVES = {"discovery", "errors", "result"}
ANYTHING = "*"
MAY_IMPORT = {
    "__init__": ANYTHING, "bench": ANYTHING, "cli": ANYTHING, "compare": ANYTHING, "__main__": ANYTHING,
    "cvxpy_method": ANYTHING, "ot": ANYTHING, "sklearn": ANYTHING,
    "problems": {"model", "engine", "compile", "ir", "families"},
    "paths": {"model", "engine", "compile", "ir", "families"},
    "model": {"engine", "compile", "ir", "families"},
    "engine": {"backends", "compile", "ir", "families", "kernels"},
    "compile": {"ir", "families"},
    "backends": {"ir", "families", "kernels"},
    "families": {"ir", "kernels", "compile"},
    "ir": {"kernels"},
    "kernels": set(),
    **{leaf: set() for leaf in LEAVES},
}


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``root`` (a package)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name,) + path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """{module: {imported module: first line}} over the modules of ``root``."""
    mods = module_files(root)
    graph: dict[str, dict[str, int]] = defaultdict(dict)
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                while name and name not in mods:   # a name inside a module: the module
                    name = name.rpartition(".")[0]
                if name and name != mod:
                    graph[mod].setdefault(name, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), less a
    package and its own child importing each other (a re-export, not a cycle)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    nodes = sorted(set(graph) | {b for bs in graph.values() for b in bs})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))

    def reexport(comp):
        a, b = comp if len(comp) == 2 else (None, None)
        return a is not None and (b.startswith(a + ".") or a.startswith(b + "."))
    return [c for c in found if not reexport(c)]


def layer(mod: str) -> str:
    parts = mod.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def against_layering(graph) -> list[str]:
    bad = []
    for a, targets in sorted(graph.items()):
        la = layer(a)
        allowed = MAY_IMPORT.get(la, set())
        if allowed == ANYTHING:
            continue
        for b, line in sorted(targets.items()):
            lb = layer(b)
            ok = lb == la or lb in allowed or (lb in LEAVES and la not in LEAVES)
            if not ok:
                bad.append(f"{a} -> {b} (line {line}: {la} may import "
                           f"{', '.join(sorted(allowed | ({'the leaves'} if la not in LEAVES else set()))) or 'nothing of solvelab'})")
    return bad


def _describe(comp, graph) -> str:
    inside = set(comp)
    edges = [f"{a} -> {b} (line {line})" for a in comp for b, line in sorted(graph.get(a, {}).items()) if b in inside]
    return " <-> ".join(comp) + ": " + "; ".join(edges)


# ---------------------------------------------------------------------------------------

def test_every_module_has_a_layer():
    unplaced = sorted({layer(m) for m in module_files(PACKAGE)} - set(MAY_IMPORT))
    assert not unplaced, f"give these top-level modules a layer in tests/test_imports.py: {unplaced}"


def test_no_import_cycles():
    graph = import_graph(PACKAGE)
    found = cycles(graph)
    assert not found, "import cycles:\n  " + "\n  ".join(_describe(c, graph) for c in found)


def test_imports_follow_the_layering():
    bad = against_layering(import_graph(PACKAGE))
    assert not bad, "imports against the layering:\n  " + "\n  ".join(bad)


def test_the_walker_sees_function_local_imports_and_relative_forms(tmp_path):
    pkg = tmp_path / "solvelab"
    files = {
        "__init__.py": "from .engine import solve\n",
        "engine.py": "def solve():\n    from .model import problem\n",
        "model/__init__.py": "",
        "model/problem.py": "import solvelab.engine as e\n",
        "backends/__init__.py": "",
        "backends/a.py": "from . import b\n",
        "backends/b.py": "def f():\n    from ..backends.a import thing\n",
        "kernels/__init__.py": "",
        "kernels/k.py": "from ..ir import linop\n",
        "ir/__init__.py": "",
        "ir/linop.py": "",
        "errors.py": "from .result import Result\n",
        "result.py": "",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(textwrap.dedent(text))
    graph = import_graph(pkg)
    assert "solvelab.model.problem" in graph["solvelab.engine"]          # function-local
    assert graph["solvelab.backends.a"].keys() == {"solvelab.backends", "solvelab.backends.b"}
    found = cycles(graph)
    assert ["solvelab.engine", "solvelab.model.problem"] in found
    assert ["solvelab.backends.a", "solvelab.backends.b"] in found
    bad = "\n".join(against_layering(graph))
    assert "solvelab.kernels.k -> solvelab.ir" in bad                     # upward
    assert "solvelab.errors -> solvelab.result" in bad                   # a leaf imports nothing
    assert "solvelab.engine -> solvelab.model.problem" in bad
    assert "solvelab.model.problem -> solvelab.engine" not in bad        # model may call the engine
