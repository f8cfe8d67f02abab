"""A regularization path: one Problem, a cp.Parameter lam swept over a grid.

The model is compiled once (``prob.compile_count`` stays 1): later solves re-read the
Parameter into the compiled program and warm-start from the previous solution.
"""
import cvxpy as cp
import numpy as np

import solvelab as sl

LAMBDAS = (2.0, 1.0, 0.5, 0.2, 0.1)


def build(seed=0, m=60, n=40, lam=1.0):
    """A Lasso whose weight ``lam`` is a Parameter (set ``prob.parameters()[0].value``)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x_true = np.zeros(n)
    x_true[:6] = rng.standard_normal(6)
    b = A @ x_true + 0.05 * rng.standard_normal(m)
    x = cp.Variable(n, name="x")
    weight = cp.Parameter(nonneg=True, name="lam", value=lam)
    return sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + weight * cp.norm1(x)))


def sweep(prob, lambdas=LAMBDAS, backend="fista", tol=1e-6):
    """Solve ``prob`` at each lam (largest first, for warm starts); returns the results."""
    lam, = prob.parameters()
    results = []
    for value in lambdas:
        lam.value = value
        results.append(prob.solve(backend=backend, tol=tol))
    return results


if __name__ == "__main__":
    prob = build()
    lam, = prob.parameters()
    reference = cp.Problem(prob.objective, prob.constraints)
    for backend in ("fista", "admm"):
        print(backend)
        for value in LAMBDAS:
            lam.value = value
            res = prob.solve(backend=backend, tol=1e-6)
            ref = reference.solve(solver="CLARABEL")
            print(f"  lam={value:<4g} {res.status!s:10s} objective {res.objective:.8g} (CVXPY {ref:.8g}) "
                  f"certificate {res.certificate.value:.1e} iterations {res.iterations}")
    print(f"compile_count = {prob.compile_count}: compiled once for all {2 * len(LAMBDAS)} solves")
