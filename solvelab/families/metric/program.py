"""MetricProgram: a program over one symmetric (n, n) matrix X constrained to be a
(semi)metric: zero diagonal, X >= 0 and every triangle X_ij <= X_ik + X_kj, held
implicitly (never the 3 n (n-1) (n-2) / 2 rows). X is stored whole in x (n * n entries;
symmetric, so F- and C-order agree); only the upper triangle i < j is a free variable.

    l2   min sum_{i != j} W_ij (X_ij - D_ij)^2    (= sum_squares(multiply(sqrt(W), X - D)))
         optionally with pair bounds lo_s <= X_ij <= hi_s on a list of pairs (metric
         learning from similar / dissimilar pairs)
    l1   min sum_{i != j} W_ij |X_ij - D_ij|
    lp   min sum_{i < j} c_ij X_ij + constant,  0 <= X <= 1   (correlation clustering LP)

(for n >= 3 the triangles imply X >= 0).
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from .certificate import certify_metric, primal_value
from .validate import check_dissimilarity, check_pair_bounds, check_square, check_symmetric, check_weights

KINDS = ("l2", "l1", "lp")


class MetricProgram(StructuredProgram):
    """The metric family's node. ``kind`` 'l2' / 'l1' take D (and weights W, default all
    ones); 'lp' takes the cost c (symmetric, upper triangle read) and a constant.
    ``bounds`` (l2 only): (pairs (k, 2), lower, upper), see ``validate.check_pair_bounds``."""

    family = "metric"
    backends = ("project_forget",)

    def __init__(self, kind: str, D=None, W=None, c=None, constant: float = 0.0, name: str = "X", key=None,
                 bounds=None):
        if kind not in KINDS:
            raise InvalidDataError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "lp":
            if c is None:
                raise InvalidDataError("the metric LP needs a cost matrix c")
            c = check_symmetric(check_square(c, "c"), "c")
            n = c.shape[0]
            D = np.zeros((n, n))
            W = np.ones((n, n))
            scale = 1.0
        else:
            if D is None:
                raise InvalidDataError(f"metric nearness ({kind}) needs a dissimilarity matrix D")
            D = check_dissimilarity(D)
            n = D.shape[0]
            W = np.ones((n, n)) if W is None else check_weights(W, n)
            scale = float(D.max())
        if not np.isfinite(constant):
            raise InvalidDataError(f"constant must be finite, got {constant!r}")
        super().__init__([VariableInfo(name=name, shape=(n, n), offset=0, size=n * n, key=key)],
                         constant=float(constant))
        self.kind = kind
        self.D = D
        self.W = W
        self.c = c
        self.uniform = kind == "lp" or bool(np.all(W == 1.0))
        self.scale = scale
        self._w2 = 2.0 * W
        if bounds is not None and kind != "l2":
            raise InvalidDataError(f"pair bounds are supported with the l2 objective only, not {kind!r}")
        self.bounds = None if bounds is None else check_pair_bounds(bounds, n)
        if self.bounds is not None and self.bounds[0].size == 0:
            self.bounds = None

    @property
    def n_points(self) -> int:
        return self.D.shape[0]

    @property
    def w2(self) -> np.ndarray:
        """Per-pair weights of the objective written over pairs i < j (2 W: the user's sum
        runs over the full matrix)."""
        return self._w2

    def matrix(self, x) -> np.ndarray:
        n = self.n_points
        return np.asarray(x, dtype=np.float64).reshape(n, n)

    def objective(self, x) -> float:
        return primal_value(_Data(self), self.matrix(x))

    def certify(self, x, duals=None):
        """Triangle and structure violation and the relative duality gap (``certify_metric``);
        ``duals`` = [triangles (t, 3), multipliers (t,)]."""
        return certify_metric(_Data(self), x, duals)

    def __repr__(self) -> str:
        extra = f", {self.bounds[0].size} bounded pairs" if self.bounds is not None else ""
        return f"MetricProgram({self.kind}, n={self.n_points}{extra})"


class _Data:
    """What the certificate reads (``n``, ``kind``, ``D``, ``w2``, ``c``, ``constant``, ``scale``)."""

    def __init__(self, p):
        self.n, self.kind, self.D, self.c = p.n_points, p.kind, p.D, p.c
        self.w2, self.constant, self.scale = p.w2, p.constant, p.scale
        self.bounds = p.bounds
