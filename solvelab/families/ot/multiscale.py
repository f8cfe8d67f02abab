"""MultiscaleOTProgram: the lazy point-cloud OT program solved on a truncated support.

Same problem, point and plan as ``LazyOTProgram`` (x = [f; g], P_ij = exp((f_i + g_j -
C_ij)/eps) over ALL pairs), but its certificate never makes an O(nm) pass: it rebuilds the
support S = {(i, j) : f_i + g_j - C_ij >= -eps T} from x (``kernels.ot_sparse``, exact: a
grid of y-cells with their boxes and max g prunes cells that cannot qualify), computes the
measures on S, and bounds what lies outside: every dropped entry is < exp(-T), so the
dropped mass is at most B = (n m - |S|) exp(-T). T = log(n m / (trunc_tol sum(a))), so
B / sum(a) <= trunc_tol (1e-9 by default).

    marginal_violation  (|P_S 1 - a|_1 + |P_S^T 1 - b|_1 + 2 B) / sum(a)   (>= the full plan's)
    gap                 (|primal_S - dual_S| + B (max|f| + max|g| + eps)) /
                        (max(|primal_S|, |dual_S|) - B (max|f| + max|g| + eps))
    truncated_mass      B / sum(a) (reported; already inside both measures above)

primal = <C, P> + eps sum P log P = sum P_ij (f_i + g_j) for the Gibbs plan, so the part
outside S is within B (max|f| + max|g|); dual = <a, f> + <b, g> + eps (sum(a) - mass), the
mass outside S within B. ``certify_lazy`` (full lazy passes) gives the same verdict on small
problems (tests). A support over ``max_nnz`` entries (4e8) is not built: the certificate is
then ``certify_lazy`` (full passes) and the solver falls back to the lazy iteration.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import InvalidDataError
from ...result import Certificate, Measure
from .lazy import LazyOTProgram

_TINY = float(np.finfo(np.float64).tiny)


#: the most entries a truncated support may hold (about 4.8 GB with its transpose)
MAX_NNZ = 4 * 10 ** 8


class SupportTooLarge(InvalidDataError):
    """The truncated support would exceed ``max_nnz`` entries (the solver then falls back
    to the full lazy passes, the certificate to ``certify_lazy``)."""


def truncation(n: int, m: int, mass: float, trunc_tol: float) -> float:
    """T with n m exp(-T) = trunc_tol * mass (at least 1)."""
    return max(1.0, math.log(float(n) * float(m) / (trunc_tol * mass)))


class Cells:
    """y bucketed into a uniform grid of about m / per_cell cells: ``ptr`` over ``members``
    (indices of y), each cell's bounding box (``lo``, ``hi``: (d, ncells))."""

    def __init__(self, YT: np.ndarray, per_cell: int = 24):
        d, m = YT.shape
        k = max(1, int(round((m / per_cell) ** (1.0 / d))))
        lo0, hi0 = YT.min(axis=1), YT.max(axis=1)
        w = np.where(hi0 > lo0, (hi0 - lo0) / k, 1.0)
        idx = np.minimum(((YT - lo0[:, None]) / w[:, None]).astype(np.int64), k - 1)
        key = np.zeros(m, dtype=np.int64)
        for t in range(d):
            key = key * k + idx[t]
        order = np.argsort(key, kind="stable")
        ks = key[order]
        uniq, start = np.unique(ks, return_index=True)
        self.members = order.astype(np.int64)
        self.ptr = np.append(start, m).astype(np.int64)
        nc = uniq.size
        Ys = YT[:, order]
        self.lo = np.ascontiguousarray(np.minimum.reduceat(Ys, start, axis=1)) if nc else np.zeros((d, 0))
        self.hi = np.ascontiguousarray(np.maximum.reduceat(Ys, start, axis=1)) if nc else np.zeros((d, 0))

    def gmax(self, g: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(g[self.members], self.ptr[:-1])


class Support:
    """The truncated support {(i, j): C_ij - f_i - g_j <= eps T} in CSR (``indptr``, ``indices``)
    and its transpose (``tptr``, ``tind``)."""

    def __init__(self, XT, YT, f, g, eps, T, cells: Cells, max_nnz: int | None = None):
        from ...kernels import ot_sparse as KS
        n, m = XT.shape[1], YT.shape[1]
        thr = eps * T
        gm = cells.gmax(g)
        counts = np.zeros(n, dtype=np.int64)
        KS.support_count(XT, YT, f, g, thr, cells.ptr, cells.members, cells.lo, cells.hi, gm, counts)
        nnz = int(counts.sum())
        max_nnz = MAX_NNZ if max_nnz is None else max_nnz
        if nnz > max_nnz:
            raise SupportTooLarge(f"the truncated OT support would hold {nnz:,} entries (> max_nnz = {max_nnz:,}, "
                                   f"about {8 * max_nnz / 2**30:.1f} GiB); raise eps or max_nnz")
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=self.indptr[1:])
        self.indices = np.empty(nnz, dtype=np.int32)
        KS.support_fill(XT, YT, f, g, thr, cells.ptr, cells.members, cells.lo, cells.hi, gm, self.indptr,
                        self.indices)
        self.tptr = np.zeros(m + 1, dtype=np.int64)
        self.tind = np.empty(nnz, dtype=np.int32)
        KS.transpose_pattern(self.indptr, self.indices, m, self.tptr, self.tind)
        self.nnz = nnz
        self.shape = (n, m)
        self.T = T
        self.empty_rows = int(np.count_nonzero(counts == 0))
        self.empty_cols = int(np.count_nonzero(np.diff(self.tptr) == 0))

    def dropped_bound(self) -> float:
        """An upper bound on the mass of the Gibbs plan outside the support (when built at
        the potentials it is used with): (n m - nnz) exp(-T)."""
        n, m = self.shape
        return (float(n) * float(m) - self.nnz) * math.exp(-self.T)


def sparse_stats(XT, YT, sup: Support, f, g, eps) -> dict:
    """Row and column sums, <C, P>, sum P log P and mass of the plan on the support."""
    from ...kernels import ot_sparse as KS
    n, m = sup.shape
    rows = np.empty(n)
    parts = np.empty((n, 2))
    KS.stats_sparse(XT, YT, sup.indptr, sup.indices, f, g, 1.0 / eps, rows, parts)
    cols = np.empty(m)
    partsT = np.empty((m, 2))
    KS.stats_sparse(YT, XT, sup.tptr, sup.tind, g, f, 1.0 / eps, cols, partsT)
    tot = parts.sum(axis=0)
    return {"rows": rows, "cols": cols, "transport_cost": float(tot[0]), "plogp": float(tot[1]),
            "mass": float(rows.sum())}


class MultiscaleOTProgram(LazyOTProgram):
    """The lazy point-cloud program with a truncated-support solver and certificate
    (``point_cloud_ot(..., method='multiscale')``); ``trunc_tol``: the bound on the
    relative mass the certificate's support may leave out (1e-9)."""

    method = "multiscale"

    def __init__(self, *args, trunc_tol: float = 1e-9, **kw):
        super().__init__(*args, **kw)
        t = float(trunc_tol)
        if not (np.isfinite(t) and 0 < t < 1):
            raise InvalidDataError(f"trunc_tol must be in (0, 1), got {trunc_tol!r}")
        self.trunc_tol = t
        self._cells = None

    @property
    def cells(self) -> Cells:
        if self._cells is None:
            self._cells = Cells(self.YT)
        return self._cells

    @property
    def truncation(self) -> float:
        return truncation(self.ri.size, self.ci.size, float(self.a.sum()), self.trunc_tol)

    def support(self, f_s, g_s, eps=None, T=None) -> Support:
        """The truncated support at support potentials (f_s, g_s)."""
        eps = self.eps if eps is None else eps
        return Support(self.XT, self.YT, np.ascontiguousarray(f_s), np.ascontiguousarray(g_s), eps,
                       self.truncation if T is None else T, self.cells)

    def objective(self, x) -> float:
        """<C, P> + eps sum P log P on the certificate's support (+ const); within
        B (max|f| + max|g|) of the full plan's value (B: ``Support.dropped_bound``)."""
        f_s, g_s = self.potentials(x)
        st = sparse_stats(self.XT, self.YT, self.support(f_s, g_s), f_s, g_s, self.eps)
        return st["transport_cost"] + self.eps * st["plogp"] + self.constant

    def certify(self, x, duals=None) -> Certificate:
        return certify_sparse(self, x)

    def __repr__(self) -> str:
        return super().__repr__().replace("LazyOTProgram(", "MultiscaleOTProgram(")


def certify_sparse(p: MultiscaleOTProgram, x) -> Certificate:
    """The certificate of the Gibbs plan at x = [f; g] on the ORIGINAL problem, from its
    truncated support plus the bound on the mass outside it (see the module docstring)."""
    from .certificate import _ot_certificate
    n, m = p.shape
    x = np.asarray(x, dtype=np.float64)
    inf = float("inf")
    if x.shape != (n + m,) or not np.all(np.isfinite(x)):
        return _ot_certificate(p, inf, inf)
    f, g = p.potentials(x)
    eps = p.eps
    try:
        sup = p.support(f, g)
    except SupportTooLarge:      # too many entries to hold: the full lazy passes, O(n + m) memory
        from .lazy import certify_lazy
        return certify_lazy(p, x)
    st = sparse_stats(p.XT, p.YT, sup, f, g, eps)
    s = float(p.a.sum())
    B = sup.dropped_bound()
    if not np.isfinite(st["mass"]):
        return _ot_certificate(p, inf, inf)
    viol = (float(np.abs(st["rows"] - p.a_s).sum()) + float(np.abs(st["cols"] - p.b_s).sum()) + 2.0 * B) / s
    prim = st["transport_cost"] + eps * st["plogp"] + p.constant
    dual = float(p.a_s @ f + p.b_s @ g) + eps * (s - st["mass"]) + p.constant
    slack = B * (float(np.max(np.abs(f))) + float(np.max(np.abs(g))) + eps)
    den = max(abs(prim), abs(dual)) - slack
    gap = (abs(prim - dual) + slack) / den if den > _TINY else inf
    cert = _ot_certificate(p, viol, gap, dual, primal=prim)
    ms = list(cert.measures) + [Measure("truncated_mass", B / s, "bound on the plan's mass outside the certified "
                                        "support / sum(a) (included in both measures)", compared=False)]
    return Certificate.from_measures(cert.kind, ms, dual_objective=dual, primal_objective=prim)
