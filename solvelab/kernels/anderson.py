"""Safeguarded type-II Anderson acceleration of a fixed-point iteration w <- T(w).

Given the last ``memory`` pairs (w_j, T(w_j)), the next iterate is
``T(w_k) - dT gamma`` with ``gamma = argmin ||f_k - dF gamma||`` (f = T(w) - w), solved
with a small Tikhonov term. The safeguard (as in SCS 3): if the residual at an
extrapolated point grew by more than ``safeguard`` times the residual it started
from, the extrapolation is undone (the plain step T(w_k) is taken) and the memory
cleared. Plain NumPy over flat vectors; the caller packs its state.
"""
from __future__ import annotations

from collections import deque

import numpy as np


class Anderson:
    def __init__(self, memory: int = 10, safeguard: float = 1.0, regularization: float = 1e-10):
        self.memory = int(memory)
        self.safeguard = float(safeguard)
        self.reg = float(regularization)
        self.accepted = 0
        self.rejected = 0
        self.reset()

    def reset(self) -> None:
        self._w = deque(maxlen=self.memory + 1)
        self._t = deque(maxlen=self.memory + 1)
        self._pending = False
        self._ref = np.inf
        self._plain = None

    def step(self, w: np.ndarray, tw: np.ndarray) -> tuple[np.ndarray, bool]:
        """The next iterate after w -> T(w) = tw, and whether it is extrapolated."""
        f = tw - w
        nf = float(np.linalg.norm(f))
        if not np.isfinite(nf):
            plain = self._plain if self._plain is not None else tw
            self.reset()
            return plain, False
        if self._pending and nf > self.safeguard * self._ref:
            self.rejected += 1
            plain = self._plain
            self.reset()
            return plain, False
        self._w.append(w)
        self._t.append(tw)
        self._pending = False
        if len(self._w) < 2:
            return tw, False
        W = np.column_stack(self._w)
        T = np.column_stack(self._t)
        F = T - W
        dF = np.diff(F, axis=1)
        dT = np.diff(T, axis=1)
        G = dF.T @ dF
        G[np.diag_indices_from(G)] += self.reg * max(np.trace(G), 1e-300)  # relative: scale-free
        try:
            gamma = np.linalg.solve(G, dF.T @ f)
        except np.linalg.LinAlgError:
            self.reset()
            return tw, False
        out = tw - dT @ gamma
        if not np.all(np.isfinite(out)):
            self.reset()
            return tw, False
        self._pending = True
        self._ref = nf
        self._plain = tw
        self.accepted += 1
        return out, True
