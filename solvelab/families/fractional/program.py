"""FractionalProgram: min_x N(x) / D(x) over a box or the simplex, held as arrays.

    N(x) = 1/2 |G x - y|^2 + q^T x + c0  +  sum_i lam_i |x_i|  +  rho |L x|_2
           (smooth convex quadratic)        (separable l1)      (an optional norm term)
    D(x) = a^T x + d  |  s |B x|_2  |  s |x|_1  |  s |x|_topk      (``denominator``)
    x in {lo <= x <= hi}  or the simplex {x >= 0, sum x = 1}

The denominator must be positive on the domain wherever the ratio can be finite:
``check_positive`` refuses an affine D whose minimum over the domain is <= 0 (naming the
point), a norm of B x with B rank-deficient (it vanishes on B's null space), and a norm
that vanishes at x = 0 inside the domain when N(0) = 0 too (0 / 0 there); with N(0) > 0,
F(0) = +inf and the origin is simply never a minimizer. The ratio is quasiconvex (every
critical point global, Dinkelbach exact) when D is affine; with a norm D it is not.
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError, NonConvexError
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from .certificate import fractional_certificate
from .denominator import KINDS, Denominator
from .validate import affine_min, bounds, matrix, scalar, vector


class FractionalProgram(StructuredProgram):
    """The fractional family's program node (see the module docstring)."""

    family = "fractional"
    backends = ("fractional_cd", "dinkelbach")

    def __init__(self, n: int, den: Denominator, *, G=None, y=None, q=None, c0=0.0, lam=0.0, rho=0.0, L=None,
                 lo=None, hi=None, simplex=False, name="x", key=None, shape=None, cvx=None):
        n = int(n)
        shape = (n,) if shape is None else tuple(shape)
        super().__init__([VariableInfo(name=name, shape=shape, offset=0, size=n, key=key)])
        if G is None:
            G, y = np.zeros((0, n), order="F"), np.zeros(0)
        self.G = matrix(G, n, "G (the numerator's least-squares matrix)") if np.size(G) else np.zeros((0, n), order="F")
        self.y = vector(y, self.G.shape[0], "y") if self.G.shape[0] else np.zeros(0)
        self.q = np.zeros(n) if q is None else vector(q, n, "q (the numerator's linear term)")
        self.c0 = scalar(c0, "the numerator's constant")
        self.lam = vector(lam, n, "lam (the l1 weights)")
        if np.any(self.lam < 0):
            raise NonConvexError("the l1 weights lam must be >= 0 (a negative weight makes the numerator nonconvex)")
        self.rho = scalar(rho, "rho (the numerator's norm weight)", nonneg=True)
        self.L = None if L is None or self.rho == 0 else matrix(L, n, "L (the numerator's norm operator)")
        if self.L is None:
            self.rho = 0.0
        self.simplex = bool(simplex)
        self.lo, self.hi = bounds(lo, hi, n)
        if self.simplex:
            self.lo, self.hi = np.zeros(n), np.full(n, np.inf)
        self.den = self._check_den(den, n)
        self.colsq = np.einsum("ij,ij->j", self.G, self.G) if self.G.shape[0] else np.zeros(n)
        self._cvx = cvx
        self.check_positive()

    # -- data checks ----------------------------------------------------------------------
    def _check_den(self, den: Denominator, n: int) -> Denominator:
        if not isinstance(den, Denominator) or den.kind not in KINDS:
            raise InvalidDataError(f"the denominator must be one of {', '.join(KINDS)}")
        if den.kind == "affine":
            den.a = vector(den.a, n, "a (the affine denominator)")
            den.d = scalar(den.d, "d (the affine denominator's constant)")
        else:
            den.s = scalar(den.s, "the denominator's scale", positive=True)
        if den.kind == "l2" and den.B is not None:
            den.B = matrix(den.B, n, "B (the denominator's operator)")
        if den.kind == "topk":
            if isinstance(den.k, bool) or int(den.k) != den.k or not 1 <= int(den.k) <= n:
                raise InvalidDataError(f"top-k denominator: k must be an integer in [1, {n}], got {den.k!r}")
            den.k = int(den.k)
        if den.kind == "l1" and (self.simplex or np.all(self.lo >= 0)):
            return Denominator("affine", a=np.full(n, den.s), d=0.0)   # |x|_1 = sum x on x >= 0
        return den

    def check_positive(self) -> None:
        den = self.den
        if den.kind == "affine":
            m, at = affine_min(den.a, den.d, self.lo, self.hi, self.simplex)
            if not m > 0:
                where = "as x runs off to infinity in the domain" if at is None else \
                    f"at the domain point x = {np.array2string(at, threshold=6, precision=3)}"
                raise InvalidDataError(f"the denominator a^T x + d can vanish or change sign on the domain: its "
                                       f"minimum there is {m:.3g} <= 0 ({where}); it must be positive")
            return
        if den.kind == "l2" and den.B is not None:
            sv = np.linalg.svd(den.B, compute_uv=False)
            if den.B.shape[0] < self.n or sv[-1] <= sv[0] * self.n * np.finfo(np.float64).eps:
                raise InvalidDataError("the denominator s ||B x||_2 vanishes on the null space of B (B has rank < n), "
                                       "so it can vanish on the domain; give B full column rank")
        zero_in = self.simplex is False and bool(np.all(self.lo <= 0) and np.all(self.hi >= 0))
        if zero_in and not self.numerator(np.zeros(self.n)) > 0:
            raise InvalidDataError(f"the denominator {den.describe()} vanishes at x = 0, which is in the domain, and "
                                   f"the numerator is 0 there too (0 / 0); exclude 0 from the domain or make N(0) > 0")

    # -- values ------------------------------------------------------------------------
    @property
    def quasiconvex(self) -> bool:
        """N convex and D affine positive: every critical point is a global minimizer."""
        return self.den.kind == "affine"

    def smooth_value(self, x) -> float:
        r = self.G @ x - self.y if self.G.shape[0] else np.zeros(0)
        return 0.5 * float(r @ r) + float(self.q @ x) + self.c0

    def smooth_grad(self, x) -> np.ndarray:
        """Gradient of N's differentiable part (the norm term's where L x != 0)."""
        g = self.q.copy()
        if self.G.shape[0]:
            g += self.G.T @ (self.G @ x - self.y)
        if self.rho:
            z = self.L @ x
            nz = float(np.linalg.norm(z))
            if nz > 0:
                g += self.rho * (self.L.T @ z) / nz
        return g

    def numerator(self, x) -> float:
        val = self.smooth_value(x) + float(self.lam @ np.abs(x))
        if self.rho:
            val += self.rho * float(np.linalg.norm(self.L @ x))
        return val

    def ratio(self, x) -> float:
        D = self.den.value(x)
        return self.numerator(x) / D if D > 0 else float("inf")

    def ray_limit(self, x, null_tol: float = 1e-6):
        """L when x points along a ray of G's null space that the ratio falls along without
        end; else None. With v = x / |x|, G v = 0 (to ``null_tol`` relative to G's largest
        column), the ray {a v, a > 0} in the domain and N(0) > 0: along it N(a v) = N(0) +
        a N'(v) and D(a v) = a D(v) (+ d), so F falls strictly toward L = N'(v) / D(v) with
        N'(v) = q^T v + lam^T |v| + rho |L v|; reported when F(x) is within rounding of L or
        above it (the infimum then lies at infinity: no minimizer to certify at x). With
        N(0) = 0 a homogeneous ratio is scale-invariant and attains its value on the ray."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        nx = float(np.linalg.norm(x))
        if self.simplex or not nx > 0 or not np.isfinite(nx):
            return None
        v = x / nx
        if self.G.shape[0]:
            gmax = float(np.sqrt(np.max(self.colsq, initial=0.0)))
            if not np.linalg.norm(self.G @ v) <= null_tol * gmax:
                return None
        if np.any((v > 0) & np.isfinite(self.hi)) or np.any((v < 0) & np.isfinite(self.lo)):
            return None
        if not self.smooth_value(np.zeros(self.n)) > 0:
            return None
        Dv = self.den.value(v) - (self.den.d if self.den.kind == "affine" else 0.0)
        if not Dv > 0:
            return None
        Nv = float(self.q @ v) + float(self.lam @ np.abs(v))
        if self.rho:
            Nv += self.rho * float(np.linalg.norm(self.L @ v))
        limit, F = Nv / Dv, self.ratio(x)
        return limit if limit <= F + 1e-12 * abs(F) else None

    def objective(self, x) -> float:
        return self.ratio(np.asarray(x, dtype=np.float64).reshape(-1))

    def certify(self, x, duals=None):
        return fractional_certificate(self, x)

    def start(self) -> np.ndarray:
        """A domain point with D > 0 and a finite ratio (the backends' default start)."""
        n = self.n
        if self.simplex:
            return np.full(n, 1.0 / n)
        if self.den.kind == "affine":
            return np.clip(np.zeros(n), self.lo, self.hi)
        cands = []
        if self.G.shape[0]:
            cands.append(self.G.T @ self.y - self.q)
        cands += [-self.q, np.ones(n), -np.ones(n)]
        for v in cands:
            x = np.clip(v, self.lo, self.hi)
            if self.den.value(x) > 0:
                return self.best_scaling(x)
        return np.clip(np.ones(n), self.lo, self.hi)

    def best_scaling(self, x) -> np.ndarray:
        """c x with c > 0 minimizing the ratio along the ray (homogeneous D, box domain
        holding the ray's points c x for c in (0, cmax]): a better start at no cost."""
        if not self.den.homogeneous() or self.simplex:
            return x
        Gx = self.G @ x if self.G.shape[0] else np.zeros(0)
        a = 0.5 * float(Gx @ Gx)
        c = self.smooth_value(np.zeros(self.n))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(x > 0, self.hi / x, np.where(x < 0, self.lo / x, np.inf))
        cmax = float(np.min(ratios, initial=np.inf))
        # (a c^2 + b c + c0) / (c D(x)): minimized at c = sqrt(c0 / a) where positive
        cstar = np.sqrt(c / a) if a > 0 and c > 0 else 1.0
        cstar = min(cstar, cmax) if np.isfinite(cmax) else cstar
        y = x * cstar
        inside = cstar > 0 and np.all(y >= self.lo) and np.all(y <= self.hi)
        return y if inside and self.ratio(y) <= self.ratio(x) else x

    # -- CVXPY forms (the DQCP reference and Clarabel inner solves) ------------------------
    def numerator_expr(self, z):
        import cvxpy as cp
        e = self.c0 + self.q @ z
        if self.G.shape[0]:
            e = e + 0.5 * cp.sum_squares(self.G @ z - self.y)
        if np.any(self.lam):
            e = e + cp.sum(cp.multiply(self.lam, cp.abs(z)))
        if self.rho:
            e = e + self.rho * cp.norm(self.L @ z, 2)
        return e

    def denominator_expr(self, z):
        import cvxpy as cp
        den = self.den
        if den.kind == "affine":
            return den.a @ z + den.d
        if den.kind == "l2":
            return den.s * cp.norm(z if den.B is None else den.B @ z, 2)
        if den.kind == "l1":
            return den.s * cp.norm(z, 1)
        return den.s * cp.sum_largest(cp.abs(z), den.k)

    def domain_constraints(self, z) -> list:
        import cvxpy as cp
        if self.simplex:
            return [z >= 0, cp.sum(z) == 1]
        out = []
        if np.any(np.isfinite(self.lo)):
            idx = np.flatnonzero(np.isfinite(self.lo))
            out.append(z[idx] >= self.lo[idx])
        if np.any(np.isfinite(self.hi)):
            idx = np.flatnonzero(np.isfinite(self.hi))
            out.append(z[idx] <= self.hi[idx])
        return out

    def __repr__(self) -> str:
        parts = []
        if self.G.shape[0]:
            parts.append(f"1/2|Gx - y|^2 ({self.G.shape[0]} x {self.n})")
        if np.any(self.q):
            parts.append("q^T x")
        if np.any(self.lam):
            parts.append("lam |x|_1")
        if self.rho:
            parts.append("rho |Lx|_2")
        dom = "simplex" if self.simplex else ("box" if np.any(np.isfinite(self.lo) | np.isfinite(self.hi)) else "R^n")
        return f"FractionalProgram(({' + '.join(parts) or 'c0'}) / {self.den.describe()}, n={self.n}, {dom})"
