"""The SparseGLM certificate, recomputed from x alone on the original data (the engine
judges by it; the cd backend stops on ``evaluate``):

  * for convex penalties without unpenalized unbounded coordinates: the duality gap at
    the rescaled dual point nu = scale * grad h(A x) (Fercoq et al. 2015, Massias et al.
    2018), relative to max(|P|, |D|) like the engine's generic certificate (and, for a
    tiny optimal value, sqrt(gap / datafit(0))), together with the KKT residual below
    (both must meet tol);
  * otherwise (MCP/SCAD, unpenalized coordinates): the KKT residual, the largest
    distance of -grad_j to the subdifferential of pen_j at x_j (Frechet for the
    nonconvex penalties), relative to the largest of ||grad||_inf, the gradient at x = 0
    and the penalty weights (no absolute floor: scaling the objective changes nothing).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir import losses
from ...result import Certificate
from .data import GLMData
from .scalars import _chunks, _pen_conj, kkt_distances, relative


@dataclass
class Evaluation:
    """Everything measured at one point x (see ``SparseGLM.evaluate``)."""
    primal: float
    grad: np.ndarray
    deriv: np.ndarray
    kkt_scores: np.ndarray
    kkt: float
    gap_abs: float | None
    dual: float | None
    scale: float | None
    rel_gap: float | None
    violation: float = 0.0
    #: what the KKT scores are relative to (|grad|, the gradient at 0, penalty weights)
    grad_scale: float = 1.0

    @property
    def value(self) -> float:
        """The stopping measure: max(relative gap, relative KKT residual), or the KKT alone."""
        return max(self.rel_gap, self.kkt) if self.rel_gap is not None else self.kkt


class GLMCertificate:
    """The certificate half of ``SparseGLM`` (a mixin over the form's fields and data)."""

    def _plain_l1(self) -> bool:
        """No ridge and no bounds on any ungrouped coordinate (cached)."""
        hit = self.__dict__.get("_plain_l1_flag")
        if hit is None:
            hit = self.__dict__["_plain_l1_flag"] = bool(np.all(self.r == 0) and np.all(np.isinf(self.lo))
                                                          and np.all(np.isinf(self.hi)))
        return hit

    def gap_available(self) -> bool:
        """The rescaled-dual gap applies: convex penalty, and every coordinate that needs
        rescaling (no ridge, an unbounded side) carries a positive l1 (or group) weight.
        (Cached: a view's arrays do not change after it is built.)"""
        hit = self.__dict__.get("_gap_available")
        if hit is None:
            hit = self.__dict__["_gap_available"] = self._gap_available()
        return hit

    def _gap_available(self) -> bool:
        if self.pkind != losses.CONVEX or self.data_term is None:
            return self.pkind == losses.CONVEX and self.data_term is None
        ing = np.zeros(self.n, dtype=bool)
        if self.groups:
            gi, _, gw, _ = self.group_index()
            if np.any(gw <= 0):
                return False
            ing[gi] = True
        free = (~ing) & (self.r == 0) & (self.w1 == 0) & ~(np.isfinite(self.lo) & np.isfinite(self.hi))
        return not np.any(free)

    def evaluate(self, x: np.ndarray, u: np.ndarray | None = None, D: GLMData | None = None,
                 want_gap: bool = True, fast=None) -> Evaluation:
        """Objective, gradient, KKT scores and (where available) the rescaled-dual gap.

        ``fast``: optional pair of callables (value_and_deriv(u) -> (value, d),
        conj_sum(d, scale) -> float, or None for the NumPy sum) a backend may pass to
        compute the per-sample sums in compiled code; the certificate itself always uses
        the NumPy formulas here."""
        D = self.data() if D is None else D
        x = np.asarray(x, dtype=np.float64)
        if u is None:
            u = D.matvec(x) if D.m else np.zeros(0)
        if fast is not None and D.m:
            fval, d = fast[0](u)
        else:
            fval, d = self.datafit_value(D, u), self.deriv(D, u)
        g = D.rmatvec(d) if D.m else np.zeros(self.n)
        if fast is None and self.needs_origin(u):
            self.note_origin(g, fval)
        P = fval + self.penalty_value(x)
        scores = kkt_distances(self.pkind, x, g, self.w1, self.r, self.lo, self.hi, self.gamma)
        ng = None
        if self.groups:
            # dist(-g_G, w_G d||x_G||) / sqrt(|G|) for every group at once
            gi, gp, gw, sizes = self.group_index()
            xg, gg = x[gi], g[gi]
            nx = np.sqrt(np.add.reduceat(xg * xg, gp[:-1]))
            ng = np.sqrt(np.add.reduceat(gg * gg, gp[:-1]))
            inv = np.where(nx > 0, gw / np.where(nx > 0, nx, 1.0), 0.0)
            dist_nz = np.sqrt(np.add.reduceat((gg + np.repeat(inv, sizes) * xg) ** 2, gp[:-1]))
            dist = np.where(nx > 0, dist_nz, np.maximum(ng - gw, 0.0))
            scores[gi] = np.repeat(dist / np.sqrt(sizes), sizes)
        # (ndarray methods rather than np.max: the wrappers cost a microsecond each, which
        # adds up on small problems solved in a fraction of a millisecond)
        gscale = max(float(np.abs(g).max(initial=0.0)), self._origin_scale(D))
        kkt = relative(float(scores.max(initial=0.0)), gscale)
        violation = float(np.maximum(self.lo - x, 0.0).max(initial=0.0)
                          + np.maximum(x - self.hi, 0.0).max(initial=0.0))
        gap_abs = dual = scale = rel = None
        if want_gap and self.gap_available():
            scale = 1.0
            w1, r, lo, hi = self.w1, self.r, self.lo, self.hi
            if self.groups:
                gi, _, gw, _ = self.group_index()
                over = ng > gw
                if np.any(over):
                    scale = min(scale, float(np.min(gw[over] / ng[over])))
                out = np.ones(self.n, dtype=bool)
                out[gi] = False
                gg, w1, r, lo, hi = g[out], w1[out], r[out], lo[out], hi[out]
            else:
                gg = g
            # coordinates whose dual constraint |g_j| <= w1_j binds (no ridge, unbounded side)
            ratio = np.abs(gg)
            side = np.where(gg < 0, hi, lo)          # -g > w1 needs hi = inf; -g < -w1, lo = -inf
            bind = (r == 0) & (ratio > w1) & ~np.isfinite(side)
            if bind.any():
                scale = min(scale, float((w1[bind] / ratio[bind]).min()))
            conj = fast[1] if fast is not None and D.m else None
            dual = -(conj(d, scale) if conj is not None else self._conj_datafit(D, d, scale))
            if self._plain_l1():
                # conjugate of sum w1 |x|: 0 inside the box |v| <= w1, +inf outside
                ok = bool((np.abs(scale * gg) <= w1 * (1 + 1e-12)).all())
                dual = dual if ok else -np.inf
            else:
                dual -= _pen_conj(-scale * gg, w1, r, lo, hi)
            if np.isfinite(dual):
                gap_abs = max(P - dual, 0.0)
                Pc = P + float(self.program.constant)
                Dc = dual + float(self.program.constant)
                rel = relative(gap_abs, max(abs(Pc), abs(Dc)))
                f0 = self._origin_value(D)
                if f0 > 0.0:  # a tiny optimal value (an exact fit): the residual's accuracy
                    rel = min(rel, float(np.sqrt(gap_abs / f0)))
            else:
                dual = None
        return Evaluation(P + float(self.program.constant), g, d, scores, kkt, gap_abs,
                          None if dual is None else dual + float(self.program.constant), scale, rel, violation,
                          gscale)

    def _origin_scale(self, D) -> float:
        """The size the KKT scores are relative to, besides |grad|: the gradient of the
        datafit at x = 0 (OSQP's |q|) and the largest penalty weight. Cached per view."""
        hit = self.__dict__.get("_origin")
        if hit is None:
            hit = self.__dict__["_origin"] = self._origin(D)
        return hit[0]

    def needs_origin(self, u) -> bool:
        """Whether a check at u = A x should hand its gradient and value to ``note_origin``:
        the origin is not known yet and u = 0 (a cold start's first check)."""
        return "_origin" not in self.__dict__ and u.size > 0 and not u.any()

    def note_origin(self, g, fval) -> None:
        """The datafit's gradient g and value fval at u = 0 are the origin's: keep them rather
        than pay ``_origin``'s own pass over the data. A caller passes them computed by the
        formulas ``_origin`` uses, after ``needs_origin``."""
        self.__dict__["_origin"] = _origin_from(g, fval, self.w1)

    def _origin_value(self, D) -> float:
        self._origin_scale(D)
        return self.__dict__["_origin"][1]

    def _origin(self, D):
        """(scale of the gradient at x = 0 and of the penalty weights, |datafit(0)|)."""
        if not D.m:
            return float(np.abs(self.w1).max(initial=0.0)), 0.0
        u0 = np.zeros(D.m)
        return _origin_from(D.rmatvec_recurring(self.deriv(D, u0)), self.datafit_value(D, u0), self.w1)

    def _conj_datafit(self, D, d, scale):
        """sum_i h_i^*(scale d_i); with a linear part, h_i = g_i + lin_i u + const and
        h_i^*(v) = g_i^*(v - lin_i) - const."""
        if D.m == 0:
            return 0.0
        if self.lin is not None:
            return self._conj_plain(D, scale * d - self.lin, 1.0) - self.lin_const
        return self._conj_plain(D, d, scale)

    def _conj_plain(self, D, d, scale):
        s, b = D.s, D.b
        if D.__dict__.get("_unit_s") is None:
            D.__dict__["_unit_s"] = bool(np.all(s == 1.0))
        out = 0.0
        for sl in _chunks(D.m):
            out += self._conj_chunk(d[sl], scale, s[sl], b[sl], D._unit_s)
            if out == np.inf:
                break
        return out

    def _conj_chunk(self, d, scale, s, b, unit_s):
        c = self.c
        if unit_s:                             # the common case, without the masks below
            v = scale * d
            return float(np.dot(v, b)) + c * losses.conj_sum(self.dkind, v / c, self.dpar)
        zero = s == 0
        if np.any(zero & (d != 0)):
            return np.inf
        out = -c * float(np.sum(losses.value(self.dkind, -b[zero], self.dpar)))
        nz = ~zero
        v = scale * d[nz]
        out += float(np.sum(v * b[nz] / s[nz])) + c * losses.conj_sum(self.dkind, v / (c * s[nz]), self.dpar)
        return out

    def duals(self, x) -> list:
        """One dual vector per program term at x, with sum_i A_i^T y_i = 0 exactly: the
        smooth terms get their gradients, penalties and bounds share -grad (a bound
        overlapping a penalty takes what the penalty's subdifferential leaves)."""
        comp, prog = self.composite, self.program
        x = np.asarray(x, dtype=np.float64)
        index = {id(t): i for i, t in enumerate(prog.terms)}
        out = [None] * len(prog.terms)
        g = np.zeros(self.n)
        for t in comp.smooth:
            y = t.grad(t.residual(x))
            out[index[id(t)]] = y
            g += t.A.rmatvec(y)
        owner = np.full(self.n, -1, dtype=np.int64)
        pos = np.full(self.n, -1, dtype=np.int64)
        piece_y = []
        for k, pc in enumerate(comp.pieces):
            owner[pc.idx] = k
            pos[pc.idx] = np.arange(pc.idx.size)
            piece_y.append(-g[pc.idx])
        for cl in comp.clips:
            yc = -g[cl.idx]
            ow = owner[cl.idx]
            for k in np.unique(ow[ow >= 0]):
                pc = comp.pieces[k]
                kpos = np.nonzero(ow == k)[0]
                try:
                    proj = pc.term.project_subdifferential(x[pc.idx] - pc.term.b, -g[pc.idx])
                except NotImplementedError:
                    continue
                ppos = pos[cl.idx[kpos]]
                piece_y[k][ppos] = proj[ppos]
                yc[kpos] = -g[cl.idx[kpos]] - proj[ppos]
            out[index[id(cl.term)]] = yc
        for pc, y in zip(comp.pieces, piece_y):
            out[index[id(pc.term)]] = y
        return [np.zeros(t.m) if y is None else y for t, y in zip(prog.terms, out)]

    def certify(self, x, duals=None) -> Certificate:
        """Certificate recomputed from x on the original data (see the module doc)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n,) or not np.isfinite(x).all():
            return Certificate(float("inf"), float("inf"), float("inf"), None, None, "kkt")
        ev = self.evaluate(x)
        bounds = np.concatenate([self.lo[np.isfinite(self.lo)], self.hi[np.isfinite(self.hi)]])
        scale = max(float(np.abs(x).max(initial=0.0)), float(np.abs(bounds).max(initial=0.0)))
        rp = relative(ev.violation, scale)
        if ev.rel_gap is not None:
            # the dual point is built exactly (rescaled gradient), so the dual residual is
            # zero by construction; the gap and the KKT residual are both required
            return Certificate(primal_residual=rp, dual_residual=0.0, subgradient_residual=ev.kkt,
                               gap=ev.rel_gap, dual_objective=self.program.sign * ev.dual, kind="kkt+gap",
                               primal_objective=ev.primal)
        return Certificate(primal_residual=rp, dual_residual=0.0, subgradient_residual=ev.kkt,
                           gap=None, dual_objective=None, kind="kkt", primal_objective=ev.primal)


def _origin_from(g0, f0, w1):
    """``_origin`` from the datafit's gradient g0 and value f0 at u = A x = 0."""
    scale = max(float(np.abs(g0).max(initial=0.0)), float(np.abs(w1).max(initial=0.0)))
    f0 = abs(float(f0))
    return scale, f0 if np.isfinite(f0) else 0.0
