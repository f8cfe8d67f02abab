"""Shared oracle helpers for the OT backend tests: instances, POT's plan, the entropic
objective and an independent recheck of a returned plan's certificate."""
import numpy as np
import ot
import pytest
from scipy.special import xlogy

from solvelab.ir.forms import match
from solvelab.families.ot import dual_value
from solvelab.problems import entropic_ot, grid_cost


def ot_instance(seed=0, n=12, m=9, zero_rows=(), zero_cols=()):
    """Random marginals (with the given entries set to zero) and a squared-distance cost."""
    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.05
    b = rng.random(m) + 0.05
    a[list(zero_rows)] = 0.0
    b[list(zero_cols)] = 0.0
    a /= a.sum()
    b /= b.sum()
    C = ot.dist(rng.normal(size=(n, 2)), rng.normal(size=(m, 2)))
    return a, b, C


def grid_instance(seed, d, floor=0.05):
    """Random marginals (each entry >= floor before normalizing) on a d x d grid, with the
    squared grid distance as the cost."""
    rng = np.random.default_rng(seed)
    a = rng.random(d * d) + floor
    b = rng.random(d * d) + floor
    return a / a.sum(), b / b.sum(), grid_cost(d)


def pot_plan(a, b, C, eps, max_iter=500000):
    with np.errstate(divide="ignore"):  # POT takes log(0) on zero masses
        return ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", stopThr=1e-15, numItermax=max_iter)


def entropic_objective(P, C, eps):
    return float(np.sum(C * P) + eps * np.sum(xlogy(P, P)))


def recheck_plan(res, a, b, C, eps, tol, P=None):
    """The certificate rechecked from the returned plan and potentials, independently:
    marginal violation, and the gap to the dual value of the potentials (a lower bound
    by weak duality)."""
    P = res.values["P"] if P is None else P
    assert P.shape == C.shape and np.all(np.isfinite(P)) and P.min() >= 0
    viol = (np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()) / a.sum()
    assert viol <= tol
    assert res.certificate.marginal_violation == pytest.approx(viol, rel=1e-6, abs=1e-15)
    view = match(entropic_ot(a, b, C, eps).program, "EntropicOT")
    f, g = res.duals
    prim = entropic_objective(P, C, eps)
    dual = dual_value(view, f, g)
    assert abs(prim - dual) / max(abs(prim), abs(dual)) <= 10 * tol  # relative: no floor
    return prim
