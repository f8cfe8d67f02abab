"""The cost of CVXPY's front door: ``cvxpy.Problem.solve(method="solvelab")`` against
``sl.solve`` on the same model, LIBSVM Lasso instances (target: under 5% more, and the
same result).

    OPENBLAS_NUM_THREADS=1 SOLVELAB_DATA=../shared/data .venv/bin/python benchmarks/cvxpy_method_overhead.py \
        [--datasets a9a,mushrooms] [--divs 10,100] [--repeat 15]

Each instance is one CVXPY Lasso, ||A x - b||^2 / (2n) + lam ||x||_1, lam = lam_max / div, built
twice (one copy per route, so each keeps its own compiled model and warm start off); after
one untimed solve of each, the two routes alternate ``--repeat`` times and the medians
are compared. Both run backend ``cd`` at tol 1e-8 with warm_start=False.
"""
from __future__ import annotations

import argparse
import statistics
import time

import cvxpy as cp
import numpy as np

import solvelab as sl
from solvelab.bench.data import load_libsvm


def _model(A, b, lam):
    x = cp.Variable(A.shape[1], name="x")
    return cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) / (2 * A.shape[0]) + lam * cp.norm1(x))), x


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="a9a,mushrooms")
    ap.add_argument("--divs", default="10,100")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    opts = dict(backend="cd", tol=1e-8, warm_start=False)
    rows = []
    for name in args.datasets.split(","):
        A, b = load_libsvm(name)
        b = np.asarray(b, dtype=np.float64)
        lam_max = float(np.max(np.abs(A.T @ b))) / A.shape[0]
        for div in (float(d) for d in args.divs.split(",")):
            via_cvxpy, x1 = _model(A, b, lam_max / div)
            direct_model, x2 = _model(A, b, lam_max / div)
            direct = sl.Problem(direct_model.objective, direct_model.constraints)
            via_cvxpy.solve(method="solvelab", **opts)
            direct.solve(**opts)
            t_c, t_d = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                via_cvxpy.solve(method="solvelab", **opts)
                t_c.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                res = direct.solve(**opts)
                t_d.append(time.perf_counter() - t0)
            same = bool(np.array_equal(x1.value, x2.value)) and via_cvxpy.value == res.objective
            mc, md = statistics.median(t_c), statistics.median(t_d)
            rows.append((name, div, md, mc, mc / md - 1.0, same, via_cvxpy.status))
            print(f"{name} lam_max/{div:g}: sl.solve {md * 1e3:.2f} ms, method='solvelab' {mc * 1e3:.2f} ms "
                  f"({100 * (mc / md - 1):+.1f}%), identical result: {same}", flush=True)
    print("\n| data | lam | sl.solve [ms] | prob.solve(method='solvelab') [ms] | overhead | identical | status |")
    print("|---|---|---|---|---|---|---|")
    for name, div, md, mc, over, same, status in rows:
        print(f"| {name} | lam_max/{div:g} | {md * 1e3:.2f} | {mc * 1e3:.2f} | {100 * over:+.1f}% | {same} | {status} |")


if __name__ == "__main__":
    main()
