"""The box Lasso of Dinkelbach's inner problems, finished by Newton steps on the support.

    min_x 1/2 |G x - y|^2 + c^T x + sum_i lam_i |x_i|   over lo <= x <= hi

Cyclic CD (``kernels.fractional.lasso_box_cd``) finds the support and signs in few
epochs but converges slowly on correlated columns (madelon needs thousands of epochs per
solve). So CD runs in bursts; after each burst that has not converged, one Newton step
on the free support S (x_i != 0, strictly inside its bounds) with the signs sigma fixed:

    d = -(G_S^T G_S + mu I)^{-1} (G_S^T r + c_S + lam_S sigma_S),   r = G x - y

(mu = 1e-12 of the largest diagonal entry, so a rank-deficient S still gives a descent
direction), then the exact minimizer of the quadratic along d, cut at the first entry
that reaches 0 or a bound (set exactly there). Every step lowers the objective, so the
scheme is monotone like CD; it stops when a CD burst meets the KKT test of
``lasso_box_cd``, or when the support holds a flat descent direction (G d = 0) that no
sign change or bound cuts: the inner problem is then unbounded below. The Cholesky factor of the last support is kept, since Dinkelbach's
successive inner problems differ only in c and usually share it.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ..kernels.fractional import lasso_box_cd

BURST = 8              # CD epochs between Newton steps
MAX_SUPPORT = 3000     # a larger support is left to CD (the factorization would dominate)
GRAM_MAX = 4000        # G^T G is formed once up to this many columns (128 MB)
NULL_TOL = 1e-6        # |G d| <= NULL_TOL |G|_col |d|: d is a flat direction of the quadratic
NO_STEP, STEP, UNBOUNDED = 0, 1, 2


class SupportFactor:
    """The Cholesky factor of G_S^T G_S + mu I for the last support S (one kept), with
    G^T G formed once when n <= GRAM_MAX (the supports then cost an index, not a product)."""

    def __init__(self):
        self.key = None
        self.factor = None
        self.GS = None
        self.gram = None
        self.gmax = None
        self.ray = None    # the flat descent direction of the last UNBOUNDED answer

    def get(self, G, S):
        key = S.tobytes()
        if self.gmax is None:
            self.gmax = float(np.sqrt(np.max(np.einsum("ij,ij->j", G, G), initial=0.0)))
        if key != self.key:
            GS = self.GS = np.asfortranarray(G[:, S])
            if self.gram is None and G.shape[1] <= GRAM_MAX:
                self.gram = G.T @ G
            H = self.gram[np.ix_(S, S)] if self.gram is not None else GS.T @ GS
            mu = 1e-12 * float(np.max(np.diag(H), initial=0.0))
            H[np.diag_indices_from(H)] += mu
            try:
                self.factor = cho_factor(H, lower=True, check_finite=False)
            except LinAlgError:
                self.factor = None
            self.key = key
        return self.factor


def _value(r, x, c, lam):
    return 0.5 * float(r @ r) + float(c @ x) + float(lam @ np.abs(x))


def _flat_ray(GS, g, d, xs, lo, hi, gmax):
    """The flat direction d's ray, cleaned of the entries below 1e-8 of its norm (the
    damped solve's regular part): returned when it stays flat, descends, and no entry of
    x changes sign or meets a bound along it (the objective then falls without end)."""
    u = d / np.linalg.norm(d)
    u[np.abs(u) <= 1e-8] = 0.0
    u /= np.linalg.norm(u)
    if not (np.linalg.norm(GS @ u) <= NULL_TOL * gmax and float(g @ u) < 0.0):
        return None
    crosses = (xs * u < 0.0) | ((u < 0.0) & np.isfinite(lo)) | ((u > 0.0) & np.isfinite(hi))
    return None if np.any(crosses) else u


def newton_on_support(G, r, x, c, lam, lo, hi, cache: SupportFactor) -> int:
    """One Newton step on the free support (module docstring), x and r updated in place.
    The full step projected on the sign pattern and the box is taken when it lowers the
    objective (it may drop many entries at once); otherwise the exact line minimum cut at
    the first entry that reaches 0 or a bound. A flat direction (G d = 0 to NULL_TOL) is
    only followed to its first cut; with none, the objective falls along it without end:
    UNBOUNDED, x unchanged and the direction in ``cache.ray``. Returns NO_STEP (empty or
    too large support, a failed factorization, no descent), STEP or UNBOUNDED."""
    inside = (x != 0.0) & (x > lo) & (x < hi)
    S = np.flatnonzero(inside)
    if S.size == 0 or S.size > MAX_SUPPORT:
        return NO_STEP
    fac = cache.get(G, S)
    if fac is None:
        return NO_STEP
    GS = cache.GS
    xs = x[S]
    sigma = np.sign(xs)
    g = GS.T @ r + c[S] + lam[S] * sigma
    d = -cho_solve(fac, g, check_finite=False)
    slope = float(g @ d)
    if not slope < 0.0 or not np.all(np.isfinite(d)):
        return NO_STEP
    Gd = GS @ d
    curv = float(Gd @ Gd)
    flat = np.sqrt(curv) <= NULL_TOL * cache.gmax * float(np.linalg.norm(d))
    if not flat:   # the projected full step
        xp = xs + d
        xp[np.sign(xp) != sigma] = 0.0
        xp = np.clip(xp, lo[S], hi[S])
        rp = r + GS @ (xp - xs)
        xtry = x.copy()
        xtry[S] = xp
        if _value(rp, xtry, c, lam) < _value(r, x, c, lam):
            x[S] = xp
            r[:] = rp
            return STEP
    if flat:
        ray = _flat_ray(GS, g, d, xs, lo[S], hi[S], cache.gmax)
        if ray is not None:
            cache.ray = np.zeros(x.size)
            cache.ray[S] = ray
            return UNBOUNDED
    alpha = -slope / curv if curv > 0.0 and not flat else np.inf
    # the first entry to reach 0 (a sign change) or a bound along d
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = np.where(xs * d < 0.0, -xs / d, np.inf)
        to_lo = np.where(d < 0.0, (lo[S] - xs) / d, np.inf)
        to_hi = np.where(d > 0.0, (hi[S] - xs) / d, np.inf)
    stops = np.minimum(to_zero, np.minimum(to_lo, to_hi))
    j = int(np.argmin(stops))
    cut = bool(stops[j] < alpha)
    if cut:
        alpha = float(stops[j])
    if not np.isfinite(alpha):
        if flat:
            cache.ray = np.zeros(x.size)
            cache.ray[S] = d / np.linalg.norm(d)
            return UNBOUNDED
        return NO_STEP
    if alpha <= 0.0:
        return NO_STEP
    xs_new = xs + alpha * d
    if cut:   # land exactly on the zero or the bound that stopped the step
        xs_new[j] = 0.0 if to_zero[j] == stops[j] else (lo[S[j]] if to_lo[j] == stops[j] else hi[S[j]])
        r += GS @ (xs_new - xs)
    else:
        r += alpha * Gd
    x[S] = xs_new
    return STEP


def lasso_support_newton(G, colsq, r, x, c, lam, lo, hi, tol, max_epochs, cache: SupportFactor, runs_off=None):
    """The inner problem from x (updated in place, with r = G x - y) by CD bursts and
    Newton steps on the support, to ``lasso_box_cd``'s relative KKT test ``tol``.
    Returns (CD epochs, Newton steps); epochs = -1 when the inner problem is unbounded
    below (a coordinate without curvature, or a flat direction of the support with no cut:
    ``cache.ray``; or when ``runs_off(x)``, asked after each burst, says x has run out on
    a ray: ``cache.ray`` = x / |x|)."""
    epochs, steps = 0, 0
    cache.ray = None
    while epochs < max_epochs:
        burst = min(BURST, max_epochs - epochs)
        ep, viol = lasso_box_cd(G, colsq, r, x, c, lam, lo, hi, tol, burst)
        if ep < 0:
            return -1, steps
        epochs += ep
        if viol <= tol:
            break
        if runs_off is not None and runs_off(x):
            cache.ray = x / np.linalg.norm(x)
            return -1, steps
        code = newton_on_support(G, r, x, c, lam, lo, hi, cache)
        if code == UNBOUNDED:
            return -1, steps
        steps += code == STEP
    return epochs, steps
