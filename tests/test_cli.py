"""The ``solvelab`` command, driven through ``solvelab.cli.main`` with captured output."""
import importlib
import pkgutil
import sys
import types
from pathlib import Path

import pytest

import solvelab
from solvelab.cli import format_markdown, format_table, main

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"solvelab {solvelab.__version__}"


BUILTIN = {"fista", "admm", "cd", "sinkhorn", "sinkhorn_newton", "cvxpy"}


def _table(lines):
    """The rows of the first table (header, dashes, rows up to the first blank line)."""
    end = lines.index("") if "" in lines else len(lines)
    return lines[0], lines[2:end]


def test_backends_table_lists_names_priorities_and_forms(capsys):
    assert main(["backends"]) == 0
    header, body = _table(capsys.readouterr().out.splitlines())
    assert header.split() == ["backend", "priority", "forms", "description"]
    rows = {line.split()[0]: line for line in body}
    assert set(rows) >= BUILTIN
    assert rows["fista"].split()[1:3] == ["20", "Composite"]
    assert rows["cvxpy"].split()[2] == "ProxAffine" and "Clarabel" in rows["cvxpy"]
    assert "EntropicOT, UnbalancedOT" in rows["sinkhorn"]
    priorities = [int(line.split()[1]) for line in body]
    assert priorities == sorted(priorities)          # backend='auto' preference order


def test_backends_markdown_is_a_table(capsys):
    assert main(["backends", "--markdown"]) == 0
    header, body = _table(capsys.readouterr().out.splitlines())
    assert header == "| backend | priority | forms | description |"
    names = {line.split("|")[1].strip() for line in body}
    assert BUILTIN <= names
    assert all(line.startswith("| ") and line.endswith(" |") and line.count("|") == 5 for line in body)
    assert any(line.startswith("| fista | 20 | Composite |") for line in body)


@pytest.fixture
def broken_backend(monkeypatch):
    """A backend module ``solvelab.backends.gpu_broken`` that fails to import (it needs
    cupy), simulated in memory: the package scan sees it, importing it raises. No file
    is written; the discovery cache is restored afterwards."""
    from solvelab import discovery
    from solvelab.backends import registry

    registry.all_backends()                        # the real ones, loaded once
    real_iter, real_import = pkgutil.iter_modules, importlib.import_module
    scanned = list(real_import("solvelab.backends").__path__)   # (sl.backends is the function)

    def iter_modules(path=None, prefix=""):
        yield from real_iter(path, prefix)
        if path is not None and list(path) == scanned:
            yield pkgutil.ModuleInfo(None, "gpu_broken", False)

    def import_module(name, package=None):
        if name == "solvelab.backends.gpu_broken":
            raise ModuleNotFoundError("No module named 'cupy'", name="cupy")
        return real_import(name, package)

    monkeypatch.setattr(pkgutil, "iter_modules", iter_modules)
    monkeypatch.setattr(importlib, "import_module", import_module)
    monkeypatch.delitem(discovery._loaded, "backends")   # scan again; restored after the test
    return registry


def test_a_broken_backend_module_is_unavailable_with_its_error(broken_backend):
    registry = broken_backend
    (failure,) = [f for f in registry.unavailable() if f.module == "solvelab.backends.gpu_broken"]
    assert failure.kind == "backends" and "No module named 'cupy'" in failure.error
    assert "solvelab[gpu]" in failure.hint
    assert BUILTIN <= set(registry.all_backends())        # the others still work
    with pytest.raises(solvelab.BackendRefusedError, match="not importable: solvelab.backends.gpu_broken"):
        registry.get("gpu")


def test_backends_command_lists_the_unavailable_plugins(broken_backend, capsys):
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    _, body = _table(lines)
    assert BUILTIN <= {line.split()[0] for line in body}
    at = lines.index(next(line for line in lines if line.startswith("unavailable plugins (")))
    broken = [line for line in lines[at:] if "gpu_broken" in line]
    assert len(broken) == 1 and "ModuleNotFoundError: No module named 'cupy'" in broken[0]
    assert "pip install 'solvelab[gpu]'" in broken[0] and broken[0].split()[0] == "backends"


def test_backends_command_says_when_every_plugin_imported(capsys, monkeypatch):
    from solvelab import discovery
    monkeypatch.setattr(discovery, "failures", lambda kind=None: [])
    assert main(["backends"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("unavailable plugins: none")


def test_table_helpers_align_and_escape():
    text = format_table(["a", "bb"], [["xyz", "1"], ["q", "22"]])
    assert text.splitlines() == ["a    bb", "---  --", "xyz  1", "q    22"]
    md = format_markdown(["form"], [["a|b"]])
    assert md.splitlines() == ["| form |", "| --- |", "| a\\|b |"]


def test_demo_solves_every_problem_on_every_capable_backend(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("lasso", "nnls", "soc"))]
    by_backend = {(r[0], r[2]): r for r in rows}
    # a Composite problem runs on fista and on the reference; a cone constraint not on fista
    assert ("lasso", "fista") in by_backend and ("lasso", "cvxpy") in by_backend
    assert ("soc", "cvxpy") in by_backend and ("soc", "fista") not in by_backend
    statuses = {r[3] for r in rows}
    assert statuses <= {s.value for s in solvelab.Status}
    assert by_backend[("lasso", "fista")][3] == "optimal"
    assert float(by_backend[("lasso", "fista")][-1]) < 1e-5  # rel. diff to Clarabel


def test_solve_a_problem_file(capsys):
    assert main(["solve", str(PROBLEMS / "lasso.py"), "--backend", "fista", "--tol", "1e-7",
                 "--reference"]) == 0
    out = capsys.readouterr().out
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith(" "))
    assert fields["backend"].strip() == "fista"
    assert fields["status"].strip() == "optimal"
    assert float(fields["certificate"].split()[0]) <= 1e-7
    assert float(fields["reference"].split("rel. diff")[1]) < 1e-5


def test_solve_verbose_prints_the_iteration_table(capsys):
    assert main(["solve", str(PROBLEMS / "huber_regression.py"), "--backend", "fista", "--verbose"]) == 0
    assert "iter" in capsys.readouterr().out.lower()


def test_bad_backend_name_is_one_line_naming_the_available_ones(capsys):
    code = main(["solve", str(PROBLEMS / "lasso.py"), "--backend", "no_such_backend"])
    assert code == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in captured.err
    assert "no_such_backend" in err
    for name in ("fista", "cvxpy"):
        assert name in err.split("available:")[1]


def test_refusal_names_the_backends_that_accept_the_problem(capsys):
    assert main(["solve", str(PROBLEMS / "equality_ls.py"), "--backend", "fista"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Composite" in err and "cvxpy" in err.split("accept it:")[1]


def test_missing_problem_file_is_a_usage_error(capsys, tmp_path):
    assert main(["solve", str(tmp_path / "absent.py")]) == 2
    assert "no such problem file" in capsys.readouterr().err


def test_problem_file_without_build_is_a_usage_error(capsys, tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    assert main(["solve", str(path)]) == 2
    assert "build()" in capsys.readouterr().err


def test_bench_without_the_harness_says_so(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "solvelab.bench.cli", None)  # makes the import fail
    assert main(["bench", "quick"]) == 2
    err = capsys.readouterr().err
    assert "solvelab.bench.cli" in err and "not available" in err


def test_bench_forwards_every_argument(monkeypatch):
    seen = []
    fake = types.ModuleType("solvelab.bench.cli")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "solvelab.bench.cli", fake)
    assert main(["bench", "quick", "--help", "--tol", "1e-4"]) == 0
    assert seen == [["quick", "--help", "--tol", "1e-4"]]


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err.lower()


def test_demo_reports_a_crashing_backend_and_fails(capsys, monkeypatch):
    import cvxpy as cp

    from solvelab import cli
    from solvelab.backends import registry
    from solvelab.backends.base import Backend

    class Crashing(Backend):
        name, description, forms, priority = "crashing", "raises on purpose", ("ProxAffine",), 99

        def solve(self, view, options, state):
            raise RuntimeError("boom")

    x = cp.Variable(3, name="x")
    tiny = solvelab.Problem(cp.Minimize(cp.sum_squares(x - 1)))
    monkeypatch.setattr(cli, "demo_problems", lambda seed=0: [("tiny", tiny)])
    registry.all_backends()  # load the built-in ones before adding ours
    monkeypatch.setitem(registry._REGISTRY, "crashing", Crashing())
    assert main(["demo"]) == 1
    captured = capsys.readouterr()
    rows = {line.split()[1]: line.split()[2] for line in captured.out.splitlines() if line.startswith("tiny ")}
    assert rows["crashing"] == "CRASHED" and rows["fista"] == "optimal"
    assert "RuntimeError: boom" in captured.out
    assert "unexpected exception" in captured.err
