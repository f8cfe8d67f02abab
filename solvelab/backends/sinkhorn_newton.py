"""Sinkhorn–Newton–Sparse (Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil, Xiao,
Ying 2024) on the EntropicOT form.

Stage 1: log-domain Sinkhorn (``solvelab.backends.sinkhorn``) until the L1 marginal
violation is below ``warmup_tol`` (0.3: a rough start is enough for a line-searched
Newton method). Epsilon scaling runs in the warm-up only when eps < ``warmup_scaling``
(5e-3) x max|C| (unless ``eps_scaling`` is given); without it the kernel is built once at
F = row minima of C (one exp pass, no log-sum-exp passes).
Stage 2: Newton ascent on the concave dual (Lyapunov) potential

    L(f, g) = <a, f> + <b, g> - eps sum_ij exp((f_i + g_j - C_ij) / eps),
    grad L  = (a - P 1, b - P^T 1),   -eps hess L = [[diag(P 1), P], [P^T, diag(P^T 1)]].

Which Newton stage runs depends on the plan's sparsity at the warm-up point (measured on
128 sampled rows): the share of entries within a factor ``sparsity`` (1e-12) of their
row's largest.

* Dense plan (share > ``dense_fraction``, 0.25; e.g. eps >= 1e-2 max C): Newton on the
  semi-dual in g (f eliminated by the exact row update f = f(g), so the rows are always
  exact), whose Hessian is the Schur complement diag(P^T 1) - P^T diag(1/a) P of the full
  one. Everything runs on BLAS mat-vecs with the warm-up's kernel K = exp((f0 + g0 - C)
  / eps) and scalings, P = diag(u) K diag(v): the value costs one mat-vec (K v), the
  gradient one more (K^T u), a Hessian product two; no exp pass over C per iteration
  (the scalings are absorbed and K rebuilt when they leave [e^-tau, e^tau]). The Newton
  system is solved by CG preconditioned with diag(P^T 1) to a relative residual
  min(0.1, violation) (quadratic local convergence); CG on the Schur complement needs
  about half the iterations of CG on the full 2 x 2 block system. The final plan is
  diag(u) K diag(v), written transposed in one pass with the costs (no exp either).
* Sparse plan: Newton on the full dual with a sparsified Hessian: P keeps, per row, the
  entries within a factor ``sparsity`` of the row's largest (and, with ``topk=k``, at
  most the k largest of them: the SNS paper's top-k rule); the diagonal keeps the exact
  marginals, so the sparsified matrix stays positive semidefinite with the gradient in
  its range. The system is solved by Jacobi-preconditioned CG (``linear_solver='cg'``,
  default) or by a sparse Cholesky of the Schur complement on g (``'cholesky'``, through
  ``solvelab.kernels.factor``: CHOLMOD when scikit-sparse is installed, SciPy
  otherwise). One iteration costs one fused pass over C (both marginals and L at the
  trial point) plus two sparsification passes. The diagonal is shifted by ``levenberg``
  (0.01) times the current marginal violation (a Levenberg–Marquardt damping that
  vanishes at the solution): at tiny eps the sparsified plan's bipartite graph splits
  into nearly disconnected blocks whose near-null directions would otherwise give huge
  steps.

Both use a backtracking Armijo line search (on the semi-dual, resp. L) that reuses its
last evaluation as the next iterate's. If it fails (at tiny eps, far from the solution,
the Newton model can be poor), log-domain Sinkhorn runs from the current potentials
until the marginal violation drops tenfold, then Newton resumes; ``info['fallbacks']``
counts these.

Stopping: L1 marginal violation and the relative gap estimate both <= tol (the engine
then recomputes the certificate from the returned plan). Iterations reported are the
Sinkhorn warm-up iterations plus the Newton iterations (``info`` splits them; CG
iterations are in ``info['cg_iterations']``, the stage taken in ``info['newton_path']``,
'kernel' or 'sparse').

Between the stages, the last (up to 5; at least 3, run if missing) Sinkhorn iterations at
the final eps, not counting the first one of a fresh start (it measures the starting
point), measure Sinkhorn's linear rate; when that rate predicts at most ``switch_iters``
(25) further iterations to ``tol`` (large eps), Newton is not worth its cost and Sinkhorn
finishes (``info['switched_to_sinkhorn']``; ``switch_iters=0`` always runs Newton).

Threads: BLAS runs on one thread, and so do the Numba passes unless ``threads=k``: the
work is BLAS mat-vecs, and on a busy 2-core machine idle OpenMP workers of a 2-thread
Numba pass made a whole solve 10x slower (clouds n=1000, eps=1e-2 max C: 0.148 s with
threads=2 against 0.017 s with threads=1).

Options (``options.extra``): ``threads`` (Numba threads, default 1; BLAS uses one),
``switch_iters`` (25), ``warmup_tol`` (0.3), ``warmup_scaling`` (5e-3), ``sparsity``
(1e-12), ``dense_fraction`` (0.25), ``topk`` (None), ``levenberg`` (0.01),
``linear_solver`` ('cg' | 'cholesky'), ``cg_max_iter`` (1000), plus the Sinkhorn options
``stabilize``, ``tau``, ``eps_scaling``, ``scaling_factor``, ``stage_tol``, ``sparse_plan``,
``sparse_threshold`` for the warm-up and the result.
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..kernels import ot as K
from . import registry
from .base import Backend, RawSolution, SolveOptions, Table, Workspace
from .sinkhorn import (_TINY, Reduced, SinkhornState, eps_schedule, forbidden_pairs_infeasible, monitor,
                       run_sinkhorn, thread_option, warm_potentials)

_EXTRA = ("threads", "switch_iters", "warmup_tol", "sparsity", "dense_fraction", "levenberg", "linear_solver",
          "topk", "warmup_scaling", "cg_max_iter", "stabilize", "tau", "eps_scaling", "scaling_factor", "stage_tol",
          "sparse_plan", "sparse_threshold")

#: the verbose table of Newton iterations: the check (violation, gap) and the step taken after it
_NEWTON_TABLE = Table(("iteration", "newton", "7d"), ("time", "time", "9.3f"),
                      ("marginal_violation", "marg. viol", "12.3e"), ("gap_estimate", "gap est", "10.2e"),
                      ("nnz", "nnz", "10d"), ("cg", "cg", "5d"), ("step", "step", "8.2e"))
#: what the Sinkhorn runs add to their history records
_SINKHORN_STAGE = {"stage": "sinkhorn"}


def _newton_check(mon, it, eps, err, gap, tol):
    """The history record of a Newton iterate (its table row is printed after the step)
    and the stopping tests: marginals and gap, then the callback, the budget, the
    deadline. Returns (record, whether to stop; ``mon`` says why)."""
    rec = mon.record(it, max(err, gap), show=False, eps=eps, stage="newton", marginal_violation=err,
                     gap_estimate=gap)
    if err <= tol and gap <= 0.5 * tol:
        return rec, mon.stop("converged")
    return rec, mon.check(rec, max_iter_message=f"{mon.max_iter} iterations (marginal violation {err:.2e})")


def _finish_plan(red: Reduced, F, G, extra: dict, info: dict, kernel=None):
    """``sinkhorn.finish_plan`` in one fused pass over C: the F-ordered flat plan, the user
    duals and the cost summaries. ``kernel`` = (Kmat, u, v) with (F, G) its potentials
    (P = diag(u) Kmat diag(v)): the plan is then products, no exp."""
    f, g = red.to_user(F, G)
    view = red.view
    PT = np.empty((red.m_full, red.n_full))
    parts = np.zeros((K.n_tiles(red.m_full), 3))
    if kernel is not None and red.full:
        Kmat, u, v = kernel
        K.plan_from_kernel_transposed(Kmat, view.C, f, g, u, v, 1.0 / red.eps, PT, parts)
    else:
        K.plan_transposed_stats(view.C, f, g, 1.0 / red.eps, PT, parts)
    cp_, ent, mass = parts.sum(axis=0)
    info["transport_cost"] = float(cp_)
    info["entropic_cost"] = float(cp_ + red.eps * ent)
    info["plan_mass"] = float(mass)
    info["f"], info["g"] = f, g
    x = PT.ravel()
    if extra.get("sparse_plan"):
        thr = float(extra.get("sparse_threshold", 1e-12)) * red.mass
        P = view.plan(x)
        info["plan_sparse"] = sp.csr_matrix(np.where(P >= thr, P, 0.0))
    return x, [f, g]


def _state_kernel(st, red, F, G):
    """(Kmat, u, v) of a Sinkhorn state whose potentials are (F, G), else None."""
    if st is None or st.mode != "absorb" or st.Kmat is None or st.eps != red.eps:
        return None
    Fs, Gs = st.potentials()
    if not (np.array_equal(Fs, F) and np.array_equal(Gs, G)):
        return None
    return st.Kmat, st.u, st.v


def _kept_fraction(red, F, G, log_rel, rows=128) -> float:
    """The share of plan entries within ``exp(log_rel)`` of their row's largest, counted on
    ``rows`` evenly spaced rows (all rows when there are fewer)."""
    n, m = red.shape
    idx = np.unique(np.linspace(0, n - 1, min(n, rows)).astype(np.int64))
    counts = np.empty(idx.size, dtype=np.int64)
    K.count_significant(np.ascontiguousarray(red.C[idx]), F[idx], G, 1.0 / red.eps, log_rel, counts)
    return float(counts.sum()) / (idx.size * m)


def _fresh_state(red: Reduced, tau: float) -> SinkhornState:
    """A Sinkhorn state at eps with its kernel built at F = row minima of C, G = 0 (one exp
    pass, no log-sum-exp passes: every row of the kernel has its largest entry 1)."""
    st = SinkhornState(red, None, None, red.eps, tau, "absorb")
    st.Kmat = np.empty(red.shape)
    st.F = np.empty(red.shape[0])
    st.G = np.zeros(red.shape[1])
    K.gibbs_fast(red.C, st.F, st.G, 1.0 / red.eps, st.Kmat, rowmin=True)
    st.u = np.ones(red.shape[0])
    st.v = np.ones(red.shape[1])
    st.wu = red.la.copy()
    st.wv = red.lb.copy()
    st.absorptions = 1
    return st


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


def _sparsified(red: Reduced, F, G, log_rel, dense_fraction, dense_buf, topk=None):
    """The plan's significant entries: a CSR matrix, or (when more than
    ``dense_fraction`` of the entries are significant, so that CSR would be slower than
    BLAS) the dense plan written into ``dense_buf``. With ``topk``, at most about topk
    entries per row are kept (the largest). Returns (matrix, nnz)."""
    n, m = red.shape
    counts = np.empty(n, dtype=np.int64)
    inv = 1.0 / red.eps
    if topk is not None and topk < m:
        thr = np.empty(n)
        K.topk_thresholds(red.C, F, G, inv, log_rel, int(topk), thr, counts)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        indices = np.empty(nnz, dtype=np.int64)
        data = np.empty(nnz)
        K.fill_above(red.C, F, G, inv, thr, indptr, indices, data)
        return sp.csr_matrix((data, indices, indptr), shape=(n, m)), nnz
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


def _schur_pcg(matvec, prec, rhs, rtol, maxiter):
    """Preconditioned CG on the (semidefinite, consistent) system matvec(x) = rhs."""
    x = np.zeros_like(rhs)
    res = rhs.copy()
    z = res / prec
    p = z.copy()
    rz = float(res @ z)
    bnorm = math.sqrt(float(rhs @ rhs))
    it = 0
    if bnorm == 0.0:
        return x, 0
    for it in range(1, maxiter + 1):
        q = matvec(p)
        pq = float(p @ q)
        if not pq > 0:
            break
        alpha = rz / pq
        x += alpha * p
        res -= alpha * q
        if math.sqrt(float(res @ res)) <= rtol * bnorm:
            break
        z = res / prec
        rz_new = float(res @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, it


def _ascent_accepted(new, old, alpha, slope, residual, err) -> bool:
    """The line-search test of both Newton stages (the concave dual is maximized): Armijo
    ascent, or -- the value flat within rounding, as it is near the solution -- a marginal
    violation ``residual()`` (computed only then) below the current ``err``."""
    if not math.isfinite(new):
        return False
    if new >= old + 1e-4 * alpha * slope - 1e-15 * abs(old):
        return True
    return abs(new - old) <= 1e-13 * max(1.0, abs(old)) and residual() < err


def _forcing(err, tol):
    """Relative CG tolerance of the kernel Newton step: proportional to the violation
    (Eisenstat-Walker, quadratic local convergence), but no tighter than needed to land
    below ``tol`` with a 10x margin. Mat-vec pairs to 1e-9 (DOTmark 32x32 / 64x64, clouds
    n=1000 / 3000 at eps = 1e-2 max C): min(0.1, err) alone 50 / 50 / 32 / 36, this rule
    42 / 41 / 32 / 32; the super-linear 0.1 min(0.1, sqrt(err)) cost 11 instead of 10
    iterations on the n=1000 clouds."""
    return max(min(0.1, err), 0.1 * tol / err)


class _KernelDual:
    """The semi-dual in g on a kernel K = exp((F0 + G0 - C) / eps) kept dense (BLAS):
    P = diag(u) K diag(v) with v = exp(y), G = G0 + eps y, and the rows always exact,
    u = a / (K v) (F = F0 + eps log u). Concave in y:

        phi(y) = <b, y> - <a, log K e^y>,  grad = b - P^T 1,
        -hess  = diag(P^T 1) - P^T diag(1/a) P   (the Schur complement of the full dual).

    Every quantity costs BLAS mat-vecs on K (no exp over the n x m entries): the value one
    (K v), the gradient one more (K^T u), a Hessian product two. When |y| or |log u|
    leaves [-tau, tau], the scalings are absorbed into (F0, G0) and K is rebuilt (one
    fused exp pass)."""

    def __init__(self, red: Reduced, Kmat, F0, G0, y, tau):
        self.red = red
        self.K = Kmat
        self.F0, self.G0 = F0, G0
        self.tau = tau
        self.absorptions = 0
        self.set(y)

    def value(self, y):
        """(phi, s = K e^y) at y; phi = -inf when a row of K e^y vanishes or overflows."""
        red = self.red
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            s = self.K @ np.exp(y)
            phi = float(red.b @ y) - float(red.a @ np.log(s))
        if not math.isfinite(phi):
            phi = -math.inf
        return phi, s

    def set(self, y, phi=None, s=None):
        """Move to y (reusing phi, s of ``value`` when given): u, the column marginal c."""
        if phi is None:
            phi, s = self.value(y)
        self.y, self.phi, self.s = y, phi, s
        self.v = np.exp(y)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            self.u = self.red.a / s
            self.c = self.v * (self.K.T @ self.u)
        self.r = self.u * s

    def potentials(self):
        eps = self.red.eps
        with np.errstate(divide="ignore"):
            return self.F0 + eps * np.log(self.u), self.G0 + eps * self.y

    def needs_absorb(self) -> bool:
        return (float(np.max(np.abs(self.y))) > self.tau
                or not (self.u.min() > math.exp(-self.tau) and self.u.max() < math.exp(self.tau)))

    def absorb(self):
        red = self.red
        F, G = self.potentials()
        K.gibbs_fast(red.C, F, G, 1.0 / red.eps, self.K)
        self.F0, self.G0 = F, G
        self.absorptions += 1
        self.set(np.zeros_like(self.y))

    def hess_op(self, delta):
        """z -> (diag(c) (1 + delta) - P^T diag(1/a) P) z and its Jacobi preconditioner."""
        K_, u, v, c = self.K, self.u, self.v, self.c
        w = u / self.s  # u^2 / a
        cd = c * (1.0 + delta)

        def mv(z):
            return cd * z - v * (K_.T @ (w * (K_ @ (v * z))))
        return mv, np.maximum(cd, 1e-300)


def _kernel_newton(red, kd, it, tol, mon, info, levenberg, cg_max):
    """Newton ascent on the semi-dual of ``kd`` (a ``_KernelDual``). Returns (it, status, message)."""
    n, m = red.shape
    while True:
        if kd.needs_absorb():
            kd.absorb()
        F, G = kd.potentials()
        r, c = kd.r, kd.c
        gg = red.b - c
        err = (float(np.abs(red.a - r).sum()) + float(np.abs(gg).sum())) / red.mass
        prim = float(F @ r + G @ c)
        gap = abs(float(F @ (r - red.a) + G @ (c - red.b)) + red.eps * (float(r.sum()) - red.mass))
        gap /= max(abs(prim), _TINY)
        if not (math.isfinite(err) and math.isfinite(kd.phi)):
            mon.stop("numerical_error", f"non-finite dual at Newton iteration {info['newton_iterations']}")
            return it, mon.status, mon.message
        rec, stop = _newton_check(mon, it, red.eps, err, gap, tol)
        if stop:
            return it, mon.status, mon.message
        info["hessian_nnz"].append(n * m)
        delta = min(levenberg * err, 1.0)
        mv, prec = kd.hess_op(delta)
        rtol = _forcing(err, tol)
        dy, k = _schur_pcg(mv, prec, gg, rtol, cg_max)
        info["cg_iterations"] += k
        slope = float(gg @ dy)
        if not (math.isfinite(slope) and slope > 0):
            dy = gg / prec
            slope = float(gg @ dy)
        alpha = 1.0
        accepted = False
        phi = kd.phi
        for _ in range(40):
            yn = kd.y + alpha * dy
            if float(np.max(np.abs(yn))) < 600.0:
                phin, sn = kd.value(yn)

                def residual(yn=yn, sn=sn):
                    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                        cn = np.exp(yn) * (kd.K.T @ (red.a / sn))
                    return float(np.abs(red.b - cn).sum()) / red.mass
                if _ascent_accepted(phin, phi, alpha, slope, residual, err):
                    accepted = True
                    break
            alpha *= 0.5
            info["line_search_halvings"] += 1
        it += 1
        info["newton_iterations"] += 1
        mon.row({**rec, "iteration": it, "nnz": n * m, "cg": k, "step": alpha}, _NEWTON_TABLE)
        if not accepted:
            return it, "line_search_failed", ""
        kd.set(yn, phin, sn)


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

    def setup(self, view, options: SolveOptions) -> Workspace:
        """The problem on the support of the marginals (``Reduced``): built once per program."""
        return Workspace(reduced=Reduced(view))

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        nt = thread_option(self.name, options.extra)
        with K.threads(blas=1, numba_threads=1 if nt is None else nt):
            return self._solve(view, options, ws)

    def _probe(self, red, extra, F, G, it, tol, switch_iters, mon, info, warm_state=None):
        """Measure Sinkhorn's linear rate at the final eps (from the warm-up's last
        iterations, or a few more); if it predicts at most
        ``switch_iters`` more to reach ``tol``, finish with Sinkhorn (a Newton iteration
        costs tens of Sinkhorn iterations). Returns (F, G, it, status, message, switched)."""
        mode = extra.get("stabilize", "absorb")
        if warm_state is not None and warm_state.eps == red.eps and warm_state.mode == mode:
            st = warm_state  # continue the warm-up's last stage (its kernel is still valid)
            # its own last iterations already measure the rate; not its first one, which
            # measures the starting point (from scratch: a huge violation)
            errs = list(st.errs[1:][-_PROBE:])
        else:
            st = SinkhornState(red, F, G, red.eps, float(extra.get("tau", 50.0)), mode)
            errs = []
        extra_steps = 0
        while len(errs) < _MIN_RATE_POINTS:
            if not st.step():  # numerical trouble: keep the warm-up point and go to Newton
                info["sinkhorn_iterations"] += extra_steps + 1
                return F, G, it + extra_steps + 1, "converged", "", False, None
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
        mon.record(it, errs[-1], show=False, eps=red.eps, stage="probe", marginal_violation=errs[-1], rate=rate)
        if remaining > switch_iters:
            return F, G, it, "converged", "", False, st
        info["switched_to_sinkhorn"] = True
        history = mon.history
        start = len(history)
        F, G, it2, status, message, st2 = run_sinkhorn(
            red, mon.child(max(1, mon.max_iter - it)), dict(extra, eps_scaling=False), stop_tol=tol,
            final_tol=tol, check_gap=True, label=self.name, F=F, G=G, fields=_SINKHORN_STAGE, resume=st)
        for rec in history[start:]:
            rec["iteration"] += it
        info["sinkhorn_iterations"] += it2
        return F, G, it + it2, status, message, True, st2

    def _solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t_setup = time.perf_counter()
        extra = self.checked_extra(options)
        warmup_tol = float(extra.get("warmup_tol", 0.3))
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
        warmup_scaling = float(extra.get("warmup_scaling", 5e-3))
        if not warmup_scaling >= 0.0:
            raise InvalidDataError(f"sinkhorn_newton: warmup_scaling must be >= 0, got {warmup_scaling!r}")
        topk = extra.get("topk")
        if topk is not None and (isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1):
            raise InvalidDataError(f"sinkhorn_newton: topk must be None or an integer >= 1, got {topk!r}")
        levenberg = float(extra.get("levenberg", 0.01))
        if not levenberg >= 0.0:
            raise InvalidDataError(f"sinkhorn_newton: levenberg must be >= 0, got {levenberg!r}")
        tol = float(options.tol)
        infeasible = forbidden_pairs_infeasible(view, self.name, t_setup)
        if infeasible is not None:
            return infeasible
        compile_time = K.warm_up()
        red = ws["reduced"]
        F, G, warm = warm_potentials(red, options, ws.warm)
        setup_time = time.perf_counter() - t_setup
        mon = monitor(options)
        history = mon.history
        max_iter = mon.max_iter
        if mon.verbose:
            n, m = red.shape
            print(f"sinkhorn_newton: OT {n}x{m} (support), eps={red.eps:.3e} "
                  f"({red.eps / max(red.cmax, 1e-300):.1e} x max|C|), tol={tol:g}, warm-up to {warmup_tol:g}")
            mon.header()

        # ---- stage 1: Sinkhorn warm-up ----
        wextra = dict(extra)
        if warm:
            wextra["eps_scaling"] = False
        elif extra.get("eps_scaling") is None:  # Newton needs a rougher start than Sinkhorn's stages
            wextra["eps_scaling"] = red.eps < warmup_scaling * red.cmax
        mode = extra.get("stabilize", "absorb")
        resume = None
        if F is None and mode == "absorb" and len(eps_schedule(red, red.eps, wextra["eps_scaling"], 0.25)) == 1:
            resume = _fresh_state(red, float(extra.get("tau", 50.0)))
        F, G, it_s, status, message, st = run_sinkhorn(
            red, mon, wextra, stop_tol=max(warmup_tol, tol), final_tol=tol, check_gap=False, label=self.name,
            F=F, G=G, fields=_SINKHORN_STAGE, resume=resume)
        info = {"compile_time": compile_time, "jit_time": compile_time, "sinkhorn_iterations": it_s, "newton_iterations": 0,
                "warm_start": warm, "eps": red.eps, "cg_iterations": 0, "hessian_nnz": [],
                "line_search_halvings": 0}
        it = it_s
        final_kernel = None  # (Kmat, u, v) of the returned potentials, when there is one

        def fallback(F, G, err, it):
            """After a failed line search: log-domain Sinkhorn until the marginal violation
            drops 10x (or to tol). Returns F, G, the iteration count, Sinkhorn's status,
            message and state, and the target it ran to."""
            info["fallbacks"] = info.get("fallbacks", 0) + 1
            info["fallback"] = (f"line search failed {info['fallbacks']} time(s); log-domain "
                                "Sinkhorn iterations were run in between")
            target = max(tol, 0.1 * err)
            start = len(history)
            F, G, it2, status, message, st = run_sinkhorn(
                red, mon.child(max(1, max_iter - it)), dict(extra, eps_scaling=False), stop_tol=target,
                final_tol=tol, check_gap=target <= tol, label=self.name, F=F, G=G, fields=_SINKHORN_STAGE)
            for rec2 in history[start:]:
                rec2["iteration"] += it
            info["sinkhorn_iterations"] += it2
            return F, G, it + it2, status, message, st, target
        if status == "converged" and switch_iters > 0 and it + _PROBE < max_iter:
            # is Newton worth it? a few more Sinkhorn iterations measure its linear rate
            F, G, it, status, message, switched, st = self._probe(
                red, extra, F, G, it, tol, switch_iters, mon, info, st)
            if switched:
                status = status if status != "converged" else "sinkhorn_done"
                final_kernel = _state_kernel(st, red, F, G)
        use_kernel = False
        if status == "converged" and topk is None:
            use_kernel = _kept_fraction(red, F, G, math.log(sparsity)) > dense_fraction
        if status == "converged":
            info["newton_path"] = "kernel" if use_kernel else "sparse"
        while status == "converged" and use_kernel:
            # ---- stage 2, dense plan: Newton on the semi-dual with BLAS mat-vecs on a kernel ----
            if st is not None and st.mode == "absorb" and st.Kmat is not None and st.eps == red.eps:
                Kmat, F0, G0 = st.Kmat, st.F, st.G
                y = np.log(st.v)
            else:
                Kmat = np.empty(red.shape) if st is None or st.Kmat is None else st.Kmat
                K.gibbs_fast(red.C, F, G, 1.0 / red.eps, Kmat)
                F0, G0, y = F, G, np.zeros(red.shape[1])
            kd = _KernelDual(red, Kmat, F0, G0, y, float(extra.get("tau", 50.0)))
            mon.header(_NEWTON_TABLE)
            it, status, message = _kernel_newton(red, kd, it, tol, mon, info, levenberg, cg_max)
            info["kernel_absorptions"] = info.get("kernel_absorptions", 0) + kd.absorptions
            F, G = kd.potentials()
            if status != "line_search_failed":
                final_kernel = (kd.K, kd.u, kd.v)
                break
            # the Newton model is poor here: log-domain Sinkhorn until the violation drops 10x
            F, G, it, status, message, st, target = fallback(F, G, history[-1]["marginal_violation"], it)
            if status == "converged" and target <= tol:
                status = "sinkhorn_done"
                final_kernel = _state_kernel(st, red, F, G)
        if status == "converged" and not use_kernel:
            status = "max_iter"
            dual = _Dual(red)
            L, r, c = dual.eval(F, G)
            log_rel = math.log(sparsity)
            dense_buf = [None]
            mon.header(_NEWTON_TABLE)
            while True:
                gf, gg = red.a - r, red.b - c
                err = (float(np.abs(gf).sum()) + float(np.abs(gg).sum())) / red.mass
                prim = float(F @ r + G @ c)
                gap = abs(float(F @ (r - red.a) + G @ (c - red.b)) + red.eps * (float(r.sum()) - red.mass))
                gap /= max(abs(prim), _TINY)
                if not (math.isfinite(err) and math.isfinite(L)):
                    status, message = "numerical_error", f"non-finite dual at Newton iteration {it - it_s}"
                    break
                rec, stop = _newton_check(mon, it, red.eps, err, gap, tol)
                if stop:
                    status, message = mon.status, mon.message
                    break
                # ---- Newton direction on the sparsified Hessian ----
                P, nnz = _sparsified(red, F, G, log_rel, dense_fraction, dense_buf, topk)
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
                    if _ascent_accepted(Ln, L, alpha, slope, lambda rn=rn, cn=cn: (
                            float(np.abs(red.a - rn).sum()) + float(np.abs(red.b - cn).sum())) / red.mass, err):
                        accepted = True
                        break
                    alpha *= 0.5
                    info["line_search_halvings"] += 1
                it += 1
                info["newton_iterations"] += 1
                mon.row({**rec, "iteration": it, "nnz": nnz, "cg": k, "step": alpha}, _NEWTON_TABLE)
                if not accepted:
                    # the Newton model is poor here (tiny eps, far from the solution): run
                    # log-domain Sinkhorn until the violation drops 10x, then resume Newton
                    F, G, it, st2, message, _, target = fallback(F, G, err, it)
                    if st2 != "converged" or target <= tol:
                        status = st2
                        break
                    message = ""
                    L, r, c = dual.eval(F, G)
                    continue
                F, G, L, r, c = Fn, Gn, Ln, rn, cn
        if status == "sinkhorn_done":
            status = "converged"
        mon.stop(status, message)
        solve_time = mon.elapsed()
        info["solve_time"] = solve_time
        if not (np.all(np.isfinite(F)) and np.all(np.isfinite(G))):
            return RawSolution(x=None, status="numerical_error", iterations=it, history=history,
                               setup_time=setup_time, info=info, message=message or "non-finite potentials")
        x, duals = _finish_plan(red, F, G, extra, info, final_kernel)
        ws.warm.update(F=F.copy(), G=G.copy(), eps=red.eps)
        mon.summary("sinkhorn_newton", f"{it} iterations ({info['sinkhorn_iterations']} Sinkhorn + "
                                       f"{info['newton_iterations']} Newton)", solve_time)
        return RawSolution(x=x, status=status, iterations=it, duals=duals, history=history,
                           setup_time=setup_time, info=info, message=message)


registry.register(SinkhornNewtonBackend())
