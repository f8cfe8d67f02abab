"""Distributionally robust logistic regression (``sl.problems.dro_logistic``) on LIBSVM data:
``dro_newton`` and ``alpd`` against CVXPY+Clarabel on the DCP formulation and scipy's
L-BFGS-B on the smooth primal P(x), at the same certificate.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/dro_logistic.py [--data-dir ../shared/data]
        [--datasets mushrooms,a9a,ijcnn1.tr_val,madelon.t] [--lam 1e-3] [--rhos 1,0.1] [--tol 1e-6]
        [--clarabel-max 10000] [--alpd-iter 20000]

Every point is judged by the same certificate (``DROLogisticProgram.certify``: the exact
P(x) and a strong-convexity lower bound of D(p), relative gap); L-BFGS-B's x is paired
with its worst-case weights p(x), and its time is that of the loosest gtol (1e-3 ... 1e-12)
whose point meets --tol. Clarabel runs where n <= --clarabel-max (its exponential cones
grow with the samples); its value is compared with ours.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def load(name, data_dir):
    from solvelab.bench.data import load_libsvm
    A, y = load_libsvm(name, data_dir, n_features={"a9a": 123}.get(name))
    labels = np.where(y == y.max(), 1.0, -1.0)
    return A.tocsr(), labels


def lbfgs(prob, tol):
    from scipy.optimize import minimize
    from solvelab.families.saddle.dro import primal_parts
    prog = prob.program
    d = prog.shape[1]

    def fg(x):
        q = primal_parts(prog, x)
        return q["value"], q["grad"]

    for gtol in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12):
        t0 = time.perf_counter()
        r = minimize(fg, np.zeros(d), jac=True, method="L-BFGS-B", options={"gtol": gtol, "ftol": 0.0,
                                                                          "maxiter": 100000})
        sec = time.perf_counter() - t0
        cert = prog.certify(np.r_[r.x, primal_parts(prog, r.x)["weights"]]).value
        if cert <= tol:
            return sec, cert, r.nit
    return None, cert, r.nit


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--datasets", default="mushrooms,a9a,ijcnn1.tr_val,madelon.t")
    ap.add_argument("--alpd-iter", type=int, default=20000)
    ap.add_argument("--lam", type=float, default=1e-3)
    ap.add_argument("--rhos", default="1,0.1")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--clarabel-max", type=int, default=10000)
    args = ap.parse_args(argv)
    from solvelab.problems.saddle import dro_logistic
    rng = np.random.default_rng(0)          # first calls apart (imports, Numba cache loads)
    warm = dro_logistic(rng.standard_normal((20, 3)), np.sign(rng.standard_normal(20)), 0.1, 1.0)
    warm.solve(backend="dro_newton")
    warm.solve(backend="alpd", max_iter=50)
    print("| data | n x d | rho | dro_newton: status / steps / s (gap) | alpd: status / iterations / s (gap) | "
          "L-BFGS-B on P(x): s / iterations | Clarabel: s | |dro_newton - Clarabel| / value |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        A, b = load(name, args.data_dir)
        for rho in (float(r) for r in args.rhos.split(",")):
            prob = dro_logistic(A, b, args.lam, rho)
            t0 = time.perf_counter()
            res = prob.solve(backend="dro_newton", tol=args.tol, warm_start=False)
            sec = time.perf_counter() - t0
            t0 = time.perf_counter()
            fo = prob.solve(backend="alpd", tol=args.tol, max_iter=args.alpd_iter, warm_start=False)
            fsec = time.perf_counter() - t0
            lb = lbfgs(prob, args.tol)
            cl, err = "-", "-"
            if A.shape[0] <= args.clarabel_max:
                cvx, _ = prob.to_cvxpy()
                t1 = time.perf_counter()
                cvx.solve(solver="CLARABEL")
                cl = f"{time.perf_counter() - t1:.1f} ({cvx.status})"
                err = f"{abs(res.objective - cvx.value) / abs(cvx.value):.1e}"
            lbs = "not reached" if lb[0] is None else f"{lb[0]:.2f} / {lb[2]}"
            print(f"| {name} | {A.shape[0]} x {A.shape[1]} | {rho:g} | {res.status} / {res.iterations} / {sec:.2f} "
                  f"({res.certificate.value:.1e}) | {fo.status} / {fo.iterations} / {fsec:.1f} "
                  f"({fo.certificate.value:.1e}) | {lbs} | {cl} | {err} |", flush=True)


if __name__ == "__main__":
    main()
