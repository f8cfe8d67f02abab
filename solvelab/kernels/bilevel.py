"""Numba kernels of the bilevel family's GLM levels: one fused pass over the samples.

``loss_pass(code, z, y, s, d, h)`` returns sum_i s_i l(z_i; y_i) and writes
d_i = s_i l'(z_i; y_i), h_i = s_i l''(z_i; y_i), for

    code 0  squared    l = (z - y)^2 / 2,          l' = z - y,        l'' = 1
    code 1  logistic   l = log(1 + exp(-y z)),     l' = -y sigma(-y z), l'' = sigma(y z) sigma(-y z)

(y in {-1, +1} for the logistic loss), with one exp per sample and no overflow
(log(1 + e^t) = max(t, 0) + log1p(e^-|t|)). The same formulas as ``solvelab.ir.losses``
(logistic there is log(1 + e^z) of the margin -y z).
"""
from __future__ import annotations

import numpy as np
from numba import njit

SQUARED, LOGISTIC = 0, 1


@njit(cache=True)
def loss_pass(code, z, y, s, d, h):
    total = 0.0
    for i in range(z.shape[0]):
        if code == SQUARED:
            r = z[i] - y[i]
            total += s[i] * 0.5 * r * r
            d[i] = s[i] * r
            h[i] = s[i]
        else:
            t = -y[i] * z[i]                       # the margin's negative
            e = np.exp(-abs(t))
            total += s[i] * (max(t, 0.0) + np.log1p(e))
            sig = 1.0 / (1.0 + e) if t > 0 else e / (1.0 + e)   # sigma(t)
            d[i] = -s[i] * y[i] * sig
            h[i] = s[i] * sig * (1.0 - sig)
    return total


@njit(cache=True)
def loss_value(code, z, y):
    """sum_i l(z_i; y_i) (unweighted)."""
    total = 0.0
    for i in range(z.shape[0]):
        if code == SQUARED:
            r = z[i] - y[i]
            total += 0.5 * r * r
        else:
            t = -y[i] * z[i]
            total += max(t, 0.0) + np.log1p(np.exp(-abs(t)))
    return total
