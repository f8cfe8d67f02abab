"""The ``solvelab`` command: backends, demo, solve, bench.

    solvelab backends [--markdown]      every backend (forms it accepts, what it does, priority),
                                        then the plugins that failed to import and why
    solvelab demo [--tol T] [--seed S]  small built-in problems on every capable backend,
                                        checked against CVXPY + Clarabel (no downloads)
    solvelab solve FILE.py [...]        solve the Problem returned by FILE's build()
    solvelab bench ...                  the benchmark harness (solvelab.bench.cli)
    solvelab --version

Exit codes: 0 success (whatever status a solve ended with), 1 a solvelab error (one
line on stderr, no traceback) or a backend crash in the demo, 2 a usage error (bad
arguments, unreadable problem file, benchmark harness not installed).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import sys
import time
import traceback
from pathlib import Path

from . import __version__
from .errors import SolvelabError


class UsageError(Exception):
    """The command line or the problem file it names is unusable (exit code 2)."""


# ---------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------

def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]

    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def format_markdown(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    def esc(cell):
        return str(cell).replace("|", "\\|")

    out = ["| " + " | ".join(map(esc, headers)) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(out)


def _rel_diff(objective: float, reference: float) -> float | None:
    """|objective - reference| / |reference| for the tables (None when not finite)."""
    from .bench.report import rel_error
    e = rel_error(objective, reference)
    return None if e is None else abs(e)


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


# ---------------------------------------------------------------------------------------
# solvelab backends
# ---------------------------------------------------------------------------------------

def cmd_backends(args) -> int:
    """Print every registered backend, in backend='auto' preference order (lower priority
    first), then every plugin module that could not be imported, with why and a hint."""
    from .backends import registry
    from .discovery import failures

    rows = [[b.name, str(b.priority), ", ".join(b.forms), b.description]
            for b in registry.all_backends().values()]
    headers = ["backend", "priority", "forms", "description"]   # the long column last
    fmt = format_markdown if args.markdown else format_table
    print(fmt(headers, rows))
    registry.unavailable()   # loads the backends; failures() then has every kind loaded so far
    broken = failures()
    if not broken:
        print("\nunavailable plugins: none")
        return 0
    print(f"\nunavailable plugins ({len(broken)}):")
    print(fmt(["kind", "module", "reason", "install"], [[f.kind, f.module, f.error, f.hint or "-"] for f in broken]))
    return 0


# ---------------------------------------------------------------------------------------
# solvelab demo
# ---------------------------------------------------------------------------------------

def demo_problems(seed: int = 0) -> list[tuple[str, object]]:
    """Small synthetic problems (fixed seed, no downloads), one per common family."""
    import cvxpy as cp
    import numpy as np

    from .model import Problem

    rng = np.random.default_rng(seed)
    out = []

    A, x0 = rng.standard_normal((60, 40)), np.zeros(40)
    x0[:5] = 3 * rng.standard_normal(5)
    b = A @ x0 + 0.1 * rng.standard_normal(60)
    x = cp.Variable(40, name="x")
    out.append(("lasso 60x40", Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 0.5 * cp.norm1(x)))))

    A = rng.standard_normal((50, 30))
    b = A @ rng.standard_normal(30)
    x = cp.Variable(30, name="x")
    out.append(("nnls 50x30", Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x >= 0])))

    A = rng.standard_normal((80, 20))
    b = A @ rng.standard_normal(20) + 0.1 * rng.standard_normal(80)
    b[:8] += 20 * rng.standard_normal(8)
    x = cp.Variable(20, name="x")
    out.append(("huber 80x20", Problem(cp.Minimize(cp.sum(cp.huber(A @ x - b, 1.0))))))

    A = rng.standard_normal((100, 20))
    y = np.where(A[:, 0] - A[:, 1] + 0.5 * rng.standard_normal(100) > 0, 1.0, -1.0)
    x = cp.Variable(20, name="x")
    loss = cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / 100
    out.append(("logistic-l1 100x20", Problem(cp.Minimize(loss + 0.02 * cp.norm1(x)))))

    G = rng.standard_normal((30, 30))
    P, q = G.T @ G / 30 + 0.1 * np.eye(30), 2 * rng.standard_normal(30)
    x = cp.Variable(30, name="x")
    out.append(("box-qp n=30", Problem(cp.Minimize(0.5 * cp.quad_form(x, P) + q @ x), [x >= -1, x <= 1])))

    A, b = rng.standard_normal((40, 25)), rng.standard_normal(40)
    C = rng.standard_normal((5, 25))
    d = C @ rng.standard_normal(25)
    x = cp.Variable(25, name="x")
    out.append(("equality-ls 40x25", Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [C @ x == d])))

    A = rng.standard_normal((40, 20))
    b = A @ rng.standard_normal(20)
    x, t = cp.Variable(20, name="x"), cp.Variable(name="t")
    out.append(("soc 40x20", Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 5 * t),
                                     [cp.norm(x, 2) <= t])))
    return out


def reference_objective(problem) -> float:
    """The objective CVXPY + Clarabel finds for the same objective and constraints."""
    import cvxpy as cp
    return float(cp.Problem(problem.objective, problem.constraints).solve(solver="CLARABEL"))


def cmd_demo(args) -> int:
    """Solve every demo problem on every capable backend; print one table."""
    from .backends import registry
    from .engine import solve

    headers = ["problem", "backend", "status", "objective", "certificate", "iters", "time (s)",
               "reference", "rel. diff"]
    rows, notes, crashed = [], [], False
    started = time.perf_counter()
    for name, prob in demo_problems(args.seed):
        ref = reference_objective(prob)
        for backend in registry.capable(prob.compile()):
            try:
                res = solve(prob, backend=backend, tol=args.tol)
            except SolvelabError as exc:
                rows.append([name, backend, "refused", "-", "-", "-", "-", _num(ref, ".8g"), "-"])
                notes.append(f"{name} / {backend}: {exc}")
                continue
            except Exception as exc:  # a backend bug: show it, keep going, fail at the end
                crashed = True
                rows.append([name, backend, "CRASHED", "-", "-", "-", "-", _num(ref, ".8g"), "-"])
                notes.append(f"{name} / {backend}: {type(exc).__name__}: {exc}\n"
                             + "".join(traceback.format_exception(exc)[-3:]).rstrip())
                continue
            cert = None if res.certificate is None else res.certificate.value
            rel = _rel_diff(res.objective, ref)
            rows.append([name, backend, str(res.status), _num(res.objective, ".8g"), _num(cert, ".1e"),
                         str(res.iterations), _num(res.timings.get("total"), ".3f"), _num(ref, ".8g"),
                         _num(rel, ".1e")])
    print(f"solvelab {__version__} demo: tol={args.tol:g}, seed={args.seed}; certificate = recomputed "
          f"KKT/gap residual (optimal only when <= tol); rel. diff = |objective - reference| / "
          f"|reference|, reference = CVXPY + Clarabel\n")
    print(format_table(headers, rows))
    for note in notes:
        print("\n" + note)
    print(f"\n{len(rows)} solves in {time.perf_counter() - started:.1f} s")
    if crashed:
        print("solvelab demo: a backend raised an unexpected exception (see above)", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------
# solvelab solve
# ---------------------------------------------------------------------------------------

def load_problem(path: str):
    """Import ``path`` (a .py file) and return what its ``build()`` returns."""
    import cvxpy as cp

    from .model import Problem

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such problem file: {path}")
    spec = importlib.util.spec_from_file_location(f"solvelab_problem_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build = getattr(module, "build", None)
    if not callable(build):
        raise UsageError(f"{path} defines no build() function returning a solvelab.Problem")
    problem = build()
    if not isinstance(problem, (Problem, cp.Problem)):
        raise UsageError(f"{path}: build() returned {type(problem).__name__}, not a solvelab.Problem")
    return problem


def cmd_solve(args) -> int:
    """Solve the problem a file builds and print a summary."""
    from .engine import solve
    from .model import as_problem

    prob = as_problem(load_problem(args.file))
    if args.show_ir:
        print(prob.compile(), end="\n\n")
    options = {"tol": args.tol, "verbose": args.verbose, "max_iter": args.max_iter,
               "time_limit": args.time_limit}
    res = solve(prob, backend=args.backend, **options)
    print(f"problem:     {args.file}")
    print(f"backend:     {res.backend}")
    print(f"status:      {res.status}" + (f" ({res.message})" if res.message else ""))
    print(f"objective:   {res.objective:.12g}")
    if res.certificate is not None:
        print(f"certificate: {res.certificate.value:.2e} <= tol {args.tol:g}? "
              f"{'yes' if res.certificate.meets(args.tol) else 'no'}  [{res.certificate}]")
    print(f"iterations:  {res.iterations}")
    t = res.timings
    print("time:        " + ", ".join(f"{k} {t[k]:.4f}s" for k in ("compile", "setup", "solve", "certify", "total")
                                      if k in t))
    for name, value in res.values.items():
        if value.size <= 8:
            print(f"  {name} = {value.round(6).tolist()}")
        else:
            print(f"  {name}: shape {value.shape}, {int((abs(value) > 1e-8).sum())} nonzeros")
    if args.reference:
        ref = reference_objective(prob)
        print(f"reference:   {ref:.12g} (CVXPY + Clarabel), rel. diff "
              f"{_num(_rel_diff(res.objective, ref), '.1e')}")
    return 0


# ---------------------------------------------------------------------------------------
# solvelab bench
# ---------------------------------------------------------------------------------------

def cmd_bench(argv: list[str]) -> int:
    """Hand the arguments to the benchmark harness, ``solvelab.bench.cli.main``."""
    try:
        bench_cli = importlib.import_module("solvelab.bench.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("solvelab.bench", "solvelab.bench.cli"):
            raise  # the harness exists but one of its own dependencies is missing
        print("solvelab bench: the benchmark harness (solvelab.bench.cli) is not available in this "
              "installation", file=sys.stderr)
        return 2
    return int(bench_cli.main(list(argv)) or 0)


# ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="solvelab", description="Structured solver engine: CVXPY models, certified backends.",
        epilog="Exit codes: 0 success, 1 solvelab error, 2 usage error.")
    parser.add_argument("--version", action="version", version=f"solvelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("backends", help="list the backends, their forms and what they do")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(run=cmd_backends)

    p = sub.add_parser("demo", help="solve small built-in problems on every capable backend")
    p.add_argument("--tol", type=float, default=1e-6, help="certificate tolerance (default 1e-6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("solve", help="solve the problem built by FILE.py's build()")
    p.add_argument("file", metavar="FILE.py", help="a Python file defining build() -> solvelab.Problem")
    p.add_argument("--backend", default="auto", help="backend name, or 'auto' (default)")
    p.add_argument("--tol", type=float, default=1e-6, help="certificate tolerance (default 1e-6)")
    p.add_argument("--max-iter", type=int, default=None, help="iteration budget")
    p.add_argument("--time-limit", type=float, default=None, help="wall-clock budget in seconds")
    p.add_argument("--verbose", action="store_true", help="print the backend's iteration table")
    p.add_argument("--show-ir", action="store_true", help="print the compiled program first")
    p.add_argument("--reference", action="store_true", help="also solve with CVXPY + Clarabel and compare")
    p.set_defaults(run=cmd_solve)

    sub.add_parser("bench", help="run benchmarks (arguments go to the benchmark harness; "
                                 "'solvelab bench --help' for its options)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``solvelab`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return _guarded(cmd_bench, argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return _guarded(args.run, args)


def _guarded(run, arg) -> int:
    """Run a command; solvelab and usage errors become one line on stderr."""
    try:
        return run(arg)
    except SolvelabError as exc:
        print(f"solvelab: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"solvelab: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: stop quietly, like other commands
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
