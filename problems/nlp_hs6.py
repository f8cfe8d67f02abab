"""Hock-Schittkowski problem 6, a smooth equality-constrained NLP, on sketched_newton and sqp.

    min (1 - x1)^2   s.t.   10 (x2 - x1^2) = 0,      x0 = (-1.2, 1),  x* = (1, 1),  f* = 0

(Hock and Schittkowski, Test Examples for Nonlinear Programming Codes, 1981.) The problem
is declared with NumPy callables and hand-written derivatives: grad, the constraint's
Jacobian and the Hessian of the Lagrangian f + lam c; ``sl.NLP.check_derivatives``
compares them with finite differences first. The engine certifies the result by relative
stationarity |grad f + J^T lam| and feasibility |c(x)|; ``res.duals`` is lam.

The constraint is not convex, so CVXPY cannot declare it: the reference is scipy's SLSQP
(``reference()``), not CVXPY + Clarabel.
"""
from __future__ import annotations

import numpy as np

import solvelab as sl
from solvelab.problems.nlp import NLP

X0 = np.array([-1.2, 1.0])
#: the optimum is 0: objectives are compared relative to f(x0) = 4.84 instead
OBJECTIVE_SCALE = 4.84


def f(x):
    return (1 - x[0]) ** 2


def grad(x):
    return np.array([-2 * (1 - x[0]), 0.0])


def c(x):
    return np.array([10 * (x[1] - x[0] ** 2)])


def jac(x):
    return np.array([[-20 * x[0], 10.0]])


def hess(x, lam):
    """Hessian of the Lagrangian f + lam c."""
    return np.array([[2.0 - 20 * lam[0], 0.0], [0.0, 0.0]])


def build(seed=0):
    """HS6 as a solvelab NLP (``seed`` unused: the data are fixed)."""
    return getattr(sl, "NLP", NLP)(f, X0, eq=c, grad=grad, jac=jac, hess=hess)


def reference() -> float:
    """The optimal value scipy's SLSQP finds on the same instance."""
    from scipy.optimize import minimize
    res = minimize(f, X0, jac=grad, method="SLSQP", constraints=[{"type": "eq", "fun": c, "jac": jac}],
                   options={"ftol": 1e-14})
    return float(res.fun)


def main(argv=None):
    errors = NLP.check_derivatives(f, X0 + 0.1, grad=grad, c=c, jac=jac, hess=hess)
    print("derivative check (relative errors):", {k: f"{v:.1e}" for k, v in errors.items()})
    prob = build()
    for backend in ("sketched_newton", "sqp"):
        res = prob.solve(backend=backend, tol=1e-8, warm_start=False)
        print(f"{backend}: {res.status}, objective {res.objective:.3e}, x = {np.round(res.x, 8)}, "
              f"lam = {np.round(res.duals, 8)}, {res.iterations} iterations; {res.certificate}")
    print(f"reference (scipy SLSQP; CVXPY cannot declare this nonconvex constraint): {reference():.3e}")


if __name__ == "__main__":
    main()
