"""The function library of the IR: each function knows what it can do.

One prox convention everywhere::

    prox(v, t) = argmin_x f(x) + ||x - v||^2 / (2 t)

A function acts on a flat vector ``z`` (of length ``dim``; ``dim=None`` means any).
Capabilities are declared as data so forms and backends can dispatch on them:

    smooth       value/grad exist everywhere; ``lipschitz`` bounds the gradient's constant
    has_prox     ``prox`` is available (closed form or a cheap inner solve)
    separable    f(z) = sum_i f_i(z_i): prox and subgradients act entrywise
    is_indicator f is the indicator of a closed convex set (value 0 or +inf)
    quadratic    f(z) = q ||z||^2 / 2 + c^T z: backends may fold it into a linear system

Every function also gives what certificates need: ``conj`` (the convex conjugate, +inf
outside its domain), ``project_domain`` and ``project_dual_domain`` (to measure and
repair infeasibility), and ``project_subdifferential(z, s)``, the element of ∂f(z)
closest to ``s`` (its distance to ``s`` is the subgradient optimality residual).
"""
from __future__ import annotations

import numpy as np
from scipy import special

import solvelab.ir.losses as losses

INF = float("inf")
_TINY = np.finfo(np.float64).tiny


class Function:
    name = "function"
    smooth = False
    has_prox = True
    separable = False
    is_indicator = False
    quadratic = False
    #: piecewise linear, or the indicator of a polyhedron (halpern's auto rule reads it)
    polyhedral = False
    lipschitz: float | None = None
    #: strong convexity modulus (0 if none); lets accelerated methods use it
    strong_convexity = 0.0

    def __init__(self, dim: int | None = None):
        self.dim = dim

    # -- the three things every function has ----------------------------------------
    def value(self, z: np.ndarray) -> float:
        raise NotImplementedError

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        raise NotImplementedError(f"{self.name} has no prox")

    def conj(self, y: np.ndarray) -> float:
        raise NotImplementedError(f"{self.name} has no conjugate")

    # -- derived ---------------------------------------------------------------------------
    def grad(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name} is not smooth")

    def prox_conj(self, v: np.ndarray, t: float) -> np.ndarray:
        """prox of t f* via Moreau: v - t prox_{f/t}(v / t)."""
        return v - t * self.prox(v / t, 1.0 / t)

    def project_domain(self, z: np.ndarray) -> np.ndarray:
        """Nearest point of dom f (identity for finite-valued functions)."""
        return z

    def project_dual_domain(self, y: np.ndarray) -> np.ndarray:
        """Nearest point of dom f* (identity where f* is finite everywhere)."""
        return y

    def project_subdifferential(self, z: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Element of ∂f(z) closest to s. Default: via the prox identity (exact for
        smooth functions through ``grad``; subclasses override where it matters)."""
        if self.smooth:
            return self.grad(z)
        raise NotImplementedError(f"{self.name}: subdifferential projection not implemented")

    # -- presentation -------------------------------------------------------------------
    def params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={_short(v)}" for k, v in self.params().items())
        return f"{self.name}({p})"


def _short(v) -> str:
    if isinstance(v, np.ndarray):
        if v.size == 1:
            return f"{float(v.ravel()[0]):g}"
        return f"<{v.size} values>"
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v)


def _bcast(a, z):
    """A scalar or array parameter broadcast against z."""
    return a if np.isscalar(a) or np.ndim(a) == 0 else np.asarray(a)


def _rounding_tol(y) -> float:
    """How far outside a dual domain rounding alone can put y (relative to its size)."""
    return 1e-12 * (1.0 + float(np.max(np.abs(y), initial=0.0)))


def _on_interval(s, lo, hi):
    return np.minimum(np.maximum(s, lo), hi)


def _nonneg_weights(w, who: str) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        from ..errors import InvalidDataError
        raise InvalidDataError(f"{who}: weights must be finite and >= 0 (got min {np.min(w)!r})")
    return w


def _increasing_root(fun, lo, hi, x0, iters: int = 200):
    """Entrywise root of an increasing function: Newton steps kept inside a shrinking
    bracket [lo, hi] (bisection where a step would leave it). ``fun(x) -> (g, g')``;
    the bracket must be finite and hold the root."""
    x = np.array(x0, dtype=np.float64, copy=True)
    lo = np.array(np.broadcast_to(lo, x.shape), dtype=np.float64)
    hi = np.array(np.broadcast_to(hi, x.shape), dtype=np.float64)
    for _ in range(iters):
        g, dg = fun(x)
        lo = np.where(g < 0, x, lo)
        hi = np.where(g > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            xn = x - g / dg
        tiny = np.abs(xn - x) <= 1e-15 * (1.0 + np.abs(x))   # converged (it may round onto lo or hi)
        xn = np.where(((xn > lo) & (xn < hi)) | tiny, xn, 0.5 * (lo + hi))
        xn = np.where(g == 0, x, xn)
        done = np.max(np.abs(xn - x), initial=0.0) <= 1e-15 * (1.0 + np.max(np.abs(x), initial=0.0))
        x = xn
        if done:
            break
    return x


def _rows(z, group):
    """z as one row per consecutive block of length ``group`` (None: one block)."""
    z = np.asarray(z, dtype=np.float64)
    return z.reshape(-1, group) if group else z.reshape(1, -1)


def _row_norms(R):
    return np.linalg.norm(R, axis=1)


# ---------------------------------------------------------------------------------------
# Smooth and quadratic
# ---------------------------------------------------------------------------------------

class Zero(Function):
    """f = 0."""
    name = "zero"
    polyhedral = True
    smooth = True
    separable = True
    quadratic = True
    lipschitz = 0.0
    quad_coef = 0.0

    def value(self, z):
        return 0.0

    def grad(self, z):
        return np.zeros_like(z, dtype=np.float64)

    def prox(self, v, t):
        return np.array(v, dtype=np.float64, copy=True)

    def conj(self, y):
        # dom f* = {0}; accept rounding-level entries (prox_conj's output is v - t (v/t))
        return 0.0 if np.all(np.abs(y) <= _rounding_tol(y)) else INF

    def project_dual_domain(self, y):
        return np.zeros_like(y, dtype=np.float64)


class Linear(Function):
    """f(z) = c^T z (c a scalar or a vector)."""
    name = "linear"
    polyhedral = True
    smooth = True
    separable = True
    quadratic = True
    lipschitz = 0.0
    quad_coef = 0.0

    def __init__(self, c=1.0, dim=None):
        super().__init__(dim)
        self.c = c if np.isscalar(c) else np.asarray(c, dtype=np.float64)

    def value(self, z):
        return float(np.sum(self.c * z))

    def grad(self, z):
        return np.broadcast_to(np.asarray(self.c, dtype=np.float64), np.shape(z)).copy()

    def prox(self, v, t):
        return v - t * self.c

    def conj(self, y):
        # dom f* = {c}; accept y within rounding of c (y often comes out of (v - p) / t)
        c = np.asarray(self.c, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        tol = 1e-12 * (1.0 + max(np.max(np.abs(c), initial=0.0), np.max(np.abs(y), initial=0.0)))
        return 0.0 if np.all(np.abs(y - c) <= tol) else INF

    def project_dual_domain(self, y):
        return np.broadcast_to(np.asarray(self.c, dtype=np.float64), np.shape(y)).copy()

    def params(self):
        return {"c": self.c}


class SumSquares(Function):
    """f(z) = ||z||^2, CVXPY's ``sum_squares`` (note: no 1/2)."""
    name = "sum_squares"
    smooth = True
    separable = True
    quadratic = True
    lipschitz = 2.0
    strong_convexity = 2.0
    quad_coef = 2.0  # Hessian = quad_coef * I

    def value(self, z):
        return float(np.dot(z, z))

    def grad(self, z):
        return 2.0 * z

    def prox(self, v, t):
        return v / (1.0 + 2.0 * t)

    def conj(self, y):
        return float(np.dot(y, y)) / 4.0


class Huber(Function):
    """CVXPY's huber: sum_i h(z_i), h(u) = u^2 if |u| <= M else 2M|u| - M^2."""
    name = "huber"
    smooth = True
    separable = True
    lipschitz = 2.0

    def __init__(self, M=1.0, dim=None):
        super().__init__(dim)
        self.M = float(M)

    def value(self, z):
        return float(np.sum(losses.value(losses.HUBER, z, self.M)))

    def grad(self, z):
        return losses.deriv(losses.HUBER, z, self.M)

    def prox(self, v, t):
        M = self.M
        inner = np.abs(v) <= M * (1.0 + 2.0 * t)
        return np.where(inner, v / (1.0 + 2.0 * t), v - 2.0 * M * t * np.sign(v))

    def conj(self, y):
        return losses.conj_sum(losses.HUBER, y, self.M)

    def project_dual_domain(self, y):
        return losses.conj_domain(losses.HUBER, y, self.M)

    def params(self):
        return {"M": self.M}


class WeightedHuber(Huber):
    """Huber with an entrywise threshold M_i >= 0. ``w_i huber(z_i, M)`` is
    ``huber(sqrt(w_i) z_i, sqrt(w_i) M)``, so weighted Huber losses compile to this on a
    scaled argument; its own name, because GLM backends read ``huber`` as one scalar M."""
    name = "weighted_huber"

    def __init__(self, M, dim=None):
        Function.__init__(self, dim)
        self.M = _nonneg_weights(M, self.name)


class Logistic(Function):
    """f(z) = sum_i w_i log(1 + exp(z_i)), CVXPY's ``logistic`` (w = 1; see
    ``WeightedLogistic`` for entrywise weights)."""
    name = "logistic"
    smooth = True
    separable = True
    lipschitz = 0.25
    w = 1.0

    def value(self, z):
        return float(np.sum(self.w * losses.logistic(z)))

    def grad(self, z):
        return self.w * losses.sigmoid(z)

    def prox(self, v, t):
        # x + t w sigmoid(x) = v entrywise: increasing, root in [v - t w, v]
        v = np.asarray(v, dtype=np.float64)
        tw = t * np.broadcast_to(self.w, v.shape)

        def g(x):
            s = special.expit(x)
            return x + tw * s - v, 1.0 + tw * s * (1.0 - s)
        return _increasing_root(g, v - tw, v, v - tw * special.expit(v))

    def conj(self, y):
        # (w phi)^*(y) = w phi^*(y / w), phi^*(u) = u log u + (1 - u) log(1 - u) on [0, 1]
        w = np.broadcast_to(np.asarray(self.w, dtype=np.float64), np.shape(y))
        tol = 1e-12 * max(1.0, float(np.max(w, initial=0.0)))
        if np.any(y < -tol) or np.any(y > w + tol):
            return INF
        u = np.clip(y / np.where(w > 0, w, 1.0), 0.0, 1.0)
        return float(np.sum(w * (losses.xlogx(u) + losses.xlogx(1.0 - u))))

    def project_dual_domain(self, y):
        return np.clip(y, 0.0, self.w)


class WeightedLogistic(Logistic):
    """f(z) = sum_i w_i log(1 + exp(z_i)) with entrywise weights w >= 0 (``w @ logistic(z)``);
    its own name, because GLM backends read ``logistic`` as the unweighted loss."""
    name = "weighted_logistic"

    def __init__(self, w, dim=None):
        super().__init__(dim)
        self.w = _nonneg_weights(w, self.name)
        self.lipschitz = 0.25 * float(np.max(self.w, initial=0.0))

    def params(self):
        return {"w": self.w}


class SquaredHinge(Function):
    """f(z) = sum_i max(z_i, 0)^2: CVXPY's ``square(pos(z))`` / ``sum_squares(pos(z))``
    (the squared hinge when applied to 1 - y*a^T x; no 1/2, like ``SumSquares``)."""
    name = "squared_hinge"
    smooth = True
    separable = True
    lipschitz = 2.0

    def value(self, z):
        return float(np.sum(losses.value(losses.SQUARED_HINGE, z)))

    def grad(self, z):
        return losses.deriv(losses.SQUARED_HINGE, z)

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        return np.where(v > 0, v / (1.0 + 2.0 * t), v)

    def conj(self, y):
        # f*(y) = y^2 / 4 for y >= 0, +inf otherwise
        return losses.conj_sum(losses.SQUARED_HINGE, y)

    def project_dual_domain(self, y):
        return losses.conj_domain(losses.SQUARED_HINGE, y)


class Exp(Function):
    """f(z) = sum_i exp(z_i), CVXPY's ``exp`` summed (the Poisson log-likelihood's
    non-linear part). Smooth, but its gradient is not globally Lipschitz
    (``lipschitz = None``): methods that need a global step bound must refuse it.

    prox: x + t e^x = v entrywise, x = v - W(t e^v) = v - omega(v + log t) with the
    Wright omega function (no overflow for large v)."""
    name = "exp"
    smooth = True
    separable = True
    lipschitz = None

    def value(self, z):
        return float(np.sum(losses.value(losses.EXP, z)))

    def grad(self, z):
        return losses.deriv(losses.EXP, z)

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        w = np.real(special.wrightomega(v + np.log(t)))
        x = v - w
        # one Newton polish on x + t e^x = v (omega is accurate; this removes rounding)
        with np.errstate(over="ignore"):
            e = t * np.exp(x)
        step = (x + e - v) / (1.0 + e)
        return np.where(np.isfinite(step), x - step, x)

    def conj(self, y):
        # f*(y) = y log y - y for y >= 0 (0 at y = 0), +inf otherwise
        return losses.conj_sum(losses.EXP, y)

    def project_dual_domain(self, y):
        return losses.conj_domain(losses.EXP, y)


class NegEntropy(Function):
    """f(z) = sum_i z_i log z_i (the negative of CVXPY's ``entr``); dom f = z >= 0."""
    name = "neg_entropy"
    separable = True

    def value(self, z):
        if np.any(z < 0):
            return INF
        return float(np.sum(special.xlogy(z, z)))

    def prox(self, v, t):
        # x + t (log x + 1) = v  =>  x = t * W(exp(v/t - 1) / t) = t * omega(v/t - 1 - log t)
        return t * np.real(special.wrightomega(np.asarray(v, dtype=np.float64) / t - 1.0 - np.log(t)))

    def conj(self, y):
        return float(np.sum(np.exp(y - 1.0)))

    def project_domain(self, z):
        return np.maximum(z, 0.0)

    def project_subdifferential(self, z, s):
        z = np.asarray(z, dtype=np.float64)
        with np.errstate(divide="ignore"):
            g = np.log(np.where(z > 0, z, 1.0)) + 1.0
        # at z = 0 the subdifferential is empty (slope -inf); report s shifted far away
        return np.where(z > 0, g, -1e300)


class KLDiv(Function):
    """f(z) = sum_i z_i log(z_i / c_i) - z_i + c_i, CVXPY's ``kl_div(z, c)`` with c > 0."""
    name = "kl_div"
    separable = True

    def __init__(self, c, dim=None):
        super().__init__(dim)
        self.c = np.asarray(c, dtype=np.float64) if not np.isscalar(c) else float(c)
        self._shift = np.log(self.c)

    def value(self, z):
        if np.any(z < 0):
            return INF
        return float(np.sum(special.xlogy(z, z) - z * self._shift - z + self.c * np.ones_like(z)))

    def prox(self, v, t):
        # x + t (log x - log c) = v  is NegEntropy's optimality condition
        # x + t (log x + 1) = v' with v' = v + t (log c + 1)
        return NegEntropy().prox(v + t * (self._shift + 1.0), t)

    def conj(self, y):
        return float(np.sum(self.c * (np.exp(y) - 1.0)))

    def project_domain(self, z):
        return np.maximum(z, 0.0)

    def project_subdifferential(self, z, s):
        z = np.asarray(z, dtype=np.float64)
        g = np.log(np.where(z > 0, z, 1.0)) - self._shift
        return np.where(z > 0, g, -1e300)

    def params(self):
        return {"c": self.c}


# ---------------------------------------------------------------------------------------
# Nonsmooth, prox-friendly
# ---------------------------------------------------------------------------------------

class L1Norm(Function):
    """f(z) = sum_i w_i |z_i| with weights w >= 0 (scalar or vector)."""
    name = "l1"
    polyhedral = True
    separable = True

    def __init__(self, w=1.0, dim=None):
        super().__init__(dim)
        self.w = float(w) if np.isscalar(w) else np.asarray(w, dtype=np.float64)
        if not np.all(np.isfinite(self.w)) or np.any(np.asarray(self.w) < 0):
            from ..errors import InvalidDataError
            raise InvalidDataError(f"l1: weights must be finite and >= 0 (a negative weight makes the "
                                   f"term nonconvex); got min {np.min(self.w)!r}")

    def value(self, z):
        return float(np.sum(self.w * np.abs(z)))

    def prox(self, v, t):
        return np.sign(v) * np.maximum(np.abs(v) - t * self.w, 0.0)

    def conj(self, y):
        return 0.0 if np.all(np.abs(y) <= self.w * (1 + 1e-12) + _rounding_tol(y)) else INF

    def project_dual_domain(self, y):
        return np.clip(y, -self.w, self.w)

    def project_subdifferential(self, z, s):
        w = self.w
        return np.where(z > 0, w, np.where(z < 0, -w, _on_interval(s, -w, w))) * np.ones_like(z)

    def params(self):
        return {"w": self.w}


class L2Norm(Function):
    """f(z) = ||z||_2."""
    name = "l2"

    def value(self, z):
        return float(np.linalg.norm(z))

    def prox(self, v, t):
        nv = np.linalg.norm(v)
        if nv <= t:
            return np.zeros_like(v, dtype=np.float64)
        return (1.0 - t / nv) * v

    def conj(self, y):
        return 0.0 if np.linalg.norm(y) <= 1 + 1e-12 else INF

    def project_dual_domain(self, y):
        ny = np.linalg.norm(y)
        return y / ny if ny > 1 else y

    def project_subdifferential(self, z, s):
        nz = np.linalg.norm(z)
        if nz > 0:
            return z / nz
        return self.project_dual_domain(s)


class LInfNorm(Function):
    """f(z) = max_i |z_i|."""
    name = "linf"
    polyhedral = True

    def value(self, z):
        return float(np.max(np.abs(z), initial=0.0))

    def prox(self, v, t):
        # v - t P_{l1 ball}(v / t) = clip(v, -lam, lam) with sum_i (|v_i| - lam)_+ = t;
        # written as a clip so the result is exactly 0 inside and exactly tied on top
        v = np.asarray(v, dtype=np.float64)
        a = np.abs(v)
        if np.sum(a) <= t:
            return np.zeros_like(v)
        lam = _simplex_threshold(a, t)
        return np.clip(v, -lam, lam)

    def conj(self, y):
        return 0.0 if np.sum(np.abs(y)) <= 1 + 1e-12 else INF

    def project_dual_domain(self, y):
        return _project_l1_ball(y, 1.0)

    def project_subdifferential(self, z, s):
        # ∂||z||_inf = conv{sign(z_i) e_i : |z_i| = max}; at z = 0 it is the l1 ball.
        m = np.max(np.abs(z), initial=0.0)
        if m == 0:
            return _project_l1_ball(s, 1.0)
        active = np.abs(z) >= m * (1 - 1e-12)
        sg = np.sign(z)
        # project s onto {y : y_i = sg_i a_i, a >= 0, sum a = 1, y_i = 0 off the active set}
        a = _project_simplex(sg[active] * s[active], 1.0)
        out = np.zeros_like(z, dtype=np.float64)
        out[active] = sg[active] * a
        return out


class Pos(Function):
    """f(z) = sum_i max(z_i, 0): CVXPY's ``pos`` (the hinge when applied to 1 - y*a^T x)."""
    name = "pos"
    polyhedral = True
    separable = True

    def value(self, z):
        return float(np.sum(np.maximum(z, 0.0)))

    def prox(self, v, t):
        return np.where(v > t, v - t, np.where(v < 0, v, 0.0))

    def conj(self, y):
        return 0.0 if np.all((y >= -1e-12) & (y <= 1 + 1e-12)) else INF

    def project_dual_domain(self, y):
        return np.clip(y, 0.0, 1.0)

    def project_subdifferential(self, z, s):
        return np.where(z > 0, 1.0, np.where(z < 0, 0.0, np.clip(s, 0.0, 1.0)))


class Neg(Function):
    """f(z) = sum_i max(-z_i, 0): CVXPY's ``neg``."""
    name = "neg"
    polyhedral = True
    separable = True

    def value(self, z):
        return float(np.sum(np.maximum(-z, 0.0)))

    def prox(self, v, t):
        return -Pos().prox(-v, t)

    def conj(self, y):
        return 0.0 if np.all((y <= 1e-12) & (y >= -1 - 1e-12)) else INF

    def project_dual_domain(self, y):
        return np.clip(y, -1.0, 0.0)

    def project_subdifferential(self, z, s):
        return np.where(z < 0, -1.0, np.where(z > 0, 0.0, np.clip(s, -1.0, 0.0)))


# ---------------------------------------------------------------------------------------
# Indicators of closed convex sets (value 0 inside, +inf outside; prox = projection)
# ---------------------------------------------------------------------------------------

class Indicator(Function):
    is_indicator = True

    def project(self, z):
        raise NotImplementedError

    def prox(self, v, t):
        return self.project(v)

    def value(self, z, tol: float | None = None):
        """0 on the set, +inf off it. ``tol`` is an absolute distance; by default a
        rounding-level relative one, so that ``value(project(z)) == 0`` holds in floats."""
        if tol is None:
            tol = 1e-12 * (1.0 + float(np.max(np.abs(z), initial=0.0)))
        return 0.0 if self.distance(z) <= tol else INF

    def distance(self, z) -> float:
        return float(np.linalg.norm(z - self.project(z)))

    def project_domain(self, z):
        return self.project(z)

    def support(self, y) -> float:
        """sigma_C(y) = sup_{z in C} y^T z, the conjugate of the indicator."""
        raise NotImplementedError

    def conj(self, y):
        return self.support(y)


class ZeroSet(Indicator):
    """z = 0 (equality constraints)."""
    name = "zero"
    polyhedral = True
    separable = True

    def project(self, z):
        return np.zeros_like(z, dtype=np.float64)

    def support(self, y):
        return 0.0

    def project_subdifferential(self, z, s):
        return np.array(s, dtype=np.float64, copy=True)  # normal cone of {0} is everything


class NonNeg(Indicator):
    """z >= 0."""
    name = "nonneg"
    polyhedral = True
    separable = True

    def project(self, z):
        return np.maximum(z, 0.0)

    def support(self, y):
        return 0.0 if np.all(y <= 1e-12 * (1 + np.max(np.abs(y), initial=0))) else INF

    def project_dual_domain(self, y):
        return np.minimum(y, 0.0)

    def project_subdifferential(self, z, s):
        return np.where(z > 0, 0.0, np.minimum(s, 0.0))


class NonPos(Indicator):
    """z <= 0."""
    name = "nonpos"
    polyhedral = True
    separable = True

    def project(self, z):
        return np.minimum(z, 0.0)

    def support(self, y):
        return 0.0 if np.all(y >= -1e-12 * (1 + np.max(np.abs(y), initial=0))) else INF

    def project_dual_domain(self, y):
        return np.maximum(y, 0.0)

    def project_subdifferential(self, z, s):
        return np.where(z < 0, 0.0, np.maximum(s, 0.0))


class Box(Indicator):
    """lo <= z <= hi (entries may be -inf / +inf)."""
    name = "box"
    polyhedral = True
    separable = True

    def __init__(self, lo=-INF, hi=INF, dim=None):
        super().__init__(dim)
        self.lo = lo if np.isscalar(lo) else np.asarray(lo, dtype=np.float64)
        self.hi = hi if np.isscalar(hi) else np.asarray(hi, dtype=np.float64)
        if np.any(np.asarray(self.lo) > np.asarray(self.hi)):
            from ..errors import InvalidDataError
            raise InvalidDataError("Box: a lower bound exceeds its upper bound (the set is empty)")

    def project(self, z):
        return np.clip(z, self.lo, self.hi)

    def support(self, y):
        lo = np.broadcast_to(self.lo, np.shape(y))
        hi = np.broadcast_to(self.hi, np.shape(y))
        # a rounding-level component along an unbounded direction counts as zero
        tiny = np.abs(y) <= _rounding_tol(y)
        up = (y > 0) & ~(tiny & ~np.isfinite(hi))
        down = (y < 0) & ~(tiny & ~np.isfinite(lo))
        with np.errstate(invalid="ignore"):
            terms = np.where(up, y * hi, np.where(down, y * lo, 0.0))
        return float(np.sum(terms))

    def project_dual_domain(self, y):
        lo = np.broadcast_to(self.lo, np.shape(y))
        hi = np.broadcast_to(self.hi, np.shape(y))
        y = np.where((y > 0) & ~np.isfinite(hi), 0.0, y)
        return np.where((y < 0) & ~np.isfinite(lo), 0.0, y)

    def project_subdifferential(self, z, s):
        lo = np.broadcast_to(self.lo, np.shape(z))
        hi = np.broadcast_to(self.hi, np.shape(z))
        at_lo, at_hi = z <= lo, z >= hi
        out = np.zeros_like(z, dtype=np.float64)
        out = np.where(at_hi & at_lo, s, out)
        out = np.where(at_hi & ~at_lo, np.maximum(s, 0.0), out)
        out = np.where(at_lo & ~at_hi, np.minimum(s, 0.0), out)
        return out

    def params(self):
        return {"lo": self.lo, "hi": self.hi}


class L2Ball(Indicator):
    """||z - center||_2 <= radius."""
    name = "l2_ball"

    def __init__(self, radius=1.0, center=0.0, dim=None):
        super().__init__(dim)
        self.radius, self.center = float(radius), center

    def project(self, z):
        d = z - self.center
        nd = np.linalg.norm(d)
        return z if nd <= self.radius else self.center + d * (self.radius / nd)

    def support(self, y):
        return float(np.sum(y * self.center) + self.radius * np.linalg.norm(y))

    def project_subdifferential(self, z, s):
        d = z - self.center
        nd = np.linalg.norm(d)
        if nd < self.radius * (1 - 1e-12):
            return np.zeros_like(z, dtype=np.float64)
        u = d / nd
        return max(float(np.dot(s, u)), 0.0) * u

    def params(self):
        return {"radius": self.radius, "center": self.center}


class Simplex(Indicator):
    """z >= 0, sum z = total."""
    name = "simplex"
    polyhedral = True

    def __init__(self, total=1.0, dim=None):
        super().__init__(dim)
        self.total = float(total)
        if not self.total >= 0:
            from ..errors import InvalidDataError
            raise InvalidDataError(f"Simplex: total must be >= 0 (got {total!r}; the set is empty)")

    def project(self, z):
        return _project_simplex(z, self.total)

    def project_subdifferential(self, z, s):
        # N(z) = {lam * 1 - mu : mu >= 0, mu_i = 0 where z_i > 0}. The nearest element to
        # s is lam on the support P and min(s_i, lam) off it, where lam solves
        # sum_P (s_i - lam) + sum_{not P} (s_i - lam)_+ = 0 (a decreasing function).
        z = np.asarray(z, dtype=np.float64)
        s = np.asarray(s, dtype=np.float64)
        scale = max(self.total, float(np.max(np.abs(z), initial=0.0)))
        pos = z > 1e-12 * scale
        if not np.any(pos):
            return s.copy()  # the set is {0} (total = 0): the normal cone is everything
        sp_, sz = s[pos], np.sort(s[~pos])[::-1]
        k = np.arange(sz.size + 1)
        lam = (np.sum(sp_) + np.concatenate([[0.0], np.cumsum(sz)])) / (sp_.size + k)
        # lam_k is the root if exactly the k largest off-support entries exceed it
        upper = np.concatenate([[np.inf], sz])      # lam_k <= sz[k-1]
        lower = np.concatenate([sz, [-np.inf]])     # lam_k >= sz[k]
        ok = (lam <= upper) & (lam >= lower)
        lam = float(lam[np.argmax(ok)]) if np.any(ok) else float(lam[-1])
        return np.where(pos, lam, np.minimum(s, lam))

    def support(self, y):
        return self.total * float(np.max(y, initial=-INF))

    def params(self):
        return {"total": self.total}


class _NormConeProduct(Indicator):
    """A product of ``count`` norm cones {(t_j, u_j) : ||u_j|| <= t_j}, laid out as
    [t_1..t_count, u_1, ..., u_count] (the u_j consecutive blocks of one length), as
    SOCProduct is: ``A x + rho * norm1(x) <= b`` is one such term with a cone per row,
    projected in one vectorized pass instead of ``count`` small ones."""

    def __init__(self, count=1, dim=None):
        super().__init__(dim)
        self.count = int(count)

    def _split(self, z):
        z = np.asarray(z, dtype=np.float64)
        k = self.count
        return z[:k], z[k:].reshape(k, -1)

    def _join(self, T, U):
        return np.concatenate([T, U.ravel()])

    def _blocks(self, z):
        """The cones one at a time, each as [t_j; u_j]."""
        T, U = self._split(z)
        return [np.concatenate([[T[j]], U[j]]) for j in range(self.count)]

    def _from_blocks(self, blocks):
        B = np.asarray(blocks, dtype=np.float64).reshape(self.count, -1)
        return self._join(B[:, 0], B[:, 1:])

    def project_subdifferential(self, z, s):
        """The nearest subgradient, one cone at a time (``_block_subdifferential``)."""
        return self._from_blocks([self._block_subdifferential(zj, sj)
                                  for zj, sj in zip(self._blocks(z), self._blocks(s))])

    def params(self):
        return {"count": self.count} if self.count != 1 else {}


class SOCProduct(_NormConeProduct):
    """A product of second-order cones {(t_j, u_j) : ||u_j||_2 <= t_j}, j = 1..count, laid
    out as [t_1..t_count, u_1, ..., u_count] (the u_j consecutive blocks of one length):
    ``norm(X, 2, axis=...) <= t`` and ``cp.SOC(t, X, axis)`` with a vector t."""
    name = "soc_product"

    def project(self, z):
        T, U = self._split(z)
        nu = _row_norms(U)
        a = 0.5 * (T + nu)
        inside, polar = nu <= T, nu <= -T
        scale = np.where(inside, 1.0, np.where(polar, 0.0, a / np.where(nu > 0, nu, 1.0)))
        Tn = np.where(inside, T, np.where(polar, 0.0, a))
        return np.concatenate([Tn, (U * scale[:, None]).ravel()])

    def support(self, y):
        # sigma_K = indicator of the polar cone -K
        T, U = self._split(y)
        return 0.0 if np.all(_row_norms(U) <= -T + 1e-12 * (1 + np.abs(T))) else INF

    def project_dual_domain(self, y):
        return -self.project(-np.asarray(y, dtype=np.float64))

    def project_subdifferential(self, z, s):
        # per cone: {0} inside, -K at the apex, the ray lambda (-||u||, u) on the boundary
        T, U = self._split(z)
        St, Su = self._split(s)
        nu = _row_norms(U)
        d = np.concatenate([-nu[:, None], U], axis=1)
        d /= np.maximum(_row_norms(d), _TINY)[:, None]
        lam = np.maximum(St * d[:, 0] + np.sum(Su * d[:, 1:], axis=1), 0.0)
        ray = lam[:, None] * d
        Pt, Pu = self._split(self.project_dual_domain(s))
        apex = np.concatenate([Pt[:, None], Pu], axis=1)
        out = np.where((nu < T * (1 - 1e-12))[:, None], 0.0, np.where(((T <= 0) & (nu == 0))[:, None], apex, ray))
        return np.concatenate([out[:, 0], out[:, 1:].ravel()])

    def params(self):
        return {"count": self.count}


class SOC(SOCProduct):
    """Second-order cone {(t, u) : ||u||_2 <= t}, with t the first entry."""
    name = "soc"

    def __init__(self, dim=None):
        super().__init__(1, dim)

    def params(self):
        return {}


class LInfConeProduct(_NormConeProduct):
    """{(t_j, u_j) : ||u_j||_inf <= t_j} per block (``norm_inf(u) <= t``). The nearest point
    is (s, clip(u, -s, s)) with s = max(root, 0) of s - t = sum_i (|u_i| - s)_+."""
    name = "linf_cone_product"
    polyhedral = True

    def project(self, z):
        T, U = self._split(z)
        S = np.maximum(_plus_root_rows(np.abs(U), -T, 1.0), 0.0)
        return self._join(S, np.clip(U, -S[:, None], S[:, None]))

    def support(self, y):   # the polar cone is -L1Cone
        T, U = self._split(y)
        return 0.0 if np.all(np.sum(np.abs(U), axis=1) <= -T + 1e-12 * (1 + np.abs(y).max(initial=0.0))) else INF

    def project_dual_domain(self, y):
        return -L1ConeProduct(self.count).project(-np.asarray(y, dtype=np.float64))

    def _block_subdifferential(self, zj, sj):
        # on the boundary: -lam (1, -sign(u_A) a) with a in the simplex over the active set A;
        # with v = lam a >= 0: v = (b - theta)_+, b = sign(u_A) s_A, theta - s_t = sum v
        t, u = zj[0], zj[1:]
        m = np.max(np.abs(u), initial=0.0)
        if m < t * (1 - 1e-12):
            return np.zeros_like(zj)
        if m == 0:
            return LInfConeProduct().project_dual_domain(sj)
        act = np.abs(u) >= m * (1 - 1e-12)
        sg = np.sign(u[act])
        b = sg * sj[1:][act]
        v = np.maximum(b - _plus_root(b, -sj[0], 1.0), 0.0)
        o = np.zeros_like(zj)
        o[0] = -np.sum(v)
        o[1:][act] = sg * v
        return o


class L1ConeProduct(_NormConeProduct):
    """{(t_j, u_j) : ||u_j||_1 <= t_j} per block (``norm1(u) <= t``). Its polar is
    -LInfCone, so (Moreau) P(z) = z + P_LInfCone(-z)."""
    name = "l1_cone_product"
    polyhedral = True

    def project(self, z):
        z = np.asarray(z, dtype=np.float64)
        return z + LInfConeProduct(self.count).project(-z)

    def support(self, y):   # the polar cone is -LInfCone
        T, U = self._split(y)
        return 0.0 if np.all(np.max(np.abs(U), axis=1, initial=0.0) <= -T + 1e-12 * (1 + np.abs(y).max(initial=0.0))) else INF

    def project_dual_domain(self, y):
        return -LInfConeProduct(self.count).project(-np.asarray(y, dtype=np.float64))

    def _block_subdifferential(self, zj, sj):
        # on the boundary: lam (-1, g), g = sign(u) off zero entries and in [-1, 1] on them;
        # lam solves (1 + |P|) lam + s_t - sign(u_P).s_P = sum_Z (|s_i| - lam)_+
        t, u = zj[0], zj[1:]
        n1 = np.sum(np.abs(u))
        if n1 < t * (1 - 1e-12):
            return np.zeros_like(zj)
        if n1 == 0:
            return L1ConeProduct().project_dual_domain(sj)
        P = u != 0
        sg = np.sign(u[P])
        lam = max(_plus_root(np.abs(sj[1:][~P]), sj[0] - np.dot(sg, sj[1:][P]), 1.0 + np.sum(P)), 0.0)
        o = np.empty_like(zj)
        o[0] = -lam
        o[1:][P] = lam * sg
        o[1:][~P] = np.clip(sj[1:][~P], -lam, lam)
        return o


class LInfCone(LInfConeProduct):
    """{(t, u) : ||u||_inf <= t}, t first (``norm_inf(u) <= t``)."""
    name = "linf_cone"
    polyhedral = True

    def __init__(self, dim=None):
        super().__init__(1, dim)


class L1Cone(L1ConeProduct):
    """{(t, u) : ||u||_1 <= t}, t first (``norm1(u) <= t``)."""
    name = "l1_cone"
    polyhedral = True

    def __init__(self, dim=None):
        super().__init__(1, dim)


class AffineSet(Indicator):
    """{z : C z = d} for a dense full-row-rank C (projection by a cached factorization)."""
    name = "affine_set"
    polyhedral = True

    def __init__(self, C, d, dim=None):
        super().__init__(dim)
        self.C = np.atleast_2d(np.asarray(C, dtype=np.float64))
        self.d = np.asarray(d, dtype=np.float64).ravel()
        # least-norm solve through the pseudo-inverse: robust to rank deficiency
        self._pinv = np.linalg.pinv(self.C)

    def project(self, z):
        r = self.C @ z - self.d
        return z - self._pinv @ r

    def support(self, y):
        # finite only on range(C^T): y = C^T w  =>  sigma = d^T w
        w = self._pinv.T @ y
        if np.linalg.norm(self.C.T @ w - y) > 1e-9 * (1 + np.linalg.norm(y)):
            return INF
        return float(self.d @ w)

    def project_dual_domain(self, y):
        return self.C.T @ (self._pinv.T @ y)

    def project_subdifferential(self, z, s):
        return self.project_dual_domain(s)


# ---------------------------------------------------------------------------------------
# Atoms over blocks (``group``: consecutive blocks of that length, None: the whole vector)
# and other non-separable atoms; the prox of a norm-like f is v - t P_{dom f*}(v / t)
# ---------------------------------------------------------------------------------------

class GroupL2Norm(Function):
    """f(z) = sum_g ||z_g||_2 over consecutive blocks of length ``group``
    (``sum(norm(X, 2, axis=0))``, the group lasso)."""
    name = "group_l2"

    def __init__(self, group, dim=None):
        super().__init__(dim)
        self.group = int(group)

    def value(self, z):
        return float(np.sum(_row_norms(_rows(z, self.group))))

    def prox(self, v, t):
        V = _rows(v, self.group)
        n = _row_norms(V)
        scale = np.maximum(1.0 - t / np.where(n > 0, n, 1.0), 0.0) * (n > t)
        return (V * scale[:, None]).ravel()

    def conj(self, y):
        return 0.0 if np.all(_row_norms(_rows(y, self.group)) <= 1 + 1e-12) else INF

    def project_dual_domain(self, y):
        Y = _rows(y, self.group)
        return (Y / np.maximum(_row_norms(Y), 1.0)[:, None]).ravel()

    def project_subdifferential(self, z, s):
        Z = _rows(z, self.group)
        n = _row_norms(Z)
        ball = _rows(self.project_dual_domain(s), self.group)
        return np.where((n > 0)[:, None], Z / np.where(n > 0, n, 1.0)[:, None], ball).ravel()

    def params(self):
        return {"group": self.group}


class GroupLInfNorm(Function):
    """f(z) = sum_g ||z_g||_inf over consecutive blocks (``sum(norm_inf(X, axis=0))``)."""
    name = "group_linf"
    polyhedral = True

    def __init__(self, group, dim=None):
        super().__init__(dim)
        self.group = int(group)

    def value(self, z):
        return float(np.sum(np.max(np.abs(_rows(z, self.group)), axis=1)))

    def prox(self, v, t):
        # v - t P_{l1 ball}(v / t) per block, written as a clip (exact zeros and ties)
        V = _rows(v, self.group)
        A = np.abs(V)
        lam = _simplex_threshold_rows(A, t)
        out = np.clip(V, -lam[:, None], lam[:, None])
        return np.where((np.sum(A, axis=1) <= t)[:, None], 0.0, out).ravel()

    def conj(self, y):
        return 0.0 if np.all(np.sum(np.abs(_rows(y, self.group)), axis=1) <= 1 + 1e-12) else INF

    def project_dual_domain(self, y):
        return _project_l1_ball_rows(_rows(y, self.group)).ravel()

    def project_subdifferential(self, z, s):
        one = LInfNorm()
        return np.concatenate([one.project_subdifferential(zr, sr)
                               for zr, sr in zip(_rows(z, self.group), _rows(s, self.group))])

    def params(self):
        return {"group": self.group}


class MaxEntry(Function):
    """f(z) = sum_g max_i z_gi: CVXPY's ``max`` (per block for ``max(X, axis=...)``,
    and ``maximum`` of three or more arguments). f* is the indicator of a product of
    unit simplices."""
    name = "max"
    polyhedral = True

    def __init__(self, group=None, dim=None):
        super().__init__(dim)
        self.group = None if group is None else int(group)

    def value(self, z):
        return float(np.sum(np.max(_rows(z, self.group), axis=1)))

    def prox(self, v, t):
        V = _rows(v, self.group)
        return (V - t * _project_simplex_rows(V / t)).ravel()

    def conj(self, y):
        Y = _rows(y, self.group)
        tol = 1e-12 * Y.shape[1] + _rounding_tol(y)
        ok = np.all(Y >= -tol) and np.all(np.abs(np.sum(Y, axis=1) - 1.0) <= tol)
        return 0.0 if ok else INF

    def project_dual_domain(self, y):
        return _project_simplex_rows(_rows(y, self.group)).ravel()

    def project_subdifferential(self, z, s):
        # ∂ = the simplex on the entries at the maximum: push the others below the threshold
        Z, S = _rows(z, self.group), _rows(s, self.group)
        top = np.max(Z, axis=1, keepdims=True)
        active = Z >= top - 1e-12 * (1.0 + np.abs(top))
        low = np.min(S, axis=1, keepdims=True) - 2.0
        return _project_simplex_rows(np.where(active, S, low)).ravel()

    def params(self):
        return {"group": self.group}


class LogSumExp(Function):
    """f(z) = sum_g log sum_i exp(z_gi), CVXPY's ``log_sum_exp`` (per block with ``axis``).
    Its Hessian diag(p) - p p^T is at most 1/2 (a variance of values in [-1, 1]).

    prox: x = v - t y with y = softmax(x) in each block, so y_i = omega(log t + v_i - c) / t
    (Wright omega) with c fixed by sum_i y_i = 1, a decreasing convex function of c in
    [lse(v) - t, lse(v)]."""
    name = "log_sum_exp"
    smooth = True
    lipschitz = 0.5

    def __init__(self, group=None, dim=None):
        super().__init__(dim)
        self.group = None if group is None else int(group)

    def value(self, z):
        return float(np.sum(special.logsumexp(_rows(z, self.group), axis=1)))

    def grad(self, z):
        return special.softmax(_rows(z, self.group), axis=1).ravel()

    def prox(self, v, t):
        V = _rows(v, self.group)
        lse = special.logsumexp(V, axis=1)
        shift = np.log(t) + V

        def g(c):  # 1 - sum_i y_i(c): increasing in c
            W = np.real(special.wrightomega(shift - c[:, None]))
            return 1.0 - W.sum(axis=1) / t, (W / (1.0 + W)).sum(axis=1) / t
        c = _increasing_root(g, lse - t, lse, lse - t)
        Y = np.real(special.wrightomega(shift - c[:, None])) / t
        return (V - t * Y).ravel()

    def conj(self, y):
        Y = _rows(y, self.group)
        tol = 1e-9
        if np.any(Y < -tol) or np.any(np.abs(np.sum(Y, axis=1) - 1.0) > tol * Y.shape[1]):
            return INF
        Y = np.maximum(Y, 0.0)
        return float(np.sum(special.xlogy(Y, Y)))

    def project_dual_domain(self, y):
        return _project_simplex_rows(_rows(y, self.group)).ravel()

    def params(self):
        return {"group": self.group}


class SumLargest(Function):
    """f(z) = the sum of the k largest entries (fractional k: the next one weighted by
    the fraction), CVXPY's ``sum_largest``; f* is the indicator of
    C = {0 <= y <= 1, sum y = k}."""
    name = "sum_largest"
    polyhedral = True

    def __init__(self, k, dim=None):
        super().__init__(dim)
        self.k = float(k)

    def value(self, z):
        z = -np.sort(-np.asarray(z, dtype=np.float64))
        y = np.clip(self.k - np.arange(z.size), 0.0, 1.0)   # the vertex of C that wins
        return float(np.dot(y, z))

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        return v - t * _project_capped_simplex(v / t, min(self.k, v.size))

    def conj(self, y):
        y = np.asarray(y, dtype=np.float64)
        tol = 1e-12 * (1.0 + y.size)
        ok = np.all(y >= -tol) and np.all(y <= 1 + tol) and abs(np.sum(y) - min(self.k, y.size)) <= tol
        return 0.0 if ok else INF

    def project_dual_domain(self, y):
        return _project_capped_simplex(np.asarray(y, dtype=np.float64), min(self.k, np.size(y)))

    def project_subdifferential(self, z, s):
        # entries above the k-th largest get 1, below it 0, ties share what is left
        z, s = np.asarray(z, dtype=np.float64), np.asarray(s, dtype=np.float64)
        k = min(self.k, z.size)
        tau = -np.sort(-z)[max(int(np.ceil(k)) - 1, 0)]
        tol = 1e-12 * (1.0 + np.max(np.abs(z), initial=0.0))
        above, tie = z > tau + tol, np.abs(z - tau) <= tol
        out = above.astype(np.float64)
        out[tie] = _project_capped_simplex(s[tie], k - np.sum(above))
        return out

    def params(self):
        return {"k": self.k}


class NegGeoMean(Function):
    """f(z) = -prod_i z_i^{w_i} on z >= 0 (w > 0, sum w = 1): the negated ``geo_mean``.
    f* is the indicator of D = {y <= 0 : prod_i (-y_i / w_i)^{w_i} >= 1} (weighted
    AM-GM), so prox_{tf}(v) = v - t P_D(v / t)."""
    name = "neg_geo_mean"

    def __init__(self, w, dim=None):
        super().__init__(dim)
        w = np.asarray(w, dtype=np.float64).ravel()
        self.w = w / np.sum(w)
        self._wlogw = float(np.dot(self.w, np.log(self.w)))

    def value(self, z):
        z = np.asarray(z, dtype=np.float64)
        if np.any(z < 0):
            return INF
        with np.errstate(divide="ignore"):
            return -float(np.exp(np.dot(self.w, np.log(z))))

    def _in_D(self, a):
        b = -np.asarray(a, dtype=np.float64)
        return bool(np.all(b > 0) and np.dot(self.w, np.log(b)) - self._wlogw >= 0)

    def _project_D(self, a):
        """P_D(a) = -u, u = argmin ||u + a||^2 s.t. sum w log(u / w) >= 0: u_i solves
        u^2 - b_i u - mu w_i = 0 (b = -a) for the multiplier mu that makes it tight."""
        b, w = -np.asarray(a, dtype=np.float64), self.w
        if self._in_D(a):
            return np.array(a, dtype=np.float64, copy=True)

        def u_of(s):   # the positive root, without cancellation
            r = np.sqrt(b * b + 4.0 * np.exp(s) * w)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(b >= 0, 0.5 * (b + r), 2.0 * np.exp(s) * w / (r - b)), r

        def g(s):  # sum w log(u / w), increasing in s = log mu
            u, r = u_of(s[0])
            return (np.array([np.dot(w, np.log(u)) - self._wlogw]),
                    np.array([np.exp(s[0]) * np.dot(w, w / (r * u))]))
        lo = hi = self._wlogw   # mu = prod w^w makes g >= 0 when b >= 0; widen to a bracket
        while g(np.array([hi]))[0][0] < 0:
            hi += 10.0
        while g(np.array([lo]))[0][0] > 0:
            lo -= 10.0
        s = _increasing_root(g, [lo], [hi], [0.5 * (lo + hi)])[0]
        return -u_of(s)[0]

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        if self._in_D(v / t):
            return np.zeros_like(v)
        return v - t * self._project_D(v / t)

    def conj(self, y):
        y = np.asarray(y, dtype=np.float64)
        if np.any(y > 0):
            return INF
        with np.errstate(divide="ignore"):
            ok = np.dot(self.w, np.log(-y)) - self._wlogw >= -1e-10
        return 0.0 if ok else INF

    def project_domain(self, z):
        return np.maximum(z, 0.0)

    def project_dual_domain(self, y):
        return self._project_D(y)

    def project_subdifferential(self, z, s):
        z = np.asarray(z, dtype=np.float64)
        if np.all(z > 0):
            return self.value(z) * self.w / z
        if np.all(z == 0):
            return self._project_D(s)
        return np.full(z.shape, -1e300)  # empty: a zero entry with a positive one

    def params(self):
        return {"w": self.w}


class PNorm(Function):
    """f(z) = ||z||_p for 1 < p < inf; f* is the indicator of the unit q-ball
    (1/p + 1/q = 1)."""
    name = "pnorm"

    def __init__(self, p, dim=None):
        super().__init__(dim)
        self.p = float(p)
        self.q = self.p / (self.p - 1.0)

    def value(self, z):
        return float(np.linalg.norm(np.ravel(z), self.p))

    def _ball(self, a):
        """P onto {||y||_q <= 1}: y = sign(a) r, r_i + mu q r_i^(q-1) = |a_i|, mu fixed by
        sum r^q = 1 (each r_i decreases in mu)."""
        a = np.asarray(a, dtype=np.float64)
        q, m = self.q, np.abs(a)
        if np.linalg.norm(m, q) <= 1:
            return a.copy()

        def r_of(mu):   # Newton from above on a convex increasing equation: monotone, quadratic
            c = mu * q
            if q >= 2:
                return _increasing_root(lambda r: (r + c * r ** (q - 1) - m, 1.0 + c * (q - 1) * r ** (q - 2)),
                                        0.0, m, np.minimum(m, (m / c) ** (1.0 / (q - 1))))
            e = 1.0 / (q - 1)   # in u = r^(q-1): u^e + c u = m, convex with e > 1
            u = _increasing_root(lambda u: (u ** e + c * u - m, e * u ** (e - 1) + c),
                                 0.0, m / c, np.minimum(m / c, m ** (q - 1)))
            return u ** e

        def g(s):  # 1 - sum r^q, increasing in s = log mu
            mu = np.exp(s[0])
            r = r_of(mu)
            with np.errstate(divide="ignore", invalid="ignore"):
                drdmu = np.where(r > 0, -q * r / (r ** (2 - q) + mu * q * (q - 1)), 0.0)
            return np.array([1.0 - np.sum(r ** q)]), np.array([-mu * np.sum(q * r ** (q - 1) * drdmu)])
        hi = np.log(np.linalg.norm(m, self.p) / q)       # here sum r^q <= 1
        lo = hi - 10.0
        while g(np.array([lo]))[0][0] > 0:
            lo -= 10.0
        s = _increasing_root(g, [lo], [hi], [hi])[0]
        return np.sign(a) * r_of(np.exp(s))

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        if np.linalg.norm(v, self.q) <= t:
            return np.zeros_like(v)   # v / t in the q-ball: exactly 0
        return v - t * self._ball(v / t)

    def conj(self, y):
        return 0.0 if np.linalg.norm(np.ravel(y), self.q) <= 1 + 1e-12 else INF

    def project_dual_domain(self, y):
        return self._ball(y)

    def project_subdifferential(self, z, s):
        z = np.asarray(z, dtype=np.float64)
        nz = np.linalg.norm(z, self.p)
        if nz > 0:
            return np.sign(z) * (np.abs(z) / nz) ** (self.p - 1)
        return self._ball(s)

    def params(self):
        return {"p": self.p}


class Power(Function):
    """CVXPY's ``power(z, p)`` summed, as a convex function (a concave one negated):

        p > 1, p an even integer   sum z^p              on R (smooth, no global Lipschitz constant)
        p > 1 otherwise            sum z^p              on z >= 0
        0 < p < 1                  -sum z^p             on z >= 0  (sqrt: p = 1/2)
        p < 0                      sum z^p              on z > 0   (inv_pos: p = -1)

    Entrywise f' = kappa z^(p-1) with kappa = p, or -p when 0 < p < 1; the prox solves
    x + t f'(x) = v, and f*(y) = (1 - 1/p) kappa (y / kappa)^(p/(p-1)) where y / kappa >= 0."""
    name = "power"
    separable = True

    def __init__(self, p, dim=None):
        super().__init__(dim)
        self.p = p = float(p)
        if p in (0.0, 1.0):
            raise ValueError("Power: p = 0 or 1 is affine")
        self.even = p > 1 and p == int(p) and int(p) % 2 == 0
        self.kappa = -p if 0 < p < 1 else p
        self.smooth = self.even
        self.lipschitz = None

    def _slope(self, x):
        """f'(x) and f''(x) on the domain (x > 0 unless even)."""
        p, k = self.p, self.kappa
        a = np.abs(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return k * np.sign(x) * a ** (p - 1), k * (p - 1) * a ** (p - 2)

    def value(self, z):
        z = np.asarray(z, dtype=np.float64)
        if not self.even and np.any(z < 0):
            return INF
        with np.errstate(divide="ignore", over="ignore"):
            return float(np.sign(self.kappa * self.p) * np.sum(np.abs(z) ** self.p))

    def grad(self, z):
        return self._slope(np.asarray(z, dtype=np.float64))[0]

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        p, c = self.p, t * abs(self.kappa)
        if p > 1:   # x + c sign(x)|x|^(p-1) = v has its root between 0 and v; clip for z >= 0
            def g(x):
                with np.errstate(divide="ignore"):
                    return x + c * np.sign(x) * np.abs(x) ** (p - 1) - v, 1.0 + c * (p - 1) * np.abs(x) ** (p - 2)
            x = _increasing_root(g, np.minimum(v, 0.0), np.maximum(v, 0.0), v)
            return x if self.even else np.maximum(x, 0.0)
        # x - c x^(p-1) = v with x > 0, solved in u = log x; bracket from x >= v, x <= max(1, v + c)
        lo = (np.log(c) - np.log(1.0 + np.abs(v) + c)) / (1.0 - p)
        hi = np.log(np.maximum(1.0, v + c))

        def g(u):
            e, f = np.exp(u), c * np.exp((p - 1) * u)
            return e - f - v, e - (p - 1) * f
        return np.exp(_increasing_root(g, lo, hi, hi))

    def conj(self, y):
        y = np.asarray(y, dtype=np.float64)
        p, k = self.p, self.kappa
        r = y / k
        if self.even:
            r = np.abs(r)
        elif k > 0:
            r = np.maximum(r, 0.0)
        elif np.any(r < 0):
            return INF
        with np.errstate(divide="ignore", over="ignore"):
            return float(np.sum((1.0 - 1.0 / p) * k * r ** (p / (p - 1.0))))

    def project_domain(self, z):
        return z if self.even else np.maximum(z, 0.0)

    def project_dual_domain(self, y):
        if self.kappa > 0:
            return y
        return np.minimum(y, 0.0 if self.p < 0 else -_TINY)

    def project_subdifferential(self, z, s):
        z = np.asarray(z, dtype=np.float64)
        g = self._slope(z)[0]
        if self.even:
            return g
        at0 = np.minimum(s, 0.0) if self.kappa > 0 else -1e300   # kappa < 0: empty at 0
        return np.where(z > 0, g, at0)

    def params(self):
        return {"p": self.p}


class NegLog(Function):
    """f(z) = -sum_i w_i log z_i (w > 0), the negated ``log``; dom f = z > 0.
    prox: x^2 - v x - t w = 0; f*(y) = -sum w (1 + log(-y / w)) for y < 0."""
    name = "neg_log"
    separable = True

    def __init__(self, w=1.0, dim=None):
        super().__init__(dim)
        self.w = w if np.isscalar(w) else np.asarray(w, dtype=np.float64)

    def value(self, z):
        z = np.asarray(z, dtype=np.float64)
        if np.any(z <= 0):
            return INF
        return -float(np.sum(self.w * np.log(z)))

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        tw = t * self.w
        r = np.sqrt(v * v + 4.0 * tw)
        return np.where(v >= 0, 0.5 * (v + r), 2.0 * tw / (r - v))  # no cancellation

    def conj(self, y):
        y = np.asarray(y, dtype=np.float64)
        if np.any(y >= 0):
            return INF
        w = np.broadcast_to(self.w, y.shape)
        return -float(np.sum(w * (1.0 + np.log(-y / w))))

    def project_domain(self, z):
        return np.maximum(z, 0.0)

    def project_dual_domain(self, y):
        return np.minimum(y, -_TINY)

    def project_subdifferential(self, z, s):
        z = np.asarray(z, dtype=np.float64)
        return np.where(z > 0, -self.w / np.where(z > 0, z, 1.0), -1e300)

    def params(self):
        return {"w": self.w}



# ---------------------------------------------------------------------------------------
# Projections used above
# ---------------------------------------------------------------------------------------

def _project_simplex(v, total=1.0):
    """Euclidean projection onto {x >= 0, sum x = total} (sort-based, O(n log n))."""
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0:
        return v.copy()
    if total <= 0:
        return np.zeros_like(v)  # {0} (the only point with x >= 0, sum x = 0)
    return np.maximum(v - _simplex_threshold(v, total), 0.0)


def _simplex_threshold(v, total):
    """theta with sum_i (v_i - theta)_+ = total (total > 0, v non-empty)."""
    return float(_simplex_threshold_rows(np.asarray(v, dtype=np.float64).reshape(1, -1), total)[0])


def _simplex_threshold_rows(V, total):
    """theta_r per row with sum_j (V_rj - theta_r)_+ = total (total > 0; sort-based)."""
    U = -np.sort(-V, axis=1)
    css = np.cumsum(U, axis=1) - total
    k = np.arange(1, V.shape[1] + 1)
    cond = U - css / k > 0                       # true on a prefix; column 0 always
    rho = V.shape[1] - 1 - np.argmax(cond[:, ::-1], axis=1)
    return css[np.arange(V.shape[0]), rho] / (rho + 1)


def _project_simplex_rows(V, total=1.0):
    return np.maximum(V - _simplex_threshold_rows(V, total)[:, None], 0.0)


def _project_l1_ball_rows(V, radius=1.0):
    out = V.copy()
    big = np.sum(np.abs(V), axis=1) > radius
    if np.any(big):
        A = np.abs(V[big])
        out[big] = np.sign(V[big]) * np.maximum(A - _simplex_threshold_rows(A, radius)[:, None], 0.0)
    return out


def _plus_root(a, c0, c1):
    """lam with c1 lam + c0 = sum_j (a_j - lam)_+ (c1 > 0): the left side increases, the
    right decreases, so one sorted sweep finds the piece where they meet."""
    a = -np.sort(-np.asarray(a, dtype=np.float64))
    k = np.arange(a.size + 1)
    lam = (np.concatenate([[0.0], np.cumsum(a)]) - c0) / (c1 + k)
    upper = np.concatenate([[INF], a])           # exactly the k largest exceed lam_k
    lower = np.concatenate([a, [-INF]])
    ok = (lam <= upper) & (lam >= lower)
    return float(lam[np.argmax(ok)])


def _plus_root_rows(A, c0, c1):
    """_plus_root for each row of A at once (c0 a vector, c1 a scalar > 0)."""
    A = -np.sort(-np.asarray(A, dtype=np.float64), axis=1)
    k, n = A.shape
    cnt = np.arange(n + 1)
    csum = np.concatenate([np.zeros((k, 1)), np.cumsum(A, axis=1)], axis=1)
    lam = (csum - np.asarray(c0, dtype=np.float64)[:, None]) / (c1 + cnt)
    upper = np.concatenate([np.full((k, 1), INF), A], axis=1)
    lower = np.concatenate([A, np.full((k, 1), -INF)], axis=1)
    ok = (lam <= upper) & (lam >= lower)
    return lam[np.arange(k), np.argmax(ok, axis=1)]


def _capped_threshold(a, total):
    """theta with sum_i clip(a_i - theta, 0, 1) = total, 0 <= total <= a.size: the sum is
    piecewise linear and decreasing in theta with breaks at a_i and a_i - 1."""
    a = np.asarray(a, dtype=np.float64)
    srt = np.sort(a)
    suffix = np.concatenate([np.cumsum(srt[::-1])[::-1], [0.0]])

    def plus_sum(th):                            # sum_i (a_i - th)_+ at each th
        j = np.searchsorted(srt, th, side="right")
        return suffix[j] - (a.size - j) * th

    B = np.sort(np.concatenate([a, a - 1.0]))
    h = plus_sum(B) - plus_sum(B + 1.0)
    j = int(np.argmax(h <= total))
    if j == 0 or h[j] == total:
        return float(B[j])
    return float(B[j - 1] + (h[j - 1] - total) * (B[j] - B[j - 1]) / (h[j - 1] - h[j]))


def _project_capped_simplex(a, total):
    """Nearest point of {0 <= y <= 1, sum y = total}."""
    return np.clip(a - _capped_threshold(a, total), 0.0, 1.0)


def _project_l1_ball(v, radius=1.0):
    v = np.asarray(v, dtype=np.float64)
    if np.sum(np.abs(v)) <= radius:
        return v.copy()
    return np.sign(v) * _project_simplex(np.abs(v), radius)
