"""Compile speed: solvelab.compile vs cvxpy get_problem_data(solver="CLARABEL").

A Lasso with a 20000 x 47236 sparse A (1.5 M nonzeros), both measured in one run.
Usage: python benchmarks/compile_speed.py [--rows 20000 --cols 47236 --nnz 1500000 --repeat 3]
"""
from __future__ import annotations

import argparse
import time

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

import solvelab as sl


def build(rows, cols, nnz, seed=0):
    rng = np.random.default_rng(seed)
    A = sp.random(rows, cols, density=nnz / (rows * cols), format="csc", random_state=rng)
    b = rng.standard_normal(rows)
    x = cp.Variable(cols)
    lam = 0.1 * np.max(np.abs(A.T @ b))
    return cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * cp.norm1(x))), A


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--cols", type=int, default=47236)
    ap.add_argument("--nnz", type=int, default=1_500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    ours, theirs = [], []
    for r in range(args.repeat):
        prob, A = build(args.rows, args.cols, args.nnz, seed=r)
        t0 = time.perf_counter()
        sl.compile(prob)
        ours.append(time.perf_counter() - t0)
        prob2, _ = build(args.rows, args.cols, args.nnz, seed=r)
        t0 = time.perf_counter()
        prob2.get_problem_data(solver="CLARABEL")
        theirs.append(time.perf_counter() - t0)
    o, t = min(ours), min(theirs)
    print(f"A: {args.rows} x {args.cols}, nnz={A.nnz}")
    print(f"solvelab.compile              best {o:.4f} s  (all: {', '.join(f'{v:.4f}' for v in ours)})")
    print(f"cvxpy get_problem_data(CLARABEL) best {t:.4f} s  (all: {', '.join(f'{v:.4f}' for v in theirs)})")
    print(f"ratio (cvxpy / solvelab): {t / o:.1f}x")


if __name__ == "__main__":
    main()
