"""Distributionally robust logistic regression with a chi-square penalty, on dro_newton and alpd.

    min_x max_{p in simplex}  sum_i p_i log(1 + exp(-b_i a_i^T x)) - rho n/2 |p - 1/n|^2 + lam/2 |x|^2

The max player reweights the training samples (n |p - 1/n|^2 is the chi-square divergence
from uniform weights), so the classifier x is fit against the worst reweighting the
penalty rho allows. The coupling sum_i p_i l_i(x) is not bilinear, so this is not a CVXPY
expression; the reference is CVXPY + Clarabel on the equivalent DCP problem
(``prob.to_cvxpy()``: the inner max replaced by its Lagrange dual).
"""
from __future__ import annotations

import numpy as np

from solvelab.problems.saddle import dro_logistic

LAM, RHO = 1e-2, 0.05


def data(seed=0, n=300, d=10):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    labels = np.where(A @ rng.standard_normal(d) + 0.8 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return A, labels


def build(seed=0):
    return dro_logistic(*data(seed), lam=LAM, rho=RHO)


def reference() -> float:
    """The value CVXPY + Clarabel find on the DCP formulation (``to_cvxpy``)."""
    cvx, _ = build().to_cvxpy()
    return float(cvx.solve(solver="CLARABEL"))


def main(argv=None):
    prob = build()
    for backend in ("dro_newton", "alpd"):
        res = prob.solve(backend=backend, tol=1e-8, warm_start=False, max_iter=100000)
        x, p = res.values["x"], res.values["p"]
        print(f"{backend}: {res.status}, robust loss {res.objective:.10f}, {res.iterations} iterations, "
              f"largest sample weight {p.max() * p.size:.1f} x uniform; {res.certificate}")
    print(f"reference (CVXPY + Clarabel on the DCP formulation): {reference():.10f}")


if __name__ == "__main__":
    main()
