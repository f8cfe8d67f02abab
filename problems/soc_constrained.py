"""A second-order cone constraint: minimize 1/2 ||A x - b||^2 + lam * t s.t. ||x||_2 <= t.

``norm2(x) <= t`` compiles to one SOC indicator over [t; x] (prox: projection onto the
cone). It couples t with x, so admm (prox-affine) and cvxpy take it.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, m=40, n=20, lam=5.0):
    """Least squares whose solution norm is traded against t (the cone is active)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ rng.standard_normal(n) + 0.1 * rng.standard_normal(m)
    x = cp.Variable(n, name="x")
    t = cp.Variable(name="t")
    return sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * t), [cp.norm(x, 2) <= t])


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("admm", "cvxpy"))
