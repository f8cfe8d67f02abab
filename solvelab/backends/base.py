"""What every backend receives and returns.

A backend gets a form view (see ``solvelab.ir.forms``), the common options and a
``state`` dict that persists between solves of the same program (warm starts, cached
factorizations). It returns a ``RawSolution``; the engine, not the backend, turns that
into a ``Result`` by recomputing the certificate on the original program.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class SolveOptions:
    """Options honoured by every backend.

    tol          target for the relative certificate (KKT residuals and gap)
    max_iter     iteration budget
    time_limit   wall-clock budget in seconds (None: none)
    verbose      print a readable iteration table
    warm_start   start from the previous solution of the same program, if any
    callback     called as callback(info_dict) at every check; return True to stop
    check_every  iterations between convergence checks (and history records)
    extra        backend-specific keyword options
    """
    tol: float = 1e-6
    max_iter: int = 10000
    time_limit: float | None = None
    verbose: bool = False
    warm_start: bool = True
    callback: Callable[[dict], Any] | None = None
    check_every: int = 10
    extra: dict = field(default_factory=dict)


def callback_stops(options: SolveOptions, record: dict, x=None) -> bool:
    """Whether the user's callback, given this history record (and the current x, when the
    backend has one), asks to stop. The callback gets a copy, so it cannot alter the history."""
    if options.callback is None:
        return False
    info = dict(record)
    if x is not None:
        info["x"] = x
    return bool(options.callback(info))


@dataclass
class RawSolution:
    """What a backend found. ``status`` is the backend's own verdict:
    'converged', 'max_iter', 'time_limit', 'infeasible', 'unbounded', 'numerical_error'.

    ``duals`` (one vector per program term, y_i in ∂(w_i f_i)(A_i x - b_i) at the
    solution) feed the certificate; they may be given as a zero-argument callable that
    computes them, when the form's own certificate does not read them (the engine calls
    it only if something does, and ``Result.duals`` on first access); ``ray`` holds the infeasibility (list of dual
    vectors, one per term) or unboundedness (primal direction) certificate.
    """
    x: np.ndarray | None
    status: str
    iterations: int
    duals: list | None = None
    ray: Any = None
    history: list = field(default_factory=list)
    setup_time: float = 0.0
    info: dict = field(default_factory=dict)
    message: str = ""


class Backend:
    """Subclass, set the class attributes, implement ``solve``, then ``register`` it."""
    name: str = ""
    description: str = ""
    forms: tuple = ()           # form names accepted, most preferred first
    default_max_iter: int = 10000
    priority: int = 50          # lower is tried first by backend="auto"

    def solve(self, view, options: SolveOptions, state: dict) -> RawSolution:
        raise NotImplementedError

    def auto_declines(self, view) -> str | None:
        """For ``backend='auto'``: a reason not to be chosen for a program this backend
        accepts but would solve badly (None: no objection). Naming it still works."""
        return None

    def accepts_extra(self) -> tuple:
        """Names of backend-specific options (for error messages and docs)."""
        return ()

    def checked_extra(self, options: SolveOptions) -> dict:
        """``options.extra`` as a dict, after refusing any option this backend does not
        accept (the error names the backend and lists what it accepts)."""
        extra = dict(options.extra or {})
        allowed = tuple(self.accepts_extra())
        unknown = set(extra) - set(allowed)
        if unknown:
            from ..errors import InvalidDataError
            raise InvalidDataError(f"backend {self.name!r} does not know option(s) {sorted(unknown)}; "
                                   f"it accepts {', '.join(allowed)}")
        return extra
