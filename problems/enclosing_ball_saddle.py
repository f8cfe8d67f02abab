"""The smallest ball around a point cloud as a saddle point with a nonlinear coupling.

    min_{x in R^d} max_{y in simplex}  Phi(x, y) = sum_i y_i |x - p_i|^2 / 2

For each x the max player puts its weight on the farthest points, so the value is r^2 / 2
with r the radius of the smallest enclosing ball, and x is its center. Phi is convex in
x and linear (so concave) in y but not bilinear: CVXPY cannot say it as a saddle point.
It is declared with ``sl.SaddlePoint(0, minimize=x, maximize=y, constraints, coupling=...)``
(the coupling as NumPy callables) and solved by ``alpd`` (forward-backward-forward steps
with backtracking). The reference is CVXPY + Clarabel on the epigraph form min t s.t.
|x - p_i|^2 / 2 <= t.
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np

import solvelab as sl


def points(seed=0, n=200, d=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * np.array([3.0, 1.0, 0.5])[:d] + 2.0


def coupling(P):
    return sl.Coupling(lambda x, y: 0.5 * float(y @ np.sum((x - P) ** 2, axis=1)),
                       grad_x=lambda x, y: y.sum() * x - y @ P,
                       grad_y=lambda x, y: 0.5 * np.sum((x - P) ** 2, axis=1),
                       name="half_squared_distance")


def build(seed=0):
    P = points(seed)
    x, y = cp.Variable(P.shape[1], name="center"), cp.Variable(P.shape[0], name="weights")
    return sl.SaddlePoint(0, minimize=x, maximize=y, constraints=[y >= 0, cp.sum(y) == 1], coupling=coupling(P))


def reference() -> float:
    """r^2 / 2 from CVXPY + Clarabel on min t s.t. |x - p_i|^2 / 2 <= t."""
    P = points()
    c, t = cp.Variable(P.shape[1]), cp.Variable()
    return float(cp.Problem(cp.Minimize(t), [0.5 * cp.sum_squares(c - p) <= t for p in P]).solve(solver="CLARABEL"))


def main(argv=None):
    prob = build()
    res = prob.solve(backend="alpd", tol=1e-8)
    center, w = res.values["center"], res.values["weights"]
    print(f"alpd: {res.status}, r^2/2 = {res.objective:.10f}, {res.iterations} iterations, "
          f"{res.info['gradients']} gradients of Phi; center {np.round(center, 6)}, "
          f"{int(np.sum(w > 1e-6))} points carry the weight; {res.certificate}")
    print(f"reference (CVXPY + Clarabel, epigraph form): {reference():.10f}")


if __name__ == "__main__":
    main()
