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

INF = float("inf")


class Function:
    name = "function"
    smooth = False
    has_prox = True
    separable = False
    is_indicator = False
    quadratic = False
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


# ---------------------------------------------------------------------------------------
# Smooth and quadratic
# ---------------------------------------------------------------------------------------

class Zero(Function):
    """f = 0."""
    name = "zero"
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
        a = np.abs(z)
        M = self.M
        return float(np.sum(np.where(a <= M, a * a, 2 * M * a - M * M)))

    def grad(self, z):
        return np.clip(2.0 * z, -2 * self.M, 2 * self.M)

    def prox(self, v, t):
        M = self.M
        inner = np.abs(v) <= M * (1.0 + 2.0 * t)
        return np.where(inner, v / (1.0 + 2.0 * t), v - 2.0 * M * t * np.sign(v))

    def conj(self, y):
        if np.any(np.abs(y) > 2 * self.M * (1 + 1e-12)):
            return INF
        return float(np.dot(y, y)) / 4.0

    def project_dual_domain(self, y):
        return np.clip(y, -2 * self.M, 2 * self.M)

    def params(self):
        return {"M": self.M}


class Logistic(Function):
    """f(z) = sum_i log(1 + exp(z_i)), CVXPY's ``logistic``."""
    name = "logistic"
    smooth = True
    separable = True
    lipschitz = 0.25

    def value(self, z):
        return float(np.sum(np.logaddexp(0.0, z)))

    def grad(self, z):
        return special.expit(z)

    def prox(self, v, t):
        # Solve x + t*sigmoid(x) = v entrywise by safeguarded Newton (monotone, 1-D).
        v = np.asarray(v, dtype=np.float64)
        lo, hi = v - t, v.copy()
        x = v - t * special.expit(v)
        for _ in range(60):
            s = special.expit(x)
            g = x + t * s - v
            lo = np.where(g < 0, x, lo)
            hi = np.where(g > 0, x, hi)
            step = g / (1.0 + t * s * (1.0 - s))
            xn = x - step
            bad = (xn <= lo) | (xn >= hi)
            xn = np.where(bad, 0.5 * (lo + hi), xn)
            if np.max(np.abs(xn - x), initial=0.0) <= 1e-15 * (1.0 + np.max(np.abs(x), initial=0.0)):
                x = xn
                break
            x = xn
        return x

    def conj(self, y):
        if np.any(y < -1e-12) or np.any(y > 1 + 1e-12):
            return INF
        y = np.clip(y, 0.0, 1.0)
        return float(np.sum(special.xlogy(y, y) + special.xlogy(1 - y, 1 - y)))

    def project_dual_domain(self, y):
        return np.clip(y, 0.0, 1.0)


class SquaredHinge(Function):
    """f(z) = sum_i max(z_i, 0)^2: CVXPY's ``square(pos(z))`` / ``sum_squares(pos(z))``
    (the squared hinge when applied to 1 - y*a^T x; no 1/2, like ``SumSquares``)."""
    name = "squared_hinge"
    smooth = True
    separable = True
    lipschitz = 2.0

    def value(self, z):
        zp = np.maximum(z, 0.0)
        return float(np.dot(zp, zp))

    def grad(self, z):
        return 2.0 * np.maximum(z, 0.0)

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        return np.where(v > 0, v / (1.0 + 2.0 * t), v)

    def conj(self, y):
        # f*(y) = y^2 / 4 for y >= 0, +inf otherwise
        if np.any(y < -_rounding_tol(y)):
            return INF
        yp = np.maximum(y, 0.0)
        return float(np.dot(yp, yp)) / 4.0

    def project_dual_domain(self, y):
        return np.maximum(y, 0.0)


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
        with np.errstate(over="ignore"):
            return float(np.sum(np.exp(z)))

    def grad(self, z):
        with np.errstate(over="ignore"):
            return np.exp(z)

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
        if np.any(y < -_rounding_tol(y)):
            return INF
        yp = np.maximum(y, 0.0)
        return float(np.sum(special.xlogy(yp, yp) - yp))

    def project_dual_domain(self, y):
        return np.maximum(y, 0.0)


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


class SOC(Indicator):
    """Second-order cone {(t, u) : ||u||_2 <= t}, with t the first entry."""
    name = "soc"

    def project(self, z):
        t, u = z[0], z[1:]
        nu = np.linalg.norm(u)
        if nu <= t:
            return np.array(z, dtype=np.float64, copy=True)
        if nu <= -t:
            return np.zeros_like(z, dtype=np.float64)
        a = 0.5 * (t + nu)
        out = np.empty_like(z, dtype=np.float64)
        out[0] = a
        out[1:] = a * u / nu
        return out

    def support(self, y):
        # sigma_K = indicator of the polar cone -K
        return 0.0 if np.linalg.norm(y[1:]) <= -y[0] + 1e-12 * (1 + np.abs(y[0])) else INF

    def project_dual_domain(self, y):
        return -self.project(-y)

    def project_subdifferential(self, z, s):
        # normal cone at z: {0} inside, -K at the apex, ray lambda*(-t, u) on the boundary
        t, u = z[0], z[1:]
        nu = np.linalg.norm(u)
        if nu < t * (1 - 1e-12):
            return np.zeros_like(z, dtype=np.float64)
        if t <= 0 and nu == 0:
            return self.project_dual_domain(s)
        d = np.concatenate([[-nu], u])
        d /= np.linalg.norm(d)
        return max(float(np.dot(s, d)), 0.0) * d


class AffineSet(Indicator):
    """{z : C z = d} for a dense full-row-rank C (projection by a cached factorization)."""
    name = "affine_set"

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
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - total
    k = np.arange(1, v.size + 1)
    cond = u - css / k > 0
    rho = k[cond][-1]
    return css[cond][-1] / rho


def _project_l1_ball(v, radius=1.0):
    v = np.asarray(v, dtype=np.float64)
    if np.sum(np.abs(v)) <= radius:
        return v.copy()
    return np.sign(v) * _project_simplex(np.abs(v), radius)
