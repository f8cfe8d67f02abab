"""Least squares with equality constraints: minimize ||A x - b||^2 subject to C x == d.

A general linear equality is not a selection of x, so the Composite form does not
apply: admm (prox-affine) and cvxpy take it, fista refuses and says why.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl


def build(seed=0, m=40, n=25, p=5):
    """Random data; d = C x0 for some x0, so the constraints are consistent."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    C = rng.standard_normal((p, n))
    d = C @ rng.standard_normal(n)
    x = cp.Variable(n, name="x")
    return sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [C @ x == d])


if __name__ == "__main__":
    from solvelab.compare import compare_backends
    compare_backends(build(), ("admm", "cvxpy"))
