"""Lasso: minimize 1/2 ||A x - b||^2 + lam ||x||_1 on a sparse synthetic signal.

Composite form (smooth least squares + separable l1): fista, admm and cvxpy all take it.
Run ``python problems/lasso.py`` to compare them with CVXPY + Clarabel.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, m=60, n=40, lam=0.5):
    """A Lasso with a 5-sparse ground truth and Gaussian noise."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x_true = np.zeros(n)
    x_true[rng.choice(n, 5, replace=False)] = 3 * rng.standard_normal(5)
    b = A @ x_true + 0.1 * rng.standard_normal(m)
    x = cp.Variable(n, name="x")
    return sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * cp.norm1(x)))


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("fista", "admm", "cvxpy"))
