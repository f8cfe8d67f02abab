"""Restarted reflected Halpern PDHG for LPs on the device (Numba-CUDA), the counterpart of
``kernels.pdhg.halpern_steps`` (same scaled LP, same conventions: ``kernels/pdhg.py``).

One step of the PDHG operator T at tau = eta / w, sigma = eta w, then the Halpern
combination z+ = a T z - b z + g z0 (a = h (1 + rho), b = h rho, g = 1 - h,
h = (j + 1) / (j + 2)):

    x^ = clip(x - tau (c - A^T y), l, u)
    y^ = v + clip(-v, sigma rl, sigma ru),  v = y - sigma (2 A x^ - A x)

is two fused kernels, each one CSR SpMV pass with everything that touches the same index:

``col_pass``  one thread per column j (a row of A^T): A^T y^ of the previous step
              (its row j), the Halpern combination of x_j and (A^T y)_j, then the next
              primal step x^_j. ``mode`` 0: the primal step only (the first step of a
              chunk); 1: all three; 2: SpMV and combination only (the chunk's end, so that
              z, T z and their products are complete for a check; it also writes
              (x^_j - x_j)^2 for the fixed-point residual).
``row_pass``  one thread per row i: (A x^)_i, the dual step, and the combination of y_i
              and (A x)_i (``want``: also (y^_i - y_i)^2).

z's products are the combinations of known products, as on the CPU, so a step reads A
and A^T once each. The restart tests, the primal weight and the stopping test run on the
host from scalars: ``lp_parts`` / ``row_ratio`` / ``row_sizes`` compute the LP
certificate's parts (``families.lp.certificate.measures``) at T z in the original
scaling on the device, reduced by ``reduce.Reducer`` (a few floats read back per check).
``DeviceLP`` holds the data and the iterate on the device.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .device import threads_per_block, to_device
from .reduce import MAX, SUM, Reducer


@cuda.jit(device=True)
def _one_sided(v, lo, hi):
    """v with the sign a one-sided bound allows: a part towards a missing bound is 0."""
    if lo == -math.inf and v > 0.0:
        return 0.0
    if hi == math.inf and v < 0.0:
        return 0.0
    return v


@cuda.jit(device=True)
def _support_part(v, lo, hi):
    """v * lo for v > 0, v * hi for v < 0 (one term of the support function of [lo, hi])."""
    return v * lo if v > 0.0 else (v * hi if v < 0.0 else 0.0)


@cuda.jit
def col_pass(Tp, Tj, Tv, yt, x, ATy, x0, ATy0, xt, ATyt, c, l, u, tau, a, b, g, mode, Qx):
    j = cuda.grid(1)
    if j >= x.shape[0]:
        return
    if mode != 0:
        s = 0.0
        for k in range(Tp[j], Tp[j + 1]):
            s += Tv[k] * yt[Tj[k]]
        ATyt[j] = s
        xo = x[j]
        xtj = xt[j]
        if mode == 2:
            d = xtj - xo
            Qx[0, j] = d * d
        x[j] = a * xtj - b * xo + g * x0[j]
        ATy[j] = a * s - b * ATy[j] + g * ATy0[j]
    if mode != 2:
        v = x[j] - tau * (c[j] - ATy[j])
        if v < l[j]:
            v = l[j]
        elif v > u[j]:
            v = u[j]
        xt[j] = v


@cuda.jit
def row_pass(Ap, Aj, Av, xt, y, Ax, y0, Ax0, yt, Axt, rl, ru, sigma, a, b, g, combine, want, Qy):
    i = cuda.grid(1)
    if i >= y.shape[0]:
        return
    s = 0.0
    for k in range(Ap[i], Ap[i + 1]):
        s += Av[k] * xt[Aj[k]]
    Axt[i] = s
    yo = y[i]
    vv = yo - sigma * (2.0 * s - Ax[i])
    t = -vv
    lo = sigma * rl[i]
    hi = sigma * ru[i]
    if t < lo:
        t = lo
    elif t > hi:
        t = hi
    yi = vv + t
    yt[i] = yi
    if want:
        d = yi - yo
        Qy[0, i] = d * d
    if combine:
        y[i] = a * yi - b * yo + g * y0[i]
        Ax[i] = a * s - b * Ax[i] + g * Ax0[i]


@cuda.jit
def copy2(src1, dst1a, dst1b, src2, dst2a, dst2b):
    """dst1a = dst1b = src1 and dst2a = dst2b = src2 (same lengths pairwise)."""
    i = cuda.grid(1)
    if i < src1.shape[0]:
        v = src1[i]
        dst1a[i] = v
        dst1b[i] = v
    if i < src2.shape[0]:
        v = src2[i]
        dst2a[i] = v
        dst2b[i] = v


#: the rows of the column parts (``lp_parts``): name, reduction
COL_PARTS = (("P", SUM), ("cx", SUM), ("x_max", MAX), ("x_clip", MAX), ("r_viol", MAX), ("aty_max", MAX),
             ("dual_cols", SUM), ("dual_cols_abs", SUM), ("dx0", SUM))
#: the rows of the row parts
ROW_PARTS = (("ax_max", MAX), ("cax_max", MAX), ("dual_rows", SUM), ("dual_rows_abs", SUM), ("dy0", SUM),
             ("y_projected", SUM))


@cuda.jit
def col_parts(xt, ATyt, x0, dc, c, l, u, beta, ratio, Q):
    """Per column of T z in the original scaling (X = clip(beta dc x^, l, u), A^T Y =
    ratio / dc A^T y^): the terms of ``COL_PARTS``."""
    j = cuda.grid(1)
    if j >= xt.shape[0]:
        return
    X = beta * dc[j] * xt[j]
    if X < l[j]:
        X = l[j]
    elif X > u[j]:
        X = u[j]
    aty = ratio / dc[j] * ATyt[j]
    cj = c[j]
    Q[0, j] = cj * X
    Q[1, j] = abs(cj) * abs(X)
    Q[2, j] = abs(X)
    cx = min(max(X, l[j]), u[j])
    Q[3, j] = abs(X - cx)
    r = cj - aty
    rh = _one_sided(r, l[j], u[j])
    Q[4, j] = abs(r - rh)
    Q[5, j] = abs(aty)
    tt = _support_part(rh, l[j], u[j])
    Q[6, j] = tt
    Q[7, j] = abs(tt)
    d = xt[j] - x0[j]
    Q[8, j] = d * d


@cuda.jit
def row_parts(Axt, yt, y0, dr, rl, ru, beta, ratio, Q):
    """Per row of T z in the original scaling (A X = beta / dr A x^, Y = ratio dr y^):
    the terms of ``ROW_PARTS``."""
    i = cuda.grid(1)
    if i >= yt.shape[0]:
        return
    ax = beta / dr[i] * Axt[i]
    Y = ratio * dr[i] * yt[i]
    yh = _one_sided(Y, rl[i], ru[i])
    cax = min(max(ax, rl[i]), ru[i])
    Q[0, i] = abs(ax)
    Q[1, i] = abs(cax)
    t = _support_part(yh, rl[i], ru[i])
    Q[2, i] = t
    Q[3, i] = abs(t)
    d = yt[i] - y0[i]
    Q[4, i] = d * d
    Q[5, i] = 1.0 if yh != Y else 0.0


@cuda.jit
def row_ratio(Axt, dr, rl, ru, beta, reads, floor, Q):
    """The row-wise relative violation viol_i / max(|a_i X|, |clip|, reads_i, floor)."""
    i = cuda.grid(1)
    if i >= Axt.shape[0]:
        return
    ax = beta / dr[i] * Axt[i]
    cax = min(max(ax, rl[i]), ru[i])
    viol = abs(ax - cax)
    if viol > 0.0:
        den = max(max(abs(ax), abs(cax)), abs(reads[0, i]))
        den = max(max(den, floor), 2.2250738585072014e-308)
        Q[0, i] = viol / den
    else:
        Q[0, i] = 0.0


@cuda.jit
def row_sizes(Ap, Aj, Av, xt, dc, l, u, dr, beta, reads):
    """reads[0, i] = sum_k |A_ik| |X_k| in the original scaling (A = S / (dr dc), S scaled)."""
    i = cuda.grid(1)
    if i >= reads.shape[1]:
        return
    s = 0.0
    for k in range(Ap[i], Ap[i + 1]):
        jj = Aj[k]
        X = beta * dc[jj] * xt[jj]
        if X < l[jj]:
            X = l[jj]
        elif X > u[jj]:
            X = u[jj]
        s += abs(Av[k]) * abs(X) / dc[jj]
    reads[0, i] = s / dr[i]


def halpern_coefficients(j: int, rho: float):
    h = (j + 1.0) / (j + 2.0)
    return h * (1.0 + rho), h * rho, 1.0 - h


class DeviceLP:
    """A scaled LP and its Halpern iterate on the device.

    ``mats`` (Ap, Aj, Av, Tp, Tj, Tv) and ``vec`` (c, l, u, rl, ru) are the scaled data
    (``backends.pdhg.Scaled``), ``orig`` the original (c, l, u, rl, ru), ``dr``, ``dc``,
    ``alpha``, ``beta`` the scaling (x = beta dc x^, y = alpha / beta dr y^); ``z`` the
    scaled start (x, y, Ax, ATy). Everything is uploaded once here."""

    def __init__(self, mats, vec, orig, dr, dc, alpha, beta, z):
        self.tpb = threads_per_block()
        self.n, self.m = z[0].size, z[1].size
        Ap, Aj, Av, Tp, Tj, Tv = mats
        self.A = (to_device(Ap, np.int64), to_device(Aj, np.int64), to_device(Av))
        self.T = (to_device(Tp, np.int64), to_device(Tj, np.int64), to_device(Tv))
        self.vec = tuple(to_device(v) for v in vec)
        self.orig = tuple(to_device(v) for v in orig)
        self.dr, self.dc = to_device(dr), to_device(dc)
        self.alpha, self.beta = float(alpha), float(beta)
        self.x, self.y, self.Ax, self.ATy = (to_device(v) for v in z)
        n, m = self.n, self.m
        self.xt, self.ATyt = cuda.device_array(n), cuda.device_array(n)
        self.yt, self.Axt = cuda.device_array(m), cuda.device_array(m)
        self.x0, self.y0, self.Ax0, self.ATy0 = (to_device(v) for v in z)
        self.Qx, self.Qy = cuda.device_array((1, n)), cuda.device_array((1, m))
        self.Qc, self.Qr = cuda.device_array((len(COL_PARTS), n)), cuda.device_array((len(ROW_PARTS), m))
        self.Qv = cuda.device_array((1, m))
        self.reads = cuda.to_device(np.zeros((1, m)))
        self.red_x, self.red_y = Reducer(1, n, (SUM,)), Reducer(1, m, (SUM,))
        self.red_c = Reducer(len(COL_PARTS), n, tuple(o for _, o in COL_PARTS))
        self.red_r = Reducer(len(ROW_PARTS), m, tuple(o for _, o in ROW_PARTS))
        self.red_v = Reducer(1, m, (MAX,))
        self.gn = (-(-max(n, 1) // self.tpb), self.tpb)
        self.gm = (-(-max(m, 1) // self.tpb), self.tpb)
        self.gnm = (-(-max(n, m, 1) // self.tpb), self.tpb)
        self.has_reads = False

    def steps(self, count: int, j: int, eta: float, w: float, rho: float) -> int:
        """``count`` Halpern steps from counter j; returns the new counter. Afterwards z,
        T z (of the last step) and their products are complete; ``fpr`` reads its
        fixed-point residual."""
        tau, sigma = eta / w, eta * w
        c, l, u, rl, ru = self.vec
        (Ap, Aj, Av), (Tp, Tj, Tv) = self.A, self.T
        gn, gm = self.gn, self.gm
        x, y, Ax, ATy, xt, yt, Axt, ATyt = self.x, self.y, self.Ax, self.ATy, self.xt, self.yt, self.Axt, self.ATyt
        x0, y0, Ax0, ATy0 = self.x0, self.y0, self.Ax0, self.ATy0
        prev = None
        for s in range(count):
            co = halpern_coefficients(j + s, rho)
            if prev is None:
                col_pass[gn](Tp, Tj, Tv, yt, x, ATy, x0, ATy0, xt, ATyt, c, l, u, tau, 0.0, 0.0, 0.0, 0, self.Qx)
            else:
                col_pass[gn](Tp, Tj, Tv, yt, x, ATy, x0, ATy0, xt, ATyt, c, l, u, tau, prev[0], prev[1], prev[2],
                             1, self.Qx)
            row_pass[gm](Ap, Aj, Av, xt, y, Ax, y0, Ax0, yt, Axt, rl, ru, sigma, co[0], co[1], co[2], True,
                         s == count - 1, self.Qy)
            prev = co
        if prev is not None:
            col_pass[gn](Tp, Tj, Tv, yt, x, ATy, x0, ATy0, xt, ATyt, c, l, u, tau, prev[0], prev[1], prev[2], 2,
                         self.Qx)
        self.has_reads = False
        return j + count

    def fpr(self, w: float) -> float:
        """|z - T z|_w = sqrt(w |dx|^2 + |dy|^2 / w) of the last step (scaled)."""
        dx2 = float(self.red_x(self.Qx)[0])
        dy2 = float(self.red_y(self.Qy)[0])
        return math.sqrt(w * dx2 + dy2 / w)

    def parts(self) -> dict:
        """The certificate's parts at T z (original scaling) and the scaled distances of
        T z from the anchor (``dx0``, ``dy0``: squared)."""
        ratio = self.alpha / self.beta
        c, l, u, rl, ru = self.orig
        col_parts[self.gn](self.xt, self.ATyt, self.x0, self.dc, c, l, u, self.beta, ratio, self.Qc)
        row_parts[self.gm](self.Axt, self.yt, self.y0, self.dr, rl, ru, self.beta, ratio, self.Qr)
        out = dict(zip((k for k, _ in COL_PARTS), (float(v) for v in self.red_c(self.Qc))))
        out.update(zip((k for k, _ in ROW_PARTS), (float(v) for v in self.red_r(self.Qr))))
        return out

    def reads_max(self) -> float:
        """Computes the row sizes |A| |X| at T z (original scaling); returns their max."""
        (Ap, Aj, Av) = self.A
        c, l, u, rl, ru = self.orig
        row_sizes[self.gm](Ap, Aj, Av, self.xt, self.dc, l, u, self.dr, self.beta, self.reads)
        self.has_reads = True
        return float(self.red_v(self.reads)[0])

    def rows(self, floor: float, with_reads: bool) -> float:
        """max_i viol_i / max(sizes_i, floor) at T z (``with_reads``: the row sizes of the
        last ``reads_max`` among the sizes; otherwise none, the strict measure)."""
        c, l, u, rl, ru = self.orig
        reads = self.reads if with_reads and self.has_reads else self._zeros()
        row_ratio[self.gm](self.Axt, self.dr, rl, ru, self.beta, reads, floor, self.Qv)
        return float(self.red_v(self.Qv)[0])

    def _zeros(self):
        if getattr(self, "_z", None) is None:
            self._z = cuda.to_device(np.zeros((1, self.m)))
        return self._z

    def restart_to_t(self) -> None:
        """z = z0 = T z (with their products): a restart."""
        copy2[self.gnm](self.xt, self.x, self.x0, self.yt, self.y, self.y0)
        copy2[self.gnm](self.ATyt, self.ATy, self.ATy0, self.Axt, self.Ax, self.Ax0)

    def t_point(self):
        """T z and its products on the host (scaled): (x^, A x^, y^, A^T y^)."""
        return (self.xt.copy_to_host(), self.Axt.copy_to_host(), self.yt.copy_to_host(),
                self.ATyt.copy_to_host())

    def z_point(self):
        return self.x.copy_to_host(), self.y.copy_to_host(), self.Ax.copy_to_host(), self.ATy.copy_to_host()
