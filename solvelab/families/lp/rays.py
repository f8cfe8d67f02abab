"""The descent-ray LP: where PDHG's iterate differences only hint at unboundedness.

On an unbounded LP the iterates drift along a descent ray, but their differences can keep
oscillating in the directions that do not grow (measured on Netlib gas11: after 40000
iterations the normalized difference still breaks its column bounds by 0.2). The ray is
then found directly as the solution of a small, bounded LP on the same matrix:

    min c^T d   s.t.  A d in rec(rows),  d in rec(bounds),  |d|_inf <= 1

(rec: the recession cone; a finite lower row/column bound asks d >= 0 there, a finite
upper bound d <= 0). d = 0 is feasible, so the LP is feasible and bounded; its optimum is
negative exactly when a descent ray exists. Any d it returns is still checked by
``check_unbounded_ray`` on the original LP before it is believed.
"""
from __future__ import annotations

import numpy as np

from .program import LPProgram


def descent_ray_program(lp) -> LPProgram:
    """The descent-ray LP of ``lp`` (an LPProgram): same c and A, recession-cone bounds."""
    rl = np.where(np.isfinite(lp.rl), 0.0, -np.inf)
    ru = np.where(np.isfinite(lp.ru), 0.0, np.inf)
    l = np.where(np.isfinite(lp.l), 0.0, -1.0)
    u = np.where(np.isfinite(lp.u), 0.0, 1.0)
    return LPProgram(lp.c, lp.A, rl, ru, l, u)
