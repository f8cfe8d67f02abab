"""What the saddle backends (``halpern``, ``alpd``) share: the start point (warm or the
sets' centers) and the convergence check, the family's gap at a point of X x Y whose
products K y, K^T x the iteration already has.

The gap comes from the known products; its denominator (the summands' size, which needs
|K| |y| and |K|^T |x|: two more passes) is first bounded from |K|_max alone, and only
when that screen meets tol (at most every ``EXACT_EVERY`` steps, and at a warm start)
are the exact measures computed. Between exact checks the gap is divided by the last
exact denominator, for the history.
"""
from __future__ import annotations

import math

import numpy as np

from ..families.saddle.certificate import measures, parts, size_bound
from ..kernels import saddle as KS

EXACT_EVERY = 32


def center(view):
    """The center of each set: the uniform strategy, or 0 clipped into the box."""
    m, n = view.shape
    return view.X.center(m), view.Y.center(n)


def start_point(view, options, warm: dict):
    """(x, y, warm started?): the last solution of the same data version when
    ``options.warm_start`` and it fits, else the sets' centers."""
    m, n = view.shape
    start = bool(options.warm_start and warm.get("x") is not None
                 and warm.get("data_version") == view.program.data_version
                 and warm["x"].shape == (m,) and warm["y"].shape == (n,))
    x, y = (warm["x"].copy(), warm["y"].copy()) if start else center(view)
    return x, y, start


class GapCheck:
    """The check of one run: ``op`` counts the passes it adds (``op.passes``), and
    ``passes`` is its own share."""

    def __init__(self, view, tol: float, op):
        self.view, self.tol, self.op = view, tol, op
        self.passes = 0
        self.last_exact = -EXACT_EVERY
        self.D = None               # the certificate's denominator at the last exact check

    def evaluate(self, it, px, py, pKy, pKTx):
        """(the compared value, whether it is exact) at (px, py) with its products."""
        v = self.view
        gap, _, _, xb, yb, _, _ = parts(v, px, py, pKy, pKTx)
        ub = size_bound(v, px, py, xb, yb)
        screen = gap / ub if gap > 0 and ub > 0 else (0.0 if gap == 0 else math.inf)
        if screen <= self.tol and (it == 0 or it - self.last_exact >= EXACT_EVERY):
            aKy = KS.abs_matvec(v.K, np.abs(py))
            aKTx = KS.abs_rmatvec(v.K, v.KT, np.abs(px))
            self.op.passes += 2
            self.passes += 2
            ms = measures(v, px, py, pKy, pKTx, aKy, aKTx)
            self.last_exact = it
            if ms["gap"] > 0:
                self.D = gap / ms["gap"]
            return max(ms["gap"], ms["stationarity"], ms["domain_violation"]), True
        return (gap / self.D if self.D else screen), False
