"""Distributionally robust logistic regression: a saddle point with a coupling that is
nonlinear in x (the DROSaddle form).

    min_x max_{p in simplex}  L(x, p) = sum_i p_i l_i(x) - rho n / 2 |p - u|^2 + lam / 2 |x|^2

l_i(x) = log(1 + exp(-b_i a_i^T x)) (labels b_i = +-1), u = 1 / n: the worst reweighting
p of the n training points within a chi-square penalty (n |p - u|^2 is the chi-square
divergence of p from u). rho -> inf gives ridge logistic regression (p = u); a small rho
weights the hardest points. The flat vector is [x; p].

Certificate (computed from (x, p) alone, no inner solve trusted):

    upper  P(x) = lam/2 |x|^2 + max_p L(x, p), attained at p' = P_simplex(u + l(x) / mu),
           mu = rho n: exact
    lower  D(p) = min_x L(x, p) >= h_p(x) - |grad h_p(x)|^2 / (2 lam),
           h_p(x) = sum_i p_i l_i(x) + lam/2 |x|^2 (lam-strongly convex, so the bound holds
           at any x; it is tight at the saddle point, where grad h_p(x) = 0)
    gap    (P(x) - D_lower(p)) / max(P(x), |D_lower(p)|): an upper bound of the true
           relative gap; P(x) > 0 (every loss is), so there is no 0 / 0 and no floor
    stationarity  |grad P(x)| / (lam |x| + |(bA)^T (p(x) l')|), grad P(x) = lam x +
           (bA)^T (p(x) l') (Danskin; p(x) the exact inner maximizer): the gradient against
           the size of its two summands. Why besides the gap: on data scaled by 1e-6 the
           losses are log 2 + O(1e-6) and P varies by ~1e-12 over all x, so a relative gap
           of 1e-12 holds at x = 0, which classifies nothing; the gradient is resolved at
           every scale, and at x = 0 this measure is 1
    domain_violation of p (simplex)

So lam > 0 is required (without it the lower bound does not exist, and the minimizer may
not either on separable data).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError, ShapeError
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from ...kernels.saddle import project_simplex
from ...result import Certificate, Measure
from .validate import check_reg


def _data(A, labels):
    if sp.issparse(A):
        A = sp.csr_matrix(A, dtype=np.float64)
        if not np.all(np.isfinite(A.data)):
            raise InvalidDataError("A has NaN or Inf entries")
    else:
        A = np.asarray(A)
        if A.dtype == object or not np.issubdtype(A.dtype, np.number) or np.iscomplexobj(A):
            raise InvalidDataError(f"A must hold real numbers, got dtype {A.dtype}")
        A = np.ascontiguousarray(A, dtype=np.float64)
        if A.ndim != 2:
            raise ShapeError(f"A must be a 2-D matrix (samples x features), got shape {A.shape}")
        if not np.all(np.isfinite(A)):
            raise InvalidDataError("A has NaN or Inf entries")
    n, d = A.shape
    if n == 0 or d == 0:
        raise ShapeError(f"A is empty (shape {A.shape})")
    b = np.asarray(labels, dtype=np.float64).reshape(-1)
    if b.shape != (n,):
        raise ShapeError(f"labels must have shape ({n},) to match A, got {b.shape}")
    if not np.all(np.isin(b, (-1.0, 1.0))):
        bad = b[~np.isin(b, (-1.0, 1.0))][0]
        raise InvalidDataError(f"labels must be -1 or +1, got {bad!r}")
    return A, b


class DROLogisticProgram(StructuredProgram):
    """The node of ``solvelab.problems.dro_logistic`` (module docstring)."""

    family = "saddle"
    backends = ("alpd",)

    def __init__(self, A, labels, lam: float, rho: float, names=("x", "p")):
        A, b = _data(A, labels)
        lam, rho = check_reg(lam, "lam"), check_reg(rho, "rho")
        if lam == 0.0:
            raise InvalidDataError("lam must be > 0: the ridge term makes the certificate's lower bound exist "
                                   "(and the minimizer, on separable data)")
        if rho == 0.0:
            raise InvalidDataError("rho must be > 0 (rho = 0 is the max loss over the points: a different problem)")
        n, d = A.shape
        super().__init__([VariableInfo(name=names[0], shape=(d,), offset=0, size=d),
                          VariableInfo(name=names[1], shape=(n,), offset=d, size=n)])
        self.A, self.b, self.lam, self.rho = A, b, lam, rho
        self.BA = (sp.diags(b) @ A).tocsr() if sp.issparse(A) else b[:, None] * A   # rows b_i a_i
        self.BAT = self.BA.T.tocsr() if sp.issparse(A) else None
        self.mu = rho * n
        self.u = np.full(n, 1.0 / n)

    @property
    def shape(self) -> tuple:
        return self.A.shape

    def margins(self, x) -> np.ndarray:
        return np.asarray(self.BA @ x, dtype=np.float64).ravel()

    def rmatvec(self, v) -> np.ndarray:
        """(b * A)^T v."""
        return np.asarray((self.BAT if self.BAT is not None else self.BA.T) @ v, dtype=np.float64).ravel()

    @staticmethod
    def losses(m) -> np.ndarray:
        """l(m) = log(1 + exp(-m)), stable."""
        return np.logaddexp(0.0, -m)

    @staticmethod
    def slopes(m) -> np.ndarray:
        """l'(m) = -1 / (1 + exp(m)), stable."""
        return -0.5 * (1.0 - np.tanh(0.5 * m))

    def worst_weights(self, loss) -> np.ndarray:
        """p' = argmax_{p in simplex} p^T loss - mu/2 |p - u|^2 = P(u + loss / mu)."""
        out = np.empty(loss.size)
        project_simplex(np.ascontiguousarray(self.u + loss / self.mu), out)
        return out

    def split_xp(self, z):
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        d = self.shape[1]
        return z[:d], z[d:]

    def value(self, x, p) -> float:
        loss = self.losses(self.margins(x))
        return float(p @ loss - 0.5 * self.mu * np.sum((p - self.u) ** 2) + 0.5 * self.lam * (x @ x))

    def objective(self, z) -> float:
        """P(x): the robust objective at x (the value of the saddle point at a solution)."""
        x, _ = self.split_xp(z)
        return primal_value(self, x)

    def certify(self, z, duals=None) -> Certificate:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        n, d = self.shape
        if z.size != n + d or not np.all(np.isfinite(z)):
            return _build(np.inf, np.inf, None, None)
        x, p = self.split_xp(z)
        parts = primal_parts(self, x)
        upper = parts["value"]
        lower = dual_lower_bound(self, x, p)
        gap = max(upper - lower, 0.0) / max(abs(upper), abs(lower))
        viol = max(abs(float(p.sum()) - 1.0), float(np.max(-p, initial=0.0)))
        return _build(gap, viol, upper, lower, stationarity(self, x, parts))

    def __repr__(self) -> str:
        n, d = self.shape
        store = f"sparse, nnz={self.A.nnz}" if sp.issparse(self.A) else "dense"
        return f"DROLogisticProgram({n} samples x {d} features, {store}, lam={self.lam:g}, rho={self.rho:g})"


#: passes over bA one ``certify`` costs (primal_parts: bA x and its transpose; the lower bound: the same)
CERTIFY_PASSES = 4


def _inner_max(prog, x, m) -> tuple:
    """(losses, p(x), P(x)) from the margins m = bA x: the inner max is the projection
    p(x) = P_simplex(u + l(x) / mu), so P(x) is exact."""
    loss = prog.losses(m)
    p = prog.worst_weights(loss)
    value = float(p @ loss - 0.5 * prog.mu * np.sum((p - prog.u) ** 2) + 0.5 * prog.lam * (x @ x))
    return loss, p, value


def primal_value(prog, x) -> float:
    """P(x) = lam/2 |x|^2 + max_p L(x, p) (one pass over bA)."""
    return _inner_max(prog, x, prog.margins(x))[2]


def primal_parts(prog, x) -> dict:
    """At x, in one pass each way over bA: the margins m, the slopes l'(m), the worst-case
    weights p(x), P(x) and the coupling (bA)^T (p(x) l') of grad P(x) = lam x + coupling
    (Danskin)."""
    m = prog.margins(x)
    _, p, value = _inner_max(prog, x, m)
    r = prog.slopes(m)
    coupling = prog.rmatvec(p * r)
    return {"margins": m, "slopes": r, "weights": p, "value": value, "coupling": coupling,
            "grad": prog.lam * x + coupling}


def dual_lower_bound(prog, x, p) -> float:
    """A lower bound of D(p) = min_x' L(x', p): h_p(x) - |grad h_p(x)|^2 / (2 lam)."""
    m = prog.margins(x)
    h = float(p @ prog.losses(m)) + 0.5 * prog.lam * float(x @ x)
    g = prog.rmatvec(p * prog.slopes(m)) + prog.lam * x
    return h - float(g @ g) / (2.0 * prog.lam) - 0.5 * prog.mu * float(np.sum((p - prog.u) ** 2))


def stationarity(prog, x, parts=None) -> float:
    """|grad P(x)| relative to its summands lam |x| and |(bA)^T (p(x) l')| (0 / 0 reads 0);
    ``parts``: ``primal_parts(prog, x)`` when the caller has them."""
    parts = primal_parts(prog, x) if parts is None else parts
    num = float(np.linalg.norm(parts["grad"]))
    den = prog.lam * float(np.linalg.norm(x)) + float(np.linalg.norm(parts["coupling"]))
    return 0.0 if num == 0.0 else num / max(den, float(np.finfo(np.float64).tiny))


def _build(gap, viol, upper, lower, stat=np.inf) -> Certificate:
    return Certificate.from_measures("saddle_gap", [
        Measure("gap", gap, "P(x) - (a lower bound of D(p) from strong convexity in x), relative to max(|P|, |D|)"),
        Measure("stationarity", stat, "|grad P(x)| relative to lam |x| + |(bA)^T (p(x) l')|"),
        Measure("domain_violation", viol, "how far p lies outside the simplex")],
        dual_objective=lower, primal_objective=upper)
