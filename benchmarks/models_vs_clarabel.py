"""The model zoo: solvelab's time over CVXPY+Clarabel's, per model and backend, in one run.

Every zoo model (``solvelab.bench.zoo``) is solved by CVXPY+Clarabel at its defaults and
by solvelab on ``backend='auto'`` and on each backend that accepts it, at ``--tol``
(recomputed certificate). Times are wall clock from a freshly built model, as users see
them: CVXPY's include its canonicalization, solvelab's its compile. Each backend is
warmed up once first (Numba JIT), and the best of ``--repeat`` runs is kept. A cell is
the ratio solvelab / Clarabel, followed by the status when it is not ``optimal``
("refused" when the backend or the compiler does not take the model); the auto column
names the backend it chose.

    .venv/bin/python benchmarks/models_vs_clarabel.py [--models PATTERN] [--repeat 3] [--tol 1e-6]
        [--backends cd,fista,admm,cvxpy]     (e.g. --backends admm,halpern)

For the full harness (SCS and OSQP too, convergence curves, profiles) run
``solvelab bench models``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings

import cvxpy as cp
import numpy as np

import solvelab as sl
from solvelab.backends import registry
from solvelab.bench import zoo
from solvelab.errors import BackendRefusedError, UnsupportedAtomError

BACKENDS = ("cd", "fista", "admm", "cvxpy")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def clarabel(name):
    prob, _ = zoo.build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="CLARABEL")
    return prob


def solvelab_run(name, backend, tol, time_limit):
    """(status text, backend used) of one solve from a fresh model."""
    prob, _ = zoo.build(name)
    try:
        res = sl.solve(prob, backend=backend, tol=tol, time_limit=time_limit)
    except (BackendRefusedError, UnsupportedAtomError):
        return "refused", "-"
    return res.status.value, res.backend


def warm_up(backends=BACKENDS):
    """One tiny solve per backend, so that JIT compilation is not timed."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((20, 10)), rng.standard_normal(20)
    x = cp.Variable(10)
    for backend in backends:
        if backend in registry.all_backends():
            sl.solve(cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 0.1 * cp.norm1(x))),
                     backend=backend, tol=1e-6)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated substrings of model names (default: all)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per (model, solver); the best time is kept")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--time-limit", type=float, default=20.0, help="seconds per solvelab solve")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="the backend columns besides auto")
    args = ap.parse_args(argv)
    names = zoo.names()
    if args.models:
        pats = [p.strip() for p in args.models.split(",") if p.strip()]
        names = [n for n in names if any(p in n for p in pats)]
    backends = [b for b in args.backends.split(",") if b in registry.all_backends()]
    print("command: .venv/bin/python benchmarks/models_vs_clarabel.py "
          + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)), flush=True)
    warm_up(backends)
    rows = []
    for name in names:
        t_ref = min(timed(lambda: clarabel(name))[1] for _ in range(args.repeat))
        row = [name, f"{t_ref * 1e3:.1f} ms"]
        for backend in ["auto"] + backends:
            best, status, used = float("inf"), "", "-"
            for _ in range(args.repeat):
                (status, used), t = timed(lambda: solvelab_run(name, backend, args.tol, args.time_limit))
                best = min(best, t)
                if status == "refused":
                    break
            if status == "refused":
                row.append("refused")
                continue
            cell = f"{best / t_ref:.2f}x"
            if backend == "auto":
                cell += f" ({used})"
            if status != "optimal":
                cell += f" {status}"
            row.append(cell)
        rows.append(row)
        print(" | ".join(row), flush=True)
    print()
    print(f"solvelab time / CVXPY+Clarabel time (wall, fresh model, best of {args.repeat}; tol {args.tol:g}; "
          f"a status is shown when it is not optimal)\n")
    print("| model | Clarabel | " + " | ".join(["auto"] + backends) + " |")
    print("| --- | ---: | " + " | ".join("---" for _ in ["auto"] + backends) + " |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
