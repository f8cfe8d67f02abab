"""OTProgram: an entropic OT problem held whole (one plan variable P of shape (n, m),
flattened F-order in x), with no CVXPY tree: a 4096 x 4096 plan costs one cost matrix.

    balanced     min <C, P> + eps * sum P log P + const   s.t.  P 1 = a, P^T 1 = b, P >= 0
    unbalanced   min <C, P> + eps KL(P | a b^T) + rho KL(P 1 | a) + rho KL(P^T 1 | b)

(KL(x | y) = sum x log(x / y) - x + y, POT's ``sinkhorn_unbalanced`` with reg_type='kl'.)
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from .certificate import certify_plan, primal_value
from .lowering import build_terms
from .validate import check_balanced, check_cost, check_eps, check_marginal


class OTProgram(StructuredProgram):
    """The OT family's program node.

    ``cost`` is an (n, m) array or a callable returning one (evaluated once, on first
    use). ``kind`` is 'balanced' or 'unbalanced' (then ``rho`` > 0 is the marginal
    relaxation weight).
    """

    family = "ot"
    backends = ("sinkhorn", "sinkhorn_newton")

    def __init__(self, a, b, cost, eps, kind: str = "balanced", rho: float | None = None,
                 constant: float = 0.0, name: str = "P"):
        if kind not in ("balanced", "unbalanced"):
            raise InvalidDataError(f"kind must be 'balanced' or 'unbalanced', got {kind!r}")
        a = check_marginal(a, "a")
        b = check_marginal(b, "b")
        eps = check_eps(eps)
        if kind == "balanced":
            check_balanced(a, b)
            rho = None
        else:
            try:
                r = float(rho)
            except (TypeError, ValueError):
                r = float("nan")
            if not (np.isfinite(r) and r > 0):
                raise InvalidDataError(f"unbalanced OT needs a positive finite marginal weight rho, got {rho!r}")
            rho = r
        n, m = a.size, b.size
        super().__init__([VariableInfo(name=name, shape=(n, m), offset=0, size=n * m, key=None)],
                         constant=constant)
        self.a, self.b, self.eps, self.kind, self.rho = a, b, eps, kind, rho
        self._cost = cost
        self._C = None
        self._CT = None
        if not callable(cost):
            self._C = check_cost(cost, self.a, self.b, balanced=kind == "balanced")

    # -- data ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return (self.a.size, self.b.size)

    @property
    def C(self) -> np.ndarray:
        if self._C is None:
            self._C = check_cost(self._cost(), self.a, self.b, balanced=self.kind == "balanced")
        return self._C

    @property
    def CT(self) -> np.ndarray:
        """C^T, C-ordered (the column passes stream its rows); computed once."""
        if self._CT is None:
            self._CT = np.ascontiguousarray(self.C.T)
        return self._CT

    def plan(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(self.shape, order="F")

    # -- the StructuredProgram contract ------------------------------------------------
    def objective(self, x) -> float:
        """The minimized objective at the flat plan x (+inf outside the domain)."""
        return float(primal_value(self, x)[0])

    def certify(self, x, duals=None):
        """Marginal violation and primal-dual gap at the flat plan x (``certify_plan``)."""
        return certify_plan(self, x, duals)

    def lower(self) -> list:
        return build_terms(self)

    def __repr__(self) -> str:
        n, m = self.shape
        extra = "" if self.kind == "balanced" else f", rho={self.rho:g}"
        return f"OTProgram({self.kind}, {n}x{m}, eps={self.eps:g}{extra})"
