"""The GLM formulas in NumPy: datafit losses phi (and their derivatives and conjugates),
the per-coordinate penalties, KKT distances. They are the twins of the kernel scalars, so
the certificate does not depend on Numba. Kinds are named once here (``DATAFIT_KIND``)."""
from __future__ import annotations

import numpy as np
from scipy import special

DATAFIT_KIND = {"sum_squares": 0, "logistic": 1, "huber": 2, "squared_hinge": 3, "exp": 4}
DATAFIT_NAME = {0: "least squares", 1: "logistic", 2: "huber", 3: "squared hinge", 4: "poisson"}
L_PHI = {0: 2.0, 1: 0.25, 2: 2.0, 3: 2.0, 4: float("inf")}   # exp: no global constant


# The per-sample sums run over blocks of this many samples: their NumPy temporaries (half
# a dozen per formula) then take O(CHUNK) memory instead of O(m) -- on a9a, with rows of 14
# nonzeros, m-sized temporaries weighed as much as the data -- and stay in cache.
CHUNK = 8192


def _chunks(m):
    """Slices covering range(m) in blocks of CHUNK (one empty slice when m == 0)."""
    return [slice(lo, min(lo + CHUNK, m)) for lo in range(0, max(m, 1), CHUNK)]


def _phi(kind, z, M):
    if kind == 4:
        with np.errstate(over="ignore"):
            return np.exp(z)
    if kind == 0:
        return z * z
    if kind == 1:
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): SIMD exp / log1p, 5x np.logaddexp's speed
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    if kind == 2:
        a = np.abs(z)
        return np.where(a <= M, z * z, 2 * M * a - M * M)
    return np.maximum(z, 0.0) ** 2


def _dphi(kind, z, M):
    if kind == 4:
        with np.errstate(over="ignore"):
            return np.exp(z)
    if kind == 0:
        return 2.0 * z
    if kind == 1:
        e = np.exp(-np.abs(z))                  # sigma(z) without overflow, SIMD exp
        return np.where(z > 0, 1.0, e) / (1.0 + e)
    if kind == 2:
        return np.clip(2.0 * z, -2 * M, 2 * M)
    return 2.0 * np.maximum(z, 0.0)


def _d2phi(kind, z, M):
    """Second derivative of phi (a generalized one where phi' has a kink)."""
    if kind == 4:
        with np.errstate(over="ignore"):
            return np.exp(z)
    if kind == 0:
        return np.full_like(z, 2.0)
    if kind == 1:
        e = special.expit(z)
        return e * (1.0 - e)
    if kind == 2:
        return np.where(np.abs(z) <= M, 2.0, 0.0)
    return np.where(z > 0, 2.0, 0.0)


def _xlogx_sum(y) -> float:
    """sum_i y_i log y_i (0 log 0 = 0) for y >= 0: NumPy's SIMD log, about 3x faster than
    scipy.special.xlogy's scalar loop (the logistic conjugate is most of a certificate)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(y)
        t *= y
    return float(np.where(y > 0, t, 0.0).sum())


def _phi_conj(kind, y, M):
    if kind == 1:
        if np.any(y < -1e-12) or np.any(y > 1 + 1e-12):
            return np.inf
        y = np.clip(y, 0.0, 1.0)
        return _xlogx_sum(y) + _xlogx_sum(1.0 - y)
    if kind == 2 and np.any(np.abs(y) > 2 * M * (1 + 1e-12)):
        return np.inf
    if kind == 3 and np.any(y < -1e-12):
        return np.inf
    if kind == 4:
        if np.any(y < -1e-12):
            return np.inf
        y = np.maximum(y, 0.0)
        return _xlogx_sum(y) - float(np.sum(y))
    return 0.25 * float(np.sum(y * y))   # (no BLAS call: its threads wake slowly on a busy machine)


def _pen_value(kind, x, w1, r, gamma):
    a = np.abs(x)
    if kind == 0:
        return w1 * a + r * x * x
    if kind == 1:
        return np.where(a <= gamma * w1, w1 * a - a * a / (2 * gamma), 0.5 * gamma * w1 * w1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = (2 * gamma * w1 * a - a * a - w1 * w1) / (2 * (gamma - 1))
    return np.where(a <= w1, w1 * a, np.where(a <= gamma * w1, mid, 0.5 * w1 * w1 * (gamma + 1)))


def _pen_slope(kind, x, w1, r, gamma):
    """Derivative of pen at x != 0 (where it exists)."""
    sg = np.sign(x)
    a = np.abs(x)
    if kind == 0:
        return w1 * sg + 2 * r * x
    if kind == 1:
        return np.where(a <= gamma * w1, sg * (w1 - a / gamma), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = sg * (gamma * w1 - a) / (gamma - 1)
    return np.where(a <= w1, sg * w1, np.where(a <= gamma * w1, mid, 0.0))


def kkt_distances(kind, x, g, w1, r, lo, hi, gamma):
    """dist(-g_j, ∂pen_j(x_j) + N_[lo_j, hi_j](x_j)) for every coordinate."""
    nz = x != 0
    slope = _pen_slope(kind, x, w1, r, gamma)
    a = np.where(nz, slope, -w1)
    b = np.where(nz, slope, w1)
    a = np.where(x <= lo, -np.inf, a)
    b = np.where(x >= hi, np.inf, b)
    v = -g
    return np.maximum(np.maximum(a - v, v - b), 0.0)


def _pen_conj(v, w1, r, lo, hi):
    """Conjugate of w1|x| + r x^2 + box at v, entrywise (convex kind); inf when unbounded."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.maximum(np.abs(v) - w1, 0.0)
        zr = np.sign(v) * a / np.where(r > 0, 2 * r, 1.0)
    z0 = np.where(v > w1 * (1 + 1e-12), hi, np.where(v < -w1 * (1 + 1e-12), lo, 0.0))
    z = np.clip(np.where(r > 0, zr, z0), lo, hi)
    if not np.all(np.isfinite(z)):
        return np.inf
    return float(np.sum(v * z - w1 * np.abs(z) - r * z * z))


def relative(num: float, den: float) -> float:
    """num / den with 0 / 0 read as 0: relative measures without absolute floors."""
    return 0.0 if num == 0.0 else num / max(den, np.finfo(np.float64).tiny)
