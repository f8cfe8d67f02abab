"""The reference backend: hand the user's CVXPY problem to CVXPY (Clarabel by default).

It is the oracle every other backend is checked against, not a default: its priority
puts it last for ``backend='auto'``. It solves ``program.source``, the ``cvxpy.Problem``
the compiler built from the user's objective and constraints, so it can cross-check any
model that came from CVXPY; programs built by hand (no source) are refused. It declares
the ProxAffine form only so that dispatch has something to match; the form's
capabilities are not used (terms without a prox would be fine too).

The primal point is read back from the CVXPY variables. Constraint terms that are one
CVXPY constraint each take that constraint's multipliers from the solver (CVXPY's sign
convention is the IR's: ``y`` in the normal cone of ``expr <= 0`` / ``expr == 0``; an SOC's
is negated); the remaining duals (penalties such as l1, merged bounds) are recovered
from the point given those (``solvelab.ir.certificate.recover_duals``), and the
certificate is recomputed on the IR exactly as for every other backend. Infeasible / unbounded verdicts come without a
ray in solvelab's format: they are marked ``trusted_status`` and the engine says so.

Options: ``solver`` (any CVXPY solver name, default 'CLARABEL'), ``no_snap`` (skip the
kink snapping below), ``polish`` (default False: the reference stays a pure CVXPY answer) and ``polish_iter`` (see ``_polish``:
proximal-gradient polishing of Composite programs whose interior-point point misses
``tol``); every other ``options.extra`` entry is passed to
``cvxpy.Problem.solve`` unchanged (so solver settings such as ``tol_gap_abs`` can be
overridden). For Clarabel, ``tol`` maps to ``tol_gap_abs``/``tol_gap_rel``/``tol_feas``
(``min(1e-12, 1e-6 * tol)``, the absolute gap a hundredth of that, since the
recomputed certificate is relative and Clarabel's tests are absolute on small-scale data), ``max_iter`` to
``max_iter`` and ``time_limit`` to ``time_limit``.

Interior-point points are never exactly at a kink (|x_i| = 1e-10 where the answer is
0), and ``certify`` measures the subgradient residual at the point as given, so a
converged point is snapped: entries read through a selection by a kinked term (l1,
pos/neg, nonneg/nonpos, box bounds, equalities, group norms) that lie within a relative
1e-9 / 1e-7 / 1e-5 of the kink are moved onto it, and the candidate (unsnapped
included) with the best recomputed certificate is returned; ``info['snap']`` says
which level was used (None: unsnapped).
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from ..errors import BackendRefusedError
from ..ir.certificate import certify
from ..ir.linop import BlockRowOperator
from . import registry
from .base import Backend, RawSolution, SolveOptions, Workspace

_STATUS = {
    "optimal": "converged",
    "optimal_inaccurate": "converged",
    "infeasible": "infeasible",
    "infeasible_inaccurate": "infeasible",
    "unbounded": "unbounded",
    "unbounded_inaccurate": "unbounded",
}


def _solver_settings(solver: str, options: SolveOptions) -> dict:
    s = solver.upper()
    if s == "CLARABEL":
        # Clarabel's tests are absolute at small data scales (max(1, .) floors), ours are
        # relative: ask for far more than tol, and its retry path below settles otherwise
        tol = min(1e-12, 1e-6 * float(options.tol))
        out = {"tol_gap_abs": 1e-2 * tol, "tol_gap_rel": tol, "tol_feas": tol, "max_iter": int(options.max_iter)}
        if options.time_limit is not None:
            out["time_limit"] = float(options.time_limit)
        return out
    if s == "SCS":
        tol = min(1e-6, 1e-2 * float(options.tol))
        out = {"eps_abs": tol, "eps_rel": tol}
        if options.time_limit is not None:
            out["time_limit_secs"] = float(options.time_limit)
        return out
    if s == "OSQP":
        tol = min(1e-6, 1e-2 * float(options.tol))
        out = {"eps_abs": tol, "eps_rel": tol}
        if options.time_limit is not None:
            out["time_limit"] = float(options.time_limit)
        return out
    return {}


_ZERO_KINK = ("l1", "pos", "neg", "nonneg", "nonpos")
_GROUP_KINK = ("l2", "linf")


def _snap(program, x: np.ndarray, rel: float) -> np.ndarray:
    """x with entries read by kinked terms moved onto the kink when within ``rel``.

    An interior-point solution is never exactly at a kink (x_i = 1e-10 instead of 0),
    and at such a point the subdifferential is a single slope that does not match the
    dual. Only terms that read a selection of x can be snapped (the move is then exact).
    """
    x = x.copy()
    tol = rel * float(np.max(np.abs(x), initial=0.0))  # relative to the point: any unit
    for t in program.terms:
        f = t.f
        if f.smooth and not f.is_indicator:
            continue
        idx = t.A.selection() if isinstance(t.A, BlockRowOperator) else None
        if idx is None:
            continue
        z = x[idx] - t.b
        if f.name in _ZERO_KINK or (f.name == "zero" and f.is_indicator):
            z = np.where(np.abs(z) <= tol, 0.0, z)
        elif f.name == "box":
            for k in (np.broadcast_to(f.lo, z.shape), np.broadcast_to(f.hi, z.shape)):
                with np.errstate(invalid="ignore"):
                    z = np.where(np.isfinite(k) & (np.abs(z - k) <= tol), k, z)
        elif f.name in _GROUP_KINK:
            if np.max(np.abs(z), initial=0.0) <= tol:
                z = np.zeros_like(z)
        else:
            continue
        x[idx] = z + t.b
    return x


def constraint_duals(program, x=None) -> dict:
    """Term index -> the solver's multipliers, for terms that are exactly one CVXPY
    constraint whose ``dual_value`` is set (mapped to the IR's sign convention)."""
    from cvxpy.constraints import SOC, Equality, Inequality, NonNeg, NonPos, Zero

    out = {}
    for i, t in enumerate(program.terms):
        c = t.origin
        if c is None:
            continue
        try:
            dv = c.dual_value
        except Exception:  # noqa: BLE001 - a constraint type without duals
            continue
        if dv is None:
            continue
        if isinstance(c, SOC) and t.f.name == "soc":
            parts = [np.asarray(d, dtype=np.float64).ravel(order="F") for d in dv]
            y = -np.concatenate(parts)
        elif isinstance(c, Inequality) and t.f.name == "soc" and np.size(dv) == 1 and x is not None:
            # norm2(u) <= t: the scalar multiplier lam of ||u|| - t <= 0 is the cone's
            # lam * (-1, u / ||u||) at the point
            z = t.residual(x)
            nu = float(np.linalg.norm(z[1:]))
            if nu == 0.0:
                continue
            y = float(np.ravel(dv)[0]) * np.concatenate([[-1.0], z[1:] / nu])
        elif isinstance(c, (Equality, Zero, Inequality, NonPos, NonNeg)) and t.f.name in ("zero", "nonpos"):
            y = np.asarray(dv, dtype=np.float64).ravel(order="F")
        else:
            continue
        if y.size == t.m and np.all(np.isfinite(y)):
            out[i] = y
    return out


def _duals_for(program, x, known):
    from ..ir.certificate import recover_duals
    return recover_duals(program, x, known=known)


def _snap_best(program, x: np.ndarray, tol: float, known: dict | None = None):
    """Of x and its snapped versions, the one with the best recomputed certificate."""
    from ..ir.forms import own_certificate
    own = own_certificate(program)  # judge candidates by the certificate the engine will use

    def value(point):
        if own is not None:
            return float(own(point, None).value)
        return float(certify(program, point, _duals_for(program, point, known) if known else None).value)

    best_x, best_val, best_rel = x, value(x), None
    if best_val <= 1e-3 * tol:
        return best_x, None
    for rel in _SNAP_LEVELS:
        xs = _snap(program, x, rel)
        if np.array_equal(xs, best_x):
            continue
        val = value(xs)
        if val < best_val:
            best_x, best_val, best_rel = xs, val, rel
        if best_val <= 1e-3 * tol:
            break
    return best_x, best_rel


_SNAP_LEVELS = (1e-9, 1e-7, 1e-5)


def _polish(program, x, options, info):
    """Interior-point points are accurate in objective (gap 1e-10) but only to about
    sqrt(gap) in x, which the KKT certificate sees (1e-5 on cone problems). When the
    certificate misses ``tol`` and the program has the Composite form, a few hundred
    proximal-gradient steps (``fista.polish``, started at the point) repair it; the
    polished point is kept only if its certificate is better. ``info['polished']``
    records what happened; the objective stays CVXPY's up to the polish's tiny change.
    """
    tol = float(options.tol)
    before = _cert_value(program, x)
    info["polished"] = False
    if before <= tol:
        return x, None
    from .fista import polish   # (only when polishing: the reference needs no other backend)
    out = polish(program, x, tol, max_iter=int(options.extra.get("polish_iter", 2000)),
                 time_limit=options.time_limit)
    if out is None:
        return x, None
    if np.isfinite(out.certificate) and out.certificate < before:
        info.update(polished=True, certificate_before_polish=before, polish_iterations=out.iterations)
        return out.x, out.duals
    return x, None


def _cert_value(program, x) -> float:
    val = float(certify(program, x, None).value)
    return val if np.isfinite(val) else float("inf")


def _restore(program, prob, x) -> None:
    """Put an earlier solution back into the CVXPY variables (they are read afterwards)."""
    by_id = {v.id: v for v in prob.variables()}
    for info in program.variables:
        var = by_id.get(info.key)
        if var is not None:
            vals = x[info.slice]
            var.value = vals.reshape(info.shape, order="F") if info.shape else vals[0]


class CvxpyBackend(Backend):
    name = "cvxpy"
    description = "CVXPY + Clarabel reference (cross-check any model)"
    forms = ("ProxAffine",)
    default_max_iter = 200   # Clarabel's own default; interior-point iterations
    priority = 90

    def accepts_extra(self):
        return ("solver", "<any keyword of cvxpy.Problem.solve / the solver>")

    def cannot_take(self, view) -> str | None:
        if getattr(view.program, "source", None) is None:
            family = getattr(view.program, "family", None)
            what = f"a program of the {family} family built without CVXPY" if family else "a program without a CVXPY source"
            return f"this is {what}; the cvxpy reference needs a CVXPY model (the family's to_cvxpy() gives one)"
        return None

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        import cvxpy as cp

        state = ws.warm    # the last solution

        program = view.program
        prob = program.source
        if prob is None:
            raise BackendRefusedError("backend 'cvxpy' needs a program compiled from a CVXPY model")
        if not isinstance(prob, cp.Problem):
            # a solvelab model may keep its cvxpy.Problem one level down
            inner = getattr(prob, "cvxpy_problem", None) or getattr(prob, "_cvxpy_problem", None)
            if isinstance(inner, cp.Problem):
                prob = inner
            else:
                raise BackendRefusedError(
                    f"backend 'cvxpy' needs a program compiled from a CVXPY model; its source is "
                    f"a {type(prob).__name__}")
        extra = dict(options.extra or {})
        solver = str(extra.pop("solver", "CLARABEL"))
        for k in ("no_snap", "polish", "polish_iter"):
            extra.pop(k, None)
        if solver.upper() not in cp.installed_solvers():
            raise BackendRefusedError(f"backend 'cvxpy': solver {solver!r} is not installed; installed: "
                                      f"{', '.join(cp.installed_solvers())}")
        kwargs = _solver_settings(solver, options)
        kwargs.update(extra)

        t0 = time.perf_counter()
        message = ""
        retried = False
        try:
            try:
                with warnings.catch_warnings():  # 'inaccurate' is reported in the status instead
                    warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                    prob.solve(solver=solver, verbose=bool(options.verbose), **kwargs)
            except cp.error.SolverError:
                # our tolerances are far tighter than the solver's defaults: if it gave up,
                # retry once with its own tolerances (the certificate still judges)
                loose = {k: v for k, v in _solver_settings(solver, options).items()
                         if k in ("max_iter", "time_limit", "time_limit_secs")}
                if solver.upper() != "CLARABEL" or any(k.startswith("tol") for k in extra):
                    raise  # the user chose the tolerances
                loose.update(extra)
                retried = True
                prob.solve(solver=solver, verbose=bool(options.verbose), **loose)
            cvx_status = prob.status
            if (cvx_status == "optimal_inaccurate" and solver.upper() == "CLARABEL"
                    and not any(k.startswith("tol") for k in extra)):
                # the tightened tolerances were out of reach (typical with cones): Clarabel
                # then settles for its much looser 'reduced' tolerances; its defaults usually
                # end 'optimal' and closer to the solution. Keep the better certified point.
                first = self._gather(program, prob)
                loose = {k: v for k, v in kwargs.items() if not k.startswith("tol")}
                retried = True
                try:
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                        prob.solve(solver=solver, verbose=bool(options.verbose), **loose)
                except cp.error.SolverError:
                    pass
                second = self._gather(program, prob) if prob.status in _STATUS else None
                if prob.status.startswith("optimal") and second is not None:
                    if first is not None and _cert_value(program, first) < _cert_value(program, second):
                        _restore(program, prob, first)
                        cvx_status = "optimal_inaccurate"
                    else:
                        cvx_status = prob.status
                elif first is not None:
                    _restore(program, prob, first)
        except cp.error.SolverError as exc:
            cvx_status, message = "solver_error", f"{solver} failed: {exc}"
        wall = time.perf_counter() - t0

        stats = getattr(prob, "solver_stats", None) if cvx_status != "solver_error" else None
        iters = int(getattr(stats, "num_iters", None) or 0) if stats is not None else 0
        info = {"solver": solver, "cvxpy_status": cvx_status, "wall_time": wall,
                "solver_time": getattr(stats, "solve_time", None) if stats is not None else None,
                "cvxpy_objective": prob.value if cvx_status != "solver_error" else None,
                "retried_with_default_tolerances": retried}

        if cvx_status in ("infeasible", "infeasible_inaccurate", "unbounded", "unbounded_inaccurate"):
            info["trusted_status"] = True
            verdict = _STATUS[cvx_status]
            # the last solution of this program, if any, lets the engine refute a false claim
            known = state.get("x") if verdict == "infeasible" else None
            return RawSolution(x=known, status=verdict, iterations=iters, ray=None, info=info,
                               message=f"reported {cvx_status} by CVXPY/{solver} (reference backend; "
                                       "no certificate in solvelab's format to recheck)")
        if cvx_status == "solver_error":
            return RawSolution(x=None, status="numerical_error", iterations=iters, info=info,
                               message=message or f"{solver} failed")

        x = self._gather(program, prob)
        if x is None:
            return RawSolution(x=None, status="numerical_error", iterations=iters, info=info,
                               message=f"CVXPY reported {cvx_status!r} but left a variable without a value")
        if cvx_status in _STATUS:
            status = _STATUS[cvx_status]
            if cvx_status == "optimal_inaccurate":
                message = f"CVXPY/{solver} reported optimal_inaccurate"
        elif cvx_status == "user_limit":
            hit_time = options.time_limit is not None and wall >= 0.9 * float(options.time_limit)
            status = "time_limit" if hit_time else "max_iter"
            message = f"CVXPY/{solver} stopped at a user limit ({status})"
        else:
            status, message = "numerical_error", f"unexpected CVXPY status {cvx_status!r}"
        duals = None
        known = constraint_duals(program, x)
        info["solver_duals"] = len(known)
        if status == "converged" and not options.extra.get("no_snap", False):
            x, snap = _snap_best(program, x, float(options.tol), known)
            info["snap"] = snap
        if known:
            duals = _duals_for(program, x, known)
        if status == "converged" and options.extra.get("polish", False):
            x, polished = _polish(program, x, options, info)
            duals = polished if polished is not None else duals
        elif status == "converged" and not message:
            try:
                from ..ir.forms import own_certificate
                own = own_certificate(program)  # the certificate the engine will judge by
                cert = own(x, None) if own is not None else certify(program, x, duals)
                if not cert.meets(float(options.tol)):
                    message = (f"CVXPY/{solver} converged, but its point misses tol={options.tol:g} in the "
                               f"recomputed certificate ({cert.value:.2e}: interior-point points are "
                               f"accurate to about its own tolerance); pass polish=True to refine it")
            except NotImplementedError:
                pass
        state["x"] = x.copy()
        return RawSolution(x=x, status=status, iterations=iters, duals=duals, info=info, message=message)

    @staticmethod
    def _gather(program, prob):
        by_id = {v.id: v for v in prob.variables()}
        x = np.zeros(program.n)
        for info in program.variables:
            var = by_id.get(info.key)
            if var is None:
                # a variable the CVXPY problem does not contain: anything is optimal, use 0
                continue
            if var.value is None:
                return None
            x[info.slice] = np.asarray(var.value, dtype=np.float64).ravel(order="F")
        return x


registry.register(CvxpyBackend())
