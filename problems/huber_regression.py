"""Huber regression: minimize sum huber(A x - b, M) on data with gross outliers.

A smooth datafit (Lipschitz gradient) with no penalty: Composite, so fista, admm, cvxpy.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, m=80, n=20, M=1.0):
    """Linear data with 10% of the responses replaced by large outliers."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ rng.standard_normal(n) + 0.1 * rng.standard_normal(m)
    bad = rng.choice(m, m // 10, replace=False)
    b[bad] += 20 * rng.standard_normal(bad.size)
    x = cp.Variable(n, name="x")
    return sl.Problem(cp.Minimize(cp.sum(cp.huber(A @ x - b, M))))


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("fista", "admm", "cvxpy"))
