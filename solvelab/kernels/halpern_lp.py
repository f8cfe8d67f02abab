"""pdhg's Halpern loop with its uneventful evaluations fused in Numba.

``backends.pdhg._loop`` evaluates every ``eval_every`` (16) steps: the LP certificate of
T z, a history record, every ``restart_every`` steps the ray tests, c^T x's drift and the
restart test. On a small LP that Python cost was twice the steps' (adlittle: ~40 us per
evaluation against ~14 us of steps). ``halpern_evaluations`` runs the same evaluations
here and writes their records to ``hist``, until one is *eventful*: T z meets the
screening tolerance (the fresh check is in Python), the budget is reached, a point has a
NaN / Inf or a multiplier outside its signs, a ray screen passes its first part, or the
drift calls for the descent-ray LP (a screen that passes all but its |A|_2 comparison
while |A|_2 is not known yet returns ``EVENT_NORM``: the caller computes it once). Then it
returns with that evaluation's steps done but
nothing else of it applied, and the Python body processes it, once, as before. So the
fused and the Python loop take the same decisions from the same numbers (tests compare
their histories).

State ``st`` (float64, read and written by both sides): ``ST_*`` below. Parameters
``pa``: ``PA_*``. ``hist[r]`` = (iteration, certificate, primal, dual, gap, matrix passes,
restarts, primal weight) of the r-th record.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .lp_measures import _rel, descent_ray, farkas_ray, lp_parts, row_ratio_reads, screen_passes
from .pdhg import halpern_steps

ST_J, ST_W, ST_FPR, ST_FPR_RESTART, ST_KKT_PREV, ST_SINCE, ST_RESTARTS, ST_K, ST_IT, ST_PASS_A, ST_PASS_T, \
    ST_NEV, ST_DRIFT, ST_HAS_PREV, ST_HAS_ANCHOR, ST_DONE = range(16)
ST_SIZE = 16
PA_ETA, PA_RHO, PA_LIM, PA_FEAS, PA_EV, PA_EVERY, PA_MAX_ITER, PA_SMOOTHING, PA_RESTART, PA_DRIFT, PA_OBJECTIVE, \
    PA_BETA, PA_RATIO, PA_RAY_TOL, PA_ROW_FLOOR, PA_BETA_SUFF, PA_BETA_NEC, PA_ARTIFICIAL, PA_DRIFT_FACTOR, \
    PA_DRIFT_GAP, PA_NORM_A = range(21)
PA_SIZE = 21
#: returns: the batch ended with every evaluation processed / at an eventful one / at a ray
#: screen that needs |A|_2 (``PA_NORM_A``, NaN until the caller has computed it)
BATCH, EVENT, EVENT_NORM = 0, 1, 2
HIST_COLS = 8

_ROUNDING = 8 * float(np.finfo(np.float64).eps)


@njit(cache=True)
def _relative_gap(P, D, size):
    """``families.lp.certificate.relative_gap``."""
    excess = max(abs(P - D) - _ROUNDING * size, 0.0) if np.isfinite(P - D) else abs(P - D)
    return _rel(excess, max(abs(P), abs(D)))


@njit(cache=True)
def _copy4(src, dst):
    for a, b in ((src[0], dst[0]), (src[1], dst[1]), (src[2], dst[2]), (src[3], dst[3])):
        b[:] = a


@njit(cache=True)
def halpern_evaluations(data, it, anchor, t_orig, scales, prev, ray_anchor, st, pa, hist, max_evals):
    """Up to ``max_evals`` evaluations (see the module docstring); returns (BATCH or EVENT,
    the number of records written). ``it`` is (x, y, Ax, ATy, xt, yt, Axt, ATyt), the
    iterate and its T point as ``halpern_steps`` takes them; ``anchor`` the Halpern anchor;
    ``t_orig`` (c, l, u, rl, ru) of the original LP; ``scales`` (dr, dc); ``prev`` and
    ``ray_anchor`` the ray baselines (x, Ax, y, ATy), valid when their ``st`` flags are 1."""
    x, y, Ax, ATy, xt, yt, Axt, ATyt = it
    c, l, u, rl, ru = t_orig
    dr, dc = scales
    Ap, Aj, Av = data[0], data[1], data[2]
    T = (xt, Axt, yt, ATyt)
    eta, rho, lim = pa[PA_ETA], pa[PA_RHO], pa[PA_LIM]
    ev, every, max_iter = int(pa[PA_EV]), int(pa[PA_EVERY]), int(pa[PA_MAX_ITER])
    beta, ratio, ray_tol, row_floor = pa[PA_BETA], pa[PA_RATIO], pa[PA_RAY_TOL], pa[PA_ROW_FLOOR]
    nrec = 0
    for _ in range(max_evals):
        count = min(ev, max_iter - int(st[ST_IT]))
        if count <= 0:   # the caller's budget test stops the run
            return BATCH, nrec
        w = st[ST_W]
        j, fpr = halpern_steps(data, it, anchor, eta, w, rho, int(st[ST_J]), count)
        st[ST_J] = j
        st[ST_FPR] = fpr
        st[ST_PASS_A] += count
        st[ST_PASS_T] += count
        st[ST_K] += count
        st[ST_SINCE] += count
        if st[ST_FPR_RESTART] == np.inf:
            st[ST_FPR_RESTART] = fpr
        st[ST_IT] += count
        itn = int(st[ST_IT])
        if itn >= max_iter:
            return EVENT, nrec
        rows, x_clip, x_max, r_viol, scale, P, D, size, projected, finite = lp_parts(
            xt, Axt, yt, ATyt, dr, dc, beta, ratio, c, l, u, rl, ru, row_floor)
        if not finite or projected:
            return EVENT, nrec
        p = max(rows, _rel(x_clip, x_max))
        d = _rel(r_viol, scale)
        g = _relative_gap(P, D, size)
        if pa[PA_FEAS] > 0.0:
            d = 0.0
            g = 0.0
        val = max(p, max(d, g))
        reads = 0
        if val > lim and max(d, g) <= lim:   # only the primal residual misses: against the row sizes
            reads = 1
            p = max(row_ratio_reads(Ap, Aj, Av, xt, Axt, dr, dc, beta, l, u, rl, ru, row_floor), 0.0)
            val = max(p, max(d, g))
        if val <= lim:
            return EVENT, nrec
        ray_check = (int(st[ST_NEV]) + 1) % every == 0
        new_drift = st[ST_DRIFT]
        if ray_check:
            norm_A = pa[PA_NORM_A]
            for base, has in ((prev, st[ST_HAS_PREV]), (ray_anchor, st[ST_HAS_ANCHOR])):
                if has > 0.0:
                    ok, viol, size, dy_max = farkas_ray(yt, ATyt, base[2], base[3], dr, dc, ratio, l, u, rl, ru,
                                                        ray_tol)
                    if ok:
                        if np.isnan(norm_A):
                            return EVENT_NORM, nrec
                        if screen_passes(ok, viol, size, norm_A * dy_max, ray_tol):
                            return EVENT, nrec
                    if pa[PA_OBJECTIVE] > 0.0:
                        ok, viol, size = descent_ray(xt, Axt, base[0], base[1], dr, dc, beta, c, l, u, rl, ru,
                                                     ray_tol)
                        if ok:
                            if np.isnan(norm_A):
                                return EVENT_NORM, nrec
                            if screen_passes(ok, viol, size, norm_A, ray_tol):
                                return EVENT, nrec
            if pa[PA_DRIFT] > 0.0 and P < 0.0 and np.isfinite(P):
                if np.isnan(new_drift):
                    new_drift = P
                elif P <= pa[PA_DRIFT_FACTOR] * new_drift and g >= pa[PA_DRIFT_GAP]:
                    return EVENT, nrec
        # uneventful: apply it
        st[ST_PASS_A] += reads
        h = hist[nrec]
        h[0], h[1], h[2], h[3], h[4] = itn, val, p, d, g
        h[5], h[6], h[7] = st[ST_PASS_A] + st[ST_PASS_T], st[ST_RESTARTS], w
        nrec += 1
        st[ST_NEV] += 1
        if not ray_check:
            continue
        st[ST_DRIFT] = new_drift
        restarted = False
        if pa[PA_RESTART] > 0.0:
            r = fpr
            r_restart = st[ST_FPR_RESTART]
            since, total = st[ST_SINCE], itn - st[ST_DONE]
            do = (r <= pa[PA_BETA_SUFF] * r_restart or (r <= pa[PA_BETA_NEC] * r_restart and r > st[ST_KKT_PREV])
                  or since >= pa[PA_ARTIFICIAL] * total)
            st[ST_KKT_PREV] = r
            if do:
                ddx = xt - anchor[0]
                ddy = yt - anchor[1]
                dx, dy = math.sqrt(np.dot(ddx, ddx)), math.sqrt(np.dot(ddy, ddy))
                s = pa[PA_SMOOTHING]
                if dx > 1e-10 and dy > 1e-10 and s > 0.0 and np.isfinite(dy / dx):
                    st[ST_W] = math.exp(s * math.log(dy / dx) + (1.0 - s) * math.log(w))
                x[:] = xt
                Ax[:] = Axt
                y[:] = yt
                ATy[:] = ATyt
                anchor[0][:] = xt
                anchor[1][:] = yt
                anchor[2][:] = Axt
                anchor[3][:] = ATyt
                st[ST_J] = 0
                st[ST_FPR_RESTART] = r
                st[ST_KKT_PREV] = np.inf
                st[ST_SINCE] = 0
                st[ST_RESTARTS] += 1
                restarted = True
        if restarted:
            st[ST_HAS_PREV] = 0.0
        else:
            _copy4(T, prev)
            st[ST_HAS_PREV] = 1.0
        if restarted or st[ST_HAS_ANCHOR] == 0.0:
            _copy4(T, ray_anchor)
            st[ST_HAS_ANCHOR] = 1.0
    return BATCH, nrec


def warm_up() -> None:
    """Compile (or load from Numba's cache) ``halpern_evaluations`` on a 1 x 2 LP."""
    two, one = np.ones(2), np.ones(1)
    p, j = np.array([0, 2], dtype=np.int64), np.array([0, 1], dtype=np.int64)
    tp, tj = np.array([0, 1, 2], dtype=np.int64), np.zeros(2, dtype=np.int64)
    data = (p, j, two.copy(), tp, tj, two.copy(), two.copy(), np.zeros(2), np.full(2, np.inf), one.copy(),
            np.full(1, np.inf))
    z = (np.zeros(2), np.zeros(1), np.zeros(1), np.zeros(2))
    it = z + tuple(np.zeros_like(v) for v in z)
    anchor = tuple(np.zeros_like(v) for v in z)
    buf = lambda: (np.zeros(2), np.zeros(1), np.zeros(1), np.zeros(2))   # noqa: E731
    st = np.zeros(ST_SIZE)
    st[ST_FPR_RESTART] = np.inf
    st[ST_KKT_PREV] = np.inf
    st[ST_W] = 1.0
    pa = np.zeros(PA_SIZE)
    pa[PA_ETA], pa[PA_EV], pa[PA_EVERY], pa[PA_MAX_ITER], pa[PA_BETA], pa[PA_RATIO] = 0.5, 2, 1, 4, 1.0, 1.0
    pa[PA_RESTART], pa[PA_NORM_A] = 1.0, np.nan
    halpern_evaluations(data, it, anchor, (two, np.zeros(2), np.full(2, np.inf), one, np.full(1, np.inf)),
                        (one, two), buf(), buf(), st, pa, np.zeros((4, HIST_COLS)), 2)
