"""Numba kernels of the bilevel family's GLM levels: one fused pass over the samples.

``loss_pass(code, z, y, s, d, h)`` returns sum_i s_i l(z_i; y_i) and writes
d_i = s_i l'(z_i; y_i), h_i = s_i l''(z_i; y_i), for

    code 0  squared    l = (z - y)^2 / 2,          l' = z - y,          l'' = 1
    code 1  logistic   l = log(1 + exp(-y z)),     l' = -y sigma(-y z), l'' = sigma(y z) sigma(-y z)

(y in {-1, +1} for the logistic loss). The scalar losses are those of the coordinate
descent kernels (``kernels.cd.phi_value`` / ``phi_deriv`` / ``phi_curv``, codes of
``kernels.codes.DATAFIT``: phi(r) = r^2 of the residual, phi(t) = log(1 + e^t) of the
margin t = -y z), so the two families share one definition of each loss.
"""
from __future__ import annotations

from numba import njit

from .cd import phi_curv, phi_deriv, phi_value
from .codes import DATAFIT

SQUARED, LOGISTIC = 0, 1
_LS, _LOG = DATAFIT["sum_squares"], DATAFIT["logistic"]


@njit(cache=True)
def loss_pass(code, z, y, s, d, h):
    total = 0.0
    for i in range(z.shape[0]):
        if code == SQUARED:
            r = z[i] - y[i]
            total += s[i] * 0.5 * phi_value(_LS, r, 0.0)
            d[i] = s[i] * 0.5 * phi_deriv(_LS, r, 0.0)
            h[i] = s[i] * 0.5 * phi_curv(_LS, r, 0.0)
        else:
            t = -y[i] * z[i]                       # the margin's negative
            total += s[i] * phi_value(_LOG, t, 0.0)
            d[i] = -s[i] * y[i] * phi_deriv(_LOG, t, 0.0)
            h[i] = s[i] * phi_curv(_LOG, t, 0.0)
    return total


@njit(cache=True)
def loss_value(code, z, y):
    """sum_i l(z_i; y_i) (unweighted)."""
    total = 0.0
    for i in range(z.shape[0]):
        if code == SQUARED:
            total += 0.5 * phi_value(_LS, z[i] - y[i], 0.0)
        else:
            total += phi_value(_LOG, -y[i] * z[i], 0.0)
    return total
