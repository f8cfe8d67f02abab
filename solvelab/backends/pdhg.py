"""Restarted PDHG for linear programs (PDLP's scheme) on the LinearProgram form.

The LP ``min c^T x s.t. rl <= A x <= ru, l <= x <= u`` is the saddle point
``min_{l<=x<=u} max_y c^T x - y^T A x + p(y)`` (p the support term of the row bounds),
solved on a rescaled copy:

  scaling      Ruiz equilibration (10 rounds, max-norm) then one Pock–Chambolle round
               (alpha = 1); c and the row bounds are then divided by their 2-norms
  steps        PDLP's adaptive step: eta accepted when eta <= |dz|_w^2 / (2 |dy^T A dx|)
               (``kernels.pdhg.pdhg_steps``, fused Numba loops over CSR A and A^T)
  restarts     every ``restart_every`` steps, on the w-weighted KKT error of the current
               point and of the step-weighted average (the better one is the candidate):
               sufficient decay 0.2, necessary decay 0.8 with no progress since the last
               evaluation, or an artificial restart after 36 % of all steps
  primal weight  w = exp(0.5 log(|dy| / |dx|) + 0.5 log w) over each restart cycle
  stopping     at each evaluation the LP certificate (``families.lp``: relative primal,
               dual residual and gap on the original data) of both candidates, the
               primal residual first without the row sizes |A| |x| (stricter, no pass);
               read from the scaled point by one Numba pass (``kernels.lp_measures``, no
               unscaled copies); below ``tol`` it is recomputed by ``families.lp`` with
               fresh products (three passes)
  rays         iterate differences since the last evaluation and since the last
               restart (screened in Numba, then checked by ``families.lp``): a Farkas
               ray of the multipliers (status 'infeasible') or a
               primal descent ray; the latter is returned (status 'unbounded') only with
               a feasible point, which a second run without the objective finds (or it
               finds a Farkas ray). Every ray is rechecked with fresh products.
               Where the differences oscillate (Netlib gas11) but c^T x keeps falling
               (to 4x its value at the last try, relative gap >= 0.5), the descent-ray LP
               (``families.lp.rays``) is solved on a budget of a quarter of the
               iterations so far; its x is checked as a ray at every evaluation
               (``ray_lp=False`` turns this off; its iterations count in the total).

``scheme='halpern'`` runs the reflected restarted Halpern iteration over the same PDHG
operator instead (fixed step 0.998 / |A|_2, restarts on the fixed-point residual; the
scheme of cuPDLPx): fewer passes on some LPs (israel, e226, 25fv47), more on others:
an option, not the default. Its step needs |A|_2 from above or exactly: Lanczos
(``halpern_step``), not a power iteration. Its evaluations run in Numba
(``kernels.halpern_lp``) until an eventful one (a point that meets tol, the budget, a
ray screen that passes, the drift, a NaN), which the Python body processes as for the
adaptive scheme; with a callback every evaluation is Python's (the same decisions:
tests compare the two).

``device='cuda'`` (``options.extra``; default 'cpu', None: from the input arrays) runs the
Halpern scheme with its whole iteration loop on an NVIDIA GPU (``kernels.cuda.pdhg``: CSR
SpMV fused with the primal / dual steps and the Halpern combination, two kernels a
step). Scaling, the norm estimate and the start are computed on the host at setup; the
restart tests, the primal weight and the stopping test run on the host from a few
scalars the device reduces per evaluation (the certificate's parts at T z in the
original scaling); the point comes back to the host only when the device's measure
meets tol (then rechecked with fresh host products, as on the CPU) and at the end. Not on
the device: the adaptive scheme (``scheme='adaptive'`` with ``device='cuda'`` is refused),
the infeasibility / unboundedness rays (a run on an infeasible or unbounded LP ends at
its budget) and the callback's ``x``. Missing CUDA raises ``MissingDependencyError``
naming ``pip install 'solvelab[gpu]'``. The engine recomputes the certificate on the host.

``info['matvecs']`` counts every pass over A or A^T (rejected steps and checks included;
``matvecs_A``, ``matvecs_AT`` apart). Warm start: the last solution (x, y, step, primal
weight) of the same data version. Options (``options.extra``): ``eval_every`` (16: steps
between evaluations of the stopping test), ``restart_every`` (16: steps between restart and
ray checks, rounded to whole evaluations),
``ruiz_iters`` (10), ``restart`` (True), ``primal_weight_smoothing`` (0.5), ``scheme``
('adaptive' | 'halpern'), ``reflection`` (1.0, Halpern's rho in [0, 1]), ``ray_lp``
(True: the descent-ray LP, above), ``device`` ('cpu' | 'cuda' | None).
Statuses: converged, max_iter, time_limit, stopped, infeasible, unbounded, numerical_error.
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..families.lp import check_farkas, check_unbounded_ray, descent_ray_program, measures, multipliers_to_duals
from ..families.lp.certificate import RAY_TOL, ROW_FLOOR, measures_from_parts
from ..kernels import halpern_lp as KH
from ..kernels import lp_measures as KM
from ..kernels import pdhg as K
from ..kernels.cuda.device import require_cuda, resolve_device
from ..kernels.opnorm import operator_norm, power_reaches
from . import registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

_EXTRA = ("eval_every", "restart_every", "ruiz_iters", "restart", "primal_weight_smoothing", "scheme", "reflection",
          "ray_lp",
          "device")

TABLE = Table(("iteration", "iter", "8d"), ("time", "time", "9.3f"), ("primal_residual", "primal", "10.2e"),
              ("dual_residual", "dual", "10.2e"), ("gap", "gap", "10.2e"), ("matvecs", "passes", "9d"),
              ("restarts", "rst", "5d"), ("omega", "weight", "10.2e"))

_BETA_SUFFICIENT, _BETA_NECESSARY, _ARTIFICIAL = 0.2, 0.8, 0.36
#: the descent-ray LP is tried each time c^T x has fallen to this many times its value at
#: the last try (or when it first went negative) while the relative gap is at least
#: _DRIFT_GAP (on an unbounded LP c^T x runs away from any dual value: the gap tends to 1),
#: with at least this many iterations
_DRIFT, _DRIFT_GAP, _RAY_LP_MIN = 4.0, 0.5, 1000


class Scaled:
    """The rescaled matrix (setup: depends on A only) and, per solve, the scaled vectors."""

    def __init__(self, lp, ruiz_iters: int = 10):
        dr, dc = K.ruiz(lp.A, ruiz_iters)
        S = sp.csr_matrix(lp.A, dtype=np.float64, copy=True)
        S.sum_duplicates()
        S.sort_indices()
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        S.data = (dr[rows] * S.data) * dc[S.indices]
        T = S.T.tocsr()
        T.sort_indices()
        self.dr, self.dc = dr, dc
        self.mats = (S.indptr.astype(np.int64), S.indices.astype(np.int64), S.data.copy(),
                     T.indptr.astype(np.int64), T.indices.astype(np.int64), T.data.copy())
        self.A, self.AT = S, T
        self.max_abs = float(np.max(np.abs(S.data), initial=0.0))

    def vectors(self, lp, objective: bool = True):
        """(c, l, u, rl, ru) scaled, with the factors alpha, beta of x = beta dc x^,
        y = (alpha / beta) dr y^."""
        dr, dc = self.dr, self.dc
        rl, ru = dr * lp.rl, dr * lp.ru
        fin = np.concatenate([rl[np.isfinite(rl)], ru[np.isfinite(ru)]])
        beta = float(np.linalg.norm(fin))
        if beta == 0.0:
            fl = np.concatenate([(lp.l / dc)[np.isfinite(lp.l)], (lp.u / dc)[np.isfinite(lp.u)]])
            beta = float(np.linalg.norm(fl)) or 1.0
        ct = dc * lp.c if objective else np.zeros_like(lp.c)
        cn = float(np.linalg.norm(ct))
        alpha = beta * cn if cn > 0 else beta
        self.alpha, self.beta = alpha, beta
        return (ct * (beta / alpha), lp.l / (dc * beta), lp.u / (dc * beta), rl / beta, ru / beta)

    # original <-> scaled
    def x_out(self, xs):
        return self.beta * self.dc * xs

    def y_out(self, ys):
        return (self.alpha / self.beta) * self.dr * ys

    def Ax_out(self, Axs):
        return (self.beta / self.dr) * Axs

    def ATy_out(self, ATys):
        return (self.alpha / self.beta) / self.dc * ATys

    def x_in(self, x):
        return x / (self.beta * self.dc)

    def y_in(self, y):
        return y * self.beta / (self.alpha * self.dr)


def _support(v, lo, hi) -> float:
    with np.errstate(invalid="ignore"):
        return float(np.where(v > 0, v * lo, np.where(v < 0, v * hi, 0.0)).sum())


def scaled_kkt(vec, w, x, Ax, y, ATy) -> float:
    """The w-weighted KKT error sqrt(w |primal|^2 + |dual|^2 / w + gap^2) of the scaled LP."""
    c, l, u, rl, ru = vec
    pr = float(np.linalg.norm(Ax - np.clip(Ax, rl, ru)))
    r = c - ATy
    rh = np.where(np.isfinite(l), r, np.minimum(r, 0.0))
    rh = np.where(np.isfinite(u), rh, np.maximum(rh, 0.0))
    dr = float(np.linalg.norm(r - rh))
    gap = float(c @ x) - _support(y, rl, ru) - _support(rh, l, u)
    return math.sqrt(w * pr * pr + dr * dr / w + gap * gap)


def start_point(S: Scaled, vec, shape, x0=None, y0=None):
    """The scaled start (x, y): x0 (or 0) clipped to the bounds, y0 (or 0) with the sign
    each row's one-sided bounds allow."""
    _, l, u, rl, ru = vec
    m, n = shape
    x = np.clip(np.zeros(n) if x0 is None else S.x_in(x0), l, u)
    y = np.zeros(m) if y0 is None else S.y_in(y0)
    y = np.where(np.isfinite(rl), y, np.minimum(y, 0.0))
    y = np.where(np.isfinite(ru), y, np.maximum(y, 0.0))
    return x, y


class _Run:
    """One adaptive-step PDHG run (PDLP's scheme; the objective phase, or the feasibility
    phase without c)."""

    def __init__(self, lp, S: Scaled, objective: bool, x0=None, y0=None, eta=None, w=None):
        self.lp, self.S = lp, S
        self.vec = S.vectors(lp, objective)
        c, l, u, rl, ru = self.vec
        x, y = start_point(S, self.vec, lp.shape, x0, y0)
        self.x, self.y = x, y
        self.Ax, self.ATy = S.A @ x, S.AT @ y
        self.passes = [1, 1]
        self.eta = (1.0 / S.max_abs if S.max_abs > 0 else 1.0) if eta is None else eta
        self.w = 1.0 if w is None else w
        self.k = 0
        self.data = S.mats + (c, l, u, rl, ru)
        self._reset_average()
        self.restart_point = (x.copy(), y.copy())
        self.kkt_restart = scaled_kkt(self.vec, self.w, x, self.Ax, y, self.ATy)
        self.kkt_prev = math.inf
        self.steps_since_restart = 0
        self.restarts = 0

    def _reset_average(self):
        n, m = self.x.size, self.y.size
        self.sums = [np.zeros(n), np.zeros(m), np.zeros(m), np.zeros(n)]
        self.wsum = 0.0

    def steps(self, count: int) -> None:
        n, m = self.x.size, self.y.size
        bufs = (np.empty(n), np.empty(m), np.empty(m), np.empty(n))
        it = (self.x, self.y, self.Ax, self.ATy) + bufs + tuple(self.sums)
        self.eta, self.k, na, nt, ws = K.pdhg_steps(self.data, it, self.eta, self.w, self.k, count)
        self.passes[0] += na
        self.passes[1] += nt
        self.wsum += ws
        self.steps_since_restart += count

    def average(self):
        if self.wsum <= 0:
            return self.x, self.Ax, self.y, self.ATy
        xs, ys, Axs, ATys = self.sums
        s = 1.0 / self.wsum
        return xs * s, Axs * s, ys * s, ATys * s

    def candidates(self):
        """The points judged at an evaluation (scaled): the current one and the average."""
        return [(self.x, self.Ax, self.y, self.ATy), self.average()]

    def original(self, x, Ax, y, ATy):
        S, lp = self.S, self.lp
        # the clip undoes only the rounding of the unscaling (x^ lies in its scaled bounds)
        return np.clip(S.x_out(x), lp.l, lp.u), S.Ax_out(Ax), S.y_out(y), S.ATy_out(ATy)

    def _orig_vectors(self):
        if getattr(self, "_orig", None) is None:
            lp = self.lp
            self._orig = tuple(np.ascontiguousarray(v, dtype=np.float64) for v in (lp.c, lp.l, lp.u, lp.rl, lp.ru))
        return self._orig

    def assess(self, pt):
        """(primal residual (strict: no row sizes), dual residual, gap, c^T X) of the LP
        certificate at the scaled candidate ``pt``, in the original scaling, as
        ``families.lp.measures(lp, *self.original(*pt), reads=0.0)`` computes them (one
        Numba pass, ``kernels.lp_measures``); None when the point has a NaN or Inf."""
        S = self.S
        c, l, u, rl, ru = self._orig_vectors()
        x, Ax, y, ATy = pt
        out = KM.lp_parts(x, Ax, y, ATy, S.dr, S.dc, S.beta, S.alpha / S.beta, c, l, u, rl, ru, ROW_FLOOR)
        rows, x_clip, x_max, r_viol, scale, P, D, size, projected, finite = out
        if not finite:
            return None
        if projected:   # y outside its sign domain (never from a PDHG step): numpy's general formula
            p, d, g, P, _ = measures(self.lp, *self.original(*pt), reads=0.0)
            return p, d, g, P
        p, d, g = measures_from_parts(rows, x_clip, x_max, r_viol, scale, P, D, size)
        return p, d, g, P

    def primal_with_reads(self, pt) -> float:
        """The primal residual at ``pt`` against the row sizes |A| |X| (one pass over A)."""
        S = self.S
        c, l, u, rl, ru = self._orig_vectors()
        Ap, Aj, Av = S.mats[:3]
        rows = KM.row_ratio_reads(Ap, Aj, Av, pt[0], pt[1], S.dr, S.dc, S.beta, l, u, rl, ru, ROW_FLOOR)
        return max(rows, 0.0)   # X lies in its bounds (``original`` clips it)

    def restart(self, smoothing: float, total_steps: int) -> bool:
        """PDLP's adaptive restart test on the KKT error; restarts (and updates the primal
        weight) when it passes. Returns whether it restarted."""
        cur = (self.x, self.Ax, self.y, self.ATy)
        avg = self.average()
        k_cur = scaled_kkt(self.vec, self.w, cur[0], cur[1], cur[2], cur[3])
        k_avg = scaled_kkt(self.vec, self.w, avg[0], avg[1], avg[2], avg[3])
        cand, k_c = (avg, k_avg) if k_avg < k_cur else (cur, k_cur)
        do = (k_c <= _BETA_SUFFICIENT * self.kkt_restart
              or (k_c <= _BETA_NECESSARY * self.kkt_restart and k_c > self.kkt_prev)
              or self.steps_since_restart >= _ARTIFICIAL * total_steps)
        self.kkt_prev = k_c
        if not do:
            return False
        x, Ax, y, ATy = (np.array(v, copy=True) for v in cand)
        x0, y0 = self.restart_point
        dx, dy = float(np.linalg.norm(x - x0)), float(np.linalg.norm(y - y0))
        self.w = smoothed_weight(self.w, dx, dy, smoothing)
        self.x, self.Ax, self.y, self.ATy = x, Ax, y, ATy
        self.restart_point = (x.copy(), y.copy())
        self.kkt_restart = scaled_kkt(self.vec, self.w, x, Ax, y, ATy)
        self.kkt_prev = math.inf
        self.steps_since_restart = 0
        self.restarts += 1
        self._reset_average()
        return True


#: |A|_2 <= 1 for the scaled matrix, whose last scaling is Pock-Chambolle's with alpha = 1
#: (``kernels.pdhg.ruiz``): with M >= 0 the Ruiz-scaled |A|, r and c its row and column sums,
#: |x^T A y| <= sum M_ij |x_i| |y_j| / sqrt(r_i c_j) <= |x| |y| by Cauchy-Schwarz
PC_NORM_BOUND = 1.0
#: the bound is taken as |A|_2 once a short power iteration shows it within 1 %
BOUND_SLACK = 0.99
BOUND_POWER_STEPS = 12
#: at most this many rows or columns: |A|_2 from the short side's Gram matrix (dense eigvalsh)
EXACT_NORM_SIDE = 64


def halpern_step(S: Scaled, passes: list) -> float:
    """The Halpern scheme's fixed step 0.998 / |A|_2, run once per scaling and cached on it;
    its products counted in ``passes`` (A, A^T) the first time.

    |A|_2 is the Pock-Chambolle bound 1 (``PC_NORM_BOUND``, an upper bound, so the step is
    always safe) when a power iteration of at most 12 products with A^T A shows |A|_2 >= 0.99;
    otherwise Lanczos (``kernels.opnorm``; a power iteration's estimate from below was 0.36 %
    low on scrs8, past the 0.2 % margin, and the reflected scheme never certified there)."""
    if "norm_2" not in S.__dict__:
        count = [0, 0]
        m, n = S.A.shape
        if S.A.nnz == 0:
            S.norm_2 = 0.0
        elif min(m, n) < 3:
            S.norm_2 = float(np.linalg.norm(S.A.toarray(), 2))
        else:
            def mv(v):
                count[0] += 1
                return S.A @ v

            def rmv(w):
                count[1] += 1
                return S.AT @ w
            if power_reaches(mv, rmv, n, BOUND_SLACK * PC_NORM_BOUND, BOUND_POWER_STEPS):
                S.norm_2 = PC_NORM_BOUND
            elif min(m, n) <= EXACT_NORM_SIDE:
                # small: the short side's Gram matrix and its largest eigenvalue, exactly
                # (ARPACK's ~20 restarts through LinearOperator cost ~1 ms, most of a tiny
                # LP's solve); counted as min(m, n) products with each of A and A^T
                G = (S.A @ S.AT) if m <= n else (S.AT @ S.A)
                S.norm_2 = math.sqrt(max(float(np.linalg.eigvalsh(G.toarray())[-1]), 0.0))
                count[0] += min(m, n)
                count[1] += min(m, n)
            else:
                S.norm_2 = operator_norm(mv, rmv, m, n, tol=1e-3)   # error <= 0.1 %, inside the 0.2 % margin
        passes[0] += count[0]
        passes[1] += count[1]
    return 0.998 / S.norm_2 if S.norm_2 > 0 else 1.0


def restart_due(r: float, r_restart: float, r_prev: float, since: int, total: int) -> bool:
    """The restart test on the fixed-point residual r: a sufficient decay since the last
    restart, a necessary decay that stopped improving, or an artificial restart."""
    return (r <= _BETA_SUFFICIENT * r_restart or (r <= _BETA_NECESSARY * r_restart and r > r_prev)
            or since >= _ARTIFICIAL * total)


def smoothed_weight(w: float, dx: float, dy: float, smoothing: float, floor: float = 1e-10) -> float:
    """PDLP's primal weight update: log-smoothed towards |dy| / |dx|, kept when either
    movement is at most ``floor`` (pdhg's scaled iterates: 1e-10; 0 for a scale-free caller)."""
    if dx > floor and dy > floor and smoothing > 0 and math.isfinite(dy / dx):
        return math.exp(smoothing * math.log(dy / dx) + (1.0 - smoothing) * math.log(w))
    return w


class _HalpernRun(_Run):
    """Reflected restarted Halpern PDHG (the scheme of cuPDLPx): fixed step
    0.998 / |A|_2 (``halpern_step``, its passes counted), z+ = h((1 + rho) T z - rho z) +
    (1 - h) z0, restarts on the fixed-point residual |z - T z|_w, anchored at T z."""

    def __init__(self, lp, S, objective, rho=1.0, **kw):
        super().__init__(lp, S, objective, **kw)
        self.eta = halpern_step(S, self.passes)
        self.rho = float(rho)
        n, m = self.x.size, self.y.size
        self.t = (np.empty(n), np.empty(m), np.empty(m), np.empty(n))
        self.anchor = (self.x.copy(), self.y.copy(), self.Ax.copy(), self.ATy.copy())
        self.j = 0
        self.fpr = math.inf
        self.fpr_restart = math.inf
        self.have_t = False

    def steps(self, count: int) -> None:
        it = (self.x, self.y, self.Ax, self.ATy) + self.t
        self.j, self.fpr = K.halpern_steps(self.data, it, self.anchor, self.eta, self.w, self.rho, self.j, count)
        self.passes[0] += count
        self.passes[1] += count
        self.k += count
        self.steps_since_restart += count
        self.have_t = True
        if self.fpr_restart == math.inf:
            self.fpr_restart = self.fpr

    def tpoint(self):
        xt, yt, Axt, ATyt = self.t
        return xt, Axt, yt, ATyt

    def candidates(self):
        return [self.tpoint()]

    def restart(self, smoothing: float, total_steps: int) -> bool:
        r = self.fpr
        do = restart_due(r, self.fpr_restart, self.kkt_prev, self.steps_since_restart, total_steps)
        self.kkt_prev = r
        if not do:
            return False
        xt, Axt, yt, ATyt = (np.array(v, copy=True) for v in self.tpoint())
        x0, y0 = self.anchor[0], self.anchor[1]
        dx, dy = float(np.linalg.norm(xt - x0)), float(np.linalg.norm(yt - y0))
        self.w = smoothed_weight(self.w, dx, dy, smoothing)
        self.x, self.Ax, self.y, self.ATy = xt, Axt, yt, ATyt
        self.anchor = (xt.copy(), yt.copy(), Axt.copy(), ATyt.copy())
        self.j = 0
        self.fpr_restart = r
        self.kkt_prev = math.inf
        self.steps_since_restart = 0
        self.restarts += 1
        return True


class _Fused:
    """What ``kernels.halpern_lp`` shares with ``_loop`` for a Halpern run (objective or
    feasibility phase, no callback): its state and parameter vectors, the two ray
    baselines and the record buffer. ``evaluations`` packs the run and the loop's state,
    runs the kernel's uneventful evaluations, unpacks, and writes their records (their
    times spread evenly over the batch)."""

    #: a batch is sized to last about this long (the time limit is tested between batches)
    BATCH_SECONDS = 0.02
    MAX_BATCH = 512

    def __init__(self, run: "_HalpernRun", o: dict, phase: str, tol: float, max_iter: int, done: int):
        n, m = run.x.size, run.y.size
        self.prev = (np.empty(n), np.empty(m), np.empty(m), np.empty(n))
        self.anchor = (np.empty(n), np.empty(m), np.empty(m), np.empty(n))
        self.st = np.zeros(KH.ST_SIZE)
        pa = np.zeros(KH.PA_SIZE)
        S = run.S
        pa[KH.PA_ETA], pa[KH.PA_RHO] = run.eta, run.rho
        pa[KH.PA_LIM] = 0.1 * tol if phase == "feasibility" else tol
        pa[KH.PA_FEAS] = phase == "feasibility"
        pa[KH.PA_EV] = int(o["eval_every"])
        pa[KH.PA_EVERY] = max(1, int(o["restart_every"]) // int(o["eval_every"]))
        pa[KH.PA_MAX_ITER] = max_iter
        pa[KH.PA_SMOOTHING] = float(o["primal_weight_smoothing"])
        pa[KH.PA_RESTART] = bool(o["restart"])
        pa[KH.PA_DRIFT] = phase == "objective" and bool(o["ray_lp"])
        pa[KH.PA_OBJECTIVE] = phase == "objective"
        pa[KH.PA_BETA], pa[KH.PA_RATIO] = S.beta, S.alpha / S.beta
        pa[KH.PA_RAY_TOL], pa[KH.PA_ROW_FLOOR] = RAY_TOL, ROW_FLOOR
        pa[KH.PA_BETA_SUFF], pa[KH.PA_BETA_NEC], pa[KH.PA_ARTIFICIAL] = _BETA_SUFFICIENT, _BETA_NECESSARY, _ARTIFICIAL
        pa[KH.PA_DRIFT_FACTOR], pa[KH.PA_DRIFT_GAP] = _DRIFT, _DRIFT_GAP
        pa[KH.PA_NORM_A] = math.nan
        self.pa = pa
        self.st[KH.ST_DONE] = done
        self.hist = np.empty((self.MAX_BATCH, KH.HIST_COLS))
        self.batch = 8
        self.phase = phase

    @staticmethod
    def _put(buf, pt) -> float:
        if pt is None:
            return 0.0
        if pt is not buf:
            for b, v in zip(buf, pt):
                b[:] = v
        return 1.0

    def evaluations(self, run, mon, it, nev, drift, prev, anchor):
        """(it, nev, drift, prev, anchor, whether an eventful evaluation's steps are done,
        the number of evaluations processed)."""
        st = self.st
        st[KH.ST_J], st[KH.ST_W], st[KH.ST_FPR], st[KH.ST_FPR_RESTART] = run.j, run.w, run.fpr, run.fpr_restart
        st[KH.ST_KKT_PREV], st[KH.ST_SINCE], st[KH.ST_RESTARTS] = run.kkt_prev, run.steps_since_restart, run.restarts
        st[KH.ST_K], st[KH.ST_IT], st[KH.ST_PASS_A], st[KH.ST_PASS_T] = run.k, it, run.passes[0], run.passes[1]
        st[KH.ST_NEV], st[KH.ST_DRIFT] = nev, math.nan if drift is None else drift
        st[KH.ST_HAS_PREV] = self._put(self.prev, prev)
        st[KH.ST_HAS_ANCHOR] = self._put(self.anchor, anchor)
        S = run.S
        t0 = time.perf_counter()
        code, nrec = KH.halpern_evaluations(run.data, (run.x, run.y, run.Ax, run.ATy) + run.t, run.anchor,
                                            run._orig_vectors(), (S.dr, S.dc), self.prev, self.anchor, st, self.pa,
                                            self.hist, self.batch)
        t1 = time.perf_counter()
        run.j, run.w, run.fpr, run.fpr_restart = int(st[KH.ST_J]), float(st[KH.ST_W]), float(st[KH.ST_FPR]), \
            float(st[KH.ST_FPR_RESTART])
        run.kkt_prev, run.steps_since_restart = float(st[KH.ST_KKT_PREV]), int(st[KH.ST_SINCE])
        run.restarts, run.k = int(st[KH.ST_RESTARTS]), int(st[KH.ST_K])
        run.passes[0], run.passes[1] = int(st[KH.ST_PASS_A]), int(st[KH.ST_PASS_T])
        run.have_t = run.have_t or int(st[KH.ST_IT]) > it
        event = code != KH.BATCH
        if code == KH.EVENT_NORM:   # a ray screen needs |A|_2: from now on the kernel has it
            self.pa[KH.PA_NORM_A] = run.lp.norm_A
        evals = nrec + event
        for r in range(nrec):
            h = self.hist[r]
            mon.record(int(h[0]), float(h[1]), at=t0 + (t1 - t0) * (r + 1) / evals, primal_residual=float(h[2]),
                       dual_residual=float(h[3]), gap=float(h[4]), phase=self.phase, matvecs=int(h[5]),
                       restarts=int(h[6]), omega=float(h[7]), step=run.eta)
        if evals:   # size the next batch to BATCH_SECONDS
            per = (t1 - t0) / evals
            self.batch = int(min(self.MAX_BATCH, max(1, self.BATCH_SECONDS / per if per > 0 else self.MAX_BATCH)))
        it, nev = int(st[KH.ST_IT]), int(st[KH.ST_NEV])
        drift = None if math.isnan(st[KH.ST_DRIFT]) else float(st[KH.ST_DRIFT])
        prev = self.prev if st[KH.ST_HAS_PREV] else None
        anchor = self.anchor if st[KH.ST_HAS_ANCHOR] else None
        return it, nev, drift, prev, anchor, event, nrec


def _options(extra) -> dict:
    o = {"eval_every": 16, "restart_every": 16, "ruiz_iters": 10, "restart": True, "primal_weight_smoothing": 0.5,
         "scheme": "adaptive", "reflection": 1.0, "device": "cpu", "ray_lp": True}
    o.update(extra)
    o["device"] = resolve_device(o["device"], backend="pdhg")
    if o["device"] == "cuda":
        if extra.get("scheme", "halpern") != "halpern":
            raise InvalidDataError(f"backend 'pdhg': device='cuda' runs scheme='halpern' (fixed steps, fused "
                                   f"kernels); scheme={extra['scheme']!r} runs on the CPU only (device='cpu')")
        o["scheme"] = "halpern"
    ev = o["eval_every"]
    if isinstance(ev, bool) or not isinstance(ev, (int, np.integer)) or ev < 1:
        raise InvalidDataError(f"backend 'pdhg': eval_every must be a positive integer, got {ev!r}")
    re_ = o["restart_every"]
    if isinstance(re_, bool) or not isinstance(re_, (int, np.integer)) or re_ < 1:
        raise InvalidDataError(f"backend 'pdhg': restart_every must be a positive integer, got {re_!r}")
    ri = o["ruiz_iters"]
    if isinstance(ri, bool) or not isinstance(ri, (int, np.integer)) or ri < 0:
        raise InvalidDataError(f"backend 'pdhg': ruiz_iters must be a nonnegative integer, got {ri!r}")
    s = o["primal_weight_smoothing"]
    if not (isinstance(s, (int, float)) and 0.0 <= s <= 1.0):
        raise InvalidDataError(f"backend 'pdhg': primal_weight_smoothing must be in [0, 1], got {s!r}")
    if o["scheme"] not in ("adaptive", "halpern"):
        raise InvalidDataError(f"backend 'pdhg': scheme must be 'adaptive' or 'halpern', got {o['scheme']!r}")
    r = o["reflection"]
    if not (isinstance(r, (int, float)) and 0.0 <= r <= 1.0):
        raise InvalidDataError(f"backend 'pdhg': reflection must be in [0, 1], got {r!r}")
    if not isinstance(o["ray_lp"], (bool, np.bool_)):
        raise InvalidDataError(f"backend 'pdhg': ray_lp must be True or False, got {o['ray_lp']!r}")
    return o


def _new_run(lp, S, objective, o, **start):
    if o["scheme"] == "halpern":
        start.pop("eta", None)
        return _HalpernRun(lp, S, objective, rho=float(o["reflection"]), **start)
    return _Run(lp, S, objective, **start)


class PDHGBackend(Backend):
    name = "pdhg"
    description = ("restarted PDHG for LPs (PDLP's scheme: Ruiz + Pock-Chambolle scaling, adaptive steps, "
                   "primal weight, KKT restarts, infeasibility / unboundedness rays)")
    forms = ("LinearProgram",)
    default_max_iter = 200000
    warmup = True
    # behind halpern (29), which runs this backend's Halpern scheme, on LPs (its only form):
    # on the 17 feasible Netlib LPs halpern takes fewer passes on 12 and 1.7x less shifted
    # geometric mean time (0.043 s against 0.073 s, BENCHMARKS.md 2026-12-07), and proves the
    # 6 infeasible ones in as many or fewer iterations on 5
    priority = 31

    def accepts_extra(self):
        return _EXTRA

    def setup(self, view, options: SolveOptions) -> Workspace:
        o = _options(self.checked_extra(options))
        return Workspace(scaled=Scaled(view.program, int(o["ruiz_iters"])), ruiz_iters=int(o["ruiz_iters"]))

    def update(self, ws, view, options, changes) -> bool:
        o = _options(self.checked_extra(options))
        return not changes.operators and ws.get("ruiz_iters") == int(o["ruiz_iters"])

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        o = _options(self.checked_extra(options))
        if o["device"] == "cuda":
            return self._solve_device(view, options, ws, o, t0)
        compile_time = K.warm_up()
        t_fused = time.perf_counter()
        KH.warm_up()
        compile_time += time.perf_counter() - t_fused
        lp = view.program
        S = ws["scaled"]
        warm = getattr(ws, "warm", ws)
        start = {}
        if (options.warm_start and warm.get("x") is not None and warm.get("data_version") == lp.data_version
                and warm["x"].shape == lp.c.shape and warm["y"].shape == lp.rl.shape):
            start = {"x0": warm["x"], "y0": warm["y"], "eta": warm["eta"], "w": warm["w"]}
        run = _new_run(lp, S, True, o, **start)
        setup_time = time.perf_counter() - t0
        mon = IterationMonitor(options, table=TABLE)
        if mon.verbose:
            m, n = lp.shape
            print(f"pdhg: LP {m} rows x {n} columns, nnz={lp.A.nnz}, tol={options.tol:g}"
                  + (", warm start" if start else ""))
        out = self._loop(run, lp, mon, options, o, phase="objective", done=0)
        extra_passes = [0, 0]
        if out["status"] == "unbounded_ray":
            # a descent ray: look for a feasible point without the objective
            feas = _new_run(lp, S, False, o)
            res = self._loop(feas, lp, mon, options, o, phase="feasibility", done=out["iterations"])
            extra_passes = feas.passes
            if res["status"] == "feasible":
                out = dict(out, status="unbounded", x=res["x"], iterations=res["iterations"],
                           message=f"unbounded: a primal descent ray (found at iteration {out['iterations']}) "
                                   f"and a feasible point (iteration {res['iterations']})")
            elif res["status"] == "infeasible":
                out = res
            else:   # the engine then reports: a descent ray, but no feasible point
                out = dict(out, status="unbounded", x=None, iterations=res["iterations"],
                           message=f"a descent ray was found but no feasible point yet ({res['message']})")
        passes = [run.passes[0] + extra_passes[0], run.passes[1] + extra_passes[1]]
        info = {"matvecs": passes[0] + passes[1], "matvecs_A": passes[0], "matvecs_AT": passes[1],
                "restarts": run.restarts, "primal_weight": run.w, "step_size": run.eta,
                "compile_time": compile_time, "jit_time": compile_time, "warm_start": bool(start),
                "solve_time": mon.elapsed()}
        status, it = out["status"], out["iterations"]
        mon.summary("pdhg", f"{it} iterations, {info['matvecs']} matrix passes", mon.elapsed(), status=status)
        if status == "infeasible":
            return RawSolution(x=None, status=status, iterations=it, ray=out["ray"], history=mon.history,
                               setup_time=setup_time, info=info, message=out["message"])
        if status == "unbounded":
            return RawSolution(x=out["x"], status=status, iterations=it, ray=out["ray"], history=mon.history,
                               setup_time=setup_time, info=info, message=out["message"])
        x, y = out.get("x"), out.get("y")
        if x is None or not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
            return RawSolution(x=x, status="numerical_error", iterations=it, history=mon.history,
                               setup_time=setup_time, info=info,
                               message=out.get("message") or "NaN or Inf in the iterates")
        warm.update(x=x.copy(), y=y.copy(), eta=run.eta, w=run.w, data_version=lp.data_version)
        return RawSolution(x=x, status=status, iterations=it, duals=multipliers_to_duals(lp, y),
                           history=mon.history, setup_time=setup_time, info=info, message=out["message"])

    def _loop(self, run: _Run, lp, mon, options, o, phase: str, done: int, ray_of=None) -> dict:
        """Iterate ``run`` on ``lp`` until its certificate (phase 'objective'), a feasible
        point (phase 'feasibility'), a ray, or a limit. ``ray_of``: the original LP when
        ``lp`` is its descent-ray LP (each evaluation's x is then checked as its ray)."""
        tol = options.tol
        ev = int(o["eval_every"])
        every = max(1, int(o["restart_every"]) // ev)   # evaluations between restart / ray checks
        nev = 0
        it = done
        prev = None   # the original-scale iterate and products at the last evaluation
        anchor = None  # ... and at the last restart
        best = None
        drift = None   # c^T x at the last descent-ray LP attempt (or when it first went negative)
        ray_run = None  # the descent-ray LP's run: a later try resumes it
        fused = (_Fused(run, o, phase, tol, mon.max_iter, done)
                 if isinstance(run, _HalpernRun) and ray_of is None and options.callback is None else None)
        while True:
            count = min(ev, mon.max_iter - it)
            if count <= 0:
                mon.stop("max_iter", f"{mon.max_iter} iterations")
                break
            if fused is not None:   # the uneventful evaluations in Numba; an eventful one is processed below
                it, nev, drift, prev, anchor, event, nrec = fused.evaluations(run, mon, it, nev, drift, prev, anchor)
                if not event:
                    if nrec:   # every one processed: the deadline, then the next batch
                        best = tuple(v.copy() for v in run.candidates()[0])
                        val = mon.history[-1]["residual"]
                        if mon.limits(it, f"{mon.max_iter} iterations (certificate {val:.2e})"):
                            break
                    continue
            else:
                run.steps(count)
                it += count
            cands = []
            for pt in run.candidates():   # scaled; measured in the original scaling
                q = run.assess(pt)
                if q is None:
                    if not cands:
                        cur = run.original(*pt)
                        mon.stop("numerical_error", f"NaN or Inf in the iterates at iteration {it}")
                        return {"status": "numerical_error", "iterations": it, "x": cur[0], "y": cur[2],
                                "message": mon.message}
                    continue
                p, d, g, P = q
                if phase == "feasibility":
                    d = g = 0.0
                cands.append([max(p, d, g), p, d, g, pt, P])
            first = cands[0][4]
            cur = tuple(v.copy() for v in first)   # the current point (scaled), kept for the rays
            P = cands[0][5]
            cands.sort(key=lambda t: t[0])
            lim = 0.1 * tol if phase == "feasibility" else tol
            if cands[0][0] > lim and max(cands[0][2], cands[0][3]) <= lim:
                c0 = cands[0]   # only the primal residual misses: measure it against the row sizes
                run.passes[0] += 1
                c0[1] = run.primal_with_reads(c0[4])
                c0[0] = max(c0[1], c0[2], c0[3])
            val, p, d, g, pt, _ = cands[0]
            best = cur if pt is first else tuple(v.copy() for v in pt)   # (neither is written to later)
            if ray_of is not None:
                cx, cAx = run.original(*cur)[:2]
                if check_unbounded_ray(ray_of, cx, cAx) and check_unbounded_ray(ray_of, cx):
                    mon.stop("unbounded_ray", f"a descent ray from the descent-ray LP at iteration {it}")
                    return {"status": "unbounded_ray", "iterations": it, "ray": cx, "message": mon.message}
            rec = mon.record(it, val, primal_residual=p, dual_residual=d, gap=g, phase=phase,
                             matvecs=run.passes[0] + run.passes[1], restarts=run.restarts, omega=run.w,
                             step=run.eta)
            if val <= lim:
                bx, _, by, _ = run.original(*best)
                fresh = lp.A @ bx, lp.AT @ by
                run.passes[0] += 2   # A x and the row sizes |A| |x|
                run.passes[1] += 1
                p, d, g, _, _ = measures(lp, bx, fresh[0], by, fresh[1])
                ok = p <= 0.1 * tol if phase == "feasibility" else max(p, d, g) <= tol
                if ok:
                    mon.stop("feasible" if phase == "feasibility" else "converged")
                    return {"status": mon.status, "iterations": it, "x": bx, "y": by, "message": ""}
            x_cb = run.original(*cur)[0] if options.callback is not None else None
            if mon.check(rec, x_cb, f"{mon.max_iter} iterations (certificate {val:.2e})"):
                break
            nev += 1
            if nev % every:
                continue
            # rays from the iterate differences since the last check and since the last
            # restart (the longer baseline averages out the oscillation)
            for base in ([prev] if prev is not None else []) + ([anchor] if anchor is not None else []):
                found = self._rays(lp, run, mon, cur, base, phase, it)
                if found is not None:
                    return found
            if phase == "objective" and o["ray_lp"] and P < 0 and math.isfinite(P):
                if drift is None:
                    drift = P
                elif P <= _DRIFT * drift and g >= _DRIFT_GAP:   # c^T x keeps falling, far from D: look for the ray
                    drift = P
                    found, used, ray_run = self._ray_lp(lp, run, mon, options, o, it, ray_run)
                    if found is not None:
                        return found
                    it += used
            restarted = o["restart"] and run.restart(float(o["primal_weight_smoothing"]), it - done)
            prev = None if restarted else cur
            if restarted or anchor is None:
                anchor = tuple(v.copy() for v in run.candidates()[0]) if restarted else cur
        bx, _, by, _ = run.original(*best)
        return {"status": mon.status, "iterations": it, "x": bx, "y": by, "message": mon.message}

    def _ray_lp(self, lp, run, mon, options, o, it, sub_run=None):
        """(a descent ray found by solving the descent-ray LP, or None; its iterations; the
        LP's run), on a budget of a quarter of the iterations so far (at least 1000, at most
        what is left). ``sub_run``: the run of an earlier try, resumed (its iterations add
        up: gas11's ray LP needs ~5500, more than any one try's budget when each started
        afresh). Its matrix passes are counted in ``run``'s."""
        budget = min(max(_RAY_LP_MIN, it // 4), mon.max_iter - it)
        if budget <= 0:
            return None, 0, sub_run
        if sub_run is None:
            rp = descent_ray_program(lp)
            sub_run = _new_run(rp, Scaled(rp, int(o["ruiz_iters"])), True, o)
            sub_run.ray_program = rp
        before = list(sub_run.passes)
        sub = mon.child(it + budget)
        res = self._loop(sub_run, sub_run.ray_program, sub, options, o, phase="ray", done=it, ray_of=lp)
        run.passes[0] += sub_run.passes[0] - before[0]
        run.passes[1] += sub_run.passes[1] - before[1]
        if res["status"] == "unbounded_ray":
            return (dict(res, message=f"a primal descent ray at iteration {res['iterations']} (descent-ray LP)"), 0,
                    sub_run)
        return None, res["iterations"] - it, sub_run

    @staticmethod
    def _rays(lp, run, mon, cur, prev, phase, it):
        """A Farkas or descent ray in cur - prev (scaled points; screened in the original
        scaling by ``kernels.lp_measures``, then checked by ``families.lp`` as before, again
        with fresh products), or None."""
        S = run.S
        c, l, u, rl, ru = run._orig_vectors()
        ratio = S.alpha / S.beta
        fk = KM.farkas_ray(cur[2], cur[3], prev[2], prev[3], S.dr, S.dc, ratio, l, u, rl, ru, RAY_TOL)
        if fk[0] and KM.ray_passes(fk, lp.norm_A * fk[3], RAY_TOL):   # |A|_2 only once the rest passed
            co, po = run.original(*cur), run.original(*prev)
            dy, ATdy = co[2] - po[2], co[3] - po[3]
            if check_farkas(lp, dy, ATdy):
                run.passes[1] += 1
                if check_farkas(lp, dy):
                    mon.stop("infeasible", f"primal infeasible: a Farkas ray of the row multipliers at "
                                           f"iteration {it}")
                    return {"status": "infeasible", "iterations": it, "ray": dy, "message": mon.message}
        dk = KM.descent_ray(cur[0], cur[1], prev[0], prev[1], S.dr, S.dc, S.beta, c, l, u, rl, ru, RAY_TOL) \
            if phase == "objective" else (False,)
        if dk[0] and KM.ray_passes(dk, lp.norm_A, RAY_TOL):
            co, po = run.original(*cur), run.original(*prev)
            dx, Adx = co[0] - po[0], co[1] - po[1]
            if check_unbounded_ray(lp, dx, Adx):
                run.passes[0] += 1
                if check_unbounded_ray(lp, dx):
                    return {"status": "unbounded_ray", "iterations": it, "ray": dx,
                            "message": f"a primal descent ray at iteration {it}"}
        return None

    # ---- device='cuda' -------------------------------------------------------------
    def _solve_device(self, view, options, ws, o, t0) -> RawSolution:
        require_cuda(self.name)
        lp = view.program
        S = ws["scaled"]
        warm = getattr(ws, "warm", ws)
        start = {}
        if (options.warm_start and warm.get("x") is not None and warm.get("data_version") == lp.data_version
                and warm["x"].shape == lp.c.shape and warm["y"].shape == lp.rl.shape):
            start = {"x0": warm["x"], "y0": warm["y"], "w": warm["w"]}
        run = _DeviceHalpernRun(lp, S, rho=float(o["reflection"]), **start)
        setup_time = time.perf_counter() - t0
        mon = IterationMonitor(options, table=TABLE)
        if mon.verbose:
            m, n = lp.shape
            print(f"pdhg (device='cuda', halpern): LP {m} rows x {n} columns, nnz={lp.A.nnz}, tol={options.tol:g}"
                  + (", warm start" if start else ""))
        out = self._device_loop(run, lp, mon, options, o)
        info = {"matvecs": run.passes[0] + run.passes[1], "matvecs_A": run.passes[0], "matvecs_AT": run.passes[1],
                "restarts": run.restarts, "primal_weight": run.w, "step_size": run.eta, "compile_time": 0.0,
                "jit_time": 0.0, "warm_start": bool(start), "solve_time": mon.elapsed(), "device": "cuda",
                "threads_per_block": run.dev.tpb, "device_setup_time": run.upload_time}
        status, it = out["status"], out["iterations"]
        mon.summary("pdhg", f"{it} iterations, {info['matvecs']} matrix passes", mon.elapsed(), status=status)
        x, y = out["x"], out["y"]
        if status == "numerical_error" or not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
            return RawSolution(x=x, status="numerical_error", iterations=it, history=mon.history,
                               setup_time=setup_time, info=info,
                               message=out.get("message") or "NaN or Inf in the iterates")
        warm.update(x=x.copy(), y=y.copy(), eta=run.eta, w=run.w, data_version=lp.data_version)
        return RawSolution(x=x, status=status, iterations=it, duals=multipliers_to_duals(lp, y),
                           history=mon.history, setup_time=setup_time, info=info, message=out["message"])

    def _device_loop(self, run, lp, mon, options, o) -> dict:
        """``_loop`` for the device run: the same evaluations and restart schedule, the
        measures from the device's reductions; no rays, no feasibility phase."""
        tol = options.tol
        ev = int(o["eval_every"])
        every = max(1, int(o["restart_every"]) // ev)
        cmax = float(np.max(np.abs(lp.c), initial=0.0))
        nev = 0
        it = 0
        while True:
            count = min(ev, mon.max_iter - it)
            if count <= 0:
                mon.stop("max_iter", f"{mon.max_iter} iterations")
                break
            run.steps(count)
            it += count
            p, d, g, q = device_measures(run.dev, cmax)
            if not all(math.isfinite(v) for v in (p, d, g)) or not math.isfinite(q["dx0"] + q["dy0"]):
                mon.stop("numerical_error", f"NaN or Inf in the iterates at iteration {it}")
                return {"status": "numerical_error", "iterations": it, **run.host_xy(), "message": mon.message}
            val = max(p, d, g)
            if val > tol and max(d, g) <= tol:
                run.passes[0] += 1   # only the primal residual misses: against the row sizes
                p = device_measures(run.dev, cmax, reads=True, parts=q)[0]
                val = max(p, d, g)
            rec = mon.record(it, val, primal_residual=p, dual_residual=d, gap=g, phase="objective",
                             matvecs=run.passes[0] + run.passes[1], restarts=run.restarts, omega=run.w,
                             step=run.eta, device="cuda")
            if val <= tol:
                pt = run.host_point()   # the point comes to the host: checked with fresh products
                fresh = lp.A @ pt[0], lp.AT @ pt[2]
                run.passes[0] += 2
                run.passes[1] += 1
                p2, d2, g2, _, _ = measures(lp, pt[0], fresh[0], pt[2], fresh[1])
                if max(p2, d2, g2) <= tol:
                    mon.stop("converged")
                    return {"status": "converged", "iterations": it, "x": pt[0], "y": pt[2], "message": ""}
            if mon.check(rec, None, f"{mon.max_iter} iterations (certificate {val:.2e})"):
                break
            nev += 1
            if nev % every:
                continue
            if o["restart"]:
                run.restart(float(o["primal_weight_smoothing"]), it, q)
        return {"status": mon.status, "iterations": it, **run.host_xy(), "message": mon.message}


def _nonneg(v: float) -> float:
    """A max-norm read back from the device (-inf for an empty vector reads 0; NaN stays)."""
    return 0.0 if v < 0.0 else v


def device_measures(dev, cmax: float, reads: bool = False, parts: dict | None = None):
    """``families.lp.certificate.measures(lp, X, AX, Y, ATY, reads=0.0)`` (``reads``: with the
    row sizes |A| |X| instead) at the device's T z in the original scaling, from its
    reductions: (primal_residual, dual_residual, gap, parts). ``cmax`` is max |c|."""
    q = dev.parts() if parts is None else parts
    sizes = max(_nonneg(q["ax_max"]), _nonneg(q["cax_max"]))
    if reads:
        sizes = max(sizes, _nonneg(dev.reads_max()))
    rows = _nonneg(dev.rows(ROW_FLOOR * sizes, reads))
    prim, dres, gap = measures_from_parts(rows, _nonneg(q["x_clip"]), _nonneg(q["x_max"]), _nonneg(q["r_viol"]),
                                          max(cmax, _nonneg(q["aty_max"])), q["P"], q["dual_rows"] + q["dual_cols"],
                                          q["dual_rows_abs"] + q["dual_cols_abs"] + q["cx"])
    return prim, dres, gap, q


class _DeviceHalpernRun:
    """``_HalpernRun`` with its iterate on the device (``kernels.cuda.pdhg.DeviceLP``): the
    same start, step, restart test and primal-weight update; the restart's distances and
    the residual are reduced on the device."""

    def __init__(self, lp, S: Scaled, rho=1.0, x0=None, y0=None, w=None):
        from ..kernels.cuda.pdhg import DeviceLP
        self.lp, self.S = lp, S
        self.vec = S.vectors(lp, True)
        x, y = start_point(S, self.vec, lp.shape, x0, y0)
        self.passes = [1, 1]
        self.eta = halpern_step(S, self.passes)
        self.w = 1.0 if w is None else float(w)
        self.rho = float(rho)
        t = time.perf_counter()
        self.dev = DeviceLP(S.mats, self.vec, (lp.c, lp.l, lp.u, lp.rl, lp.ru), S.dr, S.dc, S.alpha, S.beta,
                            (x, y, S.A @ x, S.AT @ y))
        self.upload_time = time.perf_counter() - t
        self.j = 0
        self.k = 0
        self.fpr_restart = math.inf
        self.kkt_prev = math.inf
        self.steps_since_restart = 0
        self.restarts = 0

    def steps(self, count: int) -> None:
        self.j = self.dev.steps(count, self.j, self.eta, self.w, self.rho)
        self.passes[0] += count
        self.passes[1] += count
        self.k += count
        self.steps_since_restart += count
        if self.fpr_restart == math.inf:
            self.fpr_restart = self.dev.fpr(self.w)

    def restart(self, smoothing: float, total_steps: int, parts: dict) -> bool:
        """``_HalpernRun.restart`` (``parts``: the device's reductions at this T z)."""
        r = self.dev.fpr(self.w)
        do = restart_due(r, self.fpr_restart, self.kkt_prev, self.steps_since_restart, total_steps)
        self.kkt_prev = r
        if not do:
            return False
        dx, dy = math.sqrt(max(parts["dx0"], 0.0)), math.sqrt(max(parts["dy0"], 0.0))
        self.w = smoothed_weight(self.w, dx, dy, smoothing)
        self.dev.restart_to_t()
        self.j = 0
        self.fpr_restart = r
        self.kkt_prev = math.inf
        self.steps_since_restart = 0
        self.restarts += 1
        return True

    def host_point(self):
        """T z in the original scaling, on the host: (x, A x, y, A^T y)."""
        xs, Axs, ys, ATys = self.dev.t_point()
        S, lp = self.S, self.lp
        return np.clip(S.x_out(xs), lp.l, lp.u), S.Ax_out(Axs), S.y_out(ys), S.ATy_out(ATys)

    def host_xy(self) -> dict:
        pt = self.host_point()
        return {"x": pt[0], "y": pt[2]}


registry.register(PDHGBackend())
