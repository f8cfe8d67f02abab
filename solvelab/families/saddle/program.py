"""SaddleProgram: a bilinear saddle point held whole (K, c, b and the two players' sets).

    min_{x in X} max_{y in Y}  L(x, y) = c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2
                                         (+ constant),   K: (m, n)

alpha = ``x_reg`` and mu = ``y_reg`` (>= 0, default 0) are quadratic regularizers: with
either positive the program is strongly convex in x or strongly concave in y (the
RegularizedSaddle form, backends ``alpd`` and ``halpern``); with both 0 it is the
bilinear saddle point (BilinearSaddle, backend ``halpern``). X and Y are each a probability simplex or a box
(``validate``). The flat vector is
[x; y]. K is kept dense (C-ordered float64) or as CSR with its transpose as CSR (the
K^T passes). With an unbounded side and no regularizer on it the node checks at
construction that a saddle point exists (``wellposed``) and refuses the data otherwise.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from .certificate import saddle_certificate
from .validate import check_domain, check_matrix, check_reg, check_vector
from .wellposed import check_exists


class SaddleProgram(StructuredProgram):
    """The saddle family's node. ``names``: the two variables' names; ``kind``: a short
    description ('matrix_game' or 'bilinear'), for printing."""

    family = "saddle"
    #: whether construction checks that a saddle point exists (an unbounded side); a
    #: nonlinear coupling's node (``coupled``) cannot check it and sets False
    checks_existence = True

    def __init__(self, K, c=None, b=None, x_domain="simplex", y_domain="simplex", names=("x", "y"),
                 kind: str = "bilinear", constant: float = 0.0, keys=(None, None), x_reg: float = 0.0,
                 y_reg: float = 0.0):
        K = check_matrix(K)
        m, n = K.shape
        c = check_vector(c, m, "c")
        b = check_vector(b, n, "b")
        X = check_domain(x_domain, m, "x_domain")
        Y = check_domain(y_domain, n, "y_domain")
        x_reg, y_reg = check_reg(x_reg, "x_reg"), check_reg(y_reg, "y_reg")
        if self.checks_existence:
            check_exists(K, c, b, X, Y, x_reg, y_reg)
        constant = float(constant)
        if not np.isfinite(constant):
            raise InvalidDataError(f"the objective's constant must be finite, got {constant!r}")
        super().__init__([VariableInfo(name=names[0], shape=(m,), offset=0, size=m, key=keys[0]),
                          VariableInfo(name=names[1], shape=(n,), offset=m, size=n, key=keys[1])],
                         constant=constant)
        self.K, self.c, self.b, self.X, self.Y = K, c, b, X, Y
        self.x_reg, self.y_reg = x_reg, y_reg
        self.KT = None
        if sp.issparse(K):
            self.KT = K.T.tocsr()
            self.KT.sort_indices()
        self.kind = kind
        self.K_max = float(np.max(np.abs(K.data if sp.issparse(K) else K), initial=0.0))
        self._norm = None

    # -- data -------------------------------------------------------------------------
    @property
    def regularized(self) -> bool:
        """Whether a quadratic regularizer makes a side strongly convex (concave)."""
        return self.x_reg > 0 or self.y_reg > 0

    @property
    def backends(self) -> tuple:
        return ("alpd", "halpern") if self.regularized else ("halpern",)

    @property
    def shape(self) -> tuple:
        return self.K.shape

    @property
    def dense(self) -> bool:
        return isinstance(self.K, np.ndarray)

    def matvec(self, y) -> np.ndarray:
        return np.asarray(self.K @ y, dtype=np.float64).ravel()

    def rmatvec(self, x) -> np.ndarray:
        return np.asarray((self.K.T if self.dense else self.KT) @ x, dtype=np.float64).ravel()

    def split_xy(self, z):
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        m = self.shape[0]
        return z[:m], z[m:]

    def value(self, x, y) -> float:
        """L(x, y) (with the objective's constant)."""
        return float(self.c @ x + x @ self.matvec(y) - self.b @ y + 0.5 * self.x_reg * (x @ x)
                     - 0.5 * self.y_reg * (y @ y)) + self.constant

    # -- the StructuredProgram contract ------------------------------------------------
    def objective(self, z) -> float:
        """L(x, y) at the flat z = [x; y] (the value of the game at a saddle point)."""
        x, y = self.split_xy(z)
        return self.value(x, y)

    def certify(self, z, duals=None):
        """Relative duality gap, stationarity (an unbounded side) and domain violation at
        z = [x; y] (``certificate``); ``duals`` are not read: y is part of the point."""
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        if z.size != sum(self.shape):
            return saddle_certificate(self, np.full(1, np.nan), np.full(1, np.nan))
        x, y = self.split_xy(z)
        return saddle_certificate(self, x, y)

    def __repr__(self) -> str:
        m, n = self.shape
        store = "dense" if self.dense else f"sparse, nnz={self.K.nnz}"
        reg = "".join(f", {k}={v:g}" for k, v in (("x_reg", self.x_reg), ("y_reg", self.y_reg)) if v > 0)
        return (f"SaddleProgram({self.kind}, {m} x {n} {store}, x in {self.X.describe()}, y in {self.Y.describe()}"
                f"{reg})")
