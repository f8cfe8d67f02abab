"""The metric family's certificate, recomputed from X and the triangle multipliers.

Pairs are i < j. With G = A^T z (``+z`` at (i, j), ``-z`` at (i, k) and (k, j) for each
row (i, j, k) of ``triangles``) and the objective written over pairs, sum_p f_p(x_p):

    l2   f_p = w2_p (x_p - d_p)^2      dual  sum_p G_p d_p - G_p^2 / (4 w2_p)
    l1   f_p = w2_p |x_p - d_p|        dual  s sum_p G_p d_p, s = min(1, min_p w2_p / |G_p|)
                                       (z scaled into the dual domain |G| <= w2)
    lp   f_p = c_p x_p, 0 <= x_p <= 1  dual  const + sum_p min(0, c_p + G_p)

(w2 = 2 W: the user's objective sums over the full matrix). Each is the Lagrangian
minimized over x for multipliers z >= 0, so it is a lower bound for any z; no
multiplier of a box or epigraph constraint is needed. With pair bounds lo_p <= x_p <=
hi_p (l2, metric learning) the bounded pairs' terms are minimized over their interval
instead: w2 (x - d)^2 + G x at x = clip(d - G / (2 w2), lo, hi) (``bounds_correction``).

    max_triangle_violation  max over ALL triangles (X_ij - X_ik - X_kj)_+ / scale
    structure_violation     max(|X - X^T|, |diag X|, (-X)_+, lp: (X - 1)_+,
                            bounds: (x - hi)_+, (lo - x)_+) / scale
    relative_gap            |primal - dual| / max(|primal|, |dual|)

scale is max |D| (l2, l1) or 1 (lp: X is in the unit box), so a rescaled D gives the
same verdict.
"""
from __future__ import annotations

import numpy as np

from ...result import Certificate, Measure

_TINY = float(np.finfo(np.float64).tiny)


def _triangles(duals, n: int):
    """(tri (t, 3) int64, z (t,)) from the backend's duals, or None when unusable."""
    if duals is None or len(duals) != 2:
        return None
    tri = np.ascontiguousarray(np.asarray(duals[0]), dtype=np.int64).reshape(-1, 3)
    z = np.ascontiguousarray(np.asarray(duals[1], dtype=np.float64)).ravel()
    if tri.shape[0] != z.size or not np.all(np.isfinite(z)) or np.any(z < 0):
        return None
    if tri.size and (tri.min() < 0 or tri.max() >= n):
        return None
    i, j, k = tri.T
    if np.any(i >= j) or np.any(k == i) or np.any(k == j):
        return None
    return tri, z


def adjoint(n: int, tri, z) -> np.ndarray:
    """G = A^T z on the upper triangle (an (n, n) array, zero elsewhere)."""
    from ...kernels import metric as K
    G = np.empty((n, n))
    K.scatter_adjoint(n, tri, z, tri.shape[0], G)
    return G


def primal_value(view, X) -> float:
    """The objective at X (upper triangle read), constant included."""
    iu = np.triu_indices(view.n, 1)
    x = X[iu]
    if view.kind == "lp":
        return float(view.c[iu] @ x) + view.constant
    d, w2 = view.D[iu], view.w2[iu]
    r = x - d
    val = float(w2 @ (r * r)) if view.kind == "l2" else float(w2 @ np.abs(r))
    return val + view.constant


def bounds_correction(view, G) -> float:
    """What the bounded pairs add to the l2 dual: sum over them of min over [lo, hi] of
    w2 (x - d)^2 + G x, less the unbounded minimum G d - G^2 / (4 w2) (>= 0). G: the
    (n, n) A^T z (upper triangle read)."""
    b = getattr(view, "bounds", None)
    if b is None:
        return 0.0
    bi, bj, lo, hi = b
    g, d, w = G[bi, bj], view.D[bi, bj], view.w2[bi, bj]
    x = np.clip(d - g / (2.0 * w), lo, hi)
    return float((w * (x - d) ** 2 + g * x - (g * d - g * g / (4.0 * w))).sum())


def dual_value(view, tri, z) -> float:
    """The Lagrangian dual at multipliers z >= 0 of the triangle rows (a lower bound)."""
    n = view.n
    iu = np.triu_indices(n, 1)
    G = adjoint(n, tri, z)[iu]
    if view.kind == "lp":
        return float(np.minimum(0.0, view.c[iu] + G).sum()) + view.constant
    d, w2 = view.D[iu], view.w2[iu]
    if view.kind == "l2":
        return float(G @ d - (G * G / (4.0 * w2)).sum()) + bounds_correction(view, adjoint(n, tri, z)) + \
            view.constant
    ratio = np.abs(G) / w2
    s = 1.0 / max(1.0, float(ratio.max(initial=0.0)))
    return s * float(G @ d) + view.constant


def _values(view, X, tri, z) -> tuple:
    """(primal, dual) in one Numba pass over the pairs (the same formulas as above)."""
    from ...kernels import metric as K
    n = view.n
    G = adjoint(n, tri, z)
    Xs = np.ascontiguousarray(X)
    C = view.c if view.kind == "lp" else G
    prim, dual = K.pair_values(K.KIND_CODES[view.kind], Xs, view.D, view.w2, C, G)
    return prim + view.constant, dual + bounds_correction(view, G) + view.constant


def violations(view, X) -> tuple:
    """(max triangle violation, structure violation), both divided by ``view.scale``."""
    from ...kernels import metric as K
    scale = max(view.scale, _TINY)
    S = np.ascontiguousarray(0.5 * (X + X.T))
    np.fill_diagonal(S, 0.0)
    tri_v = float(K.max_violation(S)) / scale
    struct = max(float(np.max(np.abs(X - X.T))), float(np.max(np.abs(np.diag(X)))),
                 float(np.max(-X, initial=0.0)))
    if view.kind == "lp":
        struct = max(struct, float(np.max(X - 1.0, initial=0.0)))
    b = getattr(view, "bounds", None)
    if b is not None:
        bi, bj, lo, hi = b
        x = S[bi, bj]
        struct = max(struct, float(np.max(x - hi, initial=0.0)), float(np.max(lo - x, initial=0.0)))
    return tri_v, struct / scale


def certify_metric(view, x, duals) -> Certificate:
    """The three measures above at the flat X (x) and duals = [triangles, multipliers]."""
    n = view.n
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (n * n,) or not np.all(np.isfinite(x)):
        return _certificate(float("inf"), float("inf"), float("inf"))
    X = x.reshape(n, n)
    tri_v, struct = violations(view, X)
    td = _triangles(duals, n)
    if td is None:
        return _certificate(tri_v, struct, float("inf"), primal=primal_value(view, X))
    prim, dual = _values(view, X, *td)
    gap = abs(prim - dual) / max(abs(prim), abs(dual), _TINY)
    return _certificate(tri_v, struct, gap, dual, prim)


def _certificate(tri_v, struct, gap, dual=None, primal=None) -> Certificate:
    ms = [Measure("max_triangle_violation", tri_v, "max over all triangles (X_ij - X_ik - X_kj)_+ / scale"),
          Measure("structure_violation", struct, "asymmetry, diagonal, sign (and box / pair bound) violation of "
                                                 "X / scale"),
          Measure("relative_gap", gap, "|primal - dual| / max(|primal|, |dual|), dual from the triangle "
                                       "multipliers")]
    return Certificate.from_measures("metric_violation+gap", ms, dual_objective=dual, primal_objective=primal)
