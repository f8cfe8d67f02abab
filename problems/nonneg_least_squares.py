"""Nonnegative least squares: minimize ||A x - b||^2 subject to x >= 0.

The bound becomes a clip in the Composite form, so fista takes it as well as admm and cvxpy.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, m=50, n=30):
    """NNLS whose unconstrained solution has negative entries (so bounds are active)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ rng.standard_normal(n) + 0.1 * rng.standard_normal(m)
    x = cp.Variable(n, name="x")
    return sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x >= 0])


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("fista", "admm", "cvxpy"))
