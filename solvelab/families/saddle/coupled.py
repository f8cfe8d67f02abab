"""CoupledSaddleProgram: a saddle point with a smooth nonlinear coupling Phi(x, y),

    min_{x in X} max_{y in Y}  c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2 + Phi(x, y)

Phi convex in x and concave in y, given as a ``Coupling`` (callables or a JAX function);
K may be absent (all zero). X and Y are simplices or boxes, as in ``program``.

The certificate linearizes Phi at the returned point (x, y), g_x = grad_x Phi(x, y), g_y =
grad_y Phi(x, y). Convexity in x gives Phi(x', y) >= Phi(x, y) + g_x^T (x' - x) and
concavity in y gives Phi(x, y') <= Phi(x, y) + g_y^T (y' - y), so

    max_{y'} L(x, y') - min_{x'} L(x', y)  <=  the gap of the bilinear program with
                                              c + g_x and b - g_y, at the same (x, y)

(the same best responses, vertices / corners / projections, as ``certificate``): a
computable upper bound of the duality gap that is 0 exactly at a saddle point, measured
relative to the summands' size as there. On a side with an infinite bound the part of
the gradient pointing at it must vanish (stationarity); a black-box Phi shows no
summands to measure that against, so its size is the larger of |c| + |g_x| + |K||y| and
the gradient of Phi in x at the y side's best response y' (and the same for y at x'),
both at the returned point: a residual relative to how much the coupling's gradient
moves across the other player's set.
"""
from __future__ import annotations

import numpy as np

from ...errors import ShapeError
from ...kernels.saddle import Domain, abs_matvec, abs_rmatvec
from ...result import Certificate
from .certificate import _inf, build, parts, rel, size, violation
from .coupling import Coupling
from .program import SaddleProgram


class _Linearized:
    """The node seen through Phi's linearization at a point: c + g_x, b - g_y."""

    def __init__(self, program, gx, gy):
        self.program = program
        self.c = program.c + gx
        self.b = program.b - gy

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.program, name)


class CoupledSaddleProgram(SaddleProgram):
    """The saddle family's node with a coupling (module docstring). ``K`` None: no
    bilinear term (an all-zero sparse K of the players' sizes)."""

    checks_existence = False     # existence depends on Phi, which callables do not expose

    def __init__(self, coupling: Coupling, m: int, n: int, K=None, c=None, b=None, x_domain="simplex",
                 y_domain="simplex", names=("x", "y"), constant: float = 0.0, keys=(None, None),
                 x_reg: float = 0.0, y_reg: float = 0.0, check: bool = True):
        import scipy.sparse as sp
        if not isinstance(coupling, Coupling):
            raise TypeError(f"coupling must be a solvelab Coupling (sl.Coupling(value, grad_x, grad_y) or "
                            f"sl.Coupling.from_jax(fn)), got {type(coupling).__name__}")
        if K is None:
            K = sp.csr_matrix((int(m), int(n)))
        super().__init__(K, c, b, x_domain, y_domain, names=names, kind="coupled", constant=constant, keys=keys,
                         x_reg=x_reg, y_reg=y_reg)
        if self.shape != (int(m), int(n)):
            raise ShapeError(f"K has shape {self.shape}, the players have ({m}, {n}) coordinates")
        self.coupling = coupling.bind(*self.shape)
        if check:
            coupling.check(check_points(self))

    @property
    def backends(self) -> tuple:
        return ("alpd",)

    def value(self, x, y) -> float:
        return super().value(x, y) + self.coupling.value(x, y)

    def certify(self, z, duals=None) -> Certificate:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        bad = {"gap": np.inf, "stationarity": np.inf, "domain_violation": np.inf, "objective": None, "lower": None}
        if z.size != sum(self.shape) or not np.all(np.isfinite(z)):
            return build(self, bad)
        x, y = self.split_xy(z)
        gx, gy = self.coupling.grad(x, y)
        if not (np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))):
            return build(self, bad)
        return build(self, coupled_measures(self, x, y, gx, gy, self.matvec(y), self.rmatvec(x)))

    def __repr__(self) -> str:
        return super().__repr__().replace("SaddleProgram(coupled", f"CoupledSaddleProgram({self.coupling.name}")


def coupled_measures(p, x, y, gx, gy, Ky, KTx) -> dict:
    """The certificate's measures at (x, y) with Phi's gradients there and K y, K^T x."""
    lin = _Linearized(p, gx, gy)
    absKy = abs_matvec(p.K, np.abs(y))
    absKTx = abs_rmatvec(p.K, p.KT, np.abs(x))
    gap, L, lower, xb, yb, rx, ry = parts(lin, x, y, Ky, KTx)
    phi = p.coupling.value(x, y)
    shift = phi - float(gx @ x) - float(gy @ y)
    out = {"gap": rel(gap, size(lin, x, y, xb, yb, absKy, absKTx)),
           "domain_violation": max(violation(p.X, x), violation(p.Y, y)),
           "objective": L + shift, "lower": (lower + shift) if not np.any(rx) else None}
    sx = sy = 0.0
    if np.any(rx):
        scale = _inf(np.abs(p.c) + np.abs(gx) + absKy)
        scale = max(scale, _inf(p.coupling.grad(x, yb)[0]))
        sx = rel(_inf(rx), scale)
    if np.any(ry):
        scale = _inf(np.abs(p.b) + np.abs(gy) + absKTx)
        scale = max(scale, _inf(p.coupling.grad(xb, y)[1]))
        sy = rel(_inf(ry), scale)
    out["stationarity"] = max(sx, sy)
    if not np.isfinite(out["objective"]):
        out["gap"] = np.inf
    return out


def check_points(p, count: int = 2, seed: int = 0) -> list:
    """Points of X x Y for ``Coupling.check``: the centers, and random points, paired so
    that some pairs share y (convexity in x), some share x (concavity in y)."""
    rng = np.random.default_rng(seed)
    m, n = p.shape

    def random_point(dom, size, c0):
        if dom.kind == Domain.SIMPLEX:
            return rng.dirichlet(np.ones(size))
        lo, hi = dom.lo, dom.hi
        spread = 1.0 + np.abs(c0)
        v = c0 + spread * rng.standard_normal(size)
        fin = np.isfinite(lo) & np.isfinite(hi)
        v[fin] = lo[fin] + (hi[fin] - lo[fin]) * rng.random(int(fin.sum()))
        return np.clip(v, lo, hi)
    x0, y0 = p.X.center(m), p.Y.center(n)
    pts = [(x0, y0)]
    for _ in range(count):
        x1, y1 = random_point(p.X, m, x0), random_point(p.Y, n, y0)
        pts += [(x1, y0), (x0, y1), (x1, y1)]
    return pts


__all__ = ["CoupledSaddleProgram", "coupled_measures", "check_points"]
