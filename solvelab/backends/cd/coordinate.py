"""The coordinate path of the cd backend: ``CDBackend`` (the backend itself; programs
with group penalties go to ``blocks``), the kernels a solve needs, and the inner solvers
on a working set (column sweeps, CD on a Gram matrix with Newton steps on faces,
proximal Newton). See the package's docstring for the algorithm and its options.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ...errors import InvalidDataError
from ...families.glm.scalars import L_PHI, kkt_distances
from ...ir import losses
from ..base import Backend, RawSolution, SolveOptions, Workspace
from .blocks import _compile_mine, solve_blocks
from .common import (_Data, _datafit_all, _fused_eval_applies, _fused_eval_fits, _kernels, compile_kernels,
                     dedup_applies, dense_gram_pays, inner_tolerance, monitor, newton_line_search, outer_step, refresh_residual,
                     top_scored, anderson_window)

_EXTRA = ("selection", "ws_strategy", "screening", "anderson", "ws_start", "seed", "gram", "gram_max")


def warmup() -> float:
    """Compile (or load from the on-disk cache) every kernel, the block-CD ones of groups
    included; returns the seconds spent. A solve does not need this: it compiles only the
    kernels its problem uses."""
    return compile_kernels(None) + _compile_mine()


def kernels_needed(view, D, opt) -> list:
    """The kernels a solve of ``view`` may call: one storage (dense or CSC), block CD only
    with groups, the Gram / Newton kernels only when a working set can be small enough,
    the column sweeps only when it can be too large for them."""
    st = "dense" if D.dense is not None else "csc"
    if view.groups:
        return [f"col_sqnorms_{st}", f"bcd_epochs_{st}"]
    # the Gram kernels of CSC data: the blocked dense one too where the columns are dense
    # enough for it (``dense_gram_pays``; a working set's columns may still go sparse)
    grams = ["gram_csc"] + (["gram_csc_blocked"] if st == "csc" and dense_gram_pays(D.m, D.p, D.nnz) else [])
    names = [f"col_sqnorms_{st}", f"grad_cols_{st}", f"add_cols_{st}"]
    gram_solve = "cd_gram_solve" if opt["mode"] == 0 else "cd_gram_solve_ordered"
    if D.m == 0:
        return names
    if view.dkind == losses.EXP:
        # Poisson: proximal Newton only (values and conjugates in NumPy)
        return (names + ["datafit_all", gram_solve]
                + (["rows_of_cols", "gram_rows"] if dedup_applies(D) else grams if st == "csc" else []))
    gram_checks = opt["gram"] and view.dkind == losses.LEAST_SQUARES and _fused_eval_fits(view, D)
    if _fused_eval_applies(view, D) or gram_checks:
        names.append("glm_eval")     # (least squares: with the full Gram matrix, at any size)
    if view.dkind not in (losses.LEAST_SQUARES, losses.LOGISTIC):       # (logistic: NumPy, see _logistic_all)
        names += ["datafit_all"]
    gram = opt["gram"]
    # the column sweeps run when a working set exceeds gram_max (or, dense, the rows)
    big = (not gram) or D.p > opt["gram_max"] or (st == "dense" and D.p > D.m)
    if gram:
        # gram_csc: Newton weights, the full Gram matrix of a CSC least-squares problem,
        # or its working-set Gram matrices when it has too many columns for a full one
        # (row by row from the CSC columns: no CSR copy of the data, as SciPy's M.T @ M
        # makes; SciPy over column chunks avoids the copy but took 125 ms on mushrooms,
        # where this kernel takes 2 ms)
        if view.dkind != losses.LEAST_SQUARES and dedup_applies(D):
            # Newton Hessians from the distinct rows; gram_csc (for a working set whose
            # rows barely repeat) then compiles on first use only: on one-hot data it is
            # not needed, and the first call saves its 0.3 s of compile
            names += [gram_solve, "rows_of_cols", "gram_rows"]
        else:
            names += [gram_solve] + (grams if st == "csc" else [])
    if big:
        names.append(f"cd_epochs_{st}")
        if view.dkind != losses.LEAST_SQUARES and opt["anderson"]:
            names.append("datafit_value")
    return names


class CDBackend(Backend):
    name = "cd"
    description = ("coordinate descent for sparse GLMs: working sets, Anderson extrapolation, gap-safe "
                   "screening, cyclic/random/greedy selection, Numba kernels on CSC and dense data")
    forms = ("SparseGLM", "FractionalRatio")
    default_max_iter = 100000      # sweeps; proximal Newton counts its (cheap, O(k^2)) model sweeps too
    priority = 10

    def accepts_extra(self):
        return _EXTRA

    # ---- fractional programs: coordinate descent with each coordinate's 1-D ratio solved
    # globally (the fractional_cd backend; cd hands the FractionalRatio form to it whole)
    @staticmethod
    def _fractional(view):
        if getattr(view, "name", "") != "FractionalRatio":
            return None
        from ..fractional_cd import FractionalCDBackend
        return FractionalCDBackend()

    def cannot_take(self, view):
        fcd = self._fractional(view)
        return fcd.cannot_take(view) if fcd is not None else super().cannot_take(view)

    def setup(self, view, options: SolveOptions) -> Workspace:
        fcd = self._fractional(view)
        return fcd.setup(view, options) if fcd is not None else super().setup(view, options)

    def update(self, ws, view, options, changes) -> bool:
        fcd = self._fractional(view)
        return fcd.update(ws, view, options, changes) if fcd is not None else super().update(ws, view, options, changes)

    # ------------------------------------------------------------------------------------
    def _options(self, options):
        extra = self.checked_extra(options)
        sel = extra.get("selection", "cyclic")
        if sel not in ("cyclic", "random", "greedy"):
            raise InvalidDataError(f"cd: selection must be 'cyclic', 'random' or 'greedy', got {sel!r}")
        wss = extra.get("ws_strategy", "kkt")
        if wss not in ("kkt", "full"):
            raise InvalidDataError(f"cd: ws_strategy must be 'kkt' or 'full', got {wss!r}")
        anderson = int(extra.get("anderson", 5))
        if anderson < 0:
            raise InvalidDataError(f"cd: anderson must be a memory >= 0 (0 turns it off), got {anderson!r}")
        ws_start = int(extra.get("ws_start", 10))
        if ws_start < 1:
            raise InvalidDataError(f"cd: ws_start must be >= 1, got {ws_start!r}")
        return {"selection": sel, "mode": {"cyclic": 0, "random": 1, "greedy": 2}[sel], "ws_strategy": wss,
                "screening": bool(extra.get("screening", True)), "anderson": anderson,
                "ws_start": ws_start, "seed": int(extra.get("seed", 0)),
                "gram": bool(extra.get("gram", True)), "gram_max": int(extra.get("gram_max", 1024))}

    def solve(self, view, options: SolveOptions, state: Workspace) -> RawSolution:
        fcd = self._fractional(view)
        if fcd is not None:
            return fcd.solve(view, options, state)
        if view.data().dense is not None:
            # dense data: the Gram / Hessian products are small BLAS calls, which
            # multi-threaded OpenBLAS turns into waits on a busy machine (see kernels.threads)
            from ...kernels.threads import threads
            with threads(blas=1):
                return self._solve(view, options, state)
        return self._solve(view, options, state)

    def _solve(self, view, options: SolveOptions, state: dict) -> RawSolution:
        t_setup0 = time.perf_counter()
        opt = self._options(options)
        D = view.data()
        jit_time = compile_kernels(kernels_needed(view, D, opt))
        KD = _Data(D)
        KD.state = state
        KD.prepare(view)
        n = view.n
        tol = float(options.tol)
        # least squares whose full Gram matrix is (or will be) kept: a sweep over every
        # coordinate costs O(p^2), less than one gradient A^T d, so working sets only add
        # outer iterations (each a full gradient and gap)
        whole_gram = bool(view.dkind == losses.LEAST_SQUARES and opt["gram"] and D.m > 0 and n <= opt["gram_max"]
                          and (not KD.dense or n <= D.m))
        hit = state.get("colsq")          # depends on the matrix and row scales only (not b)
        if hit is not None and hit[0] is D:
            colsq = hit[1]
        else:
            # the squared column norms are the full Gram matrix's diagonal when it is built
            # anyway (ijcnn1: a 650k-entry pass saved)
            colsq = np.diag(KD.kept_gram(opt, state)).copy() if whole_gram else KD.col_sqnorms(D.s)
            state["colsq"] = (D, colsq)
        if view.dkind == losses.EXP:
            L = view.c * colsq           # not a Lipschitz constant (exp has none): unused by Newton
        else:
            L = view.c * L_PHI[view.dkind] * colsq
        if view.pkind == losses.MCP:
            L = np.maximum(L, 1.001 / view.gamma)      # the 1-D MCP model stays strongly convex
        elif view.pkind == losses.SCAD:
            L = np.maximum(L, 1.001 / (view.gamma - 1.0))
        col_norms = np.sqrt(colsq)

        x = np.clip(np.zeros(n), view.lo, view.hi)
        x = np.where(np.isfinite(x), x, 0.0)
        warm = False
        last = state.warm                 # the last solution and its working set
        if options.warm_start and last.get("x") is not None:
            xw = np.asarray(last["x"], dtype=np.float64)
            if xw.shape == (n,) and np.isfinite(xw).all():
                x = np.clip(xw, view.lo, view.hi)
                warm = True
        u = D.matvec(x) if D.m and x.any() else np.zeros(D.m)
        if whole_gram and KD.fast:
            # A^T b now, so that the first check (at x = 0 on a cold start) already takes
            # the compiled pass with the Gram matrix instead of NumPy's
            KD.Atb = D.rmatvec_recurring(D.b)
        setup_time = time.perf_counter() - t_setup0
        if view.groups:
            return self._solve_blocks(view, options, last, opt, KD, D, L, colsq, x, u, tol, setup_time,
                                      jit_time, warm)

        mon = monitor(options)
        max_epochs = mon.max_iter
        screened = np.zeros(n, dtype=bool)
        can_screen = (opt["screening"] and view.pkind == losses.CONVEX and view.gap_available()
                      and D.m > 0 and view.dkind != losses.EXP)
        screenable = (view.w1 > 0) & ~np.isfinite(view.lo) & ~np.isfinite(view.hi)
        s_max2 = float((D.s ** 2).max(initial=0.0))
        alpha_inv = view.c * L_PHI[view.dkind] * s_max2   # 1 / strong concavity of the dual
        prev_ws = last.get("ws") if warm else None
        ws_size = opt["ws_start"] if prev_ws is None else max(opt["ws_start"], int(len(prev_ws)))
        epochs = 0
        outer = 0
        K_and = opt["anderson"]
        and_ok = and_tried = 0
        ws = np.arange(n, dtype=np.int64)
        best_val = None
        tighten = 1.0
        if whole_gram and n * n <= D.nnz:
            # sweeps cost less than the outer check: aim below the target at once rather
            # than learn the gap / KKT ratio over extra outer iterations
            tighten = 0.05
        newton_cap = bool(opt["gram"] and view.dkind not in (losses.LEAST_SQUARES, losses.EXP) and D.m > 0
                          and (not KD.dense or opt["gram_max"] <= D.m))
        if mon.verbose:
            print(f"cd: {view.describe()}, m={D.m}, p={n}, nnz={D.nnz}, "
                  f"{'dense' if KD.dense else 'csc'}; selection={opt['selection']}, "
                  f"ws={opt['ws_strategy']}, screening={can_screen}, anderson={K_and}, tol={tol:g}"
                  + (", warm start" if warm else "") + f"; jit {jit_time:.2f}s")
            mon.header()
        while True:
            refresh_residual(D, x, u, best_val)
            ev = KD.evaluate(view, x, u)
            best_val = ev.value
            if outer_step(view, ev, x, epochs, outer, mon, int(min(ws_size, n)), int(screened.sum()), tol):
                break
            outer += 1
            grad_now = ev.grad            # A^T d at the current u (None once u moves)
            # -- gap-safe screening --------------------------------------------------------
            if can_screen and ev.gap_abs is not None:
                radius = math.sqrt(2.0 * ev.gap_abs * alpha_inv)
                test = screenable & ~screened & (ev.scale * np.abs(ev.grad) + radius * col_norms < view.w1)
                if test.any():
                    newly = np.nonzero(test)[0]
                    moved = newly[x[newly] != 0]
                    if moved.size:
                        KD.dh_fresh = False
                        KD.add_cols(moved.astype(np.int64), -x[moved], u)
                        grad_now = None
                        x[moved] = 0.0
                    screened |= test
            # -- working set ---------------------------------------------------------------
            gscale = ev.grad_scale
            kkt_abs = float(ev.kkt_scores[~screened].max(initial=0.0))
            if opt["ws_strategy"] == "full" or whole_gram:
                ws = np.nonzero(~screened)[0].astype(np.int64)
            else:
                support = (x != 0) & ~screened
                n_free = int(np.sum(~screened))
                n_supp = int(support.sum())
                ws_size = min(n_free, max(2 * n_supp, opt["ws_start"]))
                if newton_cap and n_supp < opt["gram_max"]:
                    # keep proximal Newton (Gram of at most gram_max columns) as long as the
                    # support fits: column sweeps on a non-quadratic datafit are far slower.
                    # Once the support alone fills gram_max the cap is dropped: a working set
                    # of just the support could never take in a violated coordinate (stall)
                    ws_size = min(ws_size, opt["gram_max"])
                ws, _ = top_scored(ev.kkt_scores, support, screened, ws_size)
                ws = np.sort(ws).astype(np.int64)
                if ws.size == 0:
                    ws = np.nonzero(~screened)[0].astype(np.int64)
            tol_in, tighten = inner_tolerance(ev, ev.kkt_scores, screened, ws, kkt_abs, gscale, tol, tighten)
            epochs_before = epochs
            epochs = self._inner(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs, mon,
                                 counters := [0, 0], grad_now)
            and_tried += counters[0]
            and_ok += counters[1]
            if epochs == epochs_before:
                # the working set already meets its tolerance but the gap does not: tighten
                tighten *= 0.1
                if tighten < 1e-8:
                    mon.stop("max_iter", f"no progress after {epochs} epochs (stalled)")
                    break
        solve_time = mon.elapsed()
        x_ret = x if np.isfinite(x).all() else None
        if x_ret is not None:
            last["x"] = x.copy()
            last["ws"] = np.nonzero(x)[0]
        mon.summary("cd", f"{outer} outer / {epochs} epochs", solve_time, digits=4)
        info = {"epochs": epochs, "outer_iterations": outer, "screened": int(screened.sum()),
                "screened_features": np.nonzero(screened)[0],
                "ws_size": int(ws.size), "anderson_tried": and_tried, "anderson_accepted": and_ok,
                "jit_time": jit_time, "warm_start": warm, "certificate": best_val, "solve_time": solve_time,
                "form": view.describe(), "storage": "dense" if KD.dense else "csc"}
        # the per-term duals cost a pass over the data through the generic operators; the
        # SparseGLM certificate does not read them, so they are computed when asked for
        duals = (lambda xr=x_ret.copy(): view.duals(xr)) if x_ret is not None else None
        return RawSolution(x=None if x_ret is None else x_ret.copy(), status=mon.status, iterations=epochs,
                           duals=duals, history=mon.history, setup_time=setup_time, info=info, message=mon.message)

    # ------------------------------------------------------------------------------------
    @staticmethod
    def _inner(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs, mon, counters, grad=None):
        """Sweeps on the working set until its KKT score is below tol_in."""
        if (KD.use_gram(view, ws, opt) and view.dkind != losses.LEAST_SQUARES) or (view.dkind == losses.EXP and D.m > 0):
            return CDBackend._inner_newton(view, KD, D, x, u, ws, L, opt, tol_in, epochs, max_epochs, mon)
        if KD.use_gram(view, ws, opt):
            return CDBackend._inner_gram(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs,
                                         mon, counters, grad)
        mode, seed = opt["mode"], opt["seed"]
        last = []
        check = 10
        inner = 0
        while epochs < max_epochs:
            KD.epochs(view, u, x, ws, L, 1, mode, seed + epochs)
            epochs += 1
            inner += 1
            if K_and:
                anderson_window(KD, view, x, u, ws, view.lo[ws], view.hi[ws], last, K_and, counters,
                                lambda xs: float(np.sum(_pen(view, xs, ws))))
            if inner % check == 0:
                d = view.deriv(D, u)
                g = KD.grad_cols(d, ws)
                sc = kkt_distances(view.pkind, x[ws], g, view.w1[ws], view.r[ws], view.lo[ws], view.hi[ws],
                                   view.gamma)
                if float(sc.max(initial=0.0)) <= tol_in:
                    break
                if mon.out_of_time():
                    break
        return epochs

    @staticmethod
    def _inner_gram(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs, mon, counters,
                    grad=None):
        """Least squares on a small working set: CD on its Gram matrix (O(k) per step)."""
        K = _kernels()
        mode, seed = opt["mode"], opt["seed"]
        G = KD.gram_ws(ws, opt, KD.state)
        c2 = 2.0 * view.c
        # G x_ws - q, exactly, from u (read off the outer gradient when it is current)
        gw = (grad[ws] if grad is not None else KD.grad_cols(view.deriv(D, u), ws)) / c2
        x0 = x[ws].copy()
        xw = x0.copy()
        w1, r, lo, hi = view.w1[ws], view.r[ws], view.lo[ws], view.hi[ws]
        Lfloor = 0.0
        if view.pkind:
            Lfloor = 1.001 / (view.gamma if view.pkind == losses.MCP else view.gamma - 1.0)
        stats = np.zeros(3, dtype=np.int64)
        # compiled in chunks, so that the deadline is still looked at now and then
        while epochs < max_epochs:
            chunk = min(max_epochs - epochs, 5000)
            met = _gram_solve(K, G, gw, xw, c2, w1, r, lo, hi, view.pkind, view.gamma, Lfloor, chunk, mode,
                              seed + epochs, tol_in, K_and, stats)
            epochs += int(stats[0])
            counters[0] += int(stats[1])
            counters[1] += int(stats[2])
            if met or mon.out_of_time():
                break
        x[ws] = xw
        KD.add_cols(ws, xw - x0, u)
        return epochs

    @staticmethod
    def _inner_newton(view, KD, D, x, u, ws, L, opt, tol_in, epochs, max_epochs, mon):
        """Proximal Newton on the working set (non-quadratic datafits): the second-order
        model (weighted Gram matrix of the working-set columns) is minimized by CD, then a
        backtracking line search on the true objective. ``epochs`` counts model sweeps."""
        K = _kernels()
        mode, seed = opt["mode"], opt["seed"]
        w1, r, lo, hi = view.w1[ws], view.r[ws], view.lo[ws], view.hi[ws]
        Lfloor = 0.0
        if view.pkind:
            Lfloor = 1.001 / (view.gamma if view.pkind == losses.MCP else view.gamma - 1.0)
        # d, h: derivative and curvature at u (the line search overwrites them with those
        # of its trial points: the accepted one's are what the next step needs, and a step
        # that finds none ends the loop); Ad = A delta, the step direction. Scratch shared
        # by the solve's Newton calls.
        d, h, Ad = KD.work(3)
        stats = np.zeros(3, dtype=np.int64)
        f_data = None
        kinked = view.dkind in (losses.HUBER, losses.SQUARED_HINGE)
        h_floor = 0.01 * view.c * L_PHI[view.dkind] * D.s * D.s if kinked else None
        folded = KD.duplicate_rows(ws, Ad) if dedup_applies(D) else None
        if KD.dh_fresh:          # the outer check just computed them at this u (read once)
            f_data = KD.dh_value
        KD.dh_fresh = False
        for _newton in range(50):
            if f_data is None:
                f_data = _datafit_all(view, K, D, u, d, h)
            if folded is None:
                g = KD.grad_cols(d, ws)
            else:       # A_ws^T d = R^T (d summed over each group of identical rows)
                g = folded[1].T @ np.bincount(folded[0], weights=d, minlength=folded[2])
            xw = x[ws].copy()
            sc = kkt_distances(view.pkind, xw, g, w1, r, lo, hi, view.gamma)
            kkt_now = float(sc.max(initial=0.0))
            if kkt_now <= tol_in or epochs >= max_epochs:
                break
            if mon.out_of_time():
                break
            # Huber and the squared hinge have zero curvature outside their quadratic
            # zone: a column whose samples all sit there has a flat model, so the Newton
            # step runs off along it and the line search cuts it to nothing (seen: steps
            # of 1e-8, stalled). A curvature floor of 1% of the global bound keeps the
            # model honest for samples a step may carry back into the zone.
            w2 = h if h_floor is None else np.maximum(h, h_floor)
            if folded is not None:
                # duplicate rows: one row per group, with the group's summed weight
                group, R, ng = folded
                H = K.gram_rows(R.indptr, R.indices, R.data, np.bincount(group, weights=w2, minlength=ng),
                                ws.size)
            else:
                H = KD.gram(ws, sq_weights=w2)
            # tiny ridge: keeps the 1-D models strictly convex where the curvature vanishes
            dg = np.diagonal(H).copy()
            H[np.diag_indices_from(H)] += 1e-12 * max(float(dg.max(initial=0.0)), 1e-300)
            gw = g.copy()                                  # model gradient H (x_new - x) + g
            xn = xw.copy()
            # The model sweeps cost O(k^2) each, far less than the Hessian and gradient of a
            # Newton step (O(nnz) and more): solve the model well (KKT down by 100x, in one
            # compiled call); an inexact model (the old cap of 20 sweeps) made the Newton
            # steps crawl on correlated columns.
            model_tol = max(0.01 * kkt_now, 0.1 * tol_in)   # (no sweeps for accuracy the target does not ask)
            _gram_solve(K, H, gw, xn, 1.0, w1, r, lo, hi, view.pkind, view.gamma, Lfloor,
                        min(1600, max_epochs - epochs), mode, seed + epochs, model_tol, opt["anderson"], stats)
            epochs += int(stats[0])
            delta = xn - xw
            if not delta.any():
                break
            if folded is None:
                Ad[:] = 0.0
                KD.add_cols(ws, delta, Ad)
            else:       # A_ws delta: each group's row once, then copied to its members
                np.take(folded[1] @ delta, folded[0], out=Ad)
            p_old = float(np.sum(losses.pen_value(view.pkind, xw, w1, r, view.gamma)))
            f_old = f_data + p_old
            decrease = float(np.sum(g * delta)) + float(np.sum(losses.pen_value(view.pkind, xn, w1, r, view.gamma))) - p_old
            step = newton_line_search(view, K, D, u, Ad, d, h, xw, delta, lo, hi, f_old, decrease,
                                      lambda xs: float(np.sum(losses.pen_value(view.pkind, xs, w1, r, view.gamma))))
            if step is None:
                break
            t, xt, f_data = step
            x[ws] = xt
            u += t * Ad if t != 1.0 else Ad
        return epochs

    # ------------------------------------------------------------------------------------
    def _solve_blocks(self, view, options, state, opt, KD, D, L, colsq, x, u, tol, setup_time, jit_time, warm):
        return solve_blocks(view, options, state, opt, KD, D, L, colsq, x, u, tol, setup_time, jit_time, warm)


def _gram_sweeps(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol, K_and, stats):
    """The compiled Gram-model sweeps: cyclic, or random / greedy (a separate kernel)."""
    if mode == 0:
        return K.cd_gram_solve(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, tol, K_and, stats)
    return K.cd_gram_solve_ordered(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol,
                                   K_and, stats)


FACE_FIRST = 20      # sweeps before the first look at the face (doubled while looks do not pay)
FACE_MIN_WORK = 2e5  # multiply-adds of sweeping (~0.1 ms) that a look must be worth


def _gram_solve(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol, K_and, stats):
    """Solve the Gram model  c2/2 x^T G x - c2 q^T x + pen(x)  (``gw = G x - q`` kept up to
    date) to KKT ``tol``: compiled sweeps and, for models without l1 (ridge, box), a
    Newton step on the face of the current point -- the nonzero coordinates strictly
    inside their bounds, signs fixed -- after every few sweeps. On that face the model is
    a smooth quadratic, minimized by one Cholesky solve of the face's size (the step stops
    where a coordinate reaches zero or a bound); CD alone crawls on ill-conditioned data
    (the quick suite's nonnegative least squares, 600 x 300: 13371 sweeps, now 1537).
    Faces whose Gram block is singular are left to the sweeps. ``stats`` gets the sweeps,
    Anderson tries and keeps."""
    k = xw.shape[0]
    # only models without an l1 part (nonnegative / box-constrained least squares, ridge):
    # with l1, CD identifies the support and Anderson takes it from there, and the faces
    # of correlated l1 problems were singular or never held still (mushrooms, a9a: no
    # look taken), so the chunking would only cost its calls
    if (pkind != losses.CONVEX or max_epochs <= FACE_FIRST or FACE_FIRST * k * k < FACE_MIN_WORK
            or w1.any()):
        return _gram_sweeps(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol,
                            K_and, stats)
    total = np.zeros(3, dtype=np.int64)
    # chunks of whole Anderson cycles (K_and + 1 sweeps): each compiled call starts a new
    # cycle, so the sweeps are exactly those of one uninterrupted call
    cycle = K_and + 1 if K_and > 0 else 1
    chunk, cap, met = -(-FACE_FIRST // cycle) * cycle, (5000 // cycle) * cycle, 0
    while total[0] < max_epochs:
        met = _gram_sweeps(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor,
                           min(chunk, max_epochs - int(total[0])), mode, seed + int(total[0]), tol, K_and, stats)
        total += stats
        if met or stats[0] == 0:
            break
        S = np.nonzero((xw != 0) & (xw > lo) & (xw < hi))[0]
        # a look costs |S|^3 / 3 flops and ~50 us of NumPy calls: taken only when the
        # sweeps since the last one cost about as much; while looks pay, they come after
        # every chunk, else the chunks double
        sweeps_cost = chunk * k * max(S.size, 1)
        if not (S.size and S.size ** 3 <= 3 * sweeps_cost and sweeps_cost >= FACE_MIN_WORK
                and _face_newton(G, gw, xw, c2, w1, r, lo, hi, S)):
            chunk = min(2 * chunk, cap)
    stats[:] = total
    return met


def _face_newton(G, gw, xw, c2, w1, r, lo, hi, S) -> bool:
    """One Newton step on the face {x_S, signs fixed, inside the bounds; the rest fixed}
    of the Gram model with pen = w1 |x| + r x^2 + box: solve (c2 G_SS + 2 diag r_S) delta =
    -(c2 gw_S + w1_S sign(x_S) + 2 r_S x_S) by Cholesky (refused if singular), then move
    along delta until the face ends (a coordinate reaching 0 or a bound stops there).
    Kept -- xw and gw updated in place -- only when the model objective, computed
    exactly, decreases."""
    xs = xw[S]
    sg = np.sign(xs)
    H = c2 * G[np.ix_(S, S)]
    H[np.diag_indices_from(H)] += 2.0 * r[S]
    rhs = -(c2 * gw[S] + w1[S] * sg + 2.0 * r[S] * xs)
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return False
    dg = np.diagonal(L)
    if not dg.min() > 1e-7 * dg.max():           # (numerically) singular face: leave it to CD
        return False
    delta = np.linalg.solve(L.T, np.linalg.solve(L, rhs))
    if not np.isfinite(delta).all():
        return False
    alpha = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for limit in (np.where(sg * delta < 0, -xs / delta, np.inf),           # reaching 0
                      np.where(delta > 0, (hi[S] - xs) / delta, np.inf),     # the bounds
                      np.where(delta < 0, (lo[S] - xs) / delta, np.inf)):
            alpha = min(alpha, float(limit.min(initial=np.inf)))
    if not alpha > 0.0:
        return False
    xn = xs + alpha * delta
    xn[sg * xn <= 0] = 0.0                      # a coordinate that reached zero sits at zero
    xn = np.clip(xn, lo[S], hi[S])
    step = xn - xs
    Gd = G[:, S] @ step
    change = (c2 * (float(gw[S] @ step) + 0.5 * float(step @ Gd[S]))
              + float(np.sum(w1[S] * (np.abs(xn) - np.abs(xs)) + r[S] * (xn * xn - xs * xs))))
    if not change < 0.0:
        return False
    xw[S] = xn
    gw += Gd
    return True


def _pen(view, xw, ws):
    return losses.pen_value(view.pkind, xw, view.w1[ws], view.r[ws], view.gamma)
