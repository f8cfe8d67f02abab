"""The scalar losses and coordinate penalties, defined once, in NumPy.

Separable models are built from a handful of scalar pieces: the datafit losses phi(z)
(least squares, logistic, Huber, squared hinge, exp) and the coordinate penalties
(w1 |x| + r x^2, MCP, SCAD). Here each has its value, derivative, curvature, conjugate
and prox, entrywise over arrays, keyed by the code of ``solvelab.kernels.codes``. The IR
functions (``ir.functions.Logistic`` & co.), the GLM family's form and certificate and
the NumPy passes of the cd backend all read these; the compiled scalars of
``kernels.cd`` are the kernels' twin of the same formulas under the same codes, and
``tests/ir/test_losses.py`` holds the two together on a grid of points.

Conventions: ``M`` is Huber's threshold (ignored by the other losses); the penalty level
is ``w1`` (lam of MCP / SCAD), ``gamma`` their concavity parameter (SCAD's ``a``).
"""
from __future__ import annotations

import numpy as np

from ..kernels.codes import DATAFIT, DATAFIT_LIPSCHITZ, DATAFIT_TITLE, PENALTY

__all__ = ["DATAFIT", "DATAFIT_TITLE", "DATAFIT_LIPSCHITZ", "PENALTY", "value", "deriv", "curv", "conj_sum",
           "conj_domain", "edge_tol", "logistic", "sigmoid", "logistic_pass", "xlogx", "pen_value", "pen_slope", "pen_prox"]

LEAST_SQUARES, LOGISTIC, HUBER, SQUARED_HINGE, EXP = (DATAFIT[k] for k in
                                                     ("sum_squares", "logistic", "huber", "squared_hinge", "exp"))
CONVEX, MCP, SCAD = PENALTY["convex"], PENALTY["mcp"], PENALTY["scad"]

_EDGE = 1e-12


def edge_tol(y) -> float:
    """How far outside a conjugate's domain rounding alone can put y (dual points come out
    of divisions and clips): 1e-12 relative to y's size."""
    return _EDGE * (1.0 + float(np.max(np.abs(y), initial=0.0)))


# ---- the logistic loss, whose formulas the others' callers share -------------------------

def logistic(z):
    """log(1 + e^z) entrywise, as max(z, 0) + log1p(e^-|z|): no overflow, and SIMD exp /
    log1p (about 5x np.logaddexp's speed)."""
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z):
    """1 / (1 + e^-z) from e^-|z| (no overflow; a SIMD exp, unlike scipy's expit loop)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z > 0, 1.0, e) / (1.0 + e)


def logistic_pass(z, c, s, d_out, h_out) -> float:
    """One fused pass over z (overwritten): returns c sum log(1 + e^z) and writes
    d_out = c s sigma(z), h_out = c s^2 sigma(z)(1 - sigma(z)) -- the value and the
    derivatives in u of c phi(s u - b) -- from one exp per entry, in place (no
    temporaries beyond one array). The cd backend's logistic pass runs this over blocks."""
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    tot = float(np.maximum(z, 0.0).sum()) + float(np.log1p(e).sum())
    sig = np.add(e, 1.0)
    np.divide(np.where(z > 0, 1.0, e), sig, out=sig)
    np.multiply(s, sig, out=d_out)
    d_out *= c
    np.subtract(1.0, sig, out=h_out)
    h_out *= sig
    h_out *= s
    h_out *= s
    h_out *= c
    return c * tot


def xlogx(y):
    """y log y entrywise for y >= 0 (0 log 0 = 0), with NumPy's SIMD log (about 3x
    scipy.special.xlogy's scalar loop; the logistic conjugate is most of a certificate)."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(y)
        t *= y
    return np.where(y > 0, t, 0.0)


# ---- the datafit losses phi, by code ------------------------------------------------------

def value(code, z, M=0.0):
    """phi(z) entrywise."""
    z = np.asarray(z, dtype=np.float64)
    if code == LEAST_SQUARES:
        return z * z
    if code == LOGISTIC:
        return logistic(z)
    if code == HUBER:
        a = np.abs(z)
        return np.where(a <= M, z * z, 2 * M * a - M * M)
    if code == SQUARED_HINGE:
        return np.maximum(z, 0.0) ** 2
    if code == EXP:
        with np.errstate(over="ignore"):
            return np.exp(z)
    raise ValueError(f"unknown datafit code {code!r}; known: {DATAFIT}")


def deriv(code, z, M=0.0):
    """phi'(z) entrywise."""
    z = np.asarray(z, dtype=np.float64)
    if code == LEAST_SQUARES:
        return 2.0 * z
    if code == LOGISTIC:
        return sigmoid(z)
    if code == HUBER:
        return np.clip(2.0 * z, -2 * M, 2 * M)
    if code == SQUARED_HINGE:
        return 2.0 * np.maximum(z, 0.0)
    if code == EXP:
        with np.errstate(over="ignore"):
            return np.exp(z)
    raise ValueError(f"unknown datafit code {code!r}; known: {DATAFIT}")


def curv(code, z, M=0.0):
    """phi''(z) entrywise (the generalized one, 0 or 2, where phi' has a kink)."""
    z = np.asarray(z, dtype=np.float64)
    if code == LEAST_SQUARES:
        return np.full_like(z, 2.0)
    if code == LOGISTIC:
        sg = sigmoid(z)
        return sg * (1.0 - sg)
    if code == HUBER:
        return np.where(np.abs(z) <= M, 2.0, 0.0)
    if code == SQUARED_HINGE:
        return np.where(z > 0, 2.0, 0.0)
    if code == EXP:
        with np.errstate(over="ignore"):
            return np.exp(z)
    raise ValueError(f"unknown datafit code {code!r}; known: {DATAFIT}")


def conj_domain(code, y, M=0.0):
    """y projected on dom phi* (what a dual point is repaired to)."""
    y = np.asarray(y, dtype=np.float64)
    if code == LOGISTIC:
        return np.clip(y, 0.0, 1.0)
    if code == HUBER:
        return np.clip(y, -2 * M, 2 * M)
    if code in (SQUARED_HINGE, EXP):
        return np.maximum(y, 0.0)
    return y


def conj_sum(code, y, M=0.0) -> float:
    """sum_i phi*(y_i); +inf when some y_i is outside dom phi* by more than rounding."""
    y = np.asarray(y, dtype=np.float64)
    if code == LOGISTIC:
        if np.any(y < -_EDGE) or np.any(y > 1 + _EDGE):
            return np.inf
        y = np.clip(y, 0.0, 1.0)
        return float(xlogx(y).sum()) + float(xlogx(1.0 - y).sum())
    if code == HUBER and np.any(np.abs(y) > 2 * M * (1 + _EDGE)):
        return np.inf
    if code in (SQUARED_HINGE, EXP) and np.any(y < -edge_tol(y)):
        return np.inf
    if code == EXP:
        y = np.maximum(y, 0.0)
        return float(xlogx(y).sum()) - float(y.sum())
    if code == SQUARED_HINGE:
        y = np.maximum(y, 0.0)
    # least squares, Huber, squared hinge: y^2 / 4 (a sum, not a dot: no BLAS threads
    # to wake on a busy machine)
    return 0.25 * float(np.sum(y * y))


# ---- the coordinate penalties, by code ----------------------------------------------------

def pen_value(code, x, w1, r=0.0, gamma=0.0):
    """pen(x) entrywise: w1 |x| + r x^2 (convex), MCP(lam = w1, gamma), SCAD(lam = w1, a = gamma)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    if code == CONVEX:
        return w1 * a + r * x * x
    if code == MCP:
        return np.where(a <= gamma * w1, w1 * a - a * a / (2 * gamma), 0.5 * gamma * w1 * w1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = (2 * gamma * w1 * a - a * a - w1 * w1) / (2 * (gamma - 1))
    return np.where(a <= w1, w1 * a, np.where(a <= gamma * w1, mid, 0.5 * w1 * w1 * (gamma + 1)))


def pen_slope(code, x, w1, r=0.0, gamma=0.0):
    """pen'(x) at x != 0 (where it exists), entrywise."""
    x = np.asarray(x, dtype=np.float64)
    sg = np.sign(x)
    a = np.abs(x)
    if code == CONVEX:
        return w1 * sg + 2 * r * x
    if code == MCP:
        return np.where(a <= gamma * w1, sg * (w1 - a / gamma), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = sg * (gamma * w1 - a) / (gamma - 1)
    return np.where(a <= w1, sg * w1, np.where(a <= gamma * w1, mid, 0.0))


def pen_prox(code, v, t, w1, r=0.0, gamma=0.0):
    """argmin_x pen(x) + (x - v)^2 / (2 t) entrywise (no bounds). MCP needs t < gamma and
    SCAD t < gamma - 1, where the one-dimensional problem is strongly convex (the callers
    handle the other steps)."""
    v = np.asarray(v, dtype=np.float64)
    av = np.abs(v)
    sg = np.sign(v)
    w1 = np.broadcast_to(np.asarray(w1, dtype=np.float64), v.shape)
    if code == CONVEX:
        return sg * np.maximum(av - t * w1, 0.0) / (1.0 + 2.0 * t * r)
    if code == MCP:     # firm thresholding
        mid = sg * (av - t * w1) / (1.0 - t / gamma)
        return np.where(av <= t * w1, 0.0, np.where(av <= gamma * w1, mid, v))
    low = sg * np.maximum(av - t * w1, 0.0)
    mid = sg * ((gamma - 1.0) * av - t * gamma * w1) / (gamma - 1.0 - t)
    return np.where(av <= w1 * (1 + t), low, np.where(av <= gamma * w1, mid, v))
