"""Newton-KKT steps solved by randomized sketching, globalized on the exact augmented
Lagrangian (after Na, Anitescu and Kolar's exact-AL SQP, with Hong, Na, Mahoney and Kolar's
adaptive randomized sketching of the Newton system), on the SmoothNLP form.

    step         K [dx; dlam] = -[grad L; c],  K = [[H + delta I, J^T], [J, 0]], H the
                 Lagrangian Hessian at (x, lam). Solved by sketch-and-project
                 (``kernels.sketch``: block Kaczmarz, Gaussian or count sketch) to the
                 adaptive accuracy |K z + r| <= theta_k |r|, theta_k = min(theta,
                 sqrt(kkt_k)) (kkt_k the certificate's error, so the condition sharpens
                 near the solution); a direct solve (LAPACK LU / SuperLU) when n + m <
                 ``direct_below`` (sketching would not pay) or when the sketch misses
                 the condition in ``sketch_max_iter`` projections (counted in info).
                 ``direct_below`` defaults to 2000 for a dense Jacobian and 100000 for a
                 sparse one: without a preconditioner the sketch loses to SuperLU on
                 sparse KKT systems (Poisson control, n + m = 12288: 30 s against 0.36 s)
    merit        L_{mu,nu}(x, lam) = f + lam^T c + mu/2 |c|^2 + nu/2 |grad_x L|^2, whose
                 gradient is (grad L + nu H grad L + mu J^T c, c + nu J grad L): one
                 Hessian product. nu = 1 / |H| at the start; mu grows (by the linear
                 law of the directional derivative in mu) until the step descends by half
                 of nu |grad L|^2 + mu |c|^2; when mu cannot do it (the reduced Hessian is
                 not positive definite), or when the step has negative curvature
                 (dx^T (H + delta I) dx < 1e-8 |H| |dx|^2), delta grows and the step is
                 solved again
    line search  Armijo (1e-4) with halving on the merit; the local phase (kkt_k <=
                 ``local_tol``) first tries the unit step and keeps it when the
                 certificate's error falls by 10 %
    stopping     the family's certificate (relative stationarity and feasibility) <= tol,
                 at a feasible point also with the least-squares multipliers (the step's
                 can lag behind: with f constant any nonzero J^T lam reads 1);
                 a point with |c| above tol where grad |c|^2 = 2 J^T c vanishes (relative)
                 and no step helps is 'locally_infeasible' (the engine rechecks the point: status
                 locally_infeasible, else inaccurate)

Multipliers in ``RawSolution.duals`` (the vector lam). Options (``options.extra``):
``sketch`` ('block_kaczmarz' | 'gaussian' | 'countsketch'), ``block`` (sketch size),
``direct_below`` (None: 2000 dense, 100000 sparse), ``theta`` (0.5), ``sketch_max_iter`` (2000), ``local_tol``
(1e-3), ``seed`` (0). Bounds are refused (``cannot_take``; backend ``auglag`` takes them). Statuses: converged,
max_iter, time_limit, stopped, locally_infeasible, numerical_error.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..families.nlp import least_squares_multipliers, measures
from ..kernels import sketch as K
from . import registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

TABLE = Table(("iteration", "iter", "6d"), ("time", "time", "9.3f"), ("objective", "objective", "13.5e"),
              ("stationarity", "stat", "9.2e"), ("feasibility", "feas", "9.2e"), ("step", "step", "8.1e"),
              ("mu", "mu", "8.1e"), ("delta", "delta", "8.1e"), ("solver", "solver", "7s"))

_ARMIJO = 1e-4
_EPS = float(np.finfo(np.float64).eps)


def _norm(v) -> float:
    return float(np.linalg.norm(v)) if np.size(v) else 0.0


def _op_norm(M) -> float:
    """|M|_inf (an upper bound of the 2-norm for symmetric M)."""
    if M.shape[0] == 0:
        return 0.0
    if sp.issparse(M):
        return float(abs(M).sum(axis=1).max())
    return float(np.abs(M).sum(axis=1).max())


class Point:
    """f, grad f, c, J, grad_x L and the certificate's two measures at (x, lam)."""

    def __init__(self, p, x, lam):
        self.x, self.lam = x, lam
        self.f = p.fun(x, "x")
        self.g = p.gradient(x, "x")
        self.c = p.cons(x, "x")
        self.J = p.jacobian(x, "x")
        self.gL = self.g + (self.J.T @ lam if lam.size else 0.0)
        self.stat, self.feas = measures(self.g, self.c, self.J, lam, x, p.g0_norm, p.c0_norm)

    @property
    def kkt(self) -> float:
        return max(self.stat, self.feas)

    def with_lam(self, p, lam):
        """The same x with other multipliers (no new evaluation of f, c, J)."""
        q = object.__new__(Point)
        q.__dict__.update(self.__dict__)
        q.lam = lam
        q.gL = self.g + (self.J.T @ lam if lam.size else 0.0)
        q.stat, q.feas = measures(self.g, self.c, self.J, lam, self.x, p.g0_norm, p.c0_norm)
        return q


def _options(name, extra) -> dict:
    o = {"sketch": "block_kaczmarz", "block": None, "direct_below": None, "theta": 0.5, "sketch_max_iter": 2000,
         "local_tol": 1e-3, "seed": 0}
    o.update(extra)
    if o["sketch"] not in K.SKETCHES:
        raise InvalidDataError(f"backend {name!r}: sketch must be one of {', '.join(K.SKETCHES)}, got {o['sketch']!r}")
    for key in ("direct_below", "sketch_max_iter", "seed"):
        v = o[key]
        if key == "direct_below" and v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise InvalidDataError(f"backend {name!r}: {key} must be a nonnegative integer, got {v!r}")
    if o["block"] is not None and (isinstance(o["block"], bool) or not isinstance(o["block"], (int, np.integer))
                                   or o["block"] < 1):
        raise InvalidDataError(f"backend {name!r}: block must be a positive integer, got {o['block']!r}")
    for key in ("theta", "local_tol"):
        v = o[key]
        if not isinstance(v, (int, float)) or not 0.0 < v < 1.0:
            raise InvalidDataError(f"backend {name!r}: {key} must be in (0, 1), got {v!r}")
    return o


def _direct_below(p, o) -> int:
    """The n + m under which steps are solved directly: the option, else 2000 (dense
    Jacobian) or 100000 (sparse: SuperLU beats the unpreconditioned sketch there)."""
    if o["direct_below"] is not None:
        return int(o["direct_below"])
    return 100_000 if p.sparse else 2000


class SketchedNewtonBackend(Backend):
    name = "sketched_newton"
    description = ("Newton-KKT steps by randomized iterative sketching (block Kaczmarz, Gaussian, count sketch) "
                   "with the adaptive accuracy condition, line search on the exact augmented Lagrangian")
    forms = ("SmoothNLP",)
    default_max_iter = 1000
    priority = 20
    merit = "augmented_lagrangian"
    sketching = True
    _EXTRA = ("sketch", "block", "direct_below", "theta", "sketch_max_iter", "local_tol", "seed")

    def accepts_extra(self):
        return self._EXTRA

    def cannot_take(self, view):
        if view.has_bounds:
            return (f"backend {self.name!r} solves equality-constrained NLPs without bounds; this problem has "
                    f"bounds: use backend 'auglag' (bound-constrained augmented Lagrangian)")
        return None

    def setup(self, view, options: SolveOptions) -> Workspace:
        self.checked_extra(options)
        return Workspace(n=view.n, m=view.m)

    # -- linear algebra -------------------------------------------------------------------
    def _step(self, p, pt, H, delta, theta, o, stats, rng, z0=None):
        """[dx; dlam] for K z = -r, and the solver used ('direct' / 'sketch')."""
        n, m = p.n, p.m
        Kmat = K.kkt_matrix(H, pt.J, delta)
        b = -np.concatenate([pt.gL, pt.c])
        use_sketch = self.sketching and n + m >= _direct_below(p, o)
        if use_sketch:
            z, ratio, its, flops = K.sketch_solve(Kmat, b, z0, theta, o["sketch"], o["block"],
                                                  o["sketch_max_iter"], rng)
            stats["sketch_iterations"] += its
            stats["sketch_flops"] += flops
            if ratio <= theta and np.all(np.isfinite(z)):
                stats["sketch_solves"] += 1
                return z, "sketch"
            stats["fallbacks"] += 1
        z, flops = K.direct_solve(Kmat, b)
        stats["direct_flops"] += flops
        stats["direct_solves"] += 1
        if z is None:   # singular K (dependent constraints): the least-squares step
            dense = Kmat.toarray() if sp.issparse(Kmat) else Kmat
            z = np.linalg.lstsq(dense, b, rcond=None)[0]
        return z, "direct"

    # -- merits -------------------------------------------------------------------------
    def _merit(self, pt, mu, nu) -> float:
        v = pt.f + (float(pt.lam @ pt.c) if pt.c.size else 0.0) + 0.5 * mu * float(pt.c @ pt.c)
        return v + 0.5 * nu * float(pt.gL @ pt.gL)

    def _slope(self, p, pt, dx, dlam, mu, nu):
        """(D at mu = 0, dD / dmu): the merit's directional derivative is linear in mu
        (``pt.HgL`` = H grad L, with the unregularized H)."""
        HgL = pt.HgL if nu else 0.0
        gx = pt.gL + nu * HgL
        d0 = float(gx @ dx)
        if pt.c.size:
            d0 += float((pt.c + nu * (pt.J @ pt.gL)) @ dlam)
            a = float(pt.c @ (pt.J @ dx))
        else:
            a = 0.0
        return d0, a

    def _trial(self, p, pt, dx, dlam, alpha):
        return Point(p, pt.x + alpha * dx, pt.lam + alpha * dlam)

    # -- the solve ----------------------------------------------------------------------
    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        o = _options(self.name, self.checked_extra(options))
        p = view.program
        rng = np.random.default_rng(o["seed"])
        warm = ws.warm
        x = p.x0.copy()
        lam = None
        if options.warm_start and warm.get("x") is not None and warm.get("data_version") == p.data_version \
                and warm["x"].shape == x.shape and warm["lam"].shape == (p.m,):
            x, lam = warm["x"].copy(), warm["lam"].copy()
        warmed = lam is not None
        mon = IterationMonitor(options, table=TABLE)
        stats = {"direct_solves": 0, "sketch_solves": 0, "fallbacks": 0, "sketch_iterations": 0,
                 "sketch_flops": 0.0, "direct_flops": 0.0, "regularizations": 0, "unit_steps": 0,
                 "line_search_steps": 0}
        setup_time = time.perf_counter() - t0
        try:
            out = self._loop(p, x, lam, options, o, mon, stats, rng)
        except (InvalidDataError, FloatingPointError, np.linalg.LinAlgError) as exc:
            return RawSolution(x=None, status="numerical_error", iterations=0, history=mon.history,
                               setup_time=setup_time, info=dict(stats), message=f"evaluation failed: {exc}")
        x, lam, it = out["x"], out["lam"], out["iterations"]
        info = dict(stats, mu=out.get("mu"), nu=out.get("nu"), solve_time=mon.elapsed(),
                    evaluations=dict(p.counts), warm_start=warmed,
                    linear_solver=out.get("linear_solver"))
        mon.summary(self.name, f"{it} iterations", mon.elapsed())
        if x is not None and np.all(np.isfinite(x)):
            warm.update(x=x.copy(), lam=lam.copy(), data_version=p.data_version)
        return RawSolution(x=x, status=mon.status, iterations=it, duals=lam, history=mon.history,
                           setup_time=setup_time, info=info, message=mon.message)

    def _linear_solver_note(self, p, o) -> str:
        N = p.n + p.m
        if not self.sketching:
            return "direct (exact KKT solves)"
        below = _direct_below(p, o)
        if N < below:
            return (f"direct: n + m = {N} < direct_below = {below}"
                    f"{' (sparse KKT)' if p.sparse and o['direct_below'] is None else ''}, sketching would not pay")
        return f"sketch ({o['sketch']}), direct fallback when the accuracy condition is missed"

    def _loop(self, p, x, lam, options, o, mon, stats, rng) -> dict:
        tol = options.tol
        pt = Point(p, x, np.zeros(p.m))
        if lam is None:
            lam = least_squares_multipliers(pt.g, pt.J)
        pt = pt.with_lam(p, lam)
        note = self._linear_solver_note(p, o)
        if mon.verbose:
            print(f"{self.name}: n={p.n}, m={p.m}, tol={tol:g}; linear solves: {note}")
        H = p.hessian(pt.x, pt.lam, "x")
        hn = _op_norm(H)
        jn = _op_norm(pt.J)
        nu = (0.1 / hn if hn > 0 else 0.0) if self.merit == "augmented_lagrangian" else 0.0
        mu = (hn / jn ** 2 if hn > 0 and jn > 0 else (1.0 if jn > 0 else 0.0))
        if self.merit == "l1":
            mu = 0.0
        delta0 = max(hn, jn, 1e-300) * 1e-8
        it = 0
        step, solver, delta = 0.0, "", 0.0
        while True:
            if pt.kkt > tol and pt.feas <= tol and pt.c.size:
                # feasible but the step's multipliers miss: the least-squares ones may not
                q = pt.with_lam(p, least_squares_multipliers(pt.g, pt.J))
                if q.kkt < pt.kkt:
                    pt = q
            done = pt.kkt <= tol   # the measures are free here: tested every iteration
            budget = f"{mon.max_iter} iterations (certificate {pt.kkt:.2e})"
            if done or mon.due(it):
                rec = mon.record(it, pt.kkt, objective=pt.f + p.constant, stationarity=pt.stat,
                                 feasibility=pt.feas, step=step, mu=mu, delta=delta, row={"solver": solver})
                if done:
                    mon.stop("converged")
                    break
                if mon.check(rec, pt.x, budget):
                    break
            elif mon.limits(it, budget):
                break
            it += 1
            if it > 1:
                H = p.hessian(pt.x, pt.lam, "x")
            pt.HgL = np.asarray(H @ pt.gL).reshape(-1)   # the merit gradient's Hessian product
            theta = min(o["theta"], max(np.sqrt(pt.kkt), 1e-12))
            delta = 0.0
            accepted = False
            for _ in range(30):
                z, solver = self._step(p, pt, H, delta, theta, o, stats, rng)
                dx, dlam = z[:p.n], z[p.n:]
                if not np.all(np.isfinite(z)):
                    mon.stop("numerical_error", f"NaN or Inf in the Newton step at iteration {it}")
                    return self._out(pt, it, mu, nu, note)
                Hdx = np.asarray(H @ dx).reshape(-1) + delta * dx
                curved = float(dx @ Hdx) >= 1e-8 * hn * float(dx @ dx)
                ok, mu_new, D = self._descent(p, pt, dx, dlam, mu, nu) if curved else (False, mu, 0.0)
                if ok:
                    mu = mu_new
                    accepted = True
                    break
                delta = max(10.0 * delta, delta0)
                stats["regularizations"] += 1
            if not accepted:
                return self._stuck(p, pt, it, mu, nu, note, mon, "no descent direction after 30 regularizations")
            new, step, kind = self._search(p, pt, dx, dlam, mu, nu, D, o)
            if new is None:
                return self._stuck(p, pt, it, mu, nu, note, mon, "the line search found no decrease")
            stats[kind] += 1
            moved = float(np.max(np.abs(new.x - pt.x), initial=0.0))
            if moved <= _EPS * float(np.max(np.abs(pt.x), initial=0.0)) and new.kkt >= pt.kkt:
                return self._stuck(p, new, it, mu, nu, note, mon, "the steps fell below rounding")
            pt = new
        return self._out(pt, it, mu, nu, note)

    def _descent(self, p, pt, dx, dlam, mu, nu):
        """(ok, mu, D): raise mu until D <= -(nu |grad L|^2 + mu |c|^2) / 2 (not ok when
        mu cannot do it: the caller regularizes H)."""
        d0, a = self._slope(p, pt, dx, dlam, mu, nu)
        want = 0.5 * nu * float(pt.gL @ pt.gL)
        cc = float(pt.c @ pt.c)
        D = d0 + mu * a
        if D <= -(want + 0.5 * mu * cc) and (want + mu * cc) > 0:
            return True, mu, D
        if a < 0 and -a >= 0.5 * cc:   # J dx ~ -c: a large enough mu descends
            need = (d0 + want) / (-a - 0.5 * cc) if -a > 0.5 * cc else np.inf
            new_mu = max(2.0 * need, 2.0 * mu)
            if np.isfinite(new_mu) and new_mu < 1e12 * max(mu, 1.0 / max(cc, 1e-300)):
                D = d0 + new_mu * a
                return True, new_mu, D
        return False, mu, D

    def _search(self, p, pt, dx, dlam, mu, nu, D, o):
        """(the accepted point, its step, the stats key counting the kind) or (None, 0, '')."""
        if pt.kkt <= o["local_tol"]:
            tr = self._trial(p, pt, dx, dlam, 1.0)
            if tr.kkt <= 0.9 * pt.kkt:
                return tr, 1.0, "unit_steps"
        phi = self._merit(pt, mu, nu)
        alpha = 1.0
        for _ in range(60):
            try:
                tr = self._trial(p, pt, dx, dlam, alpha)
            except InvalidDataError:   # NaN at the trial point: shorten
                alpha *= 0.5
                continue
            if self._merit(tr, mu, nu) <= phi + _ARMIJO * alpha * D:
                return tr, alpha, "line_search_steps"
            alpha *= 0.5
        return None, 0.0, ""

    def _stuck(self, p, pt, it, mu, nu, note, mon, why):
        """No progress: 'locally_infeasible' at a stationary point of |c|^2 that is not
        feasible, else 'numerical_error' with the reason."""
        if pt.c.size and pt.feas > mon.options.tol:
            JTc = pt.J.T @ pt.c
            scale = _op_norm(pt.J.T) * float(np.max(np.abs(pt.c)))
            r = float(np.max(np.abs(JTc))) / scale if scale > 0 else 0.0
            if r <= np.sqrt(mon.options.tol):
                mon.stop("locally_infeasible", f"locally infeasible at iteration {it}: |c| = "
                         f"{np.max(np.abs(pt.c)):.2e} at a stationary point of |c|^2 (|J^T c| relative {r:.1e}); "
                         f"{why}")
                return self._out(pt, it, mu, nu, note)
        mon.stop("numerical_error", f"{why} at iteration {it} (certificate {pt.kkt:.2e})")
        return self._out(pt, it, mu, nu, note)

    @staticmethod
    def _out(pt, it, mu, nu, note):
        return {"x": pt.x, "lam": pt.lam, "iterations": it, "mu": mu, "nu": nu, "linear_solver": note}


registry.register(SketchedNewtonBackend())
