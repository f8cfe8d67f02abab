"""Metric nearness: the closest metric (in weighted squared distance) to noisy distances.

    min sum_{i != j} W_ij (X_ij - D_ij)^2   s.t.  X_ij <= X_ik + X_kj for all i, j, k,
                                                  X symmetric, zero diagonal

``D`` is the Euclidean distance matrix of points in the plane with 30% of its entries
multiplied by U(0.5, 1.5), so it violates many triangle inequalities. Run
``python problems/metric_nearness.py [--n 300]``: ``sl.problems.metric_nearness(D)``
holds the n (n-1) (n-2) / 2 triangles implicitly and ``backend="project_forget"`` keeps an
active set of them; the script prints the status, the certificate (max violation over
all triangles, relative duality gap), the number of active triangles, and at n = 12 the
same problem with every triangle written out in CVXPY, solved by Clarabel.

``build()`` gives that small explicit CVXPY declaration (what CVXPY can still hold).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import solvelab as sl


def noisy_distances(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2))
    D = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    F = np.triu(np.where(rng.random((n, n)) < 0.3, rng.uniform(0.5, 1.5, (n, n)), 1.0), 1)
    return D * (F + F.T + np.eye(n))


def build(n: int = 12) -> sl.Problem:
    """The problem at small n with every triangle explicit, as a plain CVXPY declaration."""
    cp_prob, _ = sl.problems.metric_nearness(noisy_distances(n)).to_cvxpy()
    return sl.Problem(cp_prob.objective, cp_prob.constraints)


def main(n: int = 300) -> None:
    prob = sl.problems.metric_nearness(noisy_distances(n))
    t0 = time.perf_counter()
    res = prob.solve(backend="project_forget", tol=1e-6)
    print(f"n={n}: {res.status} in {time.perf_counter() - t0:.2f} s, {res.iterations} iterations, "
          f"objective {res.objective:.8g}")
    print(f"  certificate: {res.certificate}")
    print(f"  active triangles: {res.info['triangles'].shape[0]} of {n * (n - 1) * (n - 2) // 2}")
    small = sl.problems.metric_nearness(noisy_distances(12))
    ours = small.solve(backend="project_forget", tol=1e-8)
    cp_prob, _ = small.to_cvxpy()
    ref = cp_prob.solve(solver="CLARABEL")
    print(f"n=12: project_forget {ours.status} {ours.objective:.10g}, CVXPY + Clarabel (explicit triangles) "
          f"{ref:.10g}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    main(ap.parse_known_args()[0].n)
