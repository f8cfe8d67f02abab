"""Halpern anchoring with restarts, over any fixed-point iteration whose state is a list of arrays.

For a nonexpansive map T and an anchor s0, the Halpern iteration

    s_{k+1} = (k+1)/(k+2) T(s_k) + 1/(k+2) s0

has a fixed-point residual |s_k - T(s_k)| of O(1/k), against o(1/sqrt(k)) for the plain
iteration of an averaged T; restarted (anchor and counter reset to T(s_k)) on that residual
it keeps the linear rate of sharp problems (cuPDLPx's rules, as ``halpern.py`` applies them
to PDHG): r <= 0.2 r0 (sufficient decay), r <= 0.8 r0 and no progress since the last test
(necessary decay), or 36 % of all steps since the last restart (artificial), where r0 is
the residual at the last restart. The owner of the loop calls ``combine`` on T(s_k) before
each application of T and ``new_map`` whenever T itself changes (a new penalty, a new phase).
"""
from __future__ import annotations

import math

import numpy as np

SUFFICIENT, NECESSARY, ARTIFICIAL = 0.2, 0.8, 0.36


class HalpernAnchor:
    """The anchor, the step counter and the restart tests of one run (see the module)."""

    def __init__(self, restart: bool = True, restart_every: int = 16):
        self.restart = bool(restart)
        self.restart_every = max(1, int(restart_every))
        self.anchor = None       # s0: a list of arrays
        self.last_in = None      # the point T was last applied to
        self.k = 0               # steps since the anchor was set
        self.total = 0           # steps of the whole run
        self.r0 = math.inf       # the residual at the last restart
        self.r_prev = math.inf   # the residual at the last restart test
        self.restarts = 0
        self.residual = math.inf # |s - T(s)| of the last step, in ``norm``'s metric

    def reset(self, state) -> None:
        """Anchor at ``state`` (T changed, or a fresh start): no residual history kept."""
        self.anchor = [np.array(a, dtype=np.float64, copy=True) for a in state]
        self.last_in = None
        self.k = 0
        self.r0 = self.r_prev = math.inf

    def new_map(self) -> None:
        """T changed: the next point ``combine`` is given becomes the anchor."""
        self.anchor = None

    def combine(self, state, norm) -> list:
        """The next point to apply T to, from ``state`` = T(s_k) (``norm``(list) -> float
        measures a list of differences). Restarts first where a test says so."""
        if self.anchor is None:
            self.reset(state)
        self.total += 1
        if self.last_in is not None:
            self.residual = float(norm([a - b for a, b in zip(state, self.last_in)]))
            if self.restart and self.k % self.restart_every == 0 and self._restart_due():
                self.restarts += 1
                self.anchor = [np.array(a, dtype=np.float64, copy=True) for a in state]
                self.k = 0
                self.r0 = self.r_prev = self.residual
        if self.r0 == math.inf and math.isfinite(self.residual):
            self.r0 = self.residual
        lam = (self.k + 1.0) / (self.k + 2.0)
        out = [lam * a + (1.0 - lam) * a0 for a, a0 in zip(state, self.anchor)]
        self.k += 1
        self.last_in = out
        return out

    def _restart_due(self) -> bool:
        r, due = self.residual, False
        if r <= SUFFICIENT * self.r0:
            due = True
        elif r <= NECESSARY * self.r0 and r > self.r_prev:
            due = True
        elif self.k >= ARTIFICIAL * self.total:
            due = True
        self.r_prev = r
        return due
