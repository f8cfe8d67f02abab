"""LPProgram: a linear program held whole (c, A, row bounds, column bounds), no CVXPY tree.

    min  c^T x + c0   s.t.   rl <= A x <= ru,   l <= x <= u

A is kept as CSR (and its transpose as CSR, for the A^T passes); infinite bounds are
allowed (rl = ru makes an equality row). The variable is one vector ``x`` of length n.
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError
from ...ir.linop import MatrixOperator
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from .certificate import lp_certificate
from .lowering import build_terms, duals_to_multipliers
from .validate import check_bounds, check_cost, check_matrix


class LPProgram(StructuredProgram):
    """The LP family's program node. ``names``: optional (row names, column names),
    e.g. from an MPS file; ``source``: a CVXPY declaration of the same LP, if any."""

    family = "lp"
    backends = ("pdhg",)

    def __init__(self, c, A=None, rl=None, ru=None, l=None, u=None, constant: float = 0.0,
                 name: str = "x", names=None, source=None):
        c = check_cost(c)
        n = c.size
        try:
            constant = float(constant)
        except (TypeError, ValueError):
            raise InvalidDataError(f"constant must be a number, got {constant!r}") from None
        if not np.isfinite(constant):
            raise InvalidDataError(f"constant must be finite, got {constant!r}")
        super().__init__([VariableInfo(name=name, shape=(n,), offset=0, size=n, key=None)],
                         constant=constant, source=source)
        self.names = names
        self._pending = None
        self._set(c, A, rl, ru, l, u)

    def _set(self, c, A, rl, ru, l, u):
        n = c.size
        A = check_matrix(A, n)
        m = A.shape[0]
        if m == 0 and (rl is not None and np.size(rl) or ru is not None and np.size(ru)):
            raise InvalidDataError("row bounds rl / ru given without a matrix A")
        rl, ru = check_bounds(rl, ru, m, ("rl", "ru"), (-np.inf, np.inf))
        l, u = check_bounds(l, u, n, ("l", "u"), (0.0, np.inf))
        self.c, self.A, self.rl, self.ru, self.l, self.u = c, A, rl, ru, l, u
        self.AT = A.T.tocsr()
        self.AT.sort_indices()
        self.operator = MatrixOperator(A)

    # -- data ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.A.shape

    @property
    def norm_A(self) -> float:
        """||A||_2 (an estimate from above, cached; the certificate's scale of |A| |x|)."""
        return self.operator.norm_est()

    def update_data(self, **data) -> None:
        """New numbers for any of c, A, rl, ru, l, u (validated now, applied by the next
        solve's ``refresh``, which bumps ``data_version`` so backends drop their caches)."""
        unknown = set(data) - {"c", "A", "rl", "ru", "l", "u"}
        if unknown:
            raise InvalidDataError(f"update_data takes c, A, rl, ru, l, u; got {sorted(unknown)}")
        cur = {"c": self.c, "A": self.A, "rl": self.rl, "ru": self.ru, "l": self.l, "u": self.u}
        cur.update(data)
        c = check_cost(cur["c"])
        if c.size != self.c.size:
            raise InvalidDataError(f"update_data cannot change the number of variables ({self.c.size})")
        probe = LPProgram(c, cur["A"], cur["rl"], cur["ru"], cur["l"], cur["u"])  # validates
        self._pending = (probe.c, probe.A, probe.rl, probe.ru, probe.l, probe.u)

    def reread(self) -> bool:
        if self._pending is None:
            return False
        self._set(*self._pending)
        self._pending = None
        return True

    # -- the StructuredProgram contract ------------------------------------------------
    def objective(self, x) -> float:
        return float(self.c @ np.asarray(x, dtype=np.float64)) + self.constant

    def certify(self, x, duals=None):
        """PDLP's relative KKT measures at x (``certificate``); ``duals`` in the layout of
        the lowering's terms (one vector per term), or None (then recovered from x)."""
        y = duals_to_multipliers(self, duals)
        if y is None:
            from ...ir.certificate import recover_duals
            y = duals_to_multipliers(self, recover_duals(self, np.asarray(x, dtype=np.float64)))
        return lp_certificate(self, x, y)

    def lower(self) -> list:
        return build_terms(self)

    def __repr__(self) -> str:
        m, n = self.shape
        return f"LPProgram({m} rows x {n} columns, nnz={self.A.nnz})"
