"""A quadratically regularized matrix game, declared with CVXPY expressions and solved by alpd.

    min_{x in simplex} max_{y in simplex}  x^T A y + 1/2 |x|^2 - 0.05 |y|^2

The quadratic terms make the equilibrium unique on both sides (a smoothed Nash
equilibrium of the zero-sum game where the row player x pays x^T A y). The bilinear term
is not DCP, so CVXPY cannot solve the saddle point as written; ``sl.SaddlePoint`` reads
A, the regularizers and the simplices off the expressions. The reference is CVXPY +
Clarabel on the equivalent QP (``prob.to_cvxpy()``: the inner max replaced by its
Lagrange dual).
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np

import solvelab as sl
from solvelab.problems.saddle import SaddlePoint


def build(seed=0, m=40, n=30):
    A = np.random.default_rng(seed).uniform(-1, 1, (m, n))
    x, y = cp.Variable(m, name="x"), cp.Variable(n, name="y")
    return SaddlePoint(x @ A @ y + 0.5 * cp.sum_squares(x) - 0.05 * cp.sum_squares(y), minimize=x, maximize=y,
                       constraints=[x >= 0, cp.sum(x) == 1, y >= 0, cp.sum(y) == 1])


def reference() -> float:
    """The value CVXPY + Clarabel find on the QP formulation (``to_cvxpy``)."""
    cvx, _ = build().to_cvxpy()
    return float(cvx.solve(solver="CLARABEL"))


def main(argv=None):
    prob = build()
    for scheme in ("plain", "restarted", "linear"):
        res = prob.solve(backend="alpd", tol=1e-8, scheme=scheme, warm_start=False)
        print(f"alpd scheme={scheme}: {res.status}, value {res.objective:.10f}, {res.iterations} iterations, "
              f"{res.info['matvecs']} passes over A; {res.certificate}")
    print(f"reference (CVXPY + Clarabel on the QP formulation): {reference():.10f}")
    assert isinstance(prob, sl.Problem)


if __name__ == "__main__":
    main()
