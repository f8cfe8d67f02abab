"""The solve driver: compile (once), dispatch, certify on the original program, map back.

The engine, not the backend, decides the final status: ``optimal`` only when the
certificate recomputed here from the returned point meets ``tol``.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .backends import registry
from .backends.base import SolveOptions
from .errors import BackendRefusedError, InvalidDataError
from .ir import forms
from .ir.certificate import certify, check_primal_infeasibility, check_unboundedness
from .model.problem import Problem
from .result import Result, Status


def _as_problem(problem) -> Problem:
    import cvxpy as cp
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, cp.Problem):
        cache = getattr(problem, "_solvelab_problem", None)
        if cache is None:
            cache = Problem.from_cvxpy(problem)
            problem._solvelab_problem = cache  # re-solves of the same cvxpy.Problem reuse it
        return cache
    raise TypeError(f"solve() takes a solvelab.Problem or a cvxpy.Problem, got {type(problem).__name__}")


def compile(problem):
    """The IR ``Program`` of a solvelab or CVXPY problem (printable)."""
    return _as_problem(problem).compile()


def choose_backend(program) -> str:
    """``backend='auto'``: the capable backend with the best priority (CVXPY last)."""
    names = registry.capable(program)
    if not names:
        raise BackendRefusedError("no backend accepts this program; " + repr(program))
    return names[0]


def solve(problem, backend: str = "auto", *, tol: float = 1e-6, max_iter: int | None = None,
          time_limit: float | None = None, verbose: bool = False, warm_start: bool = True,
          callback: Callable | None = None, check_every: int | None = None, **backend_options) -> Result:
    """Solve ``problem`` (a ``solvelab.Problem`` or ``cvxpy.Problem``) on ``backend``.

    Options common to every backend: ``tol`` (relative certificate target), ``max_iter``,
    ``time_limit`` (seconds), ``verbose`` (iteration table), ``warm_start`` (reuse the
    previous solution of this problem), ``callback`` (called with a dict at every check;
    return True to stop), ``check_every``. Other keywords go to the backend.
    """
    t_start = time.perf_counter()
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise InvalidDataError(f"tol must be a positive number, got {tol!r}")
    if max_iter is not None and (int(max_iter) != max_iter or max_iter < 1):
        raise InvalidDataError(f"max_iter must be a positive integer, got {max_iter!r}")
    if time_limit is not None and not time_limit > 0:
        raise InvalidDataError(f"time_limit must be positive seconds, got {time_limit!r}")
    prob = _as_problem(problem)
    fresh = prob._program is None
    program = prob.compile()
    if not fresh:
        program.refresh()
    t_compiled = time.perf_counter()

    name = choose_backend(program) if backend in (None, "auto") else backend
    impl = registry.get(name)
    view = registry.view_for(impl, program)
    opts = SolveOptions(tol=float(tol), max_iter=int(max_iter or impl.default_max_iter),
                        time_limit=time_limit, verbose=verbose, warm_start=warm_start,
                        callback=callback, extra=dict(backend_options))
    if check_every is not None:
        opts.check_every = int(check_every)
    state = prob._state.setdefault(name, {})
    if state.get("data_version") != program.data_version:
        state["stale_operators"] = True
    state["data_version"] = program.data_version
    t_setup = time.perf_counter()
    raw = impl.solve(view, opts, state)
    t_solved = time.perf_counter()

    result = finish(program, raw, name, opts.tol, view=view)
    t_end = time.perf_counter()
    result.timings = {
        "compile": (t_compiled - t_start) if fresh else 0.0,
        "refresh": 0.0 if fresh else (t_compiled - t_start),
        "setup": raw.setup_time,
        "solve": (t_solved - t_setup) - raw.setup_time,
        "certify": t_end - t_solved,
        "total": t_end - t_start,
    }
    _write_back(prob, program, result)
    return result


def _normalize_history(history: list) -> list:
    """Give every history entry a 'residual': the backend's own relative optimality measure."""
    for entry in history:
        if "residual" in entry:
            continue
        if entry.get("certificate") is not None:
            entry["residual"] = entry["certificate"]
        elif "gradient_mapping" in entry:
            entry["residual"] = entry["gradient_mapping"]
        elif "primal_residual" in entry or "dual_residual" in entry:
            entry["residual"] = max(entry.get("primal_residual", 0.0), entry.get("dual_residual", 0.0))
        else:
            entry["residual"] = float("nan")
    return history


def finish(program, raw, backend_name: str, tol: float, view=None) -> Result:
    """Turn a backend's ``RawSolution`` into a ``Result`` with a recomputed certificate.

    A structured form may define ``certify(x, duals) -> Certificate`` (for instance the
    marginal violation of a transport plan); otherwise the generic KKT + gap certificate
    of ``solvelab.ir.certificate`` is computed on the program's terms.
    """
    _normalize_history(raw.history)
    x = raw.x
    message = raw.message
    status, cert, objective = None, None, float("nan")
    if raw.status == "infeasible":
        ok = isinstance(raw.ray, list) and check_primal_infeasibility(program, raw.ray)
        if ok:
            status, message = Status.INFEASIBLE, message or "certified by a dual ray"
        elif raw.info.get("trusted_status"):
            status, message = Status.INFEASIBLE, message or f"reported by {backend_name} (no ray to recheck)"
        else:
            status, message = Status.INACCURATE, "backend reported infeasible but its ray failed the check"
    elif raw.status == "unbounded":
        ok = raw.ray is not None and not isinstance(raw.ray, list) and check_unboundedness(program, raw.ray)
        if ok:
            status, message = Status.UNBOUNDED, message or "certified by a primal ray"
        elif raw.info.get("trusted_status"):
            status, message = Status.UNBOUNDED, message or f"reported by {backend_name} (no ray to recheck)"
        else:
            status, message = Status.INACCURATE, "backend reported unbounded but its ray failed the check"
    if status in (Status.INFEASIBLE, Status.UNBOUNDED):
        objective = float("inf") if status is Status.INFEASIBLE else -float("inf")
        objective *= program.sign
        return Result(x=None, status=status, objective=objective, certificate=None,
                      iterations=raw.iterations, history=raw.history, backend=backend_name,
                      duals=None, message=message, info=dict(raw.info))
    if x is None or not np.all(np.isfinite(x)) or raw.status == "numerical_error":
        return Result(x=x, status=Status.NUMERICAL_ERROR, objective=float("nan"), certificate=None,
                      iterations=raw.iterations, history=raw.history, backend=backend_name,
                      message=message or "NaN or Inf in the iterates", info=dict(raw.info))
    x = np.asarray(x, dtype=np.float64)
    form_certify = getattr(view, "certify", None)
    if not callable(form_certify):  # a general backend on a structured program: the structure's certificate
        form_certify = forms.own_certificate(program)
    if callable(form_certify):
        cert = form_certify(x, raw.duals)
    else:
        if callable(raw.duals):
            raw.duals = raw.duals()
        cert = certify(program, x, raw.duals)
    if cert.primal_objective is not None and np.isfinite(cert.primal_objective):
        objective = program.sign * float(cert.primal_objective)   # computed by the certificate from x
    else:
        objective = program.user_objective(x)
    if status is None:
        if cert.meets(tol):
            status = Status.OPTIMAL
        elif raw.status == "converged":
            status = Status.INACCURATE
            message = message or f"backend converged on its own test; recomputed certificate {cert.value:.2e} > tol {tol:g}"
        elif raw.status == "time_limit":
            status = Status.TIME_LIMIT
        elif raw.status == "max_iter":
            status = Status.MAX_ITER
        else:
            status = Status.INACCURATE
    return Result(x=x, status=status, objective=objective, certificate=cert, iterations=raw.iterations,
                  history=raw.history, backend=backend_name, values=program.split(x), duals=raw.duals,
                  message=message, info=dict(raw.info))


def _write_back(prob: Problem, program, result: Result) -> None:
    """Fill the user's CVXPY variables, like CVXPY does after a solve."""
    prob.status = result.status
    prob.value = result.objective
    prob.result = result
    by_id = {v.id: v for v in prob.variables()}
    for info in program.variables:
        var = by_id.get(info.key)
        if var is None:
            continue
        if result.x is None:
            var.save_value(None)
            continue
        vals = result.x[info.slice]
        var.save_value(vals.reshape(info.shape, order="F") if info.shape else np.asarray(vals[0]))


def backends() -> list[dict]:
    """Every registered backend: name, accepted forms and a one-line description."""
    return [{"name": b.name, "forms": tuple(b.forms), "description": b.description}
            for b in registry.all_backends().values()]
