"""Bilevel programs: hyperparameters learned on a validation set, or levels in CVXPY.

    min_u f(u, w*(u))   where   w*(u) = argmin_w g(u, w)

``Bilevel(upper, lower, upper_vars, lower_vars)`` declares the levels with CVXPY
expressions (the lower one convex in w for fixed u, by DCP with u as a Parameter; every
upper variable must appear in it). The applications build the GLM node directly:

    hyperparameter_learning(X, y, X_val, y_val, loss="logistic", weights="feature")
        one ridge weight lam_j = exp(u_j) per feature (weights="single": one for all),
        learned by the validation loss (the benchopt bilevel benchmark's setting)
    data_hypercleaning(X, y, X_val, y_val)
        one weight s_i = sigmoid(u_i) per training sample, so that corrupted labels
        (``corrupt_labels``) can be weighted down by the validation loss

Solved by ``hypergradient`` (L-BFGS-B on the value function, implicit differentiation)
or ``bamm`` (single-loop averaged method of multipliers); the engine certifies the upper
stationarity by implicit differentiation at the returned point, the lower stationarity
and the lower value gap::

    prob = sl.problems.hyperparameter_learning(X, y, Xv, yv, loss="logistic")
    res = prob.solve(backend="hypergradient", tol=1e-6)
    prob.weights(res), res.values["w"], res.certificate

The value function is not convex in u in general: ``optimal`` certifies a stationary
point of it (as for the smooth NLPs), not a global minimum.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError
from ..families.bilevel import CVXPYBilevel, GLMBilevel
from ..ir.losses import sigmoid
from ..model.problem import Problem

__all__ = ["Bilevel", "hyperparameter_learning", "data_hypercleaning", "corrupt_labels"]


class BilevelProblem(Problem):
    """A bilevel problem (module docstring); ``values`` hold 'u' and 'w' (or the CVXPY
    variables' names for a declaration)."""

    @property
    def program(self):
        return self.compile()

    def weights(self, result=None) -> np.ndarray:
        """The hyperparameters the upper variables stand for, at ``result`` (or at u0):
        exp(u) for ridge weights, sigmoid(u) for sample weights."""
        p = self.program
        if not isinstance(p, GLMBilevel):
            raise InvalidDataError("weights() is for the GLM applications; read res.values for a CVXPY declaration")
        u = p.u0 if result is None else np.asarray(result.x[:p.q])
        return sigmoid(u) if p.weights == "sample" else np.exp(u)

    def validation_loss(self, result) -> float:
        """f(w) at the returned w (the upper objective, without re-solving the lower level)."""
        p = self.program
        u, w = p.split_x(result.x)
        return p.upper_value(u, w)

    def __repr__(self) -> str:
        return f"solvelab.Bilevel({self.program!r})"


def Bilevel(upper, lower, upper_vars, lower_vars, lower_constraints=None, upper_constraints=None) -> BilevelProblem:
    """min over ``upper_vars`` of ``upper`` where ``lower_vars`` minimize ``lower`` (CVXPY
    expressions; see the module docstring). Constraints are accepted in the declaration
    but the backends refuse them (no constrained-lower-level method yet)."""
    node = CVXPYBilevel(upper, lower, upper_vars, lower_vars, lower_constraints, upper_constraints)
    return BilevelProblem(program=node, variables=node.uv + node.wv)


def hyperparameter_learning(X_train, y_train, X_val, y_val, loss: str = "squared", weights: str = "feature",
                            upper_loss: str | None = None, u0=None, u_bounds="default") -> BilevelProblem:
    """Ridge weights learned on a validation set: lower (1/n) sum l(x_i^T w; y_i) +
    (1/2) sum_j exp(u_j) w_j^2, upper the mean validation loss. ``loss``: 'squared' or
    'logistic' (labels in {-1, 1} or {0, 1}); ``weights``: 'feature' (one per feature) or
    'single'; ``u0``: the starting log-weights (None: log of 0.1 x the mean squared
    column norm / n); ``u_bounds``: (lo, hi) on u, 'default' (within 1e12 of the data's
    scale) or None."""
    if weights not in ("feature", "single"):
        raise InvalidDataError(f"hyperparameter_learning: weights must be 'feature' or 'single', got {weights!r} "
                               f"(per-sample weights: data_hypercleaning)")
    node = GLMBilevel(X_train, y_train, X_val, y_val, loss=loss, upper_loss=upper_loss, weights=weights, u0=u0,
                      u_bounds=u_bounds)
    return BilevelProblem(program=node)


def data_hypercleaning(X_train, y_train, X_val, y_val, loss: str = "logistic", lam: float | None = None,
                       u0=None, u_bounds="default") -> BilevelProblem:
    """Per-sample weights s_i = sigmoid(u_i) of the training loss learned by the (clean)
    validation loss, with a fixed ridge weight ``lam`` (None: 1e-2 x the mean squared
    column norm / n): lower (1/n) sum s_i l(x_i^T w; y_i) + (lam/2)|w|^2."""
    node = GLMBilevel(X_train, y_train, X_val, y_val, loss=loss, weights="sample", lam=lam, u0=u0, u_bounds=u_bounds)
    return BilevelProblem(program=node)


def corrupt_labels(y, fraction: float = 0.5, seed: int = 0, classes=None):
    """(y with ``fraction`` of its labels replaced by a different class drawn at random,
    the boolean mask of the corrupted ones). Binary {-1, 1} labels are flipped."""
    y = np.asarray(y).copy()
    if not 0.0 <= float(fraction) <= 1.0:
        raise InvalidDataError(f"corrupt_labels: fraction must be in [0, 1], got {fraction!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    if classes.size < 2:
        raise InvalidDataError("corrupt_labels: the labels have a single class")
    idx = rng.choice(y.size, int(round(fraction * y.size)), replace=False)
    for i in idx:
        others = classes[classes != y[i]]
        y[i] = others[rng.integers(others.size)]
    mask = np.zeros(y.size, dtype=bool)
    mask[idx] = True
    return y, mask
