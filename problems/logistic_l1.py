"""Sparse logistic regression: minimize mean logistic(-y * (A x)) + lam ||x||_1.

Labels y in {-1, +1}; the loss is smooth, the l1 penalty separable: Composite form.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, m=100, n=20, lam=0.02):
    """Labels drawn from a sparse logistic model."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    w = np.zeros(n)
    w[:4] = [2.0, -1.5, 1.0, 0.5]
    y = np.where(rng.random(m) < 1 / (1 + np.exp(-A @ w)), 1.0, -1.0)
    x = cp.Variable(n, name="x")
    loss = cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / m
    return sl.Problem(cp.Minimize(loss + lam * cp.norm1(x)))


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("fista", "admm", "cvxpy"))
