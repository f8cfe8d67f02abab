"""``Problem``: a CVXPY objective and constraints, compiled once, solved on any backend."""
from __future__ import annotations

from ..compile import compile_problem


class Problem:
    """A convex problem declared with CVXPY expressions.

    >>> prob = Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x)), [x >= 0])
    >>> res = prob.solve(backend="admm")

    The model is compiled on the first solve (or ``compile()``). Later solves re-read
    Parameter values into the compiled program instead of compiling again, and each
    backend keeps its warm-start state and cached factorizations here.
    """

    def __init__(self, objective, constraints=None):
        import cvxpy as cp

        if not isinstance(objective, (cp.Minimize, cp.Maximize)):
            raise TypeError(f"objective must be cvxpy.Minimize(...) or cvxpy.Maximize(...), "
                            f"got {type(objective).__name__}")
        self.objective = objective
        self.constraints = list(constraints or [])
        for c in self.constraints:
            if not isinstance(c, cp.constraints.constraint.Constraint):
                raise TypeError(f"constraints must be CVXPY constraints; got {type(c).__name__} ({c!r:.60}). "
                                f"A Python bool here usually means a comparison of two constants.")
        self._cvxpy = cp.Problem(objective, self.constraints)
        self._program = None
        self._state: dict = {}
        self.compile_count = 0
        self.status = None
        self.value = None
        self.result = None

    @classmethod
    def from_cvxpy(cls, problem) -> "Problem":
        return cls(problem.objective, problem.constraints)

    def compile(self):
        """The IR program (compiled once; Parameters are re-read on every solve)."""
        if self._program is None:
            self._program = compile_problem(self.objective, self.constraints, source=self._cvxpy)
            self.compile_count += 1
        return self._program

    def variables(self):
        return self._cvxpy.variables() if self._cvxpy is not None else []

    def parameters(self):
        return self._cvxpy.parameters() if self._cvxpy is not None else []

    def solve(self, backend: str = "auto", **options):
        """Solve with ``backend``; see ``solvelab.solve`` for the options."""
        from ..engine import solve
        return solve(self, backend=backend, **options)

    def __repr__(self) -> str:
        return f"solvelab.Problem({self.objective}, {len(self.constraints)} constraints)"
