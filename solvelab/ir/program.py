"""The Program: variables flattened into one vector, and a sum of terms w * f(A x - b).

Minimization is the only sense in the IR. A CVXPY ``Maximize(g)`` compiles to the terms
of ``-g`` with ``sign = -1`` recorded, so objective values map back exactly.

Data that depends on CVXPY Parameters is re-read by ``refresh()`` without walking the
expression tree again: terms hold callables for their offsets and weights, and
parametric operators re-read their matrices. ``refresh`` reports whether any operator
changed, so backends know when a cached factorization is stale.

Structured families (OT, ...) have their own nodes on the ``StructuredProgram`` base
(``structured.py``), with the same interface plus their certificate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .functions import Function
from .linop import LinearOperator


@dataclass
class VariableInfo:
    """Where a user variable lives in the flat vector x (F-order, like CVXPY)."""
    name: str
    shape: tuple
    offset: int
    size: int
    key: object = None  # the CVXPY variable id, for mapping solutions back

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.offset + self.size)


@dataclass
class Term:
    """weight * f(A x - b) over the program's full variable vector.

    ``b`` and ``weight`` are plain numbers after ``refresh``; ``b_source`` and
    ``weight_source`` (callables) follow Parameters. Functions with Parameter data inside them (huber's M,
    kl_div's second argument, ...) follow through ``f_source`` (a callable returning that
    data as a tuple) and ``f_build`` (data -> ``Function``): when the data differs from
    the last read, ``f`` is rebuilt and counts as changed data, so backends drop whatever
    they cached from the old one. ``label`` is the user's expression
    text, used in error messages and printing. ``role`` is 'objective' or 'constraint'.
    """
    f: Function
    A: LinearOperator
    b: np.ndarray
    weight: float = 1.0
    label: str = ""
    role: str = "objective"
    b_source: Callable[[], np.ndarray] | None = None
    weight_source: Callable[[], float] | None = None
    operators_to_refresh: list = field(default_factory=list)
    #: the CVXPY constraint this term is, when it is exactly one (its dual maps to the term's)
    origin: object = None
    f_source: Callable[[], tuple] | None = None
    f_build: Callable[[tuple], Function] | None = None
    _f_data: tuple | None = None

    @property
    def m(self) -> int:
        return self.A.shape[0]

    def residual(self, x: np.ndarray) -> np.ndarray:
        """z = A x - b."""
        return self.A.matvec(x) - self.b

    def value(self, x: np.ndarray) -> float:
        if self.weight == 0.0:
            return 0.0
        return self.weight * self.f.value(self.residual(x))

    def refresh(self) -> bool:
        changed_op = False
        for op in self.operators_to_refresh:
            changed_op |= bool(op.refresh())
        if self.b_source is not None:
            self.b = np.asarray(self.b_source(), dtype=np.float64).ravel()
        if self.weight_source is not None:
            self.weight = float(self.weight_source())
        if self.f_source is not None:
            data = tuple(self.f_source())
            if self._f_data is None or not _same_data(data, self._f_data):
                self.f = self.f_build(data)
                self._f_data = data
                changed_op = True
        return changed_op

    # weighted views of the function: w f
    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        if self.weight == 0.0:
            return np.array(v, dtype=np.float64, copy=True)
        if self.f.is_indicator:
            return self.f.prox(v, t)
        return self.f.prox(v, t * self.weight)

    def grad(self, z: np.ndarray) -> np.ndarray:
        return self.weight * self.f.grad(z)

    def conj(self, y: np.ndarray) -> float:
        """(w f)^*(y) = w f^*(y / w)."""
        w = self.weight
        if self.f.is_indicator:
            return self.f.conj(y)
        if w == 0.0:
            return 0.0 if not np.any(y) else float("inf")
        return w * self.f.conj(y / w)

    def project_dual_domain(self, y: np.ndarray) -> np.ndarray:
        w = self.weight
        if self.f.is_indicator:
            return self.f.project_dual_domain(y)
        if w == 0.0:
            return np.zeros_like(y)
        return w * self.f.project_dual_domain(y / w)

    def project_subdifferential(self, z: np.ndarray, s: np.ndarray) -> np.ndarray:
        w = self.weight
        if self.f.is_indicator:
            return self.f.project_subdifferential(z, s)
        if w == 0.0:
            return np.zeros_like(s)
        return w * self.f.project_subdifferential(z, s / w)

    def __repr__(self) -> str:
        w = "" if self.weight == 1.0 else f"{self.weight:g} * "
        b = "" if not np.any(self.b) else " - b"
        return f"{w}{self.f!r}(A x{b})  [{self.role}; A: {self.A.describe()}; rows={self.m}]"


@dataclass
class Program:
    """min  sign * (sum_i w_i f_i(A_i x - b_i) + constant), x in R^n.

    ``sign`` is +1 for Minimize and -1 for Maximize (the terms are already negated, so
    the IR always minimizes; ``user_objective`` maps back).
    """
    variables: list[VariableInfo]
    terms: list[Term]
    constant: float = 0.0
    sign: float = 1.0
    constant_source: Callable[[], float] | None = None
    parameters: list = field(default_factory=list)
    source: object = None  # the model this was compiled from (not used by backends)
    _data_version: int = 0

    @property
    def n(self) -> int:
        return sum(v.size for v in self.variables)

    @property
    def data_version(self) -> int:
        """Bumped whenever ``refresh`` finds an operator whose numbers changed."""
        return self._data_version

    def refresh(self) -> bool:
        """Re-read Parameter values into the terms; True if any operator changed."""
        changed = False
        for term in self.terms:
            changed |= term.refresh()
        if self.constant_source is not None:
            self.constant = float(self.constant_source())
        if changed:
            self._data_version += 1
        return changed

    def objective_terms(self) -> list[Term]:
        return [t for t in self.terms if t.role == "objective"]

    def constraint_terms(self) -> list[Term]:
        return [t for t in self.terms if t.role == "constraint"]

    def objective(self, x: np.ndarray) -> float:
        """The IR objective (minimized): sum of objective terms plus the constant."""
        return float(sum(t.value(x) for t in self.objective_terms()) + self.constant)

    def user_objective(self, x: np.ndarray) -> float:
        """The objective as the user wrote it (sign undone for Maximize)."""
        return self.sign * self.objective(x)

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The flat vector as a dict of user-shaped arrays, keyed by variable name."""
        return {v.name: _unflatten(x[v.slice], v.shape) for v in self.variables}

    def forms(self) -> list[str]:
        from .forms import matching_forms
        return matching_forms(self)

    def __repr__(self) -> str:
        lines = [f"Program: minimize over x in R^{self.n}"
                 + ("  (user objective is the negative: Maximize)" if self.sign < 0 else "")]
        lines.append("  variables:")
        for v in self.variables:
            lines.append(f"    {v.name}: shape {v.shape} -> x[{v.offset}:{v.offset + v.size}]")
        lines.append("  terms:")
        for i, t in enumerate(self.terms):
            lines.append(f"    [{i}] {t!r}")
            if t.label:
                lines.append(f"        from: {t.label}")
        if self.constant:
            lines.append(f"  constant: {self.constant:g}")
        lines.append("  forms: " + (", ".join(self.forms()) or "none"))
        return "\n".join(lines)


def _same_data(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(np.shape(u) == np.shape(v) and np.array_equal(u, v) for u, v in zip(a, b))


def _unflatten(x: np.ndarray, shape: tuple) -> np.ndarray:
    if len(shape) == 0:
        return np.asarray(x[0])
    return np.asarray(x).reshape(shape, order="F")
