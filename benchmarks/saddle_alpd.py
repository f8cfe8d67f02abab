"""``alpd`` on regularized saddle points: its schemes against each other and CVXPY+Clarabel.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/saddle_alpd.py [--tol 1e-6] [--sizes 300,1000]
        [--max-iter 100000] [--clarabel-max 1000]

Instances: U[-1, 1] matrix games n x n (x in the simplex of size n, y of size n) with the
regularizers (x_reg, y_reg) = (0, 0.05), (0.05, 0), (0.01, 0.01) times |K|_max, and an
ill-conditioned bilinear saddle (singular values 1 ... 1e-3, x free with x_reg = 1,
y in the simplex). Each scheme ('plain' = auto, 'accelerated', 'restarted', 'linear' where
both regularizers are positive) runs cold to the relative gap ``--tol``; reported:
iterations, passes over K, seconds (Numba compile apart), and the certificate. Clarabel
solves the QP formulation (``to_cvxpy``) where n <= --clarabel-max; its value is compared.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def instances(sizes):
    from solvelab.problems.saddle import bilinear_saddle, matrix_game
    for n in sizes:
        A = np.random.default_rng(n).uniform(-1, 1, (n, n))
        for a, mu in ((0.0, 0.05), (0.05, 0.0), (0.01, 0.01)):
            yield f"game-{n} x_reg={a:g} y_reg={mu:g}", matrix_game(A, x_reg=a, y_reg=mu)
        rng = np.random.default_rng(n + 1)
        U, _ = np.linalg.qr(rng.standard_normal((n, n)))
        V, _ = np.linalg.qr(rng.standard_normal((n, n)))
        K = (U * np.logspace(0, -3, n)) @ V.T
        yield (f"illcond-{n} free x, x_reg=1",
               bilinear_saddle(K, 0.1 * rng.standard_normal(n), 0.1 * rng.standard_normal(n), "free", "simplex",
                               x_reg=1.0))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--sizes", default="300,1000")
    ap.add_argument("--max-iter", type=int, default=100000)
    ap.add_argument("--clarabel-max", type=int, default=1000)
    args = ap.parse_args(argv)
    from solvelab.kernels.saddle import warm_up
    print(f"numba compile / cache load: {warm_up():.2f} s")
    print("| instance | scheme | status | iterations | passes | seconds | gap | Clarabel [s] | |value - Clarabel| / |value| |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, prob in instances([int(s) for s in args.sizes.split(",")]):
        p = prob.program
        ref = None
        if p.shape[0] <= args.clarabel_max:
            cvx, _ = prob.to_cvxpy()
            t0 = time.perf_counter()
            cvx.solve(solver="CLARABEL")
            ref = (time.perf_counter() - t0, float(cvx.value))
        schemes = ["plain", "accelerated", "restarted"] + (["linear"] if p.x_reg > 0 and p.y_reg > 0 else [])
        for scheme in schemes:
            t0 = time.perf_counter()
            res = prob.solve(backend="alpd", tol=args.tol, scheme=scheme, warm_start=False, max_iter=args.max_iter)
            sec = time.perf_counter() - t0 - res.info.get("compile_time", 0.0)
            cl = "-" if ref is None else f"{ref[0]:.2f}"
            err = "-" if ref is None else f"{abs(res.objective - ref[1]) / abs(ref[1]):.1e}"
            print(f"| {name} | {scheme} | {res.status} | {res.iterations} | {res.info['matvecs']} | {sec:.2f} | "
                  f"{res.certificate.value:.1e} | {cl} | {err} |", flush=True)


if __name__ == "__main__":
    main()
