"""A ridge weight learned on a validation set: a bilevel program on hypergradient and bamm.

    min_u  F(u) = (1 / 2 n_v) |X_v w*(u) - y_v|^2
    where  w*(u) = argmin_w (1 / 2 n) |X w - y|^2 + (e^u / 2) |w|^2

Declared with ``sl.problems.hyperparameter_learning(..., weights="single")`` (one weight;
``weights="feature"`` gives one per feature). The engine certifies the returned point by
implicit differentiation: |dF/du| relative to F, the lower level's stationarity and its
value gap, all recomputed from (u, w). CVXPY cannot declare a bilevel program, so the
reference is an independent scalar search: NumPy ridge solves inside scipy's bounded
``minimize_scalar`` (``reference()``).
"""
from __future__ import annotations

import numpy as np

import solvelab as sl


def data(seed=0):
    rng = np.random.default_rng(seed + 2)
    X, Xv = rng.standard_normal((40, 10)), rng.standard_normal((50, 10))
    w = np.r_[rng.standard_normal(5), np.zeros(5)]
    return X, X @ w + 2.0 * rng.standard_normal(40), Xv, Xv @ w + 2.0 * rng.standard_normal(50)


def build(seed=0):
    X, y, Xv, yv = data(seed)
    return sl.problems.hyperparameter_learning(X, y, Xv, yv, weights="single")


def value(u, seed=0):
    """F(u) by a NumPy ridge solve (no solvelab code)."""
    X, y, Xv, yv = data(seed)
    n, p = X.shape
    w = np.linalg.solve(X.T @ X / n + np.exp(u) * np.eye(p), X.T @ y / n)
    return 0.5 * np.mean((Xv @ w - yv) ** 2)


def reference() -> float:
    """the best validation loss of an independent scalar search (NumPy solves, scipy's bounded search)"""
    from scipy.optimize import minimize_scalar
    grid = np.linspace(-10, 5, 151)
    u0 = grid[int(np.argmin([value(u) for u in grid]))]
    return float(minimize_scalar(value, bounds=(u0 - 0.1, u0 + 0.1), method="bounded",
                                 options={"xatol": 1e-10}).fun)


def main(argv=None):
    prob = build()
    for backend in ("hypergradient", "bamm"):
        res = prob.solve(backend=backend, tol=1e-8)
        print(f"{backend}: {res.status}, validation loss {res.objective:.10f}, ridge weight "
              f"{prob.weights(res)[0]:.6g}, {res.iterations} iterations; {res.certificate}")
    print(f"reference (CVXPY cannot declare a bilevel program; a scalar search over NumPy ridge solves): "
          f"{reference():.10f}")


if __name__ == "__main__":
    main()
