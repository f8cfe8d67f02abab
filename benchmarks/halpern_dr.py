"""halpern (Halpern-anchored Douglas-Rachford) against admm (Anderson-accelerated) on prox-affine
programs without a curved term (polyhedral: l1, hinge, sum_largest, bounds) and with one.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/halpern_dr.py [--sizes 200x50,2000x200]
        [--seeds 0,1,2] [--tol 1e-6]

Models (random Gaussian data, CVXPY, built fresh for each run): LAD regression
min |A x - b|_1, quantile regression (tau 0.3), an l1-regularized hinge SVM
min sum pos(1 - y A x) + |x|_1, CVaR-like min sum_largest(A x - b, k) + |x|_1 with x bounds,
and, with curvature, the Lasso with a box and the hinge SVM with a ridge. One line per
(model, size, seed): status, iterations and seconds of each, their time ratio, and the
relative objective difference (the certificates are the engine's, recomputed). Numba kernels
are compiled beforehand; times are wall clock of ``prob.solve``.
"""
from __future__ import annotations

import argparse
import math
import time

import cvxpy as cp
import numpy as np

import solvelab as sl


def models(m, n, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ (rng.standard_normal(n) * (rng.random(n) < 0.3)) + 0.5 * rng.standard_normal(m)
    y = np.sign(b + 1e-12)
    x = cp.Variable(n)
    yield "lad", cp.Problem(cp.Minimize(cp.norm1(A @ x - b)))
    x = cp.Variable(n)
    r = A @ x - b
    yield "quantile", cp.Problem(cp.Minimize(cp.sum(0.3 * cp.pos(r) + 0.7 * cp.pos(-r))))
    x = cp.Variable(n)
    yield "l1-svm", cp.Problem(cp.Minimize(cp.sum(cp.pos(1 - cp.multiply(y, A @ x))) + cp.norm1(x)))
    x = cp.Variable(n)
    yield "cvar", cp.Problem(cp.Minimize(cp.sum_largest(A @ x - b, max(1, m // 10)) + cp.norm1(x)),
                             [x >= -1, x <= 1])
    x = cp.Variable(n)
    yield "lasso-box (curved)", cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + cp.norm1(x)),
                                           [x >= -0.5, x <= 0.5])
    x = cp.Variable(n)
    yield "ridge-svm (curved)", cp.Problem(cp.Minimize(cp.sum(cp.pos(1 - cp.multiply(y, A @ x)))
                                                       + cp.sum_squares(x)))


def run(prob, backend, tol, time_limit):
    p = sl.Problem(prob.objective, prob.constraints)
    t = time.perf_counter()
    res = p.solve(backend=backend, tol=tol, time_limit=time_limit)
    return res, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200x50,2000x200")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--time-limit", type=float, default=60.0)
    a = ap.parse_args(argv)
    for _, warm in models(20, 5, 0):             # JIT compilation apart
        for backend in ("admm", "halpern"):
            run(warm, backend, 1e-4, 10)
    print("| model | m x n | seed | admm: status, iterations, s | halpern: status, iterations, s | time ratio | objective diff |")
    print("|---|---|---|---|---|---:|---:|")
    ratios = {}
    for size in a.sizes.split(","):
        m, n = (int(v) for v in size.split("x"))
        for seed in (int(s) for s in a.seeds.split(",")):
            for name, prob in models(m, n, seed):
                ra, ta = run(prob, "admm", a.tol, a.time_limit)
                rh, th = run(prob, "halpern", a.tol, a.time_limit)
                diff = abs(ra.objective - rh.objective) / max(abs(ra.objective), abs(rh.objective), 1e-300) \
                    if ra.objective is not None and rh.objective is not None else float("nan")
                both = ra.status is sl.Status.OPTIMAL and rh.status is sl.Status.OPTIMAL
                if both:
                    ratios.setdefault(name, []).append(th / ta)
                print(f"| {name} | {m} x {n} | {seed} | {ra.status}, {ra.iterations}, {ta:.3f} | {rh.status}, "
                      f"{rh.iterations}, {th:.3f} | {th / ta:.2f} | {diff:.1e} |", flush=True)
    print()
    for name, rs in ratios.items():
        gm = math.exp(np.mean(np.log(rs)))
        print(f"{name}: halpern / admm time, geometric mean {gm:.2f} over {len(rs)} (faster on {sum(r < 1 for r in rs)})")


if __name__ == "__main__":
    main()
