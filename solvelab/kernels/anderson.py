"""Safeguarded type-II Anderson acceleration of a fixed-point iteration w <- T(w).

Given the last ``memory`` pairs (w_j, T(w_j)), the next iterate is
``T(w_k) - dT gamma`` with ``gamma = argmin ||f_k - dF gamma||`` (f = T(w) - w), solved
with a small Tikhonov term. The safeguard (as in SCS 3): if the residual at an
extrapolated point grew by more than ``safeguard`` times the residual it started
from, the extrapolation is undone (the plain step T(w_k) is taken) and the memory
cleared. Plain NumPy over flat vectors; the caller packs its state.

This is the online accelerator of a fixed-point map (admm). Coordinate descent uses the
other classical form, the offline extrapolation of a window of iterates with sum-one
weights (``kernels.cd.anderson_extrapolate``, compiled, because its Gram solves call it
inline); each is defined once.
"""
from __future__ import annotations

import numpy as np


class Anderson:
    def __init__(self, memory: int = 10, safeguard: float = 1.0, regularization: float = 1e-10):
        self.memory = int(memory)
        self.safeguard = float(safeguard)
        self.reg = float(regularization)
        self.accepted = 0
        self.rejected = 0
        self._dF = self._dT = self._G = None
        self.reset()

    def reset(self) -> None:
        # differences live in ring buffers (one column written per step) with their Gram
        # matrix updated by one row/column: O(dim * memory) per step, no re-stacking
        self._count = 0          # differences stored (at most memory)
        self._head = 0           # column the next difference goes to
        self._f_prev = None
        self._t_prev = None
        self._pending = False
        self._ref = np.inf
        self._plain = None

    def _buffers(self, dim: int) -> None:
        if self._dF is None or self._dF.shape[0] != dim:
            self._dF = np.empty((dim, self.memory), order="F")
            self._dT = np.empty((dim, self.memory), order="F")
            self._G = np.zeros((self.memory, self.memory))

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
        self._pending = False
        if self.memory < 1:
            return tw, False
        self._buffers(f.shape[0])
        f_prev, t_prev = self._f_prev, self._t_prev
        self._f_prev, self._t_prev = f, np.array(tw, copy=True)
        if f_prev is None:
            return tw, False
        c = self._head
        np.subtract(f, f_prev, out=self._dF[:, c])
        np.subtract(tw, t_prev, out=self._dT[:, c])
        self._head = (c + 1) % self.memory
        self._count = k = min(self._count + 1, self.memory)
        dF = self._dF[:, :k]
        g = dF.T @ self._dF[:, c]
        self._G[c, :k] = g
        self._G[:k, c] = g
        G = self._G[:k, :k].copy()
        G[np.diag_indices_from(G)] += self.reg * max(np.trace(G), 1e-300)  # relative: scale-free
        try:
            gamma = np.linalg.solve(G, dF.T @ f)
        except np.linalg.LinAlgError:
            self.reset()
            return tw, False
        out = tw - self._dT[:, :k] @ gamma
        if not np.all(np.isfinite(out)):
            self.reset()
            return tw, False
        self._pending = True
        self._ref = nf
        self._plain = tw
        self.accepted += 1
        return out, True
