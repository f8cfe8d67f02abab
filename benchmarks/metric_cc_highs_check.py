"""An independent check of the correlation clustering LP objective at real-graph size.

    SOLVELAB_DATA=../shared/data .venv/bin/python benchmarks/metric_cc_highs_check.py [jazz netscience ...]

HiGHS cannot take the 3.8M explicit triangle rows of jazz at once (it did not finish in
300 s), so this solves the same LP by constraint generation with HiGHS alone: solve the LP
over the triangles found so far (0 <= X <= 1 always), find every violated triangle of the
solution with NumPy (no solvelab code), add up to ``PER_ROUND`` of the most violated, and
repeat until the LP optimum violates no triangle by more than 1e-9 relative. That optimum
satisfies all triangles, and every constraint it saw is one of the LP's, so its objective
is the LP's. It is compared with project_forget's certified objective (tol 1e-6).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp

PER_ROUND = 200000
VIOLATION = 1e-9


def pair_index(n):
    idx = -np.ones((n, n), dtype=np.int64)
    iu = np.triu_indices(n, 1)
    idx[iu] = np.arange(iu[0].size)
    idx[(iu[1], iu[0])] = idx[iu]
    return idx, iu


def violated(X, n):
    """(i, j, k, violation) of X_ij > X_ik + X_kj, i < j, k distinct, by plain NumPy."""
    out = []
    for k in range(n):
        V = X - X[:, k][:, None] - X[k, :][None, :]
        V[k, :] = -1
        V[:, k] = -1
        V = np.triu(V, 1)
        i, j = np.nonzero(V > VIOLATION)
        if i.size:
            out.append(np.column_stack([i, j, np.full(i.size, k), V[i, j]]))
    return np.concatenate(out) if out else np.zeros((0, 4))


def solve_by_generation(Wp, Wm):
    import highspy
    n = Wp.shape[0]
    idx, iu = pair_index(n)
    c = (Wp - Wm)[iu]
    const = float(np.triu(Wm, 1).sum())
    rows = []
    t0, rounds = time.perf_counter(), 0
    while True:
        rounds += 1
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        m = len(rows)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = c.size, m
        lp.col_cost_ = c
        lp.col_lower_, lp.col_upper_ = np.zeros(c.size), np.ones(c.size)
        if m:
            tri = np.array(rows, dtype=np.int64)
            r = np.repeat(np.arange(m), 3)
            cols = np.column_stack([idx[tri[:, 0], tri[:, 1]], idx[tri[:, 0], tri[:, 2]], idx[tri[:, 2], tri[:, 1]]])
            vals = np.tile([1.0, -1.0, -1.0], m)
            A = sp.csc_matrix((vals, (r, cols.ravel())), shape=(m, c.size))
            lp.row_lower_, lp.row_upper_ = np.full(m, -highspy.kHighsInf), np.zeros(m)
            lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
        h.passModel(lp)
        h.run()
        x = np.array(h.getSolution().col_value)
        X = np.zeros((n, n))
        X[iu] = x
        X = X + X.T
        V = violated(X, n)
        print(f"  round {rounds}: {m} triangle rows, LP objective {float(c @ x) + const:.10g}, "
              f"{V.shape[0]} violated, {time.perf_counter() - t0:.1f} s", flush=True)
        if V.shape[0] == 0:
            return float(c @ x) + const, time.perf_counter() - t0, rounds, m
        order = np.argsort(-V[:, 3])[:PER_ROUND]
        rows.extend(V[order, :3].astype(np.int64).tolist())


def main(names):
    import solvelab as sl
    from solvelab.bench.suites.metric import find_graph, load_graph
    for name in names:
        path, why = find_graph(name)
        if path is None:
            print(f"{name}: skipped ({why})")
            continue
        Wp, Wm = sl.problems.jaccard_correlation_instance(load_graph(path))
        t = time.perf_counter()
        res = sl.problems.correlation_clustering_lp(Wp, Wm).solve(backend="project_forget", tol=1e-6)
        t_pf = time.perf_counter() - t
        print(f"{name} (n = {Wp.shape[0]}): project_forget {res.status}, objective {res.objective:.10g} "
              f"in {t_pf:.1f} s", flush=True)
        obj, t_h, rounds, m = solve_by_generation(Wp, Wm)
        print(f"{name}: HiGHS by constraint generation {obj:.10g} in {t_h:.1f} s ({rounds} rounds, {m} rows); "
              f"relative difference {abs(res.objective - obj) / abs(obj):.1e}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["jazz"])
