"""Box-constrained QP: minimize 1/2 x^T P x + q^T x subject to -1 <= x <= 1.

quad_form with a constant PSD matrix plus a linear term is smooth; the two bounds merge
into one box, which the Composite form applies as a clip.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, n=30):
    """A well-conditioned random PSD P and a q large enough to push some x to the box."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, n))
    P = G.T @ G / n + 0.1 * np.eye(n)
    q = 2 * rng.standard_normal(n)
    x = cp.Variable(n, name="x")
    return sl.Problem(cp.Minimize(0.5 * cp.quad_form(x, P) + q @ x), [x >= -1, x <= 1])


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("fista", "admm", "cvxpy"))
