"""FISTA: accelerated proximal gradient on the Composite form.

    minimize  smooth(x) + penalty(x)

``smooth`` is the sum of the program's smooth terms, ``penalty`` the sum of its
prox-friendly pieces (plus box-like clips), as given by ``solvelab.ir.forms.Composite``.

The method (Beck & Teboulle 2009) with
  * backtracking on the local Lipschitz constant L: start from the form's upper bound
    divided by ``L0_factor``, double on a failed sufficient-decrease test, and shrink
    gently (``L_decrease``) before each step, with the momentum rule of Scheinberg,
    Goldfarb & Bai (2014) so that acceleration survives a changing L;
  * adaptive restart (O'Donoghue & Candès 2015): 'gradient' (default) or 'function'
    scheme, or 'none';
  * a numerically robust sufficient-decrease test: quadratic terms use the exact
    curvature w*q/2*||A d||^2 (no cancellation); other smooth terms use their Bregman
    divergence term by term;
  * one matvec and one rmatvec per smooth term per iteration: A x is cached and A y
    is obtained from it by linearity.

Every ``check_every`` iterations the prox-gradient mapping G = L (x - prox(x - g/L))
(relative to the larger of ||g||_inf and the gradient's size at the start, so that it
does not depend on how the objective is scaled) is measured; when it is small, duals
are built at the prox-gradient point (which has exact zeros) and the real certificate
``solvelab.ir.certificate.certify`` decides whether the solve has converged.

Unboundedness: on a problem unbounded below the iterates run off along a fixed
direction with a linearly falling objective. At every check the displacement since
the previous check is tested with ``solvelab.ir.certificate.check_unboundedness`` (it
keeps every constraint, leaves every nonlinear term constant and lowers the linear
part); when it passes and the objective fell, the run stops with status 'unbounded',
that displacement as the ray and the current iterate (a prox output: it satisfies the
bounds) as the feasible point.

The returned point is always a prox-gradient point (feasible for the bounds, exact
zeros). Statuses: 'converged' (certificate <= tol), 'unbounded' (a checked ray and a
feasible point), 'max_iter', 'time_limit',
'numerical_error' (NaN/Inf, or backtracking cannot find a step), and 'stopped' when the
callback returned True (the engine reports that as inaccurate unless it certifies).
Where a term's subdifferential projection is not implemented, the gradient mapping
stands in for the certificate.

Backend-specific options (``options.extra``): ``restart`` ('gradient' | 'function' |
'none'), ``L0_factor`` (a positive number, default 10), ``L_decrease`` (in (0, 1],
default 0.9, 1.0 disables it), ``check_factor`` (certify when the gradient mapping is
below check_factor * tol; positive, default 10). Anything else (zero, negative, NaN,
a bool) is refused with an error naming the option.
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np

from ..errors import InvalidDataError
from ..ir.certificate import certify, check_unboundedness, primal_residual
from ..ir.forms import Composite
from . import registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

_EXTRA = ("restart", "L0_factor", "L_decrease", "check_factor")

#: the verbose iteration table
_TABLE = Table(("iteration", "iter", "7d"), ("time", "time", "9.3f"), ("objective", "objective", "16.9e"),
               ("gradient_mapping", "grad map", "10.2e"), ("step", "step", "10.2e"),
               ("certificate", "cert", "10.2e"))


def _inf(v) -> float:
    return float(np.max(np.abs(v), initial=0.0)) if np.size(v) else 0.0


def _number(extra: dict, name: str, default: float, upper_one: bool = False) -> float:
    """A positive finite number option (in (0, 1] when ``upper_one``), refused otherwise
    with an error naming the option and the backend."""
    v = extra.get(name, default)
    ok = (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
          and math.isfinite(v) and v > 0 and (v <= 1 or not upper_one))
    if not ok:
        what = "a number in (0, 1]" if upper_one else "a positive finite number"
        raise InvalidDataError(f"fista: option {name} must be {what}, got {v!r}")
    return float(v)


class _Smooth:
    """The smooth part, term by term, with A x cached so that A y comes by linearity."""

    def __init__(self, view):
        self.terms = list(view.smooth)
        self.constant = float(view.program.constant)
        self.n = view.program.n

    def apply(self, x):
        """A_i x for every smooth term."""
        return [t.A.matvec(x) for t in self.terms]

    @staticmethod
    def combine(Ax_new, Ax_old, beta):
        """A y for y = x_new + beta (x_new - x_old)."""
        if beta == 0.0:
            return [a.copy() for a in Ax_new]
        return [a + beta * (a - b) for a, b in zip(Ax_new, Ax_old)]

    def value(self, Ax):
        val = self.constant
        for t, a in zip(self.terms, Ax):
            if t.weight:
                val += t.weight * t.f.value(a - t.b)
        return float(val)

    def term_grads(self, Ax):
        """Dual vectors of the smooth terms: w_i f_i'(A_i x - b_i)."""
        return [t.grad(a - t.b) for t, a in zip(self.terms, Ax)]

    def grad(self, Ax):
        g = np.zeros(self.n)
        for t, y in zip(self.terms, self.term_grads(Ax)):
            g += t.A.rmatvec(y)
        return g

    def excess(self, Ax_new, Ax_y, vals_y, grads_y, budget):
        """f(x_new) - f(y) - <grad f(y), x_new - y>, summed over terms, computed robustly.

        Quadratic terms: exactly w q/2 ||A d||^2 (no cancellation). Other terms: the
        function-value difference when its rounding error is small next to ``budget``
        (the allowance L/2 ||d||^2 it is compared with); otherwise the upper bound
        <grad f(x_new) - grad f(y), A d> (convexity), which has no cancellation.
        """
        total = 0.0
        for t, a, ay, fy, gy in zip(self.terms, Ax_new, Ax_y, vals_y, grads_y):
            if not t.weight:
                continue
            dz = a - ay
            if t.f.quadratic:
                q = float(getattr(t.f, "quad_coef", 0.0))
                total += 0.5 * t.weight * q * float(np.dot(dz, dz))
                continue
            fn = t.weight * t.f.value(a - t.b)
            lin = float(np.dot(gy, dz))
            err = 1e-14 * (abs(fn) + abs(fy) + abs(lin))
            if err <= 1e-2 * budget:
                total += fn - fy - lin
            else:
                total += float(np.dot(t.grad(a - t.b) - gy, dz))
        return total

    def term_values(self, Ax):
        return [t.weight * t.f.value(a - t.b) if t.weight else 0.0 for t, a in zip(self.terms, Ax)]


class _Duals:
    """Builds one dual vector per program term from a point and its smooth gradient."""

    def __init__(self, view):
        prog = view.program
        self.program = prog
        self.index = {id(t): i for i, t in enumerate(prog.terms)}
        self.smooth = [self.index[id(t)] for t in view.smooth]
        self.pieces = list(view.pieces)
        self.clips = list(view.clips)
        n = prog.n
        owner = np.full(n, -1, dtype=np.int64)
        pos = np.full(n, -1, dtype=np.int64)
        for k, p in enumerate(self.pieces):
            owner[p.idx] = k
            pos[p.idx] = np.arange(p.idx.size)
        # for each clip: the overlapped positions, grouped by owning piece
        self.overlaps = []
        for c in self.clips:
            ow = owner[c.idx]
            groups = []
            for k in np.unique(ow[ow >= 0]):
                kpos = np.nonzero(ow == k)[0]          # positions within the clip
                groups.append((int(k), kpos, pos[c.idx[kpos]]))  # and within the piece
            self.overlaps.append(groups)

    def build(self, x, smooth_duals, g):
        terms = self.program.terms
        duals = [None] * len(terms)
        for i, y in zip(self.smooth, smooth_duals):
            duals[i] = y
        piece_duals = [-g[p.idx] for p in self.pieces]
        clip_duals = [-g[c.idx] for c in self.clips]
        for ci, groups in enumerate(self.overlaps):
            for k, kpos, ppos in groups:
                p = self.pieces[k]
                zp = x[p.idx] - p.term.b
                proj = p.term.project_subdifferential(zp, -g[p.idx])
                piece_duals[k][ppos] = proj[ppos]
                clip_duals[ci][kpos] = -g[self.clips[ci].idx[kpos]] - proj[ppos]
        for p, y in zip(self.pieces, piece_duals):
            duals[self.index[id(p.term)]] = y
        for c, y in zip(self.clips, clip_duals):
            duals[self.index[id(c.term)]] = y
        return [np.zeros(t.m) if d is None else d for t, d in zip(terms, duals)]


class FistaBackend(Backend):
    name = "fista"
    description = "accelerated proximal gradient (FISTA) with backtracking and adaptive restart"
    forms = ("Composite",)
    default_max_iter = 10000
    priority = 20

    def auto_declines(self, view):
        """An objective without curvature or a nonsmooth part (every objective term linear)
        is an LP: proximal gradient only crawls there and cannot tell unboundedness,
        while admm certifies the optimum, infeasibility or unboundedness."""
        terms = [t for t in view.program.objective_terms() if t.weight != 0.0]
        if terms and all(t.f.name in ("linear", "zero") and not t.f.is_indicator for t in terms):
            return "the objective is linear (an LP): admm detects unboundedness and infeasibility"
        return None

    def accepts_extra(self):
        return _EXTRA

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        state = ws.warm    # the last solution and its step constant
        t_setup0 = time.perf_counter()
        extra = self.checked_extra(options)
        restart = extra.get("restart", "gradient")
        if not (isinstance(restart, str) and restart in ("gradient", "function", "none")):
            raise InvalidDataError(f"fista: option restart must be 'gradient', 'function' or 'none', got {restart!r}")
        L0_factor = _number(extra, "L0_factor", 10.0)
        L_dec = _number(extra, "L_decrease", 0.9, upper_one=True)
        check_factor = _number(extra, "check_factor", 10.0)
        tol = float(options.tol)

        prog = view.program
        n = prog.n
        sm = _Smooth(view)
        duals_builder = _Duals(view)
        try:
            with np.errstate(invalid="ignore", over="ignore"):
                L_up = float(view.lipschitz())
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            L_up = float("nan")
        if not math.isfinite(L_up):
            return RawSolution(x=None, status="numerical_error", iterations=0,
                               setup_time=time.perf_counter() - t_setup0,
                               message="the Lipschitz estimate of the smooth part is not finite "
                                       "(NaN or Inf in the data?)")
        if L_up <= 0.0:
            L_up = 0.0
        # without curvature (a linear smooth part) any step passes the test: L starts where a
        # step of the gradient at 0 has unit length (so it follows the objective's scale) and
        # falls by L_decrease; the floor is relative to the bound when there is one
        L_floor = 1e-12 * L_up if L_up > 0 else 1e-300
        if L_up > 0:
            L = max(L_up / L0_factor, L_floor)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                g0 = _inf(sm.grad(sm.apply(np.zeros(n))))
            L = g0 if (math.isfinite(g0) and g0 > 0) else 1.0

        x0 = None
        if options.warm_start and state.get("x") is not None:
            xw = np.asarray(state["x"], dtype=np.float64)
            if xw.shape == (n,) and np.all(np.isfinite(xw)):
                x0 = xw.copy()
                Lw = state.get("L")
                if Lw is not None and math.isfinite(Lw) and Lw > 0:
                    L = float(Lw)
        warm = x0 is not None
        if x0 is None:
            x0 = view.prox(np.zeros(n), 1.0 / L)
        setup_time = time.perf_counter() - t_setup0

        mon = IterationMonitor(options, table=_TABLE)
        max_iter = mon.max_iter
        restarts = backtracks = 0
        theta = 1.0
        x = x0
        Ax = sm.apply(x)
        x_old, Ax_old = x, Ax
        y, Ay = x, Ax
        F_x = sm.value(Ax) + view.penalty_value(x)
        it = 0
        last_cert = None
        x_out = None
        duals_out = None
        ray = None
        ref = None          # (x, objective) at the previous check, for the unboundedness ray
        ref_mid = ref_far = None   # (iteration, x) at checks spaced by doubling
        g_start = None      # the gradient's size at the start: the scale of the gradient mapping
        if mon.verbose:
            print(f"fista: n={n}, {len(sm.terms)} smooth term(s), {len(view.pieces)} penalty "
                  f"piece(s), {len(view.clips)} bound(s); L_up={L_up:.3e}, tol={tol:g}"
                  + (", warm start" if warm else ""))
            mon.header()

        def finite(*arrs):
            return all(np.all(np.isfinite(a)) for a in arrs)

        while True:
            # ---- convergence check every check_every iterations (and at the start) ----
            if mon.due(it):
                gx_duals = sm.term_grads(Ax)
                gx = np.zeros(n)
                for t, yv in zip(sm.terms, gx_duals):
                    gx += t.A.rmatvec(yv)
                if not finite(gx) or not math.isfinite(F_x):
                    mon.stop("numerical_error", f"NaN or Inf at iteration {it}")
                    x_out = x
                    break
                xp = view.prox(x - gx / L, 1.0 / L)
                if g_start is None:
                    g_start = _inf(gx)
                gmap = L * _inf(x - xp)
                gm = 0.0 if gmap == 0.0 else gmap / max(_inf(gx), g_start, np.finfo(np.float64).tiny)
                cert_val = None
                if gm <= check_factor * tol or it >= max_iter:
                    Axp = sm.apply(xp)
                    yp = sm.term_grads(Axp)
                    gp = np.zeros(n)
                    for t, yv in zip(sm.terms, yp):
                        gp += t.A.rmatvec(yv)
                    if finite(gp, xp):
                        duals = duals_builder.build(xp, yp, gp)
                        try:
                            cert = certify(prog, xp, duals)
                            cert_val = float(cert.value)
                        except NotImplementedError:
                            cert = None
                            cert_val = gm  # no certificate available: fall back on G
                        last_cert = cert_val
                        x_out, duals_out = xp, duals
                fields = {} if cert_val is None else {"certificate": cert_val}
                rec = mon.record(it, gm if cert_val is None else cert_val, objective=prog.sign * F_x,
                                 gradient_mapping=gm, step=1.0 / L, **fields)
                if cert_val is not None and math.isfinite(cert_val) and cert_val <= tol:
                    mon.stop("converged")
                    break
                # unbounded below: the displacement since the last check is a ray
                # (or since a check a quarter to a half of the run ago: the part of the
                # iterates that converges has moved less since then, while the ray has grown)
                if ref is not None and F_x < ref[1]:
                    for x_ref in (ref[0], ref_far[1]):
                        dx = x - x_ref
                        if _inf(dx) > 0 and check_unboundedness(prog, dx):
                            ray = dx
                            break
                    if ray is not None and primal_residual(prog, x) <= tol:
                        mon.stop("unbounded", f"unbounded: the iterates run off along a checked ray (iteration {it})")
                        x_out, duals_out = x, None
                        break
                    ray = None
                ref = (x.copy(), F_x)
                if ref_mid is None or it >= 2 * ref_mid[0]:
                    ref_far, ref_mid = (ref_mid or (it, ref[0])), (it, ref[0])
                if mon.check(rec, x):
                    break
            elif mon.timed_out(it):
                break

            # ---- one accelerated proximal-gradient step from y ----
            L_prev = L
            for attempt in (0, 1):
                # Ay is a running combination of earlier A x; near a solution its drift can
                # exceed the tiny allowance L/2 ||d||^2, so a failed search retries once
                # from a freshly computed A y before reporting a numerical error
                if attempt:
                    Ay = sm.apply(y)
                vals_y = sm.term_values(Ay)
                grads_y = sm.term_grads(Ay)
                gy = np.zeros(n)
                for t, yv in zip(sm.terms, grads_y):
                    gy += t.A.rmatvec(yv)
                if not finite(gy):
                    break
                L = max(L_prev * L_dec, L_floor)
                ok = False
                for _ in range(80):
                    x_new = view.prox(y - gy / L, 1.0 / L)
                    Ax_new = sm.apply(x_new)
                    d = x_new - y
                    dd = float(np.dot(d, d))
                    budget = 0.5 * L * dd
                    exc = sm.excess(Ax_new, Ay, vals_y, grads_y, budget)
                    if not math.isfinite(exc) and not finite(x_new):
                        break
                    if math.isfinite(exc) and exc <= budget * (1 + 1e-10):
                        ok = True
                        break
                    backtracks += 1
                    L_next = 2.0 * L
                    if L < L_up < L_next:
                        L_next = L_up  # the bound should pass; double again if it does not
                    L = L_next
                    if not math.isfinite(L) or L > 1e300:
                        break
                if ok:
                    break
            if not finite(gy):
                mon.stop("numerical_error", f"NaN or Inf in the gradient at iteration {it}")
                x_out = x
                break
            if not ok:
                mon.stop("numerical_error", f"backtracking failed at iteration {it} (L={L:.3e}); "
                                            "NaN/Inf or no step gives sufficient decrease")
                x_out = x
                break
            it += 1
            F_new = sm.value(Ax_new) + view.penalty_value(x_new)
            # momentum with a varying step (Scheinberg-Goldfarb-Bai)
            theta_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * (L / L_prev) * theta * theta))
            do_restart = False
            if restart == "gradient":
                do_restart = float(np.dot(y - x_new, x_new - x)) > 0.0
            elif restart == "function":
                do_restart = F_new > F_x
            if do_restart:
                restarts += 1
                theta_new = 1.0
                beta = 0.0
            else:
                beta = (theta - 1.0) / theta_new
            x_old, Ax_old = x, Ax
            x, Ax, F_x = x_new, Ax_new, F_new
            theta = theta_new
            if beta == 0.0:
                y, Ay = x, Ax
            else:
                y = x + beta * (x - x_old)
                Ay = sm.combine(Ax, Ax_old, beta)

        status, message = mon.status, mon.message
        if status in ("time_limit", "stopped") or (status == "max_iter" and x_out is None):
            # return the prox-gradient point of the last iterate (feasible, exact zeros)
            x_out, duals_out, last_cert = self._final_point(view, sm, duals_builder, prog, x, Ax, L)
        solve_time = mon.elapsed()
        if status == "numerical_error":
            x_ret = x if finite(x) else None
            duals_out = None
        else:
            x_ret = x_out if x_out is not None else x
        if x_ret is not None and finite(x_ret) and status != "unbounded":   # not a point run off to infinity
            state["x"] = np.array(x_ret, copy=True)
            state["L"] = L
        mon.summary("fista", f"{it} iterations, {restarts} restarts, {backtracks} backtracks", solve_time)
        info = {"restarts": restarts, "backtracks": backtracks, "step": 1.0 / L, "L": L,
                "L_upper": L_up, "warm_start": warm, "certificate": last_cert,
                "solve_time": solve_time}
        return RawSolution(x=x_ret, status=status, iterations=it, duals=duals_out, ray=ray,
                           history=mon.history, setup_time=setup_time, info=info, message=message)

    @staticmethod
    def _final_point(view, sm, duals_builder, prog, x, Ax, L):
        try:
            g = sm.grad(Ax)
            xp = view.prox(x - g / L, 1.0 / L)
            Axp = sm.apply(xp)
            yp = sm.term_grads(Axp)
            gp = sm.grad(Axp)
            if not (np.all(np.isfinite(xp)) and np.all(np.isfinite(gp))):
                return x, None, None
            duals = duals_builder.build(xp, yp, gp)
            try:
                val = float(certify(prog, xp, duals).value)
            except NotImplementedError:
                val = None
            return xp, duals, val
        except (FloatingPointError, ValueError):
            return x, None, None


class Polished(NamedTuple):
    """A polished point, its duals, their recomputed certificate and the FISTA iterations."""
    x: np.ndarray
    duals: list
    certificate: float
    iterations: int


def polish(program, x, tol: float, max_iter: int = 2000, time_limit: float | None = None) -> Polished | None:
    """Up to ``max_iter`` FISTA iterations started at ``x`` on a program that has the
    Composite form (checked every 10, stopping at ``tol``), for another backend's point
    that misses ``tol`` (an interior-point point is accurate only to about sqrt(gap) in
    x). Returns the final point with its duals and their certificate
    (``solvelab.ir.certificate.certify``), or None when the program is not Composite or
    the run ends without a point and duals. Whether the polished point is better is the
    caller's to judge."""
    view = Composite.match(program)
    if not view:
        return None
    opts = SolveOptions(tol=float(tol), max_iter=int(max_iter), check_every=10, time_limit=time_limit,
                        warm_start=True)
    ws = _FISTA.setup(view, opts)
    ws.warm["x"] = np.array(x, copy=True)
    raw = _FISTA.solve(view, opts, ws)
    if raw.x is None or raw.duals is None:
        return None
    return Polished(raw.x, raw.duals, float(certify(program, raw.x, raw.duals).value), raw.iterations)


_FISTA = registry.register(FistaBackend())
