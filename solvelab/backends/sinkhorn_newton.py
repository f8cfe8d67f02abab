"""Sinkhorn–Newton–Sparse (Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil, Xiao,
Ying 2024) on the EntropicOT form.

Stage 1: log-domain Sinkhorn (``solvelab.backends.sinkhorn``, with epsilon scaling) until
the L1 marginal violation is below ``warmup_tol`` (early stopping).
Stage 2: Newton ascent on the concave dual (Lyapunov) potential

    L(f, g) = <a, f> + <b, g> - eps sum_ij exp((f_i + g_j - C_ij) / eps),
    grad L  = (a - P 1, b - P^T 1),   -eps hess L = [[diag(P 1), P], [P^T, diag(P^T 1)]].

The Hessian is sparsified: P keeps, per row, the entries within a factor ``sparsity``
(default 1e-12) of the row's largest; the diagonal keeps the exact marginals, so the
sparsified matrix stays positive semidefinite with the gradient in its range. The Newton
system is solved by Jacobi-preconditioned CG (``linear_solver='cg'``, default) or by a
sparse Cholesky of the Schur complement on g (``'cholesky'``, through
``solvelab.kernels.factor``: CHOLMOD when scikit-sparse is installed, SciPy otherwise).
A backtracking Armijo line search on L picks the step. One Newton iteration costs one
fused pass over C (both marginals and L at the trial point) plus two sparsification
passes, O(n m) like a Sinkhorn iteration; near the solution convergence is
super-linear in the iteration count.

Stopping: L1 marginal violation and the relative gap estimate both <= tol (the engine
then recomputes the certificate from the returned plan). Iterations reported are the
Sinkhorn warm-up iterations plus the Newton iterations (``info`` splits them).

Between the stages, the last (up to 5; at least 3, run if missing) Sinkhorn iterations at
the final eps measure its linear rate; when that
rate predicts at most ``switch_iters`` (25) further iterations to ``tol`` (large eps),
Newton is not worth its cost and Sinkhorn finishes (``info['switched_to_sinkhorn']``;
``switch_iters=0`` always runs Newton).

The diagonal is shifted by ``levenberg`` (0.01) times the current marginal violation
(a Levenberg–Marquardt damping that vanishes at the solution): at tiny eps the sparsified
plan's bipartite graph splits into nearly disconnected blocks whose near-null directions
would otherwise give huge steps.

When more than ``dense_fraction`` (default 0.25) of the entries are significant (large
eps), the plan is kept dense and CG runs on BLAS mat-vecs, which is then faster than CSR;
the Cholesky option applies to the sparse case only. If the line search fails (at tiny
eps, far from the solution, the sparsified Newton model can be poor), log-domain Sinkhorn
runs from the current potentials until the marginal violation drops tenfold, then Newton
resumes; ``info['fallbacks']`` counts these.

Options (``options.extra``): ``threads`` (Numba threads; BLAS uses one), ``switch_iters`` (25),
``warmup_tol`` (1e-2), ``sparsity`` (1e-12),
``dense_fraction`` (0.25), ``levenberg`` (0.01), ``linear_solver`` ('cg' | 'cholesky'), ``cg_max_iter`` (1000), plus the Sinkhorn
options ``stabilize``, ``tau``, ``eps_scaling``, ``scaling_factor``, ``stage_tol``,
``sparse_plan``, ``sparse_threshold`` for the warm-up and the result.
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..kernels import ot as K
from . import registry
from .base import Backend, RawSolution, SolveOptions, callback_stops
from .sinkhorn import (Reduced, SinkhornState, finish_plan, run_sinkhorn, thread_option,
                       warm_potentials)

_EXTRA = ("threads", "switch_iters", "warmup_tol", "sparsity", "dense_fraction", "levenberg", "linear_solver", "cg_max_iter", "stabilize", "tau", "eps_scaling",
          "scaling_factor", "stage_tol", "sparse_plan", "sparse_threshold")


class _Dual:
    """Marginals and the dual objective at (F, G), in one fused pass over C."""

    def __init__(self, red: Reduced):
        self.red = red
        n, m = red.shape
        self.parts = np.zeros((K.n_chunks(n), m))
        self.inv = 1.0 / red.eps

    def eval(self, F, G):
        red = self.red
        r = np.empty(red.shape[0])
        K.marginals(red.C, F, G, self.inv, r, self.parts)
        c = self.parts.sum(axis=0)
        L = float(red.a @ F + red.b @ G) - red.eps * float(r.sum())
        return L, r, c


def _sparsified(red: Reduced, F, G, log_rel, dense_fraction, dense_buf):
    """The plan's significant entries: a CSR matrix, or (when more than
    ``dense_fraction`` of the entries are significant, so that CSR would be slower than
    BLAS) the dense plan written into ``dense_buf``. Returns (matrix, nnz)."""
    n, m = red.shape
    counts = np.empty(n, dtype=np.int64)
    inv = 1.0 / red.eps
    K.count_significant(red.C, F, G, inv, log_rel, counts)
    total = int(counts.sum())
    if total > dense_fraction * n * m:
        if dense_buf[0] is None:
            dense_buf[0] = np.empty((n, m))
        K.gibbs(red.C, F, G, inv, dense_buf[0])
        return dense_buf[0], n * m
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz)
    K.fill_significant(red.C, F, G, inv, log_rel, indptr, indices, data)
    return sp.csr_matrix((data, indices, indptr), shape=(n, m)), total


def _pcg(P, PT, r, c, rhs_f, rhs_g, rtol, maxiter):
    """Solve [[diag r, P], [P^T, diag c]] [x; y] = [rhs_f; rhs_g] by Jacobi-PCG."""
    def mv(x, y):
        return r * x + P @ y, PT @ x + c * y
    x = np.zeros_like(rhs_f)
    y = np.zeros_like(rhs_g)
    rf, rg = rhs_f.copy(), rhs_g.copy()
    zf, zg = rf / r, rg / c
    pf, pg = zf.copy(), zg.copy()
    rz = float(rf @ zf + rg @ zg)
    bnorm = math.sqrt(float(rhs_f @ rhs_f + rhs_g @ rhs_g))
    it = 0
    for it in range(1, maxiter + 1):
        qf, qg = mv(pf, pg)
        pq = float(pf @ qf + pg @ qg)
        if not pq > 0:
            break
        alpha = rz / pq
        x += alpha * pf
        y += alpha * pg
        rf -= alpha * qf
        rg -= alpha * qg
        if math.sqrt(float(rf @ rf + rg @ rg)) <= rtol * bnorm:
            break
        zf, zg = rf / r, rg / c
        rz_new = float(rf @ zf + rg @ zg)
        beta = rz_new / rz
        rz = rz_new
        pf = zf + beta * pf
        pg = zg + beta * pg
    return x, y, it


def _schur_solve(P, r, c, rhs_f, rhs_g):
    """The same system by sparse Cholesky of S = diag(c) - P^T diag(1/r) P (+ tiny ridge)."""
    from ..kernels.factor import factorize_spd
    Dinv = sp.diags(1.0 / r)
    S = (sp.diags(c) - (P.T @ Dinv @ P)).tocsc()
    S = S + sp.identity(S.shape[0], format="csc") * (1e-13 * float(c.max()))
    fac = factorize_spd(S)
    y = fac.solve(rhs_g - P.T @ (rhs_f / r))
    x = (rhs_f - P @ y) / r
    return x, y, 1


_PROBE = 5  # at most this many of the warm-up's last iterations measure Sinkhorn's linear rate
_MIN_RATE_POINTS = 3  # extra Sinkhorn iterations are run only when the warm-up had fewer at the final eps


class SinkhornNewtonBackend(Backend):
    name = "sinkhorn_newton"
    description = "Sinkhorn-Newton-Sparse: Sinkhorn warm-up, then Newton steps with a sparsified Hessian (entropic OT)"
    forms = ("EntropicOT",)
    default_max_iter = 100000
    warmup = True  # Numba kernels: the bench harness runs a short solve first (compile / cache load)
    priority = 25

    def accepts_extra(self):
        return _EXTRA

    def solve(self, view, options: SolveOptions, state: dict) -> RawSolution:
        with K.threads(blas=1, numba_threads=thread_option(self.name, options.extra)):
            return self._solve(view, options, state)

    def _probe(self, red, extra, F, G, it, tol, switch_iters, max_iter, deadline, history, t0, options,
               on_check, info, warm_state=None):
        """Measure Sinkhorn's linear rate at the final eps (from the warm-up's last
        iterations, or a few more); if it predicts at most
        ``switch_iters`` more to reach ``tol``, finish with Sinkhorn (a Newton iteration
        costs tens of Sinkhorn iterations). Returns (F, G, it, status, message, switched)."""
        mode = extra.get("stabilize", "absorb")
        if warm_state is not None and warm_state.eps == red.eps and warm_state.mode == mode:
            st = warm_state  # continue the warm-up's last stage (its kernel is still valid)
            errs = list(st.errs[-_PROBE:])  # its own last iterations already measure the rate
        else:
            st = SinkhornState(red, F, G, red.eps, float(extra.get("tau", 50.0)), mode)
            errs = []
        extra_steps = 0
        while len(errs) < _MIN_RATE_POINTS:
            if not st.step():  # numerical trouble: keep the warm-up point and go to Newton
                info["sinkhorn_iterations"] += extra_steps + 1
                return F, G, it + extra_steps + 1, "converged", "", False
            errs.append(st.err)
            extra_steps += 1
        it += extra_steps
        info["sinkhorn_iterations"] += extra_steps
        F, G = st.potentials()
        rate = (errs[-1] / errs[0]) ** (1.0 / (len(errs) - 1)) if errs[0] > 0 and errs[-1] > 0 else 0.0
        if errs[-1] <= tol or rate <= 0.0:
            remaining = 0.0
        elif rate < 1.0:
            remaining = math.log(tol / errs[-1]) / math.log(rate)
        else:
            remaining = math.inf
        info["sinkhorn_rate"] = rate
        info["predicted_sinkhorn_iterations"] = remaining
        history.append({"iteration": it, "time": time.perf_counter() - t0, "eps": red.eps, "stage": "probe",
                        "marginal_violation": errs[-1], "residual": errs[-1], "rate": rate})
        if remaining > switch_iters:
            return F, G, it, "converged", "", False
        info["switched_to_sinkhorn"] = True
        start = len(history)
        F, G, it2, status, message, _ = run_sinkhorn(
            red, options, dict(extra, eps_scaling=False), stop_tol=tol, final_tol=tol, check_gap=True,
            max_iter=max(1, max_iter - it), deadline=deadline, history=history, t0=t0, label=self.name,
            F=F, G=G, on_check=on_check, resume=st)
        for rec in history[start:]:
            rec["iteration"] += it
        info["sinkhorn_iterations"] += it2
        return F, G, it + it2, status, message, True

    def _solve(self, view, options: SolveOptions, state: dict) -> RawSolution:
        t_setup = time.perf_counter()
        extra = self.checked_extra(options)
        warmup_tol = float(extra.get("warmup_tol", 1e-2))
        sparsity = float(extra.get("sparsity", 1e-12))
        if not 0.0 < sparsity < 1.0:
            raise InvalidDataError(f"sinkhorn_newton: sparsity must be in (0, 1), got {sparsity!r}")
        solver = extra.get("linear_solver", "cg")
        if solver not in ("cg", "cholesky"):
            raise InvalidDataError(f"sinkhorn_newton: linear_solver must be 'cg' or 'cholesky', got {solver!r}")
        cg_max = int(extra.get("cg_max_iter", 1000))
        dense_fraction = float(extra.get("dense_fraction", 0.25))
        switch_iters = extra.get("switch_iters", 25)
        if isinstance(switch_iters, bool) or not isinstance(switch_iters, (int, np.integer)) or switch_iters < 0:
            raise InvalidDataError(f"sinkhorn_newton: switch_iters must be an integer >= 0, got {switch_iters!r}")
        levenberg = float(extra.get("levenberg", 0.01))
        if not levenberg >= 0.0:
            raise InvalidDataError(f"sinkhorn_newton: levenberg must be >= 0, got {levenberg!r}")
        tol = float(options.tol)
        compile_time = K.warm_up()
        red = Reduced(view)
        F, G, warm = warm_potentials(red, options, state)
        setup_time = time.perf_counter() - t_setup
        t0 = time.perf_counter()
        deadline = None if options.time_limit is None else t0 + float(options.time_limit)
        history: list = []
        max_iter = int(options.max_iter)
        verbose = bool(options.verbose)
        if verbose:
            n, m = red.shape
            print(f"sinkhorn_newton: OT {n}x{m} (support), eps={red.eps:.3e} "
                  f"({red.eps / max(red.cmax, 1e-300):.1e} x max|C|), tol={tol:g}, warm-up to {warmup_tol:g}")
            print(f"{'iter':>7} {'time':>9} {'eps':>10} {'marg. viol':>12} {'absorb':>6}")

        def on_check(rec, st):
            rec["stage"] = "sinkhorn"
            return callback_stops(options, rec)

        # ---- stage 1: Sinkhorn warm-up ----
        wextra = dict(extra, eps_scaling=False) if warm else extra
        F, G, it_s, status, message, st = run_sinkhorn(
            red, options, wextra, stop_tol=max(warmup_tol, tol), final_tol=tol, check_gap=False,
            max_iter=max_iter, deadline=deadline, history=history, t0=t0, label=self.name,
            F=F, G=G, on_check=on_check)
        info = {"compile_time": compile_time, "jit_time": compile_time, "sinkhorn_iterations": it_s, "newton_iterations": 0,
                "warm_start": warm, "eps": red.eps, "cg_iterations": 0, "hessian_nnz": [],
                "line_search_halvings": 0}
        it = it_s
        if status == "converged" and switch_iters > 0 and it + _PROBE < max_iter:
            # is Newton worth it? a few more Sinkhorn iterations measure its linear rate
            F, G, it, status, message, switched = self._probe(
                red, extra, F, G, it, tol, switch_iters, max_iter, deadline, history, t0, options,
                on_check, info, st)
            if switched:
                status = status if status != "converged" else "sinkhorn_done"
        if status == "converged":
            status = "max_iter"
            dual = _Dual(red)
            L, r, c = dual.eval(F, G)
            log_rel = math.log(sparsity)
            dense_buf = [None]
            if verbose:
                print(f"{'newton':>7} {'time':>9} {'marg. viol':>12} {'gap est':>10} {'nnz':>10} {'cg':>5} {'step':>8}")
            while True:
                gf, gg = red.a - r, red.b - c
                err = (float(np.abs(gf).sum()) + float(np.abs(gg).sum())) / red.mass
                prim = float(F @ r + G @ c)
                gap = abs(float(F @ (r - red.a) + G @ (c - red.b)) + red.eps * (float(r.sum()) - red.mass))
                gap /= max(1.0, abs(prim))
                if not (math.isfinite(err) and math.isfinite(L)):
                    status, message = "numerical_error", f"non-finite dual at Newton iteration {it - it_s}"
                    break
                rec = {"iteration": it, "time": time.perf_counter() - t0, "eps": red.eps, "stage": "newton",
                       "marginal_violation": err, "gap_estimate": gap, "residual": max(err, gap)}
                history.append(rec)
                if err <= tol and gap <= tol:
                    status = "converged"
                    break
                if callback_stops(options, rec):
                    status, message = "stopped", f"stopped by the callback at iteration {it}"
                    break
                if it >= max_iter:
                    status, message = "max_iter", f"{max_iter} iterations (marginal violation {err:.2e})"
                    break
                if deadline is not None and time.perf_counter() >= deadline:
                    status, message = "time_limit", f"time limit reached at iteration {it}"
                    break
                # ---- Newton direction on the sparsified Hessian ----
                P, nnz = _sparsified(red, F, G, log_rel, dense_fraction, dense_buf)
                info["hessian_nnz"].append(nnz)
                # Levenberg shift delta * diag(r, c), delta = levenberg * violation: it damps the
                # near-null directions of a Hessian whose sparsified graph splits into nearly
                # disconnected blocks (tiny eps), and vanishes as the iteration converges
                delta = min(levenberg * err, 1.0)
                rf = np.maximum(r, 1e-300) * (1.0 + delta)
                rc = np.maximum(c, 1e-300) * (1.0 + delta)
                rhs_f, rhs_g = red.eps * gf, red.eps * gg
                if solver == "cg" or isinstance(P, np.ndarray):  # a dense plan: CG on BLAS mat-vecs
                    rtol = min(0.1, math.sqrt(err)) * 0.1
                    dF, dG, k = _pcg(P, P.T if isinstance(P, np.ndarray) else P.T.tocsr(), rf, rc, rhs_f, rhs_g, rtol, cg_max)
                else:
                    dF, dG, k = _schur_solve(P, rf, rc, rhs_f, rhs_g)
                info["cg_iterations"] += k
                slope = float(gf @ dF + gg @ dG)
                if not (math.isfinite(slope) and slope > 0):
                    dF, dG = rhs_f / rf, rhs_g / rc  # fall back on the scaled gradient
                    slope = float(gf @ dF + gg @ dG)
                # ---- backtracking line search on L (Armijo) ----
                alpha = 1.0
                accepted = False
                for _ in range(40):
                    Fn, Gn = F + alpha * dF, G + alpha * dG
                    with np.errstate(over="ignore", invalid="ignore"):
                        Ln, rn, cn = dual.eval(Fn, Gn)
                    if math.isfinite(Ln) and Ln >= L + 1e-4 * alpha * slope - 1e-15 * abs(L):
                        accepted = True
                        break
                    errn = (float(np.abs(red.a - rn).sum()) + float(np.abs(red.b - cn).sum())) / red.mass
                    if math.isfinite(Ln) and abs(Ln - L) <= 1e-13 * max(1.0, abs(L)) and errn < err:
                        accepted = True  # L is flat within rounding: accept on the residual
                        break
                    alpha *= 0.5
                    info["line_search_halvings"] += 1
                it += 1
                info["newton_iterations"] += 1
                if verbose:
                    print(f"{it:7d} {rec['time']:9.3f} {err:12.3e} {gap:10.2e} {nnz:10d} {k:5d} {alpha:8.2e}")
                if not accepted:
                    # the Newton model is poor here (tiny eps, far from the solution): run
                    # log-domain Sinkhorn until the violation drops 10x, then resume Newton
                    info["fallbacks"] = info.get("fallbacks", 0) + 1
                    info["fallback"] = (f"line search failed {info['fallbacks']} time(s); log-domain "
                                        "Sinkhorn iterations were run in between")
                    target = max(tol, 0.1 * err)
                    start = len(history)
                    F, G, it2, st2, message, _ = run_sinkhorn(
                        red, options, dict(extra, eps_scaling=False), stop_tol=target, final_tol=tol,
                        check_gap=target <= tol, max_iter=max(1, max_iter - it), deadline=deadline,
                        history=history, t0=t0, label=self.name, F=F, G=G, on_check=on_check)
                    for rec2 in history[start:]:
                        rec2["iteration"] += it
                    it += it2
                    info["sinkhorn_iterations"] += it2
                    if st2 != "converged" or target <= tol:
                        status = st2
                        break
                    message = ""
                    L, r, c = dual.eval(F, G)
                    continue
                F, G, L, r, c = Fn, Gn, Ln, rn, cn
        if status == "sinkhorn_done":
            status = "converged"
        solve_time = time.perf_counter() - t0
        info["solve_time"] = solve_time
        if not (np.all(np.isfinite(F)) and np.all(np.isfinite(G))):
            return RawSolution(x=None, status="numerical_error", iterations=it, history=history,
                               setup_time=setup_time, info=info, message=message or "non-finite potentials")
        x, duals = finish_plan(red, F, G, extra, info)
        state.update(F=F.copy(), G=G.copy(), eps=red.eps)
        if verbose:
            print(f"sinkhorn_newton: {status} after {it} iterations ({info['sinkhorn_iterations']} Sinkhorn + "
                  f"{info['newton_iterations']} Newton), {solve_time:.3f} s" + (f"; {message}" if message else ""))
        return RawSolution(x=x, status=status, iterations=it, duals=duals, history=history,
                           setup_time=setup_time, info=info, message=message)


registry.register(SinkhornNewtonBackend())
