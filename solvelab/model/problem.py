"""``Problem``: a model the engine solves, declared with CVXPY (compiled once) or built by a
constructor as a program node (``Problem.from_program``).

The model layer owns what concerns the user's objects: coercing a plain ``cvxpy.Problem``
(``as_problem``; registered with the engine, which does not import this layer) and
writing each result back (``status``, ``value``, the CVXPY variables' values, and a
coerced ``cvxpy.Problem``'s status and value as CVXPY's own solve leaves them).
"""
from __future__ import annotations

import weakref

import numpy as np

from ..compile import compile_problem
from ..engine import register_adapter, run
from ..result import Result, Status


class Problem:
    """A convex problem declared with CVXPY expressions.

    >>> prob = Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x)), [x >= 0])
    >>> res = prob.solve(backend="admm")

    The model is compiled on the first solve (or ``compile()``). Later solves re-read
    Parameter values into the compiled program instead of compiling again, and each
    backend keeps its warm-start state and cached factorizations here.

    ``program`` and ``variables`` are ``from_program``'s (a node built by a constructor).
    """

    def __init__(self, objective=None, constraints=None, *, program=None, variables=()):
        import cvxpy as cp

        if program is None and not isinstance(objective, (cp.Minimize, cp.Maximize)):
            raise TypeError(f"objective must be cvxpy.Minimize(...) or cvxpy.Maximize(...), "
                            f"got {type(objective).__name__}")
        self.constraints = list(constraints or [])
        self._program = program
        self._variables = list(variables)
        self._state: dict = {}
        self._origin = None   # weakref to the cvxpy.Problem this was coerced from (as_problem)
        self.compile_count = 0 if program is None else 1
        self.status = None
        self.value = None
        self.result = None
        if program is not None:
            if objective is not None or self.constraints:
                raise TypeError("give a CVXPY objective (and constraints) or a program node, not both")
            self.objective = None
            self._cvxpy = None
            return
        self.objective = objective
        for c in self.constraints:
            if not isinstance(c, cp.constraints.constraint.Constraint):
                raise TypeError(f"constraints must be CVXPY constraints; got {type(c).__name__} ({c!r:.60}). "
                                f"A Python bool here usually means a comparison of two constants.")
        self._cvxpy = cp.Problem(objective, self.constraints)

    @classmethod
    def from_cvxpy(cls, problem) -> "Problem":
        return cls(problem.objective, problem.constraints)

    @classmethod
    def from_program(cls, node, *, variables=()) -> "Problem":
        """A Problem whose program is ``node`` (a ``Program`` or a family's
        ``StructuredProgram``), built by a constructor instead of compiled from CVXPY.

        ``variables``: the CVXPY variables that the node's ``VariableInfo.key`` name (their
        values are written back after each solve; none for a node without CVXPY variables).
        ``parameters()`` are the node's. The node counts as compiled (``compile_count`` is
        1); every solve re-reads its Parameters (``node.refresh()``).
        """
        return cls(program=node, variables=variables)

    def compile(self):
        """The IR program (compiled once; Parameters are re-read on every solve)."""
        if self._program is None:
            self._program = compile_problem(self.objective, self.constraints, source=self._cvxpy)
            self.compile_count += 1
        return self._program

    def variables(self):
        return self._cvxpy.variables() if self._cvxpy is not None else list(self._variables)

    def parameters(self):
        if self._cvxpy is not None:
            return self._cvxpy.parameters()
        return list(getattr(self._program, "parameters", ()))

    def solve(self, backend: str = "auto", **options) -> Result:
        """Solve with ``backend``; see ``solvelab.solve`` for the options. The result is
        written back (``status``, ``value``, ``result``, the variables' values)."""
        result = run(self, self._state, backend=backend, **options)
        self._write_back(result)
        return result

    def _write_back(self, result: Result) -> None:
        """Fill the user's CVXPY variables (and a coerced ``cvxpy.Problem``'s ``status`` and
        ``value``), like CVXPY's own solve does."""
        self.status = result.status
        self.value = result.objective
        self.result = result
        result.__dict__["_differentiate"] = lambda dx, _res=result: _vjp(self, _res, dx)
        origin = self._origin() if self._origin is not None else None
        if origin is not None:
            _write_cvxpy_status(origin, result)
        by_id = {v.id: v for v in self.variables()}
        for info in self._program.variables:
            var = by_id.get(info.key)
            if var is None:
                continue
            if result.x is None:
                var.save_value(None)
                continue
            vals = result.x[info.slice]
            var.save_value(vals.reshape(info.shape, order="F") if info.shape else np.asarray(vals[0]))

    def __repr__(self) -> str:
        if self.objective is None:
            return f"solvelab.Problem({self._program!r})"
        return f"solvelab.Problem({self.objective}, {len(self.constraints)} constraints)"


def _vjp(problem, result, dx):
    from .diff import vjp
    return vjp(problem, result, dx)


def as_problem(problem) -> Problem:
    """``problem`` as a ``Problem``: itself, or the one made (once) from a plain
    ``cvxpy.Problem``, whose ``status`` and ``value`` then follow each solve."""
    import cvxpy as cp
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, cp.Problem):
        cache = getattr(problem, "_solvelab_problem", None)
        if cache is None:
            cache = Problem.from_cvxpy(problem)
            cache._origin = weakref.ref(problem)
            problem._solvelab_problem = cache  # re-solves of the same cvxpy.Problem reuse it
        return cache
    raise TypeError(f"solve() takes a solvelab.Problem or a cvxpy.Problem, got {type(problem).__name__}")


@register_adapter
def _from_cvxpy(obj):
    """The engine's adapter for plain ``cvxpy.Problem`` objects."""
    import cvxpy as cp
    return as_problem(obj) if isinstance(obj, cp.Problem) else None


#: solvelab status -> the status string CVXPY's own solve would leave
_CVXPY_STATUS = {Status.OPTIMAL: "optimal", Status.INFEASIBLE: "infeasible", Status.UNBOUNDED: "unbounded",
                 Status.INACCURATE: "optimal_inaccurate", Status.MAX_ITER: "user_limit",
                 Status.TIME_LIMIT: "user_limit", Status.NUMERICAL_ERROR: "solver_error",
                 Status.LOCALLY_INFEASIBLE: "infeasible_inaccurate"}


def _write_cvxpy_status(problem, result: Result) -> None:
    """``problem.status`` / ``problem.value`` as after ``problem.solve()`` (CVXPY keeps
    them in private slots behind read-only properties)."""
    problem._status = _CVXPY_STATUS[result.status]
    value = result.objective
    problem._value = None if value is None or np.isnan(value) else float(value)
