"""The integer codes by which compiled kernels know a loss or a penalty, named once.

Kernels dispatch on small integers (Numba cannot branch on Python objects); everything
above them names a loss by its IR function name. This table is the only place the two
meet: ``solvelab.ir.losses`` (the NumPy definitions the certificates use) and
``solvelab.kernels.cd`` (the compiled scalars the iterations use) both read it, and
``tests/ir/test_losses.py`` checks that, code by code, they agree.
No Numba import here, so the IR can read the codes without it.
"""
from __future__ import annotations

#: datafit losses phi(z), by the name of their IR function (solvelab.ir.functions)
DATAFIT = {"sum_squares": 0, "logistic": 1, "huber": 2, "squared_hinge": 3, "exp": 4}
#: how messages and tables name them
DATAFIT_TITLE = {0: "least squares", 1: "logistic", 2: "huber", 3: "squared hinge", 4: "poisson"}
#: a global Lipschitz constant of phi' (exp has none)
DATAFIT_LIPSCHITZ = {0: 2.0, 1: 0.25, 2: 2.0, 3: 2.0, 4: float("inf")}

#: per-coordinate penalties: 'convex' is w1 |x| + r x^2 (+ bounds)
PENALTY = {"convex": 0, "mcp": 1, "scad": 2}
