"""Rounding onto the transport polytope (Altschuler, Weed & Rigollet, NeurIPS 2017, Alg. 2).

An entropic solver's plan P meets its marginals only to a tolerance. ``round_plan`` maps
any nonnegative P to a plan of U(a, b) = {P >= 0 : P 1 = a, P^T 1 = b}, exactly (to
rounding):

    X = diag(min(a / P 1, 1)) P            rows scaled down to at most a
    Y = X diag(min(b / X^T 1, 1))          columns scaled down to at most b
    R = Y + e_r e_c^T / |e_r|_1,           e_r = a - Y 1 >= 0,  e_c = b - Y^T 1 >= 0

(|e_r|_1 = |e_c|_1 because sum a = sum b, so R 1 = a and R^T 1 = b.) The change is
bounded by the marginal error: |R - P|_1 <= 2 (|P 1 - a|_1 + |P^T 1 - b|_1), so
<C, R> - <C, P> <= 2 max|C| (|P 1 - a|_1 + |P^T 1 - b|_1) (their Lemma 7). With eps small
and the marginals tight, <C, R> approaches the exact (unregularized) OT cost from above:
R is feasible, so <C, R> >= the exact cost always.

``round_lazy`` does the same for the lazy point-cloud program without forming any n x m
array: the two diagonal scalings are shifts of the potentials (f += eps log min(a / r, 1),
g likewise), and the rank-one correction is kept as its two vectors (a ``RoundedPlan``);
its transport cost is exact in O((n + m) d) for the squared Euclidean cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InvalidDataError, ShapeError


def _ratio_down(target, have):
    """min(target / have, 1), and 1 where have = 0 (nothing to scale)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(have > 0, target / np.where(have > 0, have, 1.0), 1.0)
    return np.minimum(q, 1.0)


def round_plan(P, a, b) -> np.ndarray:
    """The AWR rounding of a nonnegative (n, m) plan P onto U(a, b) (a new array).

    ``a``, ``b``: nonnegative masses with equal totals. The result R has R 1 = a and
    R^T 1 = b to floating-point rounding, R >= 0, and |R - P|_1 <= 2 (|P 1 - a|_1 +
    |P^T 1 - b|_1)."""
    P = np.asarray(P, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if P.ndim != 2 or P.shape != (a.size, b.size):
        raise ShapeError(f"round_plan: the plan has shape {P.shape}, expected (len(a), len(b)) = ({a.size}, {b.size})")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise InvalidDataError("round_plan: the plan must be finite and nonnegative")
    if np.any(a < 0) or np.any(b < 0) or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InvalidDataError("round_plan: masses must be finite and nonnegative")
    sa, sb = float(a.sum()), float(b.sum())
    if abs(sa - sb) > 1e-9 * max(sa, sb):
        raise InvalidDataError(f"round_plan: the transport polytope needs equal total masses, got {sa:.12g} and {sb:.12g}")
    R = P * _ratio_down(a, P.sum(axis=1))[:, None]
    R *= _ratio_down(b, R.sum(axis=0))[None, :]
    er = np.maximum(a - R.sum(axis=1), 0.0)
    ec = np.maximum(b - R.sum(axis=0), 0.0)
    s = float(er.sum())
    if s > 0:
        R += np.outer(er, ec / s)
    return R


@dataclass
class RoundedPlan:
    """The AWR-rounded plan of a lazy point-cloud program, in O(n + m) numbers:

        R_ij = exp((f_i + g_j - C_ij) / eps) + u_i v_j / s    (on the support of a, b)

    ``f``, ``g``, ``u``, ``v`` are support-sized (``program.ri``, ``program.ci``)."""
    program: object
    f: np.ndarray
    g: np.ndarray
    u: np.ndarray
    v: np.ndarray
    s: float

    def _rank_one_cost(self) -> float:
        """sum_ij u_i v_j |x_i - y_j|^2 / s, expanded around the clouds' common mean."""
        if self.s <= 0:
            return 0.0
        p = self.program
        X, Y = p.XT.T, p.YT.T
        mu = (X.sum(axis=0) + Y.sum(axis=0)) / (X.shape[0] + Y.shape[0])
        Xc, Yc = X - mu, Y - mu
        su, sv = float(self.u.sum()), float(self.v.sum())
        val = (float(self.u @ (Xc * Xc).sum(axis=1)) * sv + su * float(self.v @ (Yc * Yc).sum(axis=1))
               - 2.0 * float((Xc.T @ self.u) @ (Yc.T @ self.v)))
        return max(val, 0.0) / self.s

    def transport_cost(self) -> float:
        """<C, R>: one pass over the Gibbs part, the rank-one part in closed form."""
        st = self.program.stats_support(self.f, self.g)
        return st["transport_cost"] + self._rank_one_cost()

    def marginals(self):
        """(R 1, R^T 1) on the full index range, recomputed (one pass)."""
        p = self.program
        st = p.stats_support(self.f, self.g)
        r = np.zeros(p.a.size)
        c = np.zeros(p.b.size)
        k = 1.0 / self.s if self.s > 0 else 0.0
        r[p.ri] = st["rows"] + self.u * (float(self.v.sum()) * k)
        c[p.ci] = st["cols"] + self.v * (float(self.u.sum()) * k)
        return r, c

    def violation(self) -> float:
        """(|R 1 - a|_1 + |R^T 1 - b|_1) / sum(a), recomputed."""
        p = self.program
        r, c = self.marginals()
        return float((np.abs(r - p.a).sum() + np.abs(c - p.b).sum()) / p.a.sum())

    def block(self, i0: int = 0, i1: int | None = None) -> np.ndarray:
        """Rows i0:i1 of R, dense (zero rows / columns off the support)."""
        p = self.program
        n, m = p.shape
        i1 = n if i1 is None else int(i1)
        x = p.point(self.f, self.g)
        out = p.plan_block(x, i0, i1)
        if self.s > 0:
            u = np.zeros(n)
            v = np.zeros(m)
            u[p.ri], v[p.ci] = self.u, self.v
            out += np.outer(u[i0:i1], v / self.s)
        return out

    def toarray(self) -> np.ndarray:
        """All of R, dense (small problems only)."""
        return self.block(0, None)


def round_lazy(program, x) -> RoundedPlan:
    """The AWR rounding of the Gibbs plan at the lazy program's point x = [f; g]:
    three log-sum-exp passes (rows, columns, rows), no n x m array."""
    p = program
    eps = p.eps
    f, g = p.potentials(x)
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(g))):
        raise InvalidDataError("round_lazy: the potentials must be finite")
    with np.errstate(divide="ignore", over="ignore"):
        r = np.exp(f / eps + p.c_transform_rows(g))
        f1 = f + eps * np.log(_ratio_down(p.a_s, r))
        c = np.exp(g / eps + p.c_transform_cols(f1))
        qc = _ratio_down(p.b_s, c)
        g1 = g + eps * np.log(qc)
        r1 = np.exp(f1 / eps + p.c_transform_rows(g1))
    c1 = c * qc               # scaling a column scales its sum
    u = np.maximum(p.a_s - r1, 0.0)
    v = np.maximum(p.b_s - c1, 0.0)
    return RoundedPlan(p, f1, g1, u, v, float(u.sum()))
