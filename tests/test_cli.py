"""The ``solvelab`` command, driven through ``solvelab.cli.main`` with captured output."""
import sys
import types
from pathlib import Path

import solvelab
from solvelab.cli import format_markdown, format_table, main

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"solvelab {solvelab.__version__}"


def test_backends_table_lists_names_and_forms(capsys):
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["backend", "forms", "description"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["fista"].split()[1] == "Composite"
    assert rows["cvxpy"].split()[1] == "ProxAffine"
    assert "Clarabel" in rows["cvxpy"]


def test_backends_markdown_is_a_table(capsys):
    assert main(["backends", "--markdown"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "| backend | forms | description |"
    assert lines[1].replace(" ", "") == "|---|---|---|"
    names = {line.split("|")[1].strip() for line in lines[2:]}
    assert {"fista", "cvxpy"} <= names
    assert all(line.startswith("| ") and line.endswith(" |") and line.count("|") == 4 for line in lines[2:])
    assert any(line.startswith("| fista | Composite |") for line in lines)


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
