"""A plain line-search SQP on the SmoothNLP form: the in-house baseline of sketched_newton.

Each step solves the Newton-KKT system exactly (``kernels.sketch.direct_solve``: LAPACK
LU or SuperLU, the same linear-algebra layer) for [dx; dlam], with H + delta I where the
l1 merit f + rho |c|_1 would not descend; rho grows past |lam + dlam|_inf (plus the
margin the Armijo test needs). Armijo backtracking on that merit, the same local phase of
unit steps (no Maratos correction needed: the unit step is kept when the certificate's
error falls by 10 %). Options and statuses as sketched_newton's, without the sketch ones
(``local_tol``).
"""
from __future__ import annotations

import numpy as np

from . import registry
from .sketched_newton import SketchedNewtonBackend


class SQPBackend(SketchedNewtonBackend):
    name = "sqp"
    description = "line-search SQP: exact Newton-KKT solves, l1 merit, Hessian regularization, unit local steps"
    priority = 30
    merit = "l1"
    sketching = False
    _EXTRA = ("local_tol",)

    def _merit(self, pt, mu, nu) -> float:
        return pt.f + mu * float(np.abs(pt.c).sum())

    def _descent(self, p, pt, dx, dlam, mu, nu):
        """D = grad f^T dx - rho |c|_1 (J dx = -c); rho >= |lam + dlam|_inf, ok when
        D <= -(|c|_1 rho / 2 + curvature) < 0."""
        lam_new = pt.lam + dlam
        c1 = float(np.abs(pt.c).sum())
        rho = max(mu, 2.0 * float(np.max(np.abs(lam_new), initial=0.0)))
        gdx = float(pt.g @ dx)
        D = gdx - rho * c1
        curv = gdx + float(lam_new @ pt.c) if pt.c.size else gdx   # = -dx^T H dx for an exact solve
        if D < 0 and (curv < 0 or c1 > 0 and D <= -0.5 * rho * c1):
            return True, rho, D
        if np.allclose(dx, 0.0) and c1 == 0.0:
            return True, rho, 0.0
        return False, mu, D


registry.register(SQPBackend())
