"""The solve driver: compile (once), dispatch, certify on the original program.

The engine, not the backend, decides the final status: ``optimal`` only when the
certificate recomputed here from the returned point meets ``tol``.

It solves anything that compiles: an object whose ``compile()`` returns a ``Program`` or
a family's ``StructuredProgram`` (the same object on every call), optionally counting
compilations in ``compile_count`` (a program just compiled is not refreshed), given
together with a per-problem ``state`` dict (``run``). What concerns the user's objects,
coercing a plain ``cvxpy.Problem`` and writing results back, belongs to the model layer
(``solvelab.model``), which registers its adapter here (``register_adapter``); this
module imports nothing of it.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .backends import registry
from .backends.base import Changes, SolveOptions
from .errors import BackendRefusedError, InvalidDataError
from .ir import forms
from .ir.certificate import certify, check_primal_infeasibility, check_unboundedness, primal_residual
from .result import Result, Status, Values

#: callables turning a foreign model (a plain cvxpy.Problem) into one that compiles, or None
_ADAPTERS: list[Callable] = []


def register_adapter(adapter: Callable) -> Callable:
    """Let ``solve`` / ``compile`` take objects that do not compile themselves:
    ``adapter(obj)`` returns a model that compiles, or None when ``obj`` is not its kind."""
    if adapter not in _ADAPTERS:
        _ADAPTERS.append(adapter)
    return adapter


def as_model(problem):
    """``problem`` itself when it compiles, else what a registered adapter makes of it."""
    if callable(getattr(problem, "compile", None)):
        return problem
    for adapt in _ADAPTERS:
        model = adapt(problem)
        if model is not None:
            return model
    raise TypeError(f"solve() takes a solvelab.Problem or a cvxpy.Problem, got {type(problem).__name__}")




def compile(problem):
    """The IR program of a solvelab or CVXPY problem (printable)."""
    return as_model(problem).compile()


#: how specific a form is: a backend built for the structure beats a general one
_GENERIC_FORMS = {"Composite": 1, "ProxAffine": 2}


def auto_candidates(program) -> list[tuple[str, str]]:
    """``backend='auto'``: (name, why) of every capable backend, best first.

    Backends for the program's own structure (SparseGLM, EntropicOT, ...) come first,
    then Composite ones, then general prox-affine ones, each group by priority (the
    cvxpy reference last). A backend may decline a program it accepts but would solve
    badly (``Backend.auto_declines``); its reason is kept for the explanation.
    """
    ranked, declined = [], []
    for b in registry.all_backends().values():
        for form in b.forms:
            view = forms.match(program, form)
            if not view or b.cannot_take(view) is not None:
                continue
            reason = b.auto_declines(view)
            if reason:
                declined.append(f"{b.name} declined: {reason}")
            else:
                ranked.append(((_GENERIC_FORMS.get(form, 0), b.priority, b.name), b.name, form))
            break
    ranked.sort()
    out = [(name, f"accepts the {form} form") for _, name, form in ranked]
    if declined and out:
        first, why = out[0]
        out[0] = (first, why + "; " + "; ".join(declined))
    return out


def choose_backend(program) -> str:
    """The backend ``backend='auto'`` tries first (see ``auto_candidates``)."""
    cands = auto_candidates(program)
    if not cands:
        raise BackendRefusedError("no backend accepts this program; " + repr(program))
    return cands[0][0]


def _check_options(tol, max_iter, time_limit, check_every) -> float:
    """The common options, refused with a message naming the option when they make no sense."""
    def real(v):
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))

    if not (real(tol) and np.isfinite(tol) and 0 < tol < 1):
        raise InvalidDataError(f"tol must be a number in (0, 1) (a relative certificate target such as "
                               f"1e-6), got {tol!r}")
    if max_iter is not None and not (real(max_iter) and float(max_iter).is_integer() and max_iter >= 1):
        raise InvalidDataError(f"max_iter must be a positive integer, got {max_iter!r}")
    if time_limit is not None and not (real(time_limit) and time_limit > 0 and not np.isnan(time_limit)):
        raise InvalidDataError(f"time_limit must be a positive number of seconds (or None), got {time_limit!r}")
    if check_every is not None and not (real(check_every) and float(check_every).is_integer() and check_every >= 1):
        raise InvalidDataError(f"check_every must be a positive integer, got {check_every!r}")
    return float(tol)


def solve(problem, backend: str = "auto", **options) -> Result:
    """Solve ``problem`` (a ``solvelab.Problem``, a ``cvxpy.Problem`` or any model that
    compiles) on ``backend``; the model's own ``solve`` writes the result back.

    Options common to every backend: ``tol`` (relative certificate target), ``max_iter``,
    ``time_limit`` (seconds), ``verbose`` (iteration table), ``warm_start`` (reuse the
    previous solution of this problem), ``callback`` (called with a dict at every check;
    return True to stop), ``check_every``. Other keywords go to the backend.
    """
    model = as_model(problem)
    own = getattr(model, "solve", None)
    if callable(own):
        return own(backend=backend, **options)
    return run(model, {}, backend=backend, **options)   # no solve of its own: no state kept


def run(model, state: dict, backend: str = "auto", *, tol: float = 1e-6, max_iter: int | None = None,
        time_limit: float | None = None, verbose: bool = False, warm_start: bool = True,
        callback: Callable | None = None, check_every: int | None = None, **backend_options) -> Result:
    """Compile ``model`` (or re-read its Parameters), dispatch, certify: the ``Result``.

    ``state`` is the caller's per-problem dict, kept between solves of the same model:
    each backend keeps its warm start and cached factorizations under its name there.
    Options as for ``solve``. Nothing is written back to the model.
    """
    t_start = time.perf_counter()
    tol = _check_options(tol, max_iter, time_limit, check_every)
    if callback is not None and not callable(callback):
        raise InvalidDataError(f"callback must be callable, got {type(callback).__name__}")
    count = getattr(model, "compile_count", None)
    program = model.compile()
    fresh = count is not None and getattr(model, "compile_count", None) != count
    if not fresh:
        program.refresh()
    t_compiled = time.perf_counter()

    if backend in (None, "auto"):
        candidates = auto_candidates(program)
        if not candidates:
            raise BackendRefusedError("no backend accepts this program; " + repr(program))
    elif isinstance(backend, str):
        candidates = [(backend, "chosen by the caller")]
    else:
        raise InvalidDataError(f"backend must be a backend name (see solvelab.backends()), got {backend!r}")
    refusals = []
    for name, why in candidates:
        impl = registry.get(name)
        view = registry.view_for(impl, program)
        opts = SolveOptions(tol=tol, max_iter=int(max_iter or impl.default_max_iter),
                            time_limit=time_limit, verbose=verbose, warm_start=warm_start,
                            callback=callback, extra=dict(backend_options))
        if check_every is not None:
            opts.check_every = int(check_every)
        if verbose and backend in (None, "auto"):
            print(f"solvelab auto: backend {name!r} ({why})")
        t_setup = time.perf_counter()
        try:
            ws, set_up, setup_time = _workspace(impl, view, opts, state.setdefault(name, {}), program)
            raw = impl.solve(view, opts, ws)
            raw.setup_time += setup_time
            ws.solves += 1
            raw.info["lifecycle"] = {"set_up": set_up, "setups": ws.setups, "solves": ws.solves}
        except BackendRefusedError as exc:
            if backend not in (None, "auto"):
                raise
            refusals.append(f"{name}: {exc}")
            continue
        break
    else:
        raise BackendRefusedError("every capable backend refused this program: " + "; ".join(refusals))
    t_solved = time.perf_counter()
    if backend in (None, "auto"):
        raw.info["auto"] = {"chosen": name, "why": why, "candidates": [c for c, _ in candidates],
                            "refused": refusals}

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
    return result


def _workspace(impl, view, opts, bstate: dict, program):
    """The backend's workspace for this solve: kept when ``update`` says it still serves,
    else set up anew (the last solution carried over). Returns (workspace, whether it was
    set up now, seconds spent)."""
    t0 = time.perf_counter()
    ws = bstate.get("workspace")
    changes = Changes(operators=ws is not None and ws.data_version != program.data_version)
    if ws is None or not impl.update(ws, view, opts, changes):
        new = impl.setup(view, opts)
        if ws is not None:
            new.warm, new.setups, new.solves = ws.warm, ws.setups, ws.solves
        new.setups += 1
        new.data_version = program.data_version
        bstate["workspace"] = new
        return new, True, time.perf_counter() - t0
    return ws, False, time.perf_counter() - t0


def normalize_history(history: list) -> list:
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
    normalize_history(raw.history)
    x = raw.x
    message = raw.message
    status, cert, objective = None, None, float("nan")
    if raw.status == "infeasible":
        if view is not None and hasattr(view, "check_infeasibility"):   # a form's own Farkas test
            ok = view.check_infeasibility(raw.ray)
        else:
            ok = isinstance(raw.ray, list) and check_primal_infeasibility(program, raw.ray)
        if ok:
            status, message = Status.INFEASIBLE, message or "certified by a dual ray"
        elif raw.info.get("trusted_status") and _has_feasible_point(program, raw.x, tol):
            # a claim without a ray is still refuted by a feasible point (0, or one the backend knows)
            status, x = Status.INACCURATE, None
            message = (f"{backend_name} reported infeasible, but a point satisfies every constraint to tol="
                       f"{tol:g} (relative): the claim is refuted (badly scaled data can mislead a solver)")
        elif raw.info.get("trusted_status"):
            status, message = Status.INFEASIBLE, message or f"reported by {backend_name} (no ray to recheck)"
        else:
            status, message = Status.INACCURATE, "backend reported infeasible but its ray failed the check"
    elif raw.status == "unbounded":
        ok = raw.ray is not None and not isinstance(raw.ray, list) and check_unboundedness(program, raw.ray)
        feasible = ok and _has_feasible_point(program, raw.x, tol)
        if feasible:
            status, message = Status.UNBOUNDED, message or "certified by a primal ray and a feasible point"
        elif ok:
            status = Status.INACCURATE
            message = ("a direction of unbounded descent was found but no feasible point: the problem is "
                       "infeasible or unbounded (solve it with a zero objective to tell which)")
        elif raw.info.get("trusted_status"):
            status, message = Status.UNBOUNDED, message or f"reported by {backend_name} (no ray to recheck)"
        else:
            status, message = Status.INACCURATE, "backend reported unbounded but its ray failed the check"
    elif raw.status == "locally_infeasible":
        check = getattr(view, "check_local_infeasibility", None)
        ok, figures = check(x, tol) if callable(check) and x is not None else (False, "the form has no recheck")
        if ok:
            status = Status.LOCALLY_INFEASIBLE
            message = (message or "locally infeasible") + f" (rechecked at the point: {figures}; a local verdict, " \
                "not a certificate that no feasible point exists: try another x0)"
        else:
            status = Status.INACCURATE
            message = f"{backend_name} reported locally infeasible, but the recheck at its point failed ({figures})"
    if status in (Status.INFEASIBLE, Status.UNBOUNDED):
        objective = float("inf") if status is Status.INFEASIBLE else -float("inf")
        objective *= program.sign
        return Result(x=None, status=status, objective=objective, certificate=None,
                      iterations=raw.iterations, history=raw.history, backend=backend_name,
                      duals=None, message=message, info=dict(raw.info))
    if status is Status.INACCURATE and (x is None or not np.all(np.isfinite(x))):
        return Result(x=None, status=status, objective=float("nan"), certificate=None,
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
        elif raw.status == "stopped":
            status = Status.INACCURATE
            message = message or "stopped by the callback"
        else:
            status = Status.INACCURATE
            message = message or f"backend {backend_name!r} returned status {raw.status!r}"
    return Result(x=x, status=status, objective=objective, certificate=cert, iterations=raw.iterations,
                  history=raw.history, backend=backend_name, values=Values.of(program, x), duals=raw.duals,
                  message=message, info=dict(raw.info))


def _has_feasible_point(program, x, tol: float) -> bool:
    """Whether the backend's point, or else the origin, satisfies every constraint (to
    ``tol``, relative): with a descent ray, that is what makes a problem unbounded."""
    candidates = ([x] if x is not None else []) + [np.zeros(program.n)]
    return any(primal_residual(program, c) <= tol for c in candidates)


def backends() -> list[dict]:
    """Every registered backend: name, accepted forms and a one-line description."""
    return [{"name": b.name, "forms": tuple(b.forms), "description": b.description}
            for b in registry.all_backends().values()]
