"""Group lasso: minimize 1/2 ||A x - b||^2 + lam * sum_g ||x_g||_2 over disjoint groups.

Each group norm reads its own slice of x, so the penalty's prox splits by group
(Composite form): fista, admm and cvxpy take it.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, m=60, groups=8, size=5, lam=2.0):
    """Only two of the groups carry signal."""
    rng = np.random.default_rng(seed)
    n = groups * size
    A = rng.standard_normal((m, n))
    x_true = np.zeros(n)
    x_true[:size] = rng.standard_normal(size)
    x_true[3 * size:4 * size] = rng.standard_normal(size)
    b = A @ x_true + 0.1 * rng.standard_normal(m)
    x = cp.Variable(n, name="x")
    penalty = sum(cp.norm(x[g * size:(g + 1) * size], 2) for g in range(groups))
    return sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * penalty))


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("fista", "admm", "cvxpy"))
