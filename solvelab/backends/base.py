"""What every backend receives and returns, and the one iteration loop tail they share.

A backend's life with one program has three steps, driven by the engine:

    setup(view, options) -> Workspace    what depends on the operators only: structures,
                                          scalings, factorizations, Gram matrices, kernels
    update(ws, view, options, changes)   a new solve of the same program: keep the
                                          workspace (True) or have it set up again (False)
    solve(view, options, ws)             the iterations -> RawSolution

Vector data (right-hand sides, weights, lam, eps: anything a Parameter moves without
touching a matrix) is read by ``solve`` every time, so it never costs a setup; an
operator change (the program's ``data_version``) is reported in ``changes.operators``.
The last solution survives a new setup in ``ws.warm`` (for ``options.warm_start``).
The engine, not the backend, turns the ``RawSolution`` into a ``Result`` by recomputing
the certificate on the original program.

``IterationMonitor`` is the part of every iteration loop that is not the algorithm: the
budget (``max_iter``), the deadline (``time_limit``), the check schedule
(``check_every``), the history, the verbose table, the user's callback and the stop
reason (status and message).
"""
from __future__ import annotations

import time
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
    """What a backend found. ``status`` is the backend's own verdict, one of

    ==================  =========================================  ==========================
    status              the backend means                          the engine reports
    ==================  =========================================  ==========================
    'converged'         its own stopping test met ``tol``          optimal if the recomputed
                                                                   certificate meets tol,
                                                                   else inaccurate
    'max_iter'          the iteration budget ran out               optimal if the certificate
                                                                   meets tol, else max_iter
    'time_limit'        ``options.time_limit`` passed              optimal if it meets tol,
                                                                   else time_limit
    'stopped'           the user's callback returned True          optimal if it meets tol,
                                                                   else inaccurate (the
                                                                   message says why)
    'infeasible'        ``ray`` holds a dual ray (Farkas)          infeasible if the ray passes
                                                                   the engine's check (or
                                                                   ``info['trusted_status']``),
                                                                   else inaccurate
    'unbounded'         ``ray`` holds a primal descent direction,  unbounded if the ray passes
                        ``x`` a feasible point                     and x (or 0) is feasible;
                                                                   a ray alone: inaccurate
    'locally_infeasible' (NLPs) x violates the constraints and is   locally_infeasible if the
                        a stationary point of ||c||^2              form's recheck at x agrees,
                                                                   else inaccurate
    'numerical_error'   NaN / Inf, a failed factorization or       numerical_error
                        line search
    ==================  =========================================  ==========================

    A point that is not finite is reported numerical_error whatever the status. ``message``
    says in words why the run stopped (the engine passes it on).

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


class Table:
    """The columns of a verbose iteration table: ``(key, title, spec)`` or ``(key, title,
    spec, missing)``. A row formats ``values[key]`` with ``spec`` (a format spec such as
    '7d' or '10.2e' whose leading number is the width); a missing or None value prints
    ``missing`` (default blank) right-aligned. Columns are separated by one space."""

    def __init__(self, *columns):
        self.columns = tuple((c[0], c[1], c[2], c[3] if len(c) > 3 else "") for c in columns)
        self.widths = tuple(int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or 0)
                            for _, _, spec, _ in self.columns)

    def header(self) -> str:
        return " ".join(f"{title:>{w}}" for (_, title, _, _), w in zip(self.columns, self.widths))

    def row(self, values: dict) -> str:
        out = []
        for (key, _, spec, missing), w in zip(self.columns, self.widths):
            v = values.get(key)
            out.append(f"{missing:>{w}}" if v is None else f"{v:{spec}}")
        return " ".join(out)


class IterationMonitor:
    """The tail of every iteration loop: budget, deadline, checks, history, verbose table,
    callback and the stop reason.

    ``due(it)``          a check is due: every ``check_every`` iterations and at the budget
    ``out_of_time()``    the deadline (``t0 + options.time_limit``) has passed
    ``record(it, residual, **fields)``  one history record {'iteration', 'time', fields...,
                         'residual'} (residual: the quantity compared with tol) and, when
                         verbose, its table row (the header first, once per table)
    ``check(rec, x)``    the stopping tests after a check, in order: the callback
                         ('stopped'), the budget ('max_iter'), the deadline ('time_limit')
    ``stop(status, message)``  any other stop ('converged', 'numerical_error', ...)

    ``status`` / ``message`` hold the last stop ('max_iter' and '' until then). The tests
    are cheap (a modulo, a clock read when there is a time limit); records, rows and
    callbacks happen at checks only. ``unit`` names the iterations in messages:
    'iteration' ("at iteration 40") or 'epochs' ("after 40 epochs"). ``child(max_iter)``
    is a monitor for a sub-run with its own budget that shares everything else (clock,
    deadline, history, printed headers).
    """

    def __init__(self, options: SolveOptions, *, max_iter: int | None = None, table: Table | None = None,
                 unit: str = "iteration", t0: float | None = None, time_message: str | None = None):
        self.options = options
        self.max_iter = int(options.max_iter if max_iter is None else max_iter)
        self.check_every = max(1, int(options.check_every))
        self.t0 = time.perf_counter() if t0 is None else float(t0)
        self.deadline = None if options.time_limit is None else self.t0 + float(options.time_limit)
        self.verbose = bool(options.verbose)
        self.history: list[dict] = []
        self.table = table
        self.unit = unit
        self.time_message = time_message
        self.status, self.message = "max_iter", ""
        self._headers: set = set()

    def child(self, max_iter: int) -> "IterationMonitor":
        sub = object.__new__(IterationMonitor)
        sub.__dict__.update(self.__dict__)
        sub.max_iter = int(max_iter)
        sub.status, sub.message = "max_iter", ""
        return sub

    # ---- the per-iteration tests (keep them cheap) ----
    def due(self, it: int) -> bool:
        return it % self.check_every == 0 or it >= self.max_iter

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    # ---- history and the verbose table ----
    def record(self, it: int, residual: float | None = None, *, show: bool = True, table: Table | None = None,
               row: dict | None = None, at: float | None = None, **fields) -> dict:
        """Append {'iteration': it, 'time': elapsed, **fields, 'residual': residual} to the
        history (no 'residual' when None) and, when verbose and ``show``, print its row
        (``row``: extra values for the table that are not kept in the history). ``at``: the
        ``time.perf_counter()`` of the record when it is written later (a batch of records
        from a fused kernel), else now."""
        rec = {"iteration": it, "time": (time.perf_counter() if at is None else at) - self.t0}
        rec.update(fields)
        if residual is not None:
            rec["residual"] = residual
        self.history.append(rec)
        if show and self.verbose:
            self.row(rec if row is None else {**rec, **row}, table)
        return rec

    def header(self, table: Table | None = None) -> None:
        """Print the table's header, once per table and solve (when verbose)."""
        table = self.table if table is None else table
        if self.verbose and table is not None and id(table) not in self._headers:
            self._headers.add(id(table))
            print(table.header())

    def row(self, values: dict, table: Table | None = None) -> None:
        table = self.table if table is None else table
        if self.verbose and table is not None:
            self.header(table)
            print(table.row(values))

    def summary(self, name: str, after: str, seconds: float, digits: int = 3, status: str | None = None) -> None:
        """The closing line of a verbose solve: "name: status after ..., t s; message"."""
        if self.verbose:
            print(f"{name}: {self.status if status is None else status} after {after}, {seconds:.{digits}f} s"
                  + (f"; {self.message}" if self.message else ""))

    # ---- stopping ----
    def where(self, it: int) -> str:
        return f"after {it} epochs" if self.unit == "epochs" else f"at iteration {it}"

    def stop(self, status: str, message: str = "") -> bool:
        """Record why the run stops; returns True (so that ``if mon.stop(...): break`` reads)."""
        self.status, self.message = status, message
        return True

    def stopped(self, rec: dict, x=None) -> bool:
        """Whether the user's callback, given a copy of ``rec`` (and x), asks to stop."""
        if callback_stops(self.options, rec, x):
            return self.stop("stopped", f"stopped by the callback {self.where(rec['iteration'])}")
        return False

    def timed_out(self, it: int) -> bool:
        """The deadline test: True (status 'time_limit') once it has passed."""
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            msg = (self.time_message.format(it=it) if self.time_message is not None else
                   f"time limit of {self.options.time_limit:g} s reached {self.where(it)}")
            return self.stop("time_limit", msg)
        return False

    def limits(self, it: int, max_iter_message: str = "", exhausted: bool = False) -> bool:
        """The budget ('max_iter' when it >= max_iter or ``exhausted``), then the deadline."""
        if exhausted or it >= self.max_iter:
            return self.stop("max_iter", max_iter_message)
        return self.timed_out(it)

    def check(self, rec: dict, x=None, max_iter_message: str = "", exhausted: bool = False) -> bool:
        """After a check's own tests: the callback, the budget, the deadline."""
        return self.stopped(rec, x) or self.limits(rec["iteration"], max_iter_message, exhausted)


@dataclass
class Changes:
    """What moved since a workspace was set up (the engine compares versions).
    ``operators``: a matrix changed, so whatever setup derived from it is stale."""
    operators: bool = False


class Workspace(dict):
    """A backend's memory of one program between solves.

    The mapping holds what ``setup`` derived from the operators (it is dropped with them);
    ``warm`` holds the last solution (kept across setups; read when warm starting);
    ``setups`` and ``solves`` count the two steps (tests check that vector data alone
    never sets anything up again); ``data_version`` is the program's at setup.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.warm: dict = {}
        self.setups = 0
        self.solves = 0
        self.data_version = None


class Backend:
    """Subclass, set the class attributes, implement ``solve`` (and ``setup`` / ``update``
    where there is work that only depends on the operators), then ``register`` it."""
    name: str = ""
    description: str = ""
    forms: tuple = ()           # form names accepted, most preferred first
    default_max_iter: int = 10000
    priority: int = 50          # lower is tried first by backend="auto"

    def setup(self, view, options: SolveOptions) -> Workspace:
        """The operator-dependent work for ``view`` (default: none)."""
        return Workspace()

    def update(self, ws: Workspace, view, options: SolveOptions, changes: Changes) -> bool:
        """Whether ``ws`` still serves this solve (default: while no operator changed)."""
        return not changes.operators

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        raise NotImplementedError

    def run(self, view, options: SolveOptions, ws: Workspace | None = None) -> RawSolution:
        """``setup`` (when no workspace is given) then ``solve``: the lifecycle for callers
        outside the engine (tests, a backend polishing with another)."""
        if ws is None:
            ws = self.setup(view, options)
        return self.solve(view, options, ws)

    def cannot_take(self, view) -> str | None:
        """A reason this backend cannot solve a program whose form it accepts (None: it
        can), e.g. the cvxpy reference on a family node with no CVXPY declaration.
        Checked at matching time, so ``capable`` and ``auto`` never offer it."""
        return None

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
