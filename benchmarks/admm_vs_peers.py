"""ADMM against CVXPY's OSQP, SCS and Clarabel on the same models, in one run.

Each model is solved by solvelab's ``admm`` to a recomputed certificate <= 1e-6 and by
CVXPY with each peer at eps 1e-6 (the peers' times include CVXPY's canonicalization, as
users see them; solvelab's include its compile). Reports wall time, the ratio to
solvelab, and the relative objective difference to Clarabel.

    .venv/bin/python benchmarks/admm_vs_peers.py
"""
from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

import solvelab as sl


def models(seed=0):
    rng = np.random.default_rng(seed)
    m, n = 2000, 5000
    A = sp.random(m, n, density=0.005, random_state=seed, format="csc")
    x0 = np.where(rng.random(n) < 0.02, rng.standard_normal(n), 0.0)
    b = A @ x0 + 0.01 * rng.standard_normal(m)
    x = cp.Variable(n)
    yield "sparse lasso 2000x5000", cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 0.01 * cp.norm1(x)), []
    D = rng.standard_normal((600, 300))
    y = rng.standard_normal(600)
    x = cp.Variable(300)
    yield "box QP 600x300 dense", cp.Minimize(cp.sum_squares(D @ x - y)), [x >= -0.1, x <= 0.1]
    x = cp.Variable(300)
    yield "huber + simplex 600x300", cp.Minimize(cp.sum(cp.huber(D @ x - y, 1.0))), [x >= 0, cp.sum(x) == 1]
    x = cp.Variable(300)
    yield "nonneg LS + eq 600x300", cp.Minimize(cp.sum_squares(D @ x - y)), [x >= 0, D[:20] @ x == 0.5]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main():
    rows = []
    for name, obj, cons in models():
        ref, _ = timed(lambda: cp.Problem(obj, cons).solve(solver="CLARABEL"))
        res, t_sl = timed(lambda: sl.Problem(obj, cons).solve(backend="admm", tol=1e-6, max_iter=50000))
        row = [name, f"{t_sl:.3f} s ({res.status.value}, cert {res.certificate.value:.1e}, {res.iterations} it)",
               f"{abs(res.objective - ref) / max(1, abs(ref)):.1e}"]
        for solver, kw in (("OSQP", dict(eps_abs=1e-6, eps_rel=1e-6, max_iter=200000)),
                           ("SCS", dict(eps_abs=1e-6, eps_rel=1e-6, max_iters=200000)),
                           ("CLARABEL", {})):
            p = cp.Problem(obj, cons)
            try:
                val, t = timed(lambda: p.solve(solver=solver, **kw))
                row.append(f"{t:.3f} s ({t / t_sl:.1f}x), err {abs(val - ref) / max(1, abs(ref)):.1e}")
            except cp.SolverError as exc:
                row.append(f"failed: {exc}"[:40])
        rows.append(row)
        print(" | ".join(row), flush=True)
    print()
    print("| model | solvelab admm | rel. obj. diff to Clarabel | OSQP (time ratio to admm) | SCS | Clarabel |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
