"""The OT certificate: primal value, dual value at potentials, marginal violation and gap.

Backends return potentials in the convention ``P_ij = exp((f_i + g_j - C_ij) / eps)``
(balanced) or ``P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)`` (unbalanced); everything
else is recomputed here from the returned plan. ``view`` is anything with the OT data
(``a``, ``b``, ``C``, ``CT``, ``eps``, ``kind``, ``rho``, ``constant``, ``shape``, ``plan``):
the program node or one of its forms.
"""
from __future__ import annotations

import numpy as np

from ...result import Certificate, Measure


def _parts(CT, PT):
    from ...kernels import ot as K
    parts = np.zeros((K.n_chunks(CT.shape[0]), 5))
    K.plan_objective_parts(CT, PT, parts)
    return parts.sum(axis=0)


def _xlogy_sum(x, y) -> float:
    from scipy import special
    return float(np.sum(special.xlogy(x, x) - special.xlogy(x, y) - x + y))


_TINY = float(np.finfo(np.float64).tiny)


def primal_value(view, x):
    """(objective, row sums, column sums, negative mass, bad) of the flat plan x."""
    n, m = view.a.size, view.b.size
    PT = np.asarray(x, dtype=np.float64).reshape(m, n)
    cp_, ent, mass, neg, bad = _parts(view.CT, PT)
    r = PT.sum(axis=0)
    c = PT.sum(axis=1)
    if bad > 0 or neg > 0:
        return float("inf"), r, c, neg, bad
    eps = view.eps
    if view.kind == "balanced":
        val = cp_ + eps * ent + view.constant
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.any((r > 0) & (view.a == 0)) or np.any((c > 0) & (view.b == 0)):
                return float("inf"), r, c, neg, bad
            la = np.where(view.a > 0, np.log(np.where(view.a > 0, view.a, 1.0)), 0.0)
            lb = np.where(view.b > 0, np.log(np.where(view.b > 0, view.b, 1.0)), 0.0)
        kl_plan = ent - float(r @ la) - float(c @ lb) - mass + float(view.a.sum() * view.b.sum())
        val = (cp_ + eps * kl_plan + view.rho * (_xlogy_sum(r, view.a) + _xlogy_sum(c, view.b))
               + view.constant)
    return float(val), r, c, neg, bad


def improve_potentials(view, f, g, rounds: int = 1):
    """Exact block-coordinate updates (g, then f) of the dual: they only raise it."""
    from ...kernels import ot as K
    eps = view.eps
    inv = 1.0 / eps
    f = np.array(f, dtype=np.float64)
    g = np.array(g, dtype=np.float64)
    out_m, out_n = np.empty(g.size), np.empty(f.size)
    with np.errstate(divide="ignore"):
        la, lb = np.log(view.a), np.log(view.b)
    for _ in range(rounds):
        if view.kind == "balanced":
            K.lse_rows_shift(view.CT, f, inv, out_m)
            g = eps * (lb - out_m)
            K.lse_rows_shift(view.C, g, inv, out_n)
            f = eps * (la - out_n)
        else:
            k = view.rho / (view.rho + eps)
            K.lse_rows_shift(view.CT, f + eps * la, inv, out_m)
            g = -k * eps * out_m
            K.lse_rows_shift(view.C, g + eps * lb, inv, out_n)
            f = -k * eps * out_n
    return f, g


def dual_value(view, f, g) -> float:
    """The dual objective at potentials (f, g) in the backends' convention (a lower bound)."""
    from ...kernels import ot as K
    eps = view.eps
    a, b = view.a, view.b
    out = np.empty(a.size)
    if view.kind == "balanced":
        K.lse_rows(view.C, f, g, 1.0 / eps, out)
        S = float(np.sum(np.exp(out)))
        lin = float(np.dot(a[a > 0], f[a > 0]) + np.dot(b[b > 0], g[b > 0]))
        return lin + eps * float(a.sum()) - eps * S + view.constant
    with np.errstate(divide="ignore"):
        la, lb = np.log(a), np.log(b)
    K.lse_rows(view.C, f + eps * la, g + eps * lb, 1.0 / eps, out)
    S = float(np.sum(np.exp(out)))
    rho = view.rho
    with np.errstate(over="ignore"):
        ta = rho * float(np.dot(a[a > 0], 1.0 - np.exp(-f[a > 0] / rho)))
        tb = rho * float(np.dot(b[b > 0], 1.0 - np.exp(-g[b > 0] / rho)))
    return ta + tb - eps * (S - float(a.sum() * b.sum())) + view.constant


def _potentials_from_plan(view, x):
    """Potentials when a backend returned no duals. Unbalanced: the optimality conditions
    of the KL marginal terms fix them from the plan's marginals r, c (r = a e^{-f/rho},
    so f = -rho log(r / a), and g alike). Balanced: a starting f, the row-wise log-plan
    average (the exact dual update that follows does the rest)."""
    n, m = view.shape
    P = view.plan(x)
    if view.kind != "balanced":
        with np.errstate(divide="ignore", invalid="ignore"):
            f = -view.rho * np.log(P.sum(axis=1) / view.a)
            g = -view.rho * np.log(P.sum(axis=0) / view.b)
        return np.where(np.isfinite(f), f, 0.0), np.where(np.isfinite(g), g, 0.0)
    import warnings
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-zero rows: "mean of empty slice"
        L = np.where(P > 0, view.eps * np.log(np.where(P > 0, P, 1.0)) + view.C, np.nan)
        f = np.nanmean(L, axis=1)
    f = np.where(np.isfinite(f), f, 0.0)
    return f, np.zeros(m)


def certify_plan(view, x, duals) -> Certificate:
    """Marginal violation (balanced) and primal–dual gap of the entropic problem at x.

    marginal_violation  (||P1 - a||_1 + ||P^T 1 - b||_1 + negative mass) / sum(a)  (balanced)
    negative_mass       negative mass / sum(a)                                     (unbalanced)
    gap              |primal(P) - dual(f, g)| / max(|primal|, |dual|) (PDLP's relative gap,
                     no absolute floor, so costs in any unit are judged alike), where (f, g) are
                     the returned potentials after one exact dual block update each (which
                     can only raise the dual, so the gap stays an upper bound on suboptimality
                     of a feasible P).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (view.a.size * view.b.size,) or not np.all(np.isfinite(x)):
        return _ot_certificate(view, float("inf"), float("inf"))
    prim, r, c, neg, bad = primal_value(view, x)
    scale = float(view.a.sum())
    if bad > 0:
        return _ot_certificate(view, float("inf"), float("inf"))
    if view.kind == "balanced":
        viol = (float(np.abs(r - view.a).sum()) + float(np.abs(c - view.b).sum()) + neg) / scale
    else:
        viol = neg / scale
    if neg > 0:
        return _ot_certificate(view, viol, float("inf"))
    f = g = None
    if duals is not None and len(duals) == 2:
        f0, g0 = (np.asarray(d, dtype=np.float64).ravel() for d in duals)
        if f0.shape == view.a.shape and g0.shape == view.b.shape:
            f, g = f0, g0
    if f is None:
        f, g = _potentials_from_plan(view, x)
    f = np.where(np.isnan(f), -np.inf, f)
    f, g = improve_potentials(view, f, g)
    dual = dual_value(view, f, g)
    gap = float("inf")   # no finite primal or dual value: nothing is certified
    if np.isfinite(prim) and np.isfinite(dual):
        gap = abs(prim - dual) / max(abs(prim), abs(dual), _TINY)
    return _ot_certificate(view, viol, gap, dual)


def _ot_certificate(view, violation: float, gap: float, dual=None, primal=None) -> Certificate:
    """The OT family's named measures: the marginal violation (balanced) or negative mass
    (unbalanced), and the relative primal-dual gap; both compared with tol. ``primal``: the
    primal value when the caller computed it (the lazy program: the engine then needs no
    further pass over the plan)."""
    if view.kind == "balanced":
        first = Measure("marginal_violation", violation, "(|P1 - a|_1 + |P^T 1 - b|_1) / sum(a)")
    else:
        first = Measure("negative_mass", violation, "mass of the negative plan entries / sum(a)")
    gap_m = Measure("gap", gap, "|primal - dual| / max(|primal|, |dual|) at the improved potentials")
    return Certificate.from_measures("ot_marginal+gap", [first, gap_m], dual_objective=dual,
                                     primal_objective=primal)
