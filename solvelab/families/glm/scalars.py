"""What the GLM certificate adds to the scalar losses and penalties of ``ir.losses``:
coordinate KKT distances, the convex penalty's conjugate, sums over blocks of samples.
The losses themselves (and their kernel codes) are defined once, in ``ir.losses`` and
``kernels.codes``; the names below are the GLM family's aliases of that table."""
from __future__ import annotations

import numpy as np

from ...ir.losses import DATAFIT as DATAFIT_KIND
from ...ir.losses import DATAFIT_LIPSCHITZ as L_PHI
from ...ir.losses import DATAFIT_TITLE as DATAFIT_NAME
from ...ir.losses import pen_slope


# The per-sample sums run over blocks of this many samples: their NumPy temporaries (half
# a dozen per formula) then take O(CHUNK) memory instead of O(m) -- on a9a, with rows of 14
# nonzeros, m-sized temporaries weighed as much as the data -- and stay in cache.
CHUNK = 8192


def _chunks(m):
    """Slices covering range(m) in blocks of CHUNK (one empty slice when m == 0)."""
    return [slice(lo, min(lo + CHUNK, m)) for lo in range(0, max(m, 1), CHUNK)]


def kkt_distances(kind, x, g, w1, r, lo, hi, gamma):
    """dist(-g_j, ∂pen_j(x_j) + N_[lo_j, hi_j](x_j)) for every coordinate."""
    nz = x != 0
    slope = pen_slope(kind, x, w1, r, gamma)
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
