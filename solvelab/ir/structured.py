"""StructuredProgram: the base of every family's program node (OT, metric, saddle, ...).

A family node holds its problem whole, because its solvers need the structure, and
provides what the engine and the backends read from any program:

    variables, n, split(x)     the flat vector x and its user-shaped pieces (as ``Program``)
    objective(x), sign         the minimized objective; ``user_objective`` undoes the sign
    parameters                 the CVXPY Parameters it reads (per instance)
    data_version, refresh()    ``refresh`` re-reads Parameters (``reread``) and bumps the
                               version when numbers changed, so backends drop their caches
    certify(x, duals)          the family's own certificate (the engine judges by it)
    terms                      the lowering to generic prox-affine terms, built on first
                               access by ``lower()`` so admm / cvxpy can still take the node;
                               a family without one raises ``NoLoweringError``, which the
                               form matcher turns into a refusal naming the family
"""
from __future__ import annotations

import numpy as np

from ..errors import BackendRefusedError
from .program import VariableInfo, _unflatten


class NoLoweringError(BackendRefusedError):
    """A family node has no generic prox-affine terms; only its own backends take it."""


class StructuredProgram:
    """Base class of family program nodes; subclasses set ``family`` and ``backends`` and
    implement ``objective`` and ``certify`` (and ``lower`` / ``reread`` where they have them).
    """

    #: the family's name, as in ``solvelab.families.<family>`` (named in errors)
    family: str = "structured"
    #: the backends built for this family (named when a generic backend cannot take it)
    backends: tuple = ()

    def __init__(self, variables: list[VariableInfo], *, constant: float = 0.0, sign: float = 1.0,
                 parameters=(), source=None):
        self.variables = list(variables)
        self.constant = float(constant)
        self.sign = float(sign)
        self.constant_source = None
        self.parameters = list(parameters)
        self.source = source   # a CVXPY declaration of the same problem, when there is one
        self._data_version = 0
        self._terms = None

    # -- variables -------------------------------------------------------------------
    @property
    def n(self) -> int:
        return sum(v.size for v in self.variables)

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The flat vector as a dict of user-shaped arrays, keyed by variable name."""
        return {v.name: _unflatten(x[v.slice], v.shape) for v in self.variables}

    # -- objective and certificate ----------------------------------------------------
    def objective(self, x: np.ndarray) -> float:
        raise NotImplementedError(f"{type(self).__name__}.objective")

    def user_objective(self, x: np.ndarray) -> float:
        return self.sign * self.objective(x)

    def certify(self, x: np.ndarray, duals=None):
        """The family's certificate (a ``solvelab.result.Certificate``) at x."""
        raise NotImplementedError(f"{type(self).__name__}.certify")

    # -- parameters ------------------------------------------------------------------
    @property
    def data_version(self) -> int:
        """Bumped whenever ``refresh`` finds that the node's numbers changed."""
        return self._data_version

    def reread(self) -> bool:
        """Re-read the Parameters' values into the node; True when numbers changed."""
        return False

    def refresh(self) -> bool:
        changed = bool(self.reread())
        if changed:
            self._data_version += 1
            self._terms = None   # the lowering is rebuilt from the new data
        return changed

    # -- lowering to generic terms ----------------------------------------------------
    @property
    def has_lowering(self) -> bool:
        return type(self).lower is not StructuredProgram.lower

    def lower(self) -> list:
        """The generic IR terms of this problem (override where the family has them)."""
        takes = ", ".join(self.backends) or "its own backends"
        raise NoLoweringError(f"the {self.family} family's program has no lowering to generic prox-affine "
                              f"terms, so the generic backends (admm, cvxpy) cannot take it; backends that "
                              f"take it: {takes}")

    @property
    def terms(self) -> list:
        """The lowering (built on first access and kept until the data change)."""
        if self._terms is None:
            self._terms = self.lower()
        return self._terms

    def objective_terms(self) -> list:
        return [t for t in self.terms if t.role == "objective"]

    def constraint_terms(self) -> list:
        return [t for t in self.terms if t.role == "constraint"]

    def forms(self) -> list[str]:
        from .forms import matching_forms
        return matching_forms(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.family}, n={self.n})"
