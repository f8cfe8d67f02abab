"""The denominators a fractional program supports, each with its value and subgradients.

    affine   D(x) = a^T x + d                 (concave and convex: the ratio is quasiconvex)
    l2       D(x) = s ||B x||_2               (B = None: the identity)
    l1       D(x) = s ||x||_1
    topk     D(x) = s sum of the k largest |x_i|

The norms are convex and vanish only where their argument does; ``check_positive`` in the
node decides whether that point can be reached. ``subgradient`` returns one element of
dD(x) (the certificate picks the best one where the set is not a point).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("affine", "l2", "l1", "topk")


@dataclass
class Denominator:
    kind: str
    s: float = 1.0                      # the norms' positive scale
    a: np.ndarray | None = None         # affine: a^T x + d
    d: float = 0.0
    B: np.ndarray | None = None         # l2: s ||B x|| (None: identity)
    k: int = 0                          # topk

    @property
    def curvature(self) -> str:
        return "affine" if self.kind == "affine" else "convex"

    def describe(self) -> str:
        return {"affine": "a^T x + d", "l2": "s ||x||_2" if self.B is None else "s ||B x||_2",
                "l1": "s ||x||_1", "topk": f"s ||x||_top{self.k}"}[self.kind]

    def value(self, x: np.ndarray) -> float:
        if self.kind == "affine":
            return float(self.a @ x + self.d)
        if self.kind == "l2":
            return self.s * float(np.linalg.norm(x if self.B is None else self.B @ x))
        if self.kind == "l1":
            return self.s * float(np.abs(x).sum())
        ax = np.abs(x)
        k = min(self.k, x.size)
        return self.s * float(np.partition(ax, x.size - k)[x.size - k:].sum())

    def subgradient(self, x: np.ndarray) -> np.ndarray:
        """One subgradient (for l1 / topk: 0 on ties and zeros outside the top k)."""
        if self.kind == "affine":
            return self.a
        if self.kind == "l2":
            z = x if self.B is None else self.B @ x
            nz = float(np.linalg.norm(z))
            if nz == 0.0:
                return np.zeros(x.size)
            return self.s * ((z if self.B is None else self.B.T @ z) / nz)
        if self.kind == "l1":
            return self.s * np.sign(x)
        out = np.zeros(x.size)
        k = min(self.k, x.size)
        top = np.argpartition(-np.abs(x), k - 1)[:k]
        out[top] = np.sign(x[top])
        return self.s * out

    def homogeneous(self) -> bool:
        return self.kind != "affine"
