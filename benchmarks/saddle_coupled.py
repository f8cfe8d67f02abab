"""Saddle points with a coupling given as callables: ``alpd`` (forward-backward-forward with
backtracking) against CVXPY + Clarabel on the same instances.

    .venv/bin/python benchmarks/saddle_coupled.py [--sizes 200,1000,5000] [--dims 3,20] [--tol 1e-6]

Instance: the smallest enclosing ball of n Gaussian points in R^d (anisotropic),
min_x max_{y in simplex} sum_i y_i |x - p_i|^2 / 2. The peer solves the epigraph form
min t s.t. |x - p_i|^2 / 2 <= t (n second-order cones) with Clarabel through CVXPY;
its time includes CVXPY's compile (reported apart). Ours: the end-to-end solve (the
problem's construction checks, gradients vs finite differences, reported apart).
Reported: seconds, gradients of Phi, the certificate, and |value - Clarabel's| relative.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def instance(n, d, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.geomspace(3.0, 0.3, d)
    return rng.standard_normal((n, d)) * scales + 1.0


def ours(P, tol):
    import solvelab as sl
    from solvelab.problems.saddle import coupled_saddle
    phi = sl.Coupling(lambda x, y: 0.5 * float(y @ np.sum((x - P) ** 2, axis=1)),
                      lambda x, y: y.sum() * x - y @ P, lambda x, y: 0.5 * np.sum((x - P) ** 2, axis=1))
    t0 = time.perf_counter()
    prob = coupled_saddle(phi, P.shape[1], P.shape[0], x_domain="free")
    t_build = time.perf_counter() - t0
    res = prob.solve(backend="alpd", tol=tol, max_iter=200_000)
    return res, t_build, time.perf_counter() - t0


def clarabel(P):
    import cvxpy as cp
    c, t = cp.Variable(P.shape[1]), cp.Variable()
    prob = cp.Problem(cp.Minimize(t), [0.5 * cp.sum_squares(c - P[i]) <= t for i in range(P.shape[0])])
    t0 = time.perf_counter()
    prob.solve(solver="CLARABEL")
    total = time.perf_counter() - t0
    return float(prob.value), total, prob.solver_stats.solve_time, prob.status


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200,1000,5000")
    ap.add_argument("--dims", default="3,20")
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args(argv)
    print("| n | d | alpd s (of which checks) | iterations | gradients | certificate | Clarabel s (solver only) | "
          "rel. value diff |\n|---|---|---|---|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        for d in map(int, args.dims.split(",")):
            P = instance(n, d)
            res, t_build, t_ours = ours(P, args.tol)
            v, t_ref, t_ref_solver, st = clarabel(P)
            diff = abs(res.objective - v) / abs(v)
            print(f"| {n} | {d} | {t_ours:.3f} ({t_build:.3f}) | {res.iterations} | {res.info['gradients']} | "
                  f"{res.status} {res.certificate.value:.1e} | {t_ref:.3f} ({t_ref_solver:.3f}, {st}) | {diff:.1e} |",
                  flush=True)


if __name__ == "__main__":
    main()
