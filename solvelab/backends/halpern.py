"""Reflected restarted Halpern PDHG for bilinear saddle points (the scheme of cuPDLPx), and
Halpern-anchored Douglas-Rachford for any prox-affine program.

On ``min_{x in X} max_{y in Y} c^T x + x^T K y - b^T y`` (the BilinearSaddle form) the
PDHG operator T, primal first, at steps tau = eta / w, sigma = eta w,

    x+ = P_X(x - tau (c + K y)),   y+ = P_Y(y + sigma (K^T (2 x+ - x) - b)),

is nonexpansive in the PDHG metric when tau sigma |K|_2^2 < 1 on the space of the
iterates' differences: eta = 0.99 / |P_X K P_Y|_2, P the projection onto {sum = 0} on a
simplex side (``norm_estimate``), the norm from Lanczos (ARPACK's svds, passes counted).
The Halpern iteration anchored at z0, with reflection rho in [0, 1],

    z_{k+1} = (k+1)/(k+2) ((1 + rho) T(z_k) - rho z_k) + 1/(k+2) z0,

is restarted (anchor and counter reset to the current T(z)) on its fixed-point residual
r = |z - T z|_w (w-weighted: sqrt(w |dx|^2 + |dy|^2 / w)) as cuPDLPx does: r <= 0.2 r0
(sufficient decay), r <= 0.8 r0 with no progress since the last test (necessary decay),
or 36 % of all steps since the last restart (artificial); r0 is r at the last restart.
At a restart the primal weight moves halfway (in logarithm) to |dy| / |dx| of the
iterates' moves since the last restart (PDLP's rule). No diagonal preconditioning: a
rescaled simplex would need a weighted projection.

``scheme='pdhg'`` runs plain PDHG z+ = T z over the same operator and steps for
comparison: no anchor and no averaging (the last iterate), the primal weight updated at
the same restart tests (which otherwise change nothing).

Each step costs two passes over K (K^T x+ and K y+; the products of the Halpern
combination are the same combination of known products), and returns the point T(z),
which lies in X x Y. Every ``check_every`` steps the family's certificate is evaluated
at T(z): the gap from the known products, screened against a bound of its denominator
from |K|_max; only when the screen passes (at most every 32 steps) are the summand sizes
|K| |y| and |K|^T |x| computed (two more passes) for the exact relative measures.
``info['matvecs']`` counts every pass over K or K^T (norm estimate, steps, checks;
``matvecs_norm``, ``matvecs_steps``, ``matvecs_checks`` apart).

Options (``options.extra``): ``scheme`` ('halpern' | 'pdhg'), ``reflection`` (rho, 1.0),
``restart`` (True), ``restart_every`` (16 steps between restart tests),
``primal_weight`` (the initial w, 1.0), ``primal_weight_smoothing`` (0.5; 0 keeps w),
``device`` ('cpu' | 'cuda' | None): on an LP (run by pdhg's Halpern scheme, above)
'cuda' runs pdhg's device loop; on a bilinear saddle point it is refused with the reason
(the simplex / ball projections of its sides have no device kernel yet).
Warm start: the last solution (x, y, w) of the same data version.

Any other prox-affine program (the ProxAffine form: QPs, SOCPs, Lasso-type models with
constraints) runs Halpern-anchored Douglas-Rachford: admm's splitting (equilibration,
cached factorizations, adaptive rho, rays with a feasibility phase) with the state (x, z, u)
averaged with an anchor before each step (``anchoring.HalpernAnchor``, the restart rules
above, a new anchor whenever rho changes) and the reflected map, ADMM relaxation
alpha = 1 + reflection (2 by default). Options there: ``reflection``, ``restart``,
``restart_every`` and admm's ``rho``, ``sigma``, ``adaptive_rho``, ``max_rho_updates``,
``eq_rho_scale``, ``system``, ``scaling``. ``backend='auto'`` picks it on this form only for
polyhedral programs (every term's ``Function.polyhedral``: LAD, quantile, hinge, CVaR, l1 models), where
it beat admm on every instance from 50 variables up (and on most from 10); with a curved term
admm's Anderson-accelerated steps were faster (BENCHMARKS.md, "halpern on prox-affine programs").
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..errors import InvalidDataError
from ..kernels import pdhg as KP
from ..kernels import saddle as KS
from ..kernels.opnorm import operator_norm
from ..kernels.cuda.device import resolve_device
from ..kernels.threads import threads
from . import registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace
from .pdhg import restart_due
from .saddle_gap import GapCheck, start_point

_EXTRA = ("scheme", "reflection", "restart", "restart_every", "primal_weight", "primal_weight_smoothing", "device")
#: On a prox-affine program whose terms are all polyhedral (``Function.polyhedral``: piecewise
#: linear, or indicators of polyhedra) ADMM's iterates creep (no curvature) and the anchored
#: splitting was faster on all 17 instances both certified at 200 x 50 and 2000 x 200, and
#: certified 6 that admm did not within 20000 iterations (LAD, quantile, l1-SVM, CVaR;
#: BENCHMARKS.md). On tiny ones admm wins (5 variables: 8 of 8, by 10-30 ms; 10-20 variables:
#: halpern 13 of 16). ``backend='auto'`` picks halpern there and admm everywhere else.
#: the options of the ProxAffine path that are admm's own (its penalty, system and scaling)
_DR_EXTRA = ("rho", "sigma", "adaptive_rho", "max_rho_updates", "eq_rho_scale", "system", "scaling")
#: what the ProxAffine path does not take (PDHG's primal weight; no device loop)
_NOT_DR = ("primal_weight", "primal_weight_smoothing", "device")
_STEP = 0.99

TABLE = Table(("iteration", "iter", "8d"), ("time", "time", "9.3f"), ("residual", "gap", "10.2e"),
              ("fpr", "fixed-pt", "10.2e"), ("matvecs", "passes", "9d"), ("restarts", "rst", "5d"),
              ("omega", "weight", "10.2e"))


def _options(extra) -> dict:
    o = {"scheme": "halpern", "reflection": 1.0, "restart": True, "restart_every": 16, "primal_weight": 1.0,
         "primal_weight_smoothing": 0.5, "device": "cpu"}
    o.update(extra)
    o["device"] = resolve_device(o["device"], backend="halpern")
    if o["device"] == "cuda":
        raise InvalidDataError("backend 'halpern': device='cuda' is not available for bilinear saddle points (the "
                               "simplex / ball projections have no device kernel yet; LPs do run on the GPU, with "
                               "backend='halpern' or 'pdhg'); use device='cpu' here")
    if o["scheme"] not in ("halpern", "pdhg"):
        raise InvalidDataError(f"backend 'halpern': scheme must be 'halpern' or 'pdhg', got {o['scheme']!r}")

    def number(key, lo, hi, open_lo=False):
        v = o[key]
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) \
            and np.isfinite(v) and (v > lo if open_lo else v >= lo) and v <= hi
        if not ok:
            raise InvalidDataError(f"backend 'halpern': {key} must be a number in {'(' if open_lo else '['}{lo:g}, "
                                   f"{hi:g}], got {v!r}")
        return float(v)
    o["reflection"] = number("reflection", 0.0, 1.0)
    o["primal_weight"] = number("primal_weight", 0.0, np.inf, open_lo=True)
    o["primal_weight_smoothing"] = number("primal_weight_smoothing", 0.0, 1.0)
    re_ = o["restart_every"]
    if isinstance(re_, bool) or not isinstance(re_, (int, np.integer)) or re_ < 1:
        raise InvalidDataError(f"backend 'halpern': restart_every must be a positive integer, got {re_!r}")
    if not isinstance(o["restart"], (bool, np.bool_)):
        raise InvalidDataError(f"backend 'halpern': restart must be True or False, got {o['restart']!r}")
    return o


class _Operator:
    """K and K^T passes into preallocated buffers (BLAS for dense K, Numba for CSR), counted."""

    def __init__(self, view):
        self.view = view
        self.dense = view.dense
        K = view.K
        if not self.dense:
            KT = view.KT
            self.csr = (K.indptr.astype(np.int64), K.indices.astype(np.int64), K.data)
            self.csrT = (KT.indptr.astype(np.int64), KT.indices.astype(np.int64), KT.data)
        self.passes = 0

    def K(self, v, out):
        self.passes += 1
        if self.dense:
            np.dot(self.view.K, v, out=out)
        else:
            KP.csr_matvec(*self.csr, v, out)

    def KT(self, v, out):
        self.passes += 1
        if self.dense:
            np.dot(self.view.K.T, v, out=out)
        else:
            KP.csr_matvec(*self.csrT, v, out)


def norm_estimate(view, seed: int = 0):
    """(|P_X K P_Y|_2, passes), P the projection onto {sum = 0} on a simplex side (the
    identity on a box side): the iterates' differences live there (every point of the
    iteration, the reflected and anchored ones included, is in the sets' affine hulls), so
    that norm is what the step condition tau sigma |K|^2 < 1 needs. It removes K's
    constant part, which moves no strategy: for U[0, 1] payoffs |K|_2 ~ n / 2 while
    |P K P|_2 ~ sqrt(n) / 2. Lanczos (svds, tol 1e-6) for min(m, n) >= 3, else exact."""
    m, n = view.shape
    px, py = view.X.kind == KS.Domain.SIMPLEX, view.Y.kind == KS.Domain.SIMPLEX

    def center(v, on):
        return v - v.mean() if on else v
    if min(m, n) < 3:
        dense = view.K if view.dense else view.K.toarray()
        if px:
            dense = dense - dense.mean(axis=0, keepdims=True)
        if py:
            dense = dense - dense.mean(axis=1, keepdims=True)
        return float(np.linalg.norm(dense, 2)), 0
    count = [0]

    def mv(v):
        count[0] += 1
        return center(view.matvec(center(v, py)), px)

    def rmv(v):
        count[0] += 1
        return center(view.rmatvec(center(v, px)), py)
    if view.K_max == 0.0:
        return 0.0, 0
    return operator_norm(mv, rmv, m, n, seed), count[0]


def norm_workspace(view) -> Workspace:
    """The saddle backends' setup: |P_X K P_Y|_2 and the passes it cost (counted once, by
    the first solve: ``fresh``)."""
    with threads(blas=1):
        norm, passes = norm_estimate(view)
    return Workspace(norm=norm, norm_passes=passes, fresh=True)


class HalpernBackend(Backend):
    name = "halpern"
    description = ("reflected restarted Halpern PDHG for bilinear saddle points and matrix games, with or without "
                   "quadratic regularizers (cuPDLPx's scheme; simplex / box projections in Numba kernels; "
                   "scheme='pdhg' for plain PDHG); Halpern-anchored Douglas-Rachford on any prox-affine program")
    forms = ("BilinearSaddle", "RegularizedSaddle", "LinearProgram", "ProxAffine")
    default_max_iter = 100000
    warmup = True
    # ahead of alpd (30) on regularized games, its only shared form: fewer passes on 22 of 24
    # random games (100 .. 1000, four weightings), 2.1x less time in geometric mean
    # (BENCHMARKS.md, "halpern on regularized games"); ahead of pdhg (31) on LPs (pdhg's
    # priority says why)
    priority = 29

    def accepts_extra(self):
        return _EXTRA + _DR_EXTRA

    def auto_declines(self, view):
        if getattr(view, "name", "") != "ProxAffine":
            return None
        curved = sorted({t.f.name for t in view.program.terms if not t.f.polyhedral})
        if curved:
            return (f"a prox-affine program with curved terms ({', '.join(curved)}) runs faster on admm, the same "
                    f"splitting with Anderson acceleration (11 of 12 curved instances, BENCHMARKS.md); name "
                    f"backend='halpern' for the anchored one")
        return None

    # ---- any prox-affine program: Halpern-anchored Douglas-Rachford, i.e. admm's splitting
    # (its equilibration, factorizations, adaptive rho, rays) with the anchor of
    # ``anchoring.HalpernAnchor`` and the reflected map (alpha = 1 + reflection)
    @staticmethod
    def _dr(view, options):
        if getattr(view, "name", "") != "ProxAffine":
            return None, options
        import dataclasses

        from .admm import AdmmBackend
        extra = dict(options.extra or {})
        bad = sorted(set(extra) & set(_NOT_DR))
        if bad:
            takes = ", ".join(("scheme", "reflection", "restart", "restart_every") + _DR_EXTRA)
            raise InvalidDataError(f"backend 'halpern': option(s) {bad} belong to its PDHG scheme (saddle points, "
                                   f"LPs); on this prox-affine program it runs anchored Douglas-Rachford, which "
                                   f"takes {takes}")
        if extra.pop("scheme", "halpern") != "halpern":
            raise InvalidDataError("backend 'halpern': on a prox-affine program only scheme='halpern' applies; the "
                                   "plain (unanchored) splitting is backend='admm'")
        refl = extra.pop("reflection", 1.0)
        ok = isinstance(refl, (int, float, np.integer, np.floating)) and not isinstance(refl, (bool, np.bool_)) \
            and np.isfinite(refl) and 0.0 <= refl <= 1.0
        if not ok:
            raise InvalidDataError(f"backend 'halpern': reflection must be a number in [0, 1], got {refl!r}")
        extra.update(halpern=True, alpha=1.0 + float(refl))
        admm = AdmmBackend()
        try:
            admm._options(admm.checked_extra(dataclasses.replace(options, extra=extra)))
        except InvalidDataError as exc:     # name the backend the user asked for
            raise InvalidDataError(f"backend 'halpern' (anchored Douglas-Rachford on admm's splitting): {exc}") from None
        return admm, dataclasses.replace(options, extra=extra)

    def _delegate(self, view, options):
        """(backend, options) of the LP or prox-affine path, or (None, options)."""
        name = getattr(view, "name", "")
        given = sorted(set(options.extra or {}) & set(_DR_EXTRA))
        if given and name != "ProxAffine":
            raise InvalidDataError(f"backend 'halpern': option(s) {given} apply to prox-affine programs (the "
                                   f"anchored Douglas-Rachford splitting), not to this {name} program")
        lp, lp_options = self._lp(view, options)
        if lp is not None:
            return lp, lp_options
        return self._dr(view, options)

    # ---- LPs: pdhg's reflected restarted Halpern scheme over the same PDLP machinery
    # (scaling, primal weight, restarts, rays); the options are pdhg's, scheme fixed
    @staticmethod
    def _lp(view, options):
        if getattr(view, "name", "") != "LinearProgram":
            return None, options
        import dataclasses

        from .pdhg import PDHGBackend
        extra = dict(options.extra or {})
        if extra.get("scheme", "halpern") != "halpern":
            raise InvalidDataError(f"backend 'halpern' on an LP runs pdhg's Halpern scheme; scheme="
                                   f"{extra['scheme']!r} is backend='pdhg'")
        extra["scheme"] = "halpern"
        return PDHGBackend(), dataclasses.replace(options, extra=extra)

    def setup(self, view, options: SolveOptions) -> Workspace:
        lp, lp_options = self._delegate(view, options)
        if lp is not None:
            return lp.setup(view, lp_options)
        _options(self.checked_extra(options))
        return norm_workspace(view)

    def update(self, ws, view, options, changes) -> bool:
        lp, lp_options = self._delegate(view, options)
        return lp.update(ws, view, lp_options, changes) if lp is not None else super().update(ws, view, options, changes)

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        lp, lp_options = self._delegate(view, options)
        if lp is not None:
            return lp.solve(view, lp_options, ws)
        with threads(blas=1):     # small and memory-bound products: spin-waiting BLAS threads cost 10-100x
            return self._solve(view, options, ws)

    def _solve(self, view, options, ws) -> RawSolution:
        t0 = time.perf_counter()
        o = _options(self.checked_extra(options))
        compile_time = KS.warm_up() + (0.0 if view.dense else _warm_csr())
        norm_passes = ws["norm_passes"] if ws.pop("fresh", False) else 0
        warm = ws.warm
        x, y, start = start_point(view, options, warm)
        run = _Run(view, o, options.tol, ws["norm"], x, y, float(warm["w"]) if start else o["primal_weight"])
        mon = IterationMonitor(options, table=TABLE)
        setup_time = time.perf_counter() - t0
        it = 0
        if start:
            val, exact = run.evaluate(0, x, y, run.Ky, run.KTx)
            if exact and val <= options.tol:
                mon.record(0, val, fpr=0.0, matvecs=run.op.passes + norm_passes, restarts=0, omega=run.w, exact=True)
                mon.stop("converged")
                return self._out(run, (x.copy(), y.copy()), 0, mon, setup_time, norm_passes, compile_time, ws, start)
        best = (x.copy(), y.copy())
        while True:
            count = min(int(options.check_every), mon.max_iter - it)
            if count <= 0:
                mon.stop("max_iter", f"{mon.max_iter} iterations")
                break
            it = run.steps(count, it)
            if not math.isfinite(run.fpr) or not (np.all(np.isfinite(run.xt)) and np.all(np.isfinite(run.yt))):
                mon.stop("numerical_error", f"NaN or Inf in the iterates at iteration {it}")
                break
            best = (run.xt.copy(), run.yt.copy())
            val, exact = run.evaluate(it, run.xt, run.yt, run.Kyt, run.KTxt)
            rec = mon.record(it, val, fpr=run.fpr, matvecs=run.op.passes + norm_passes, restarts=run.restarts,
                             omega=run.w, exact=exact)
            if exact and val <= options.tol:
                mon.stop("converged")
                break
            if mon.check(rec, None, f"{mon.max_iter} iterations (gap {val:.2e})"):
                break
        return self._out(run, best, it, mon, setup_time, norm_passes, compile_time, ws, start)

    def _out(self, run, best, it, mon, setup_time, norm_passes, compile_time, ws, start) -> RawSolution:
        op, o = run.op, run.o
        total = op.passes + norm_passes
        info = {"matvecs": total, "matvecs_norm": norm_passes, "matvecs_checks": run.check_passes,
                "matvecs_steps": op.passes - run.check_passes, "restarts": run.restarts, "primal_weight": run.w,
                "step_size": run.eta, "scheme": o["scheme"],
                "reflection": o["reflection"] if o["scheme"] == "halpern" else None, "compile_time": compile_time,
                "jit_time": compile_time, "warm_start": start, "solve_time": mon.elapsed()}
        mon.summary(self.name, f"{it} iterations, {total} passes over K", mon.elapsed())
        if mon.status == "numerical_error":
            return RawSolution(x=None, status="numerical_error", iterations=it, history=mon.history,
                               setup_time=setup_time, info=info, message=mon.message)
        ws.warm.update(x=best[0].copy(), y=best[1].copy(), w=run.w, data_version=run.view.program.data_version)
        return RawSolution(x=np.concatenate(best), status=mon.status, iterations=it, history=mon.history,
                           setup_time=setup_time, info=info, message=mon.message)


class _Run:
    """One run's iterates (z = (x, y) with K y, K^T x; T z in the ``t`` buffers; the
    anchor), step, primal weight and restart state."""

    def __init__(self, view, o, tol, norm, x, y, w):
        self.view, self.o, self.tol = view, o, tol
        m, n = view.shape
        self.op = _Operator(view)
        self.halpern = o["scheme"] == "halpern"
        self.rho = o["reflection"] if self.halpern else 0.0
        if norm > 0:
            self.eta = _STEP / norm
        else:       # K is 0 on the iterates' differences: a projected gradient step on c, b
            lin = max(float(np.max(np.abs(view.c), initial=0.0)), float(np.max(np.abs(view.b), initial=0.0)))
            self.eta = 1.0 / lin if lin > 0 else 1.0
        self.w = w
        self.x, self.y = x, y
        self.Ky, self.KTx = np.empty(m), np.empty(n)
        self.op.K(y, self.Ky)
        self.op.KT(x, self.KTx)
        self.xt, self.yt, self.Kyt, self.KTxt = np.empty(m), np.empty(n), np.empty(m), np.empty(n)
        self.anchor = [x.copy(), y.copy(), self.Ky.copy(), self.KTx.copy()]
        self.j = 0                  # steps since the last restart (Halpern's k)
        self.fpr, self.fpr0, self.prev = math.inf, math.inf, math.inf
        self.restarts = 0
        self.check = GapCheck(view, tol, self.op)
        # quadratic regularizers (the RegularizedSaddle form) go into the prox steps: the
        # PDHG operator stays firmly nonexpansive in its metric, so Halpern's anchoring holds
        self.alpha, self.mu = float(getattr(view, "x_reg", 0.0)), float(getattr(view, "y_reg", 0.0))
        self.mb = np.ascontiguousarray(-view.b)

    def steps(self, count: int, it: int) -> int:
        """``count`` steps (with their restart tests); returns the iteration count."""
        v, X, Y = self.view, self.view.X, self.view.Y
        kx, ky = int(X.kind), int(Y.kind)
        x, y, Ky, KTx = self.x, self.y, self.Ky, self.KTx
        xt, yt, Kyt, KTxt = self.xt, self.yt, self.Kyt, self.KTxt
        x0, y0, Ky0, KTx0 = self.anchor
        every = int(self.o["restart_every"])
        for _ in range(count):
            tau, sigma = self.eta / self.w, self.eta * self.w
            if self.alpha > 0 or self.mu > 0:
                # x: P_X((x - tau (c + K y)) / (1 + tau alpha)); y: P_Y((y + sigma (2 K^T x+ - K^T x - b)) / (1 + sigma mu))
                dx2 = KS.prox_step(x, Ky, Ky, 0.0, v.c, tau, -1.0, self.alpha, kx, X.lo, X.hi, xt)
                self.op.KT(xt, KTxt)
                dy2 = KS.prox_step(y, KTxt, KTx, 1.0, self.mb, sigma, 1.0, self.mu, ky, Y.lo, Y.hi, yt)
            else:
                dx2 = KS.primal_step(x, Ky, v.c, tau, kx, X.lo, X.hi, xt)
                self.op.KT(xt, KTxt)
                dy2 = KS.dual_step(y, KTx, KTxt, v.b, sigma, ky, Y.lo, Y.hi, yt)
            self.op.K(yt, Kyt)
            self.fpr = math.sqrt(self.w * dx2 + dy2 / self.w)
            if self.fpr0 == math.inf:
                self.fpr0 = self.fpr
            h = (self.j + 1.0) / (self.j + 2.0) if self.halpern else 1.0
            a, r, g = h * (1.0 + self.rho), h * self.rho, 1.0 - h
            KS.mix(a, r, g, xt, x, x0)
            KS.mix(a, r, g, yt, y, y0)
            KS.mix(a, r, g, Kyt, Ky, Ky0)
            KS.mix(a, r, g, KTxt, KTx, KTx0)
            self.j += 1
            it += 1
            if self.o["restart"] and self.j % every == 0:
                self.restart(it)
        return it

    def restart(self, it: int) -> None:
        """The restart test on the fixed-point residual; on a restart z and the anchor become
        T(z) and the primal weight moves towards |dy| / |dx| of the moves since the last one."""
        r, r0 = self.fpr, self.fpr0
        do = restart_due(r, r0, self.prev, self.j, it)
        self.prev = r
        if not do:
            return
        smooth = self.o["primal_weight_smoothing"]
        dx = float(np.linalg.norm(self.xt - self.anchor[0]))
        dy = float(np.linalg.norm(self.yt - self.anchor[1]))
        if dx > 0 and dy > 0 and smooth > 0:
            self.w = math.exp(smooth * math.log(dy / dx) + (1.0 - smooth) * math.log(self.w))
        for dst, src in zip((self.x, self.y, self.Ky, self.KTx), (self.xt, self.yt, self.Kyt, self.KTxt)):
            dst[:] = src
        for dst, src in zip(self.anchor, (self.xt, self.yt, self.Kyt, self.KTxt)):
            dst[:] = src
        self.j, self.fpr0, self.prev = 0, r, math.inf
        self.restarts += 1

    @property
    def check_passes(self) -> int:
        return self.check.passes

    def evaluate(self, it, px, py, pKy, pKTx):
        """(the compared value, whether it is exact): ``saddle_gap.GapCheck``."""
        return self.check.evaluate(it, px, py, pKy, pKTx)


def _warm_csr() -> float:
    t0 = time.perf_counter()
    KP.csr_matvec(np.array([0, 1], dtype=np.int64), np.array([0], dtype=np.int64), np.ones(1), np.ones(1),
                  np.empty(1))
    return time.perf_counter() - t0


registry.register(HalpernBackend())
