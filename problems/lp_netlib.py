"""A Netlib LP read from MPS and solved by restarted PDHG, next to CVXPY + Clarabel.

    min c^T x   s.t.   rl <= A x <= ru,   l <= x <= u

``sl.problems.read_mps("afiro.mps.xz")`` reads the file through HiGHS (``.xz`` / ``.gz``
transparently) into the LP family's node; ``.solve(backend="pdhg")`` runs PDLP-style
restarted PDHG and the engine certifies the point by PDLP's relative KKT error
(``res.certificate``: primal residual, dual residual, gap); ``res.info["matvecs"]``
counts the passes over A and A^T.

``build()`` gives the same LP as a plain CVXPY declaration (``LPProblem.to_cvxpy()``),
which the generic backends (admm, cvxpy) take. The file comes from ``--data-dir``,
``SOLVELAB_DATA`` or ``../shared/data`` (``lp/afiro.mps.xz``); without it a generated
30 x 40 LP stands in (and the script says so).
"""
from __future__ import annotations

import argparse

import solvelab as sl


def load_lp(name: str = "afiro", data_dir=None):
    """(LPProblem, where it came from): the Netlib LP, or a generated one without the data."""
    from solvelab.bench.suites.lp import find_lp, generated_lp
    path, why = find_lp(name, data_dir)
    if path is None:
        d = generated_lp(30, 40, seed=0)
        return sl.problems.linear_program(d["c"], d["A"], d["rl"], d["ru"], d["l"], d["u"]), f"generated ({why})"
    return sl.problems.read_mps(path), str(path)


def build(seed=0):
    """The LP as a CVXPY declaration (a ``solvelab.Problem``)."""
    lp, _ = load_lp()
    cvx, _ = lp.to_cvxpy()
    return sl.Problem(cvx.objective, cvx.constraints)


def main(argv=None):
    ap = argparse.ArgumentParser(description="a Netlib LP on pdhg")
    ap.add_argument("--lp", default="afiro")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args(argv)
    lp, source = load_lp(args.lp, args.data_dir)
    print(f"LP: {source}, {lp.program.shape[0]} rows x {lp.program.shape[1]} columns")
    res = lp.solve(backend="pdhg", tol=args.tol)
    print(f"pdhg: {res.status}, objective {res.objective:.10g}, {res.iterations} iterations, "
          f"{res.info['matvecs']} matrix passes, {res.timings['total']:.3f} s; {res.certificate}")
    cvx, _ = lp.to_cvxpy()
    ref = cvx.solve(solver="CLARABEL")
    print(f"CVXPY + Clarabel: {cvx.status}, objective {ref:.10g}; relative difference "
          f"{abs(res.objective - ref) / abs(ref):.1e}")


if __name__ == "__main__":
    import os
    main([] if os.environ.get("PYTEST_CURRENT_TEST") else None)   # run by tests/test_problems_examples.py
