"""``cvxpy.Problem.solve(method="solvelab", ...)``: solvelab's backends behind CVXPY's own call.

Registered on ``import solvelab`` through ``cvxpy.Problem.register_solve``, so the
expression tree (not CVXPY's cone data) reaches solvelab's compiler::

    prob = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) / (2 * m) + lam * cp.norm1(x)))
    prob.solve(method="solvelab", backend="cd", tol=1e-8)
    prob.status, prob.value, x.value, prob.solver_stats.extra_stats["certificate"]

Keywords are ``solvelab.solve``'s (``backend``, ``tol``, ``max_iter``, ``time_limit``,
``verbose``, ``warm_start``, backend options). The problem keeps one compiled solvelab
model, so re-solving after a Parameter change recompiles nothing. Afterwards, as after
CVXPY's own solvers: ``prob.status`` and ``prob.value``, every variable's ``value``, the
``dual_value`` of each equality / inequality constraint that compiled to one term, and
``prob.solver_stats`` (solver_name 'SOLVELAB/<backend>', times, iterations, and in
``extra_stats`` the status, the certificate's measures and the message).

Status mapping (solvelab -> CVXPY)::

    optimal          optimal
    inaccurate       optimal_inaccurate
    max_iter         user_limit
    time_limit       user_limit
    infeasible       infeasible
    unbounded        unbounded
    numerical_error  solver_error

An ``infeasible`` or ``unbounded`` result sets ``prob.value`` to +inf / -inf (for a
Minimize; the opposite for a Maximize), the variables to None, as CVXPY does.
"""
from __future__ import annotations

import numpy as np

from .engine import solve as _solve
from .model.problem import as_problem
from .result import Result, Status

METHOD = "solvelab"


def solve_method(problem, *args, **options):
    """What ``problem.solve(method='solvelab', **options)`` runs: returns ``problem.value``."""
    if args:
        raise TypeError(f"solve(method={METHOD!r}) takes keyword options only (backend=..., tol=...), "
                        f"got positional {args!r}")
    solver = options.pop("solver", None)
    if solver not in (None, METHOD):
        raise TypeError(f"solve(method={METHOD!r}) chooses a solvelab backend with backend=...; "
                        f"solver={solver!r} is CVXPY's own keyword (drop method= to use it)")
    model = as_problem(problem)
    result = _solve(model, **options)     # writes status, value and the variables back
    _write_duals(model, result)
    problem._solver_stats = _solver_stats(result)
    if result.status is Status.INFEASIBLE:
        problem._value = float(np.inf) if _minimizes(problem) else -float(np.inf)
    elif result.status is Status.UNBOUNDED:
        problem._value = -float(np.inf) if _minimizes(problem) else float(np.inf)
    return problem.value


def _minimizes(problem) -> bool:
    import cvxpy as cp
    return isinstance(problem.objective, cp.Minimize)


def _write_duals(model, result: Result) -> None:
    """Each constraint that compiled to exactly one equality or inequality term gets its
    term's multiplier as ``dual_value`` (CVXPY's sign convention: y >= 0 for ``<=``);
    other constraints (cones, atoms split over several terms) are left as None."""
    from cvxpy.constraints import Equality, Inequality, NonNeg, NonPos, Zero

    program = model.compile()
    terms = getattr(program, "terms", None)
    for c in getattr(model, "constraints", ()):
        for dv in c.dual_variables:
            dv.save_value(None)
    if terms is None or result.x is None:
        return
    count = {}
    for t in terms:
        if t.origin is not None:
            count[id(t.origin)] = count.get(id(t.origin), 0) + 1
    eligible = [i for i, t in enumerate(terms)
                if t.origin is not None and count[id(t.origin)] == 1 and t.f.name in ("zero", "nonpos")
                and isinstance(t.origin, (Equality, Zero, Inequality, NonPos, NonNeg))
                and len(t.origin.dual_variables) == 1]
    if not eligible:
        return      # (no multipliers to compute: an unconstrained or bound-only model costs nothing)
    try:
        duals = result.duals
    except Exception:  # noqa: BLE001 - a form whose duals cannot be recovered
        return
    if duals is None or len(duals) != len(terms):
        return      # (a structured form's own multipliers, e.g. OT potentials, are not per term)
    for i in eligible:
        c, y = terms[i].origin, duals[i]
        if y is None:
            continue
        y = np.asarray(y, dtype=np.float64)
        shape = c.dual_variables[0].shape
        if y.size != int(np.prod(shape, dtype=np.int64)):
            continue
        # the IR keeps CVXPY's convention (cvxpy_backend.constraint_duals reads it the other way)
        c.dual_variables[0].save_value(y.reshape(shape, order="F") if shape else float(y[0]))


def _solver_stats(result: Result):
    from cvxpy.problems.problem import SolverStats
    timings = result.timings or {}
    cert = result.certificate
    extra = {"status": result.status.value, "message": result.message, "backend": result.backend,
             "certificate": None if cert is None else {"value": float(cert.value), **cert.as_dict()},
             "timings": dict(timings)}
    return SolverStats(solver_name=f"SOLVELAB/{result.backend}", solve_time=timings.get("solve"),
                       setup_time=timings.get("setup"), num_iters=result.iterations, extra_stats=extra)


def register() -> None:
    """Register the method with CVXPY (idempotent; done on ``import solvelab``)."""
    import cvxpy as cp
    cp.Problem.register_solve(METHOD, solve_method)
