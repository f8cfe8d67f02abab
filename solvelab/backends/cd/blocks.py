"""Block coordinate descent for group penalties (group lasso, and group lasso with l1 /
ridge / bounds on the other coordinates) on the SparseGLM form: the ``cd`` backend hands
programs with groups here.

    minimize  sum_i c phi(s_i (A x)_i - b_i) + sum_G w_G ||x_G||_2 + sum_{j not grouped} pen_j(x_j)

Every coordinate belongs to one *block*: a group G (block soft-thresholding) or a
singleton (the 1-D prox of its penalty). The machinery is the coordinate path's
(``solvelab.backends.cd.coordinate``, ``common``), at the level of blocks:

* outer loop: ``SparseGLM.evaluate`` (gradient, per-coordinate KKT scores, duality gap at
  the rescaled dual point; its per-group sums are vectorized); a block's KKT score is
  the largest of its coordinates' (for a group: its KKT distance / sqrt(|G|)); stop when
  the certificate meets ``tol``;
* gap-safe screening of blocks (``screening``; convex penalty with a gap): block G is zero
  at every solution when  scale ||grad_G|| + radius ||diag(s) A_G||_2 < w_G  (for a
  singleton: |grad_j| and w1_j, no bounds), radius = sqrt(2 gap c L_phi max s^2);
  screened blocks are set to zero (u = A x updated) and never visited again;
* working set of blocks (``ws_strategy='kkt'``): the blocks in the support plus the blocks
  with the largest KKT scores, max(``ws_start``, 2 |support blocks|) of them; or every
  block not screened (``'full'``); inner block-CD epochs on it until its KKT score is below
  min(0.3 x the outer one, the largest score left outside) (``'full'``: 0.3 x the outer
  one, so that the gap is re-checked and blocks screened on the way), then the gap is
  re-checked on all blocks;
* inner solvers: least squares on a working set of at most ``gram_max`` columns runs
  block CD on the Gram matrix of those columns (O(k |G|) per block); other datafits there
  run proximal Newton (block CD on the weighted-Gram model, block constants lambda_max of
  its diagonal blocks, backtracking line search; for them the working set is capped at
  ``gram_max`` columns while the support fits, as on the coordinate path); larger working
  sets run block CD on the columns, updating u = A x in place;
* Anderson extrapolation (``anderson`` = K) of the working-set iterates every K + 1
  epochs, kept only if it lowers the objective.

``info``: ``epochs``, ``outer_iterations``, ``screened`` (blocks screened: groups and
screened singletons), ``screened_groups`` (their block numbers, groups first in
``SparseGLM.group_arrays`` order), ``screened_features`` (their coordinates), ``ws_size``
(blocks in the last working set), ``ws_features``, ``anderson_tried`` /
``anderson_accepted``, ``jit_time``, ``warm_start``, ``certificate``, ``solve_time``,
``form``, ``storage``, ``inner`` (the last inner solver: 'gram', 'newton' or 'columns').
"""
from __future__ import annotations

import math
import time

import numpy as np

from ...families.glm.scalars import L_PHI
from ...ir import losses
from ..base import RawSolution
from .common import (_datafit_all, _kernels, compile_kernels, inner_tolerance, monitor, newton_line_search,
                     outer_step, refresh_residual, top_scored, anderson_window)

_MINE_COMPILED: set = set()


def _bk():
    from ...kernels import cd_blocks as BK
    return BK


def _compile_mine() -> float:
    """Compile (or load from the on-disk cache) this module's kernels once per process,
    with the argument types a solve passes; returns the seconds spent."""
    if "all" in _MINE_COMPILED:
        return 0.0
    t0 = time.perf_counter()
    BK = _bk()
    xw, g, out = np.zeros(2), np.ones(2), np.zeros(2)
    bptr = np.array([0, 1, 2], dtype=np.int64)
    bw = np.array([1.0, 0.0])
    bgrp = np.array([True, False])
    w1, r = np.array([0.0, 0.1]), np.zeros(2)
    lo, hi = np.full(2, -np.inf), np.full(2, np.inf)
    BK.block_kkt(xw, g, bptr, bw, bgrp, w1, r, lo, hi, 0, 0.0, out)
    BK.block_pen(xw, bptr, bw, bgrp, w1, r, 0, 0.0)
    BK.bcd_gram_epochs(np.eye(2), g.copy(), xw.copy(), 1.0, bptr, bw, bgrp, np.ones(2), w1, r, lo, hi, 0, 0.0, 1)
    _MINE_COMPILED.add("all")
    return time.perf_counter() - t0


def _compile_grams(KD, D) -> float:
    key = "grams_dense" if KD.dense else "grams_csc"
    if key in _MINE_COMPILED or D.m == 0:
        return 0.0
    t0 = time.perf_counter()
    BK = _bk()
    gptr = np.array([0, 2], dtype=np.int64)
    gidx = np.arange(2, dtype=np.int64)
    which = np.zeros(1, dtype=np.int64)
    if KD.dense:
        BK.group_grams_dense(np.asfortranarray(np.eye(3, 2)), np.ones(3), gptr, gidx, which, 2)
    else:
        import scipy.sparse as sp
        S = sp.csc_matrix(np.eye(3, 2))
        BK.group_grams_csc(S.data, S.indices.astype(KD.ind.dtype), S.indptr.astype(KD.ptr.dtype), np.ones(3),
                           gptr, gidx, which, 2, 3)
    _MINE_COMPILED.add(key)
    return time.perf_counter() - t0


def _compile_cd(names) -> float:
    """The coordinate path's kernels this module calls (each once per process)."""
    return compile_kernels(list(names))


def _group_lipschitz(KD, view, gptr, gidx, colsq):
    """Block constants c L_phi ||diag(s) A_G||_2^2: exact (lambda_max of the group's Gram
    block, groups of equal size batched) for groups up to 64 columns, else the Frobenius
    bound; singletons c L_phi ||diag(s) a_j||^2."""
    c_l = view.c * L_PHI[view.dkind]
    D = KD.D
    out = np.zeros(gptr.size - 1)
    sizes = np.diff(gptr)
    single = sizes == 1
    out[single] = c_l * colsq[gidx[gptr[:-1][single]]]
    big = np.nonzero(sizes > 64)[0]
    for k in big:
        out[k] = c_l * float(np.sum(colsq[gidx[gptr[k]:gptr[k + 1]]]))
    which = np.nonzero(~single & (sizes <= 64))[0].astype(np.int64)
    if which.size and D.m:
        BK = _bk()
        maxb = int(sizes[which].max())
        if KD.dense:
            grams = BK.group_grams_dense(KD.A, D.s, gptr, gidx, which, maxb)
        else:
            grams = BK.group_grams_csc(KD.data, KD.ind, KD.ptr, D.s, gptr, gidx, which, maxb, D.m)
        for sz in np.unique(sizes[which]):
            sel = np.nonzero(sizes[which] == sz)[0]
            lmax = np.linalg.eigvalsh(grams[sel, :sz, :sz])[:, -1]
            # never below the largest diagonal entry (a rounding guard), and a hair above
            lmax = np.maximum(lmax, np.max(np.diagonal(grams[sel, :sz, :sz], axis1=1, axis2=2), axis=1))
            out[which[sel]] = c_l * lmax * (1 + 1e-10)
    return out


def _block_lmax(H, bptr, bgrp):
    """lambda_max of every diagonal block H_BB (blocks of equal size batched), x (1 + 1e-10)."""
    nb = bptr.size - 1
    out = np.zeros(nb)
    sizes = np.diff(bptr)
    dg = np.diagonal(H)
    one = sizes == 1
    out[one] = dg[bptr[:-1][one]]
    for sz in np.unique(sizes[~one]):
        bl = np.nonzero(sizes == sz)[0]
        pos = bptr[bl][:, None] + np.arange(sz)[None, :]
        sub = H[pos[:, :, None], pos[:, None, :]]
        out[bl] = np.linalg.eigvalsh(sub)[:, -1]
    return np.maximum(out, 0.0) * (1 + 1e-10)


class _WS:
    """A working set of blocks in local indexing: ``cols`` (its columns, block by block),
    ``bptr``, ``bw``, ``bgrp`` and the per-column penalty data."""

    def __init__(self, view, blocks, gptr, gidx, gw, ngroups):
        self.blocks = blocks
        self.g = (gptr, gidx, gw)
        sizes = gptr[blocks + 1] - gptr[blocks]
        self.bptr = np.zeros(blocks.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.bptr[1:])
        tot = int(self.bptr[-1])
        pos = np.repeat(gptr[blocks] - self.bptr[:-1], sizes) + np.arange(tot, dtype=np.int64)
        self.cols = gidx[pos].astype(np.int64)
        self.bw = np.ascontiguousarray(gw[blocks], dtype=np.float64)
        self.bgrp = blocks < ngroups
        c = self.cols
        self.w1, self.r, self.lo, self.hi = view.w1[c], view.r[c], view.lo[c], view.hi[c]

    def scores(self, view, xw, g):
        out = np.empty(self.blocks.size)
        top = _bk().block_kkt(xw, g, self.bptr, self.bw, self.bgrp, self.w1, self.r, self.lo, self.hi,
                              int(view.pkind), float(view.gamma), out)
        return top, out

    def pen(self, view, xw):
        return _bk().block_pen(xw, self.bptr, self.bw, self.bgrp, self.w1, self.r, int(view.pkind),
                               float(view.gamma))


def solve_blocks(view, options, last, opt, KD, D, L, colsq, x, u, tol, setup_time, jit_time, warm):
    t_s0 = time.perf_counter()
    st = "dense" if KD.dense else "csc"
    names = [f"grad_cols_{st}", f"add_cols_{st}"]
    if D.m and view.dkind != losses.LEAST_SQUARES:
        names += ((["datafit_all"] if view.dkind != losses.LOGISTIC else []) + ["datafit_value"]
                  + (["gram_csc"] if st == "csc" else []))
    elif D.m and st == "csc" and D.p > opt["gram_max"]:
        names.append("gram_csc")
    extra_jit = _compile_cd(names) + _compile_mine() + _compile_grams(KD, D)
    jit_time += extra_jit
    gptr, gidx, gw = view.group_arrays()
    ngroups = len(view.groups)
    nb = gptr.size - 1
    c_l = view.c * L_PHI[view.dkind]
    LG_raw = _group_lipschitz(KD, view, gptr, gidx, colsq)
    LG = LG_raw.copy()
    single = np.arange(nb) >= ngroups
    sing_col = gidx[gptr[:-1][single]]
    LG[single] = L[sing_col]                  # the MCP / SCAD floors of the coordinate path
    setup_time += time.perf_counter() - t_s0
    n = view.n

    mon = monitor(options)
    max_epochs = mon.max_iter
    epochs = 0
    outer = 0
    K_and = opt["anderson"]
    counters = [0, 0]
    screened = np.zeros(nb, dtype=bool)
    can_screen = bool(opt["screening"] and view.pkind == losses.CONVEX and view.gap_available() and D.m > 0
                      and view.dkind != losses.EXP and c_l > 0)
    # screenable blocks: groups with w_G > 0; singletons with w1 > 0 and no bounds
    bweight = gw.copy()
    screenable = np.zeros(nb, dtype=bool)
    screenable[:ngroups] = gw[:ngroups] > 0
    if np.any(single):
        bweight[single] = view.w1[sing_col]
        screenable[single] = (view.w1[sing_col] > 0) & ~np.isfinite(view.lo[sing_col]) \
            & ~np.isfinite(view.hi[sing_col])
    bnorm = np.sqrt(LG_raw / c_l) if c_l > 0 else np.zeros(nb)        # >= ||diag(s) A_B||_2
    s_max2 = float(np.max(D.s ** 2, initial=0.0))
    alpha_inv = view.c * L_PHI[view.dkind] * s_max2
    ws_blocks = np.arange(nb, dtype=np.int64)
    ws_cols_n = n
    best_val = None
    tighten = 1.0
    inner_kind = ""
    newton_cap = bool(opt["gram"] and view.dkind not in (losses.LEAST_SQUARES, losses.EXP) and D.m > 0
                      and (not KD.dense or opt["gram_max"] <= D.m))
    if mon.verbose:
        print(f"cd: {view.describe()} (block CD), m={D.m}, p={n}, {nb} blocks ({ngroups} groups), "
              f"{st}; ws={opt['ws_strategy']}, screening={can_screen}, anderson={K_and}, tol={tol:g}"
              + (", warm start" if warm else "") + f"; jit {jit_time:.2f}s")
        mon.header()
    fast = KD.fast_eval(view)
    while True:
        refresh_residual(D, x, u, best_val)
        ev = view.evaluate(x, u, D, want_gap=True, fast=fast)
        best_val = ev.value
        if outer_step(view, ev, x, epochs, outer, mon, int(ws_blocks.size), int(screened.sum()), tol):
            break
        outer += 1
        # -- gap-safe screening of blocks ---------------------------------------------------
        if can_screen and ev.gap_abs is not None:
            radius = math.sqrt(2.0 * ev.gap_abs * alpha_inv)
            gn = np.sqrt(np.add.reduceat(ev.grad[gidx] ** 2, gptr[:-1]))
            test = screenable & ~screened & (ev.scale * gn + radius * bnorm < bweight)
            if np.any(test):
                newly = _WS(view, np.nonzero(test)[0].astype(np.int64), gptr, gidx, gw, ngroups).cols
                moved = newly[x[newly] != 0]
                if moved.size:
                    KD.add_cols(moved, -x[moved], u)
                    x[moved] = 0.0
                screened |= test
        # -- working set of blocks ------------------------------------------------------------
        bscore = np.maximum.reduceat(ev.kkt_scores[gidx], gptr[:-1])
        gscale = ev.grad_scale
        kkt_abs = float(np.max(bscore[~screened], initial=0.0))
        if opt["ws_strategy"] == "full":
            ws_blocks = np.nonzero(~screened)[0].astype(np.int64)
        else:
            support = np.logical_or.reduceat((x != 0)[gidx], gptr[:-1]) & ~screened
            n_free = int(np.sum(~screened))
            n_supp = int(support.sum())
            ws_size = min(n_free, max(2 * n_supp, opt["ws_start"]))
            sel, score = top_scored(bscore, support, screened, ws_size)
            supp_cols = int(np.sum(np.diff(gptr)[support])) if newton_cap else 0
            if newton_cap and supp_cols < opt["gram_max"]:
                # keep proximal Newton (Gram of at most gram_max columns) while the support
                # fits; the most violated block outside the support always gets in
                sizes = gptr[sel + 1] - gptr[sel]
                order = np.argsort(-score[sel], kind="stable")
                keep = np.cumsum(sizes[order]) <= opt["gram_max"]
                n_in = int(np.sum(np.isinf(score[sel])))
                keep[:n_in] = True
                if n_in < keep.size:
                    keep[n_in] = True
                sel = sel[order[keep]]
            ws_blocks = np.sort(sel).astype(np.int64)
            if ws_blocks.size == 0:
                ws_blocks = np.nonzero(~screened)[0].astype(np.int64)
        tol_in, tighten = inner_tolerance(ev, bscore, screened, ws_blocks, kkt_abs, gscale, tol, tighten,
                                          full=opt["ws_strategy"] == "full")
        W = _WS(view, ws_blocks, gptr, gidx, gw, ngroups)
        ws_cols_n = int(W.cols.size)
        epochs_before = epochs
        x_before = x[W.cols].copy()
        epochs, inner_kind = _inner(view, KD, D, x, u, W, LG, opt, K_and, tol_in, epochs, max_epochs,
                                    mon, counters)
        if epochs == epochs_before or np.array_equal(x_before, x[W.cols]):
            # the working set already meets its tolerance but the gap does not: tighten
            tighten *= 0.1
            if tighten < 1e-8:
                mon.stop("max_iter", f"no progress after {epochs} epochs (stalled)")
                break
    solve_time = mon.elapsed()
    ok = bool(np.all(np.isfinite(x)))
    if ok:
        last["x"] = x.copy()
        last["ws"] = np.nonzero(x)[0]
    mon.summary("cd", f"{outer} outer / {epochs} epochs", solve_time, digits=4)
    scr_blocks = np.nonzero(screened)[0].astype(np.int64)
    scr_feats = np.sort(_WS(view, scr_blocks, gptr, gidx, gw, ngroups).cols) if scr_blocks.size \
        else np.zeros(0, dtype=np.int64)
    info = {"epochs": epochs, "outer_iterations": outer, "screened": int(scr_blocks.size),
            "screened_groups": scr_blocks, "screened_features": scr_feats,
            "ws_size": int(ws_blocks.size), "ws_features": ws_cols_n,
            "anderson_tried": counters[0], "anderson_accepted": counters[1], "inner": inner_kind,
            "jit_time": jit_time, "warm_start": warm, "certificate": best_val, "solve_time": solve_time,
            "form": view.describe(), "storage": st}
    return RawSolution(x=x.copy() if ok else None, status=mon.status, iterations=epochs,
                       duals=view.duals(x) if ok else None, history=mon.history, setup_time=setup_time, info=info,
                       message=mon.message)


# ------------------------------------------------------------------------------------------
# inner solvers on a working set of blocks
# ------------------------------------------------------------------------------------------

def _use_gram(KD, D, W, opt) -> bool:
    k = W.cols.size
    if D.m == 0 or not opt["gram"] or k > opt["gram_max"]:
        return False
    return (not KD.dense) or k <= D.m


def _inner(view, KD, D, x, u, W, LG, opt, K_and, tol_in, epochs, max_epochs, mon, counters):
    if _use_gram(KD, D, W, opt):
        if view.dkind == losses.LEAST_SQUARES:
            return _inner_gram(view, KD, D, x, u, W, LG, opt, K_and, tol_in, epochs, max_epochs, mon,
                               counters), "gram"
        return _inner_newton(view, KD, D, x, u, W, opt, tol_in, epochs, max_epochs, mon), "newton"
    return _inner_cols(view, KD, D, x, u, W, LG, K_and, tol_in, epochs, max_epochs, mon,
                       counters), "columns"


def _inner_cols(view, KD, D, x, u, W, LG, K_and, tol_in, epochs, max_epochs, mon, counters):
    """Block CD on the columns of the working set (u = A x updated in place) until its KKT
    score is below tol_in; Anderson extrapolation every K + 1 epochs."""
    gptr, gidx, gw = W.g
    cols = W.cols
    last = []
    check = 5
    inner = 0
    while epochs < max_epochs:
        KD.block_epochs(view, u, x, gptr, gidx, gw, LG, W.blocks, 1)
        epochs += 1
        inner += 1
        if K_and:
            anderson_window(KD, view, x, u, cols, W.lo, W.hi, last, K_and, counters, lambda xs: W.pen(view, xs))
        if inner % check == 0:
            g = KD.grad_cols(view.deriv(D, u), cols)
            top, _ = W.scores(view, x[cols], g)
            if top <= tol_in:
                break
            if mon.out_of_time():
                break
    return epochs


def _inner_gram(view, KD, D, x, u, W, LG, opt, K_and, tol_in, epochs, max_epochs, mon, counters):
    """Least squares on a working set of at most gram_max columns: block CD on its Gram
    matrix G (gradient c2 (G x - q), kept up to date in O(k |B|) per block)."""
    BK, K = _bk(), _kernels()
    cols = W.cols
    G = KD.gram_ws(cols, opt, KD.state)
    c2 = 2.0 * view.c
    gq = KD.grad_cols(view.deriv(D, u), cols) / c2
    x0 = x[cols].copy()
    xw = x0.copy()
    bL = np.ascontiguousarray(LG[W.blocks])
    pk, gam = int(view.pkind), float(view.gamma)
    last = []
    inner = 0
    sc_buf = np.empty(W.blocks.size)
    while epochs < max_epochs:
        BK.bcd_gram_epochs(G, gq, xw, c2, W.bptr, W.bw, W.bgrp, bL, W.w1, W.r, W.lo, W.hi, pk, gam, 1)
        epochs += 1
        inner += 1
        if K_and:
            last.append(xw.copy())
            if len(last) == K_and + 1:
                counters[0] += 1
                xa = K.anderson_extrapolate(np.asarray(last))
                last = []
                if xa is not None:
                    xa = np.clip(xa, W.lo, W.hi)
                    dlt = xa - xw
                    Gd = G @ dlt
                    df = view.c * (2.0 * float(np.dot(gq, dlt)) + float(np.dot(dlt, Gd)))
                    dp = W.pen(view, xa) - W.pen(view, xw)
                    if df + dp < 0:
                        counters[1] += 1
                        xw = xa
                        gq = gq + Gd
        top = BK.block_kkt(xw, c2 * gq, W.bptr, W.bw, W.bgrp, W.w1, W.r, W.lo, W.hi, pk, gam, sc_buf)
        if top <= tol_in:
            break
        if inner % 10 == 0 and mon.out_of_time():
            break
    x[cols] = xw
    KD.add_cols(cols, xw - x0, u)
    return epochs


def _inner_newton(view, KD, D, x, u, W, opt, tol_in, epochs, max_epochs, mon):
    """Proximal Newton on the working set (non-quadratic datafits): block CD on the
    second-order model (weighted Gram matrix of the working-set columns, block constants
    lambda_max of its diagonal blocks), then a backtracking line search on the true
    objective. ``epochs`` counts model sweeps."""
    BK, K = _bk(), _kernels()
    cols = W.cols
    pk, gam = int(view.pkind), float(view.gamma)
    d, h, Ad = KD.work(3)       # see coordinate.CDBackend._inner_newton
    sc_buf = np.empty(W.blocks.size)
    f_data = None
    kinked = view.dkind in (losses.HUBER, losses.SQUARED_HINGE)
    h_floor = 0.01 * view.c * L_PHI[view.dkind] * D.s * D.s if kinked else None
    for _newton in range(50):
        if f_data is None:
            f_data = _datafit_all(view, K, D, u, d, h)
        g = KD.grad_cols(d, cols)
        xw = x[cols].copy()
        kkt_now = BK.block_kkt(xw, g, W.bptr, W.bw, W.bgrp, W.w1, W.r, W.lo, W.hi, pk, gam, sc_buf)
        if kkt_now <= tol_in or epochs >= max_epochs:
            break
        if mon.out_of_time():
            break
        # curvature floor for Huber / squared hinge (see coordinate.CDBackend._inner_newton)
        H = KD.gram(cols, sq_weights=h if h_floor is None else np.maximum(h, h_floor))
        dg = np.diagonal(H).copy()
        H[np.diag_indices_from(H)] += 1e-12 * max(float(np.max(dg, initial=0.0)), 1e-300)
        bL = _block_lmax(H, W.bptr, W.bgrp)
        if view.pkind:
            bL = np.maximum(bL, 1.001 / (gam if view.pkind == losses.MCP else gam - 1.0))
        gq = g.copy()                                   # model gradient H (x_new - x) + g
        xn = xw.copy()
        model_tol = max(0.01 * kkt_now, 0.1 * tol_in)   # (as coordinate._inner_newton)
        chunk = 2
        for _ in range(100):
            nep = min(chunk, max_epochs - epochs)
            BK.bcd_gram_epochs(H, gq, xn, 1.0, W.bptr, W.bw, W.bgrp, bL, W.w1, W.r, W.lo, W.hi, pk, gam, nep)
            epochs += nep
            mk = BK.block_kkt(xn, gq, W.bptr, W.bw, W.bgrp, W.w1, W.r, W.lo, W.hi, pk, gam, sc_buf)
            if mk <= model_tol or epochs >= max_epochs:
                break
            chunk = min(2 * chunk, 16)
        delta = xn - xw
        if not np.any(delta):
            break
        Ad[:] = 0.0
        KD.add_cols(cols, delta, Ad)
        p_old = W.pen(view, xw)
        f_old = f_data + p_old
        decrease = float(np.dot(g, delta)) + W.pen(view, xn) - p_old
        step = newton_line_search(view, K, D, u, Ad, d, h, xw, delta, W.lo, W.hi, f_old, decrease,
                                  lambda xs: W.pen(view, xs))
        if step is None:
            break
        t, xt, f_data = step
        x[cols] = xt
        u += t * Ad if t != 1.0 else Ad
    return epochs
