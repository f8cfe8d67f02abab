"""Regularization paths: solve one problem for a sequence of Parameter values, each
solve warm-started from the previous one.

>>> prob = sl.problems.lasso(A, b, lam=1.0)
>>> lams = prob.lam.value * np.geomspace(1, 1e-3, 20)      # decreasing: sparse to dense
>>> p = sl.path(prob, prob.lam, lams, backend="cd")
>>> p.coefs.shape, [r.status for r in p]

The problem is compiled once; each value is written into the CVXPY Parameter and the
backend's state (kept on the problem) provides the warm start: for ``cd`` the previous
solution and its working set (the support). Values are solved in the order given; for
sparse models give them decreasing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidDataError


@dataclass
class PathResult:
    """The results along a path (a list-like of ``Result``) plus stacked arrays."""
    parameter: str
    values: np.ndarray
    results: list = field(default_factory=list)
    total_time: float = 0.0

    def __iter__(self):
        return iter(self.results)

    def __len__(self):
        return len(self.results)

    def __getitem__(self, i):
        return self.results[i]

    @property
    def coefs(self) -> np.ndarray:
        """One row per value: the flat solution vector (NaN where a solve returned none)."""
        n = next((r.x.size for r in self.results if r.x is not None), 0)
        return np.array([r.x if r.x is not None else np.full(n, np.nan) for r in self.results])

    @property
    def objectives(self) -> np.ndarray:
        return np.array([r.objective for r in self.results])

    @property
    def statuses(self) -> list:
        return [r.status for r in self.results]

    @property
    def all_optimal(self) -> bool:
        return all(r.optimal for r in self.results)

    def __repr__(self) -> str:
        ok = sum(r.optimal for r in self.results)
        return (f"PathResult({self.parameter}: {len(self.results)} values, {ok} optimal, "
                f"{self.total_time:.3g} s)")


def _find_parameter(prob, parameter):
    import cvxpy as cp
    params = prob.parameters()
    if isinstance(parameter, cp.Parameter):
        if not any(p.id == parameter.id for p in params):
            raise InvalidDataError(f"path: parameter {parameter.name()!r} does not appear in the problem "
                                   f"(its parameters: {[p.name() for p in params] or 'none'})")
        return parameter
    if isinstance(parameter, str):
        hits = [p for p in params if p.name() == parameter]
        if len(hits) != 1:
            raise InvalidDataError(f"path: {'no' if not hits else 'several'} parameter(s) named {parameter!r} "
                                   f"in the problem (its parameters: {[p.name() for p in params] or 'none'})")
        return hits[0]
    raise InvalidDataError(f"path: parameter must be a cvxpy.Parameter or its name, got {type(parameter).__name__}")


def path(problem, parameter, values, backend: str = "auto", **solve_options) -> PathResult:
    """Solve ``problem`` for each value of ``parameter`` (a ``cvxpy.Parameter`` of the
    problem, or its name), warm-starting each solve from the previous solution.

    ``solve_options`` go to ``solvelab.solve`` (tol, max_iter, backend options...).
    Returns a ``PathResult``: iterate it for the ``Result`` of each value; ``coefs`` stacks
    the solutions. The Parameter keeps the last value afterwards.
    """
    from .engine import solve
    from .model import as_problem
    prob = as_problem(problem)
    par = _find_parameter(prob, parameter)
    vals = np.asarray(list(values), dtype=np.float64).ravel()
    if vals.size == 0:
        raise InvalidDataError("path: no values given")
    if not np.all(np.isfinite(vals)):
        raise InvalidDataError(f"path: the values of {par.name()!r} must be finite")
    solve_options.setdefault("warm_start", True)
    out = PathResult(parameter=par.name(), values=vals)
    t0 = time.perf_counter()
    for v in vals:
        try:
            par.value = v if par.ndim == 0 else np.full(par.shape, v)
        except ValueError as exc:
            raise InvalidDataError(f"path: value {v!r} is not allowed for parameter {par.name()!r}: {exc}") from None
        out.results.append(solve(prob, backend=backend, **solve_options))
    out.total_time = time.perf_counter() - t0
    return out
