"""Numba kernels for coordinate descent on sparse generalized linear models.

Everything here is ``@njit(cache=True)`` over plain arrays (no jitclasses), so the
compiled code is cached on disk and a second process starts at once.

The model, on x in R^p with data A (m x p; dense Fortran-ordered, or CSC as
``data, indices, indptr``)::

    F(x) = sum_i c * phi(s_i (A x)_i - b_i)  +  sum_j pen_j(x_j)   [+ sum_G wG ||x_G||_2]

Datafits ``phi`` (``dkind``, the codes of ``kernels.codes``; ``dpar`` holds their
parameter; ``ir.losses`` has the same formulas in NumPy, for the certificates):

    0 quadratic       phi(z) = z^2                     (CVXPY sum_squares; L_phi = 2)
    1 logistic        phi(z) = log(1 + e^z)            (L_phi = 1/4)
    2 huber           phi(z) = CVXPY huber(z, M)       (L_phi = 2, dpar = M)
    3 squared hinge   phi(z) = max(z, 0)^2             (L_phi = 2)
    4 exp (Poisson)   phi(z) = e^z                     (no global L_phi: only the
                      proximal-Newton path of the backend, with its line search, uses
                      it; the Poisson term -y_i u_i is added by the caller)

Coordinate penalties (``pkind``, ``kernels.codes.PENALTY``; per-coordinate arrays w1, r, lo, hi; ``gamma``)::

    0 convex          w1 |x| + r x^2 + indicator(lo <= x <= hi)   (l1, weighted l1,
                      elastic net, bounds, nonneg, ridge)
    1 MCP             MCP(lam = w1, gamma) + bounds
    2 SCAD            SCAD(lam = w1, a = gamma) + bounds

The one-dimensional subproblem is ``prox1d``: the global minimizer of
``pen_j(x) + (x - v)^2 / (2 t)``. A coordinate step is x_j <- prox1d(x_j - g_j / L_j,
1 / L_j) with g_j the partial gradient and L_j the coordinate Lipschitz constant; for the
quadratic datafit this is the exact coordinate minimization. To plug in another
one-dimensional global minimization (for instance the per-coordinate step of CD for
fractional programs), add a ``pkind`` branch in ``prox1d``: the epoch kernels do not
need to change.

The residual ``u = A x`` is updated in place after each coordinate move, never recomputed.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

SELECTION = {"cyclic": 0, "random": 1, "greedy": 2}


# ---------------------------------------------------------------------------------------
# scalar pieces
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def phi_value(dkind, z, dpar):
    if dkind == 0:
        return z * z
    if dkind == 1:
        if z > 0:
            return z + math.log1p(math.exp(-z))
        return math.log1p(math.exp(z))
    if dkind == 2:
        a = abs(z)
        if a <= dpar:
            return z * z
        return 2.0 * dpar * a - dpar * dpar
    if dkind == 4:
        return math.exp(z) if z < 709.0 else np.inf
    zp = z if z > 0 else 0.0
    return zp * zp


@njit(cache=True)
def phi_deriv(dkind, z, dpar):
    if dkind == 0:
        return 2.0 * z
    if dkind == 1:
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)
    if dkind == 2:
        g = 2.0 * z
        if g > 2.0 * dpar:
            return 2.0 * dpar
        if g < -2.0 * dpar:
            return -2.0 * dpar
        return g
    if dkind == 4:
        return math.exp(z) if z < 709.0 else np.inf
    return 2.0 * z if z > 0 else 0.0


@njit(cache=True)
def phi_curv(dkind, z, dpar):
    """phi''(z) (the generalized one, 0 or 2, where phi' has a kink)."""
    if dkind == 0:
        return 2.0
    if dkind == 1:
        sg = phi_deriv(1, z, dpar)
        return sg * (1.0 - sg)
    if dkind == 2:
        return 2.0 if abs(z) <= dpar else 0.0
    if dkind == 4:
        return math.exp(z) if z < 709.0 else np.inf
    return 2.0 if z > 0 else 0.0


@njit(cache=True)
def phi_conj(dkind, y, dpar):
    """phi^*(y); +inf outside its domain (with a rounding allowance)."""
    if dkind == 0:
        return 0.25 * y * y
    if dkind == 1:
        if y < -1e-12 or y > 1.0 + 1e-12:
            return np.inf
        y = min(max(y, 0.0), 1.0)
        out = 0.0
        if y > 0:
            out += y * math.log(y)
        if y < 1:
            out += (1.0 - y) * math.log(1.0 - y)
        return out
    if dkind == 2:
        if abs(y) > 2.0 * dpar * (1.0 + 1e-12):
            return np.inf
        return 0.25 * y * y
    if y < -1e-12:
        return np.inf
    if dkind == 4:
        if y <= 0.0:
            return 0.0
        return y * math.log(y) - y
    return 0.25 * y * y


@njit(cache=True)
def prox1d(pkind, v, t, w1, r, lo, hi, gamma):
    """argmin_x pen(x) + (x - v)^2 / (2 t) for one coordinate (global minimizer)."""
    if pkind == 0:
        a = abs(v) - t * w1
        if a <= 0.0:
            z = 0.0
        else:
            z = a if v > 0 else -a
        z = z / (1.0 + 2.0 * t * r)
    elif pkind == 1:
        # MCP (lam = w1, gamma > t): firm thresholding
        av = abs(v)
        if av <= t * w1:
            z = 0.0
        elif av <= gamma * w1:
            z = (av - t * w1) / (1.0 - t / gamma)
            z = z if v > 0 else -z
        else:
            z = v
    else:
        # SCAD (lam = w1, a = gamma > 1 + t)
        av = abs(v)
        if av <= w1 * (1.0 + t):
            z = av - t * w1
            if z < 0.0:
                z = 0.0
        elif av <= gamma * w1:
            z = ((gamma - 1.0) * av - t * gamma * w1) / (gamma - 1.0 - t)
        else:
            z = av
        z = z if v > 0 else -z
    if z < lo:
        z = lo
    if z > hi:
        z = hi
    return z


@njit(cache=True)
def pen_value(pkind, x, w1, r, gamma):
    a = abs(x)
    if pkind == 0:
        return w1 * a + r * x * x
    if pkind == 1:
        if a <= gamma * w1:
            return w1 * a - a * a / (2.0 * gamma)
        return 0.5 * gamma * w1 * w1
    if a <= w1:
        return w1 * a
    if a <= gamma * w1:
        return (2.0 * gamma * w1 * a - a * a - w1 * w1) / (2.0 * (gamma - 1.0))
    return 0.5 * w1 * w1 * (gamma + 1.0)


@njit(cache=True)
def subdiff_dist(pkind, x, g, w1, r, lo, hi, gamma):
    """Distance of -g to the (Frechet) subdifferential of pen at x, bounds included."""
    # smooth part of the penalty away from 0, and the interval [a, b] it spans at 0
    if x != 0.0:
        sg = 1.0 if x > 0 else -1.0
        if pkind == 0:
            d = w1 * sg + 2.0 * r * x
        elif pkind == 1:
            ax = abs(x)
            d = sg * (w1 - ax / gamma) if ax <= gamma * w1 else 0.0
        else:
            ax = abs(x)
            if ax <= w1:
                d = sg * w1
            elif ax <= gamma * w1:
                d = sg * (gamma * w1 - ax) / (gamma - 1.0)
            else:
                d = 0.0
        a = d
        b = d
    else:
        a = -w1
        b = w1
    # y in [a, b] + normal cone of the bounds at x; distance of -g to that set
    if x <= lo and x >= hi:
        return 0.0
    if x <= lo:
        a = -np.inf
    if x >= hi:
        b = np.inf
    v = -g
    if v < a:
        return a - v
    if v > b:
        return v - b
    return 0.0


@njit(cache=True)
def pen_conj(x_star_v, w1, r, lo, hi):
    """Conjugate of w1|x| + r x^2 + box at v (convex kind only); +inf if unbounded."""
    v = x_star_v
    if r > 0.0:
        a = abs(v) - w1
        z = 0.0
        if a > 0:
            z = a / (2.0 * r)
            if v < 0:
                z = -z
    else:
        if v > w1 * (1.0 + 1e-12) + 1e-300:
            z = hi
        elif v < -w1 * (1.0 + 1e-12) - 1e-300:
            z = lo
        else:
            z = 0.0
    if z < lo:
        z = lo
    if z > hi:
        z = hi
    if not np.isfinite(z):
        return np.inf
    return v * z - w1 * abs(z) - r * z * z


# ---------------------------------------------------------------------------------------
# vector pieces
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def datafit_value(u, s, b, c, dkind, dpar):
    out = 0.0
    for i in range(u.shape[0]):
        out += phi_value(dkind, s[i] * u[i] - b[i], dpar)
    return c * out


@njit(cache=True)
def datafit_deriv(u, s, b, c, dkind, dpar, out):
    """out_i = d/du_i of c phi(s_i u_i - b_i)."""
    for i in range(u.shape[0]):
        out[i] = c * s[i] * phi_deriv(dkind, s[i] * u[i] - b[i], dpar)


@njit(cache=True)
def penalty_value(x, pkind, w1, r, gamma):
    out = 0.0
    for j in range(x.shape[0]):
        if x[j] != 0.0:
            out += pen_value(pkind, x[j], w1[j], r[j], gamma)
    return out


@njit(cache=True)
def kkt_scores(x, g, pkind, w1, r, lo, hi, gamma, out):
    for j in range(x.shape[0]):
        out[j] = subdiff_dist(pkind, x[j], g[j], w1[j], r[j], lo[j], hi[j], gamma)


# ---------------------------------------------------------------------------------------
# column access: dense (Fortran) and CSC
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def col_sqnorms_dense(A, s):
    m, p = A.shape
    out = np.empty(p)          # every entry is written (np.empty compiles faster than np.zeros)
    for j in range(p):
        acc = 0.0
        for i in range(m):
            v = s[i] * A[i, j]
            acc += v * v
        out[j] = acc
    return out


@njit(cache=True)
def col_sqnorms_csc(data, indices, indptr, s):
    p = indptr.shape[0] - 1
    out = np.empty(p)
    for j in range(p):
        acc = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            v = s[indices[k]] * data[k]
            acc += v * v
        out[j] = acc
    return out


@njit(cache=True)
def grad_cols_dense(A, d, cols, out):
    m = A.shape[0]
    for k in range(cols.shape[0]):
        j = cols[k]
        acc = 0.0
        for i in range(m):
            acc += A[i, j] * d[i]
        out[k] = acc


@njit(cache=True)
def grad_cols_csc(data, indices, indptr, d, cols, out):
    for k in range(cols.shape[0]):
        j = cols[k]
        acc = 0.0
        for q in range(indptr[j], indptr[j + 1]):
            acc += data[q] * d[indices[q]]
        out[k] = acc


@njit(cache=True)
def add_cols_dense(A, cols, delta, u):
    """u += A[:, cols] @ delta."""
    m = A.shape[0]
    for k in range(cols.shape[0]):
        dk = delta[k]
        if dk != 0.0:
            j = cols[k]
            for i in range(m):
                u[i] += A[i, j] * dk


@njit(cache=True)
def add_cols_csc(data, indices, indptr, cols, delta, u):
    for k in range(cols.shape[0]):
        dk = delta[k]
        if dk != 0.0:
            j = cols[k]
            for q in range(indptr[j], indptr[j + 1]):
                u[indices[q]] += data[q] * dk


# ---------------------------------------------------------------------------------------
# coordinate epochs over a working set
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _order(ws, scores, mode, seed, epoch):
    """Visit order of the working-set positions: identity (cyclic), a random permutation
    (Fisher-Yates on a Park-Miller stream seeded by seed + epoch), or
    decreasing scores (greedy; an in-place heap sort). Hand-written, in one function, so
    that no NumPy sort / random machinery is compiled: that dominated the first-call
    compile time."""
    n = ws.shape[0]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[i] = i
    if mode == 1:
        st = (seed + epoch) % 2147483647
        if st <= 0:
            st += 2147483646
        for i in range(n - 1, 0, -1):
            st = (st * 48271) % 2147483647          # Park-Miller minimal standard generator
            k = st % (i + 1)
            t = order[i]
            order[i] = order[k]
            order[k] = t
    elif mode == 2:
        # min-heap on the scores; popping the minimum to the back leaves decreasing order
        for phase in range(2):
            top = (n - 2) // 2 if phase == 0 else n - 1
            stop = -1 if phase == 0 else 0
            for it in range(top, stop, -1):
                if phase == 0:
                    root, end = it, n - 1
                else:
                    t = order[0]
                    order[0] = order[it]
                    order[it] = t
                    root, end = 0, it - 1
                while True:
                    child = 2 * root + 1
                    if child > end:
                        break
                    sw = root
                    if scores[order[sw]] > scores[order[child]]:
                        sw = child
                    if child + 1 <= end and scores[order[sw]] > scores[order[child + 1]]:
                        sw = child + 1
                    if sw == root:
                        break
                    t = order[root]
                    order[root] = order[sw]
                    order[sw] = t
                    root = sw
    return order


@njit(cache=True)
def _coord_step(pkind, xj, gj, Lj, w1, r, lo, hi, gamma):
    if Lj <= 0.0:
        # the datafit ignores x_j: minimize the penalty alone (keep x_j if it is flat)
        if w1 == 0.0 and r == 0.0:
            z = xj
            if z < lo:
                z = lo
            if z > hi:
                z = hi
            return z
        return prox1d(pkind, 0.0, 1.0, w1, r, lo, hi, gamma)
    return prox1d(pkind, xj - gj / Lj, 1.0 / Lj, w1, r, lo, hi, gamma)


@njit(cache=True)
def _grad_dense(A, s, b, c, dkind, dpar, u, j, Atb, fast):
    m = A.shape[0]
    acc = 0.0
    if fast:
        for i in range(m):
            acc += A[i, j] * u[i]
        return 2.0 * c * (acc - Atb[j])
    if dkind == 1:
        for i in range(m):
            z = s[i] * u[i] - b[i]
            if z >= 0:
                acc += A[i, j] * s[i] / (1.0 + math.exp(-z))
            else:
                e = math.exp(z)
                acc += A[i, j] * s[i] * e / (1.0 + e)
        return c * acc
    for i in range(m):
        acc += A[i, j] * s[i] * phi_deriv(dkind, s[i] * u[i] - b[i], dpar)
    return c * acc


@njit(cache=True)
def _grad_csc(data, indices, indptr, s, b, c, dkind, dpar, u, j, Atb, fast):
    acc = 0.0
    if fast:
        for q in range(indptr[j], indptr[j + 1]):
            acc += data[q] * u[indices[q]]
        return 2.0 * c * (acc - Atb[j])
    if dkind == 1:
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            z = s[i] * u[i] - b[i]
            if z >= 0:
                acc += data[q] * s[i] / (1.0 + math.exp(-z))
            else:
                e = math.exp(z)
                acc += data[q] * s[i] * e / (1.0 + e)
        return c * acc
    for q in range(indptr[j], indptr[j + 1]):
        i = indices[q]
        acc += data[q] * s[i] * phi_deriv(dkind, s[i] * u[i] - b[i], dpar)
    return c * acc


@njit(cache=True)
def cd_epochs_dense(A, s, b, c, dkind, dpar, u, x, ws, L, pkind, w1, r, lo, hi, gamma,
                    n_epochs, mode, seed, Atb, fast):
    """``n_epochs`` coordinate sweeps over ``ws``; u = A x is kept up to date.

    mode 0 cyclic, 1 random permutation per epoch, 2 greedy (Gauss-Southwell-Lipschitz:
    each sweep visits the coordinates in decreasing order of |x_j^+ - x_j| sqrt(L_j),
    scores computed from the gradients at the start of the sweep). Returns the largest
    sqrt(L_j) |dx_j| of the last sweep.
    """
    m = A.shape[0]
    nw = ws.shape[0]
    scores = np.zeros(nw)
    biggest = 0.0
    for ep in range(n_epochs):
        if mode == 2:
            for k in range(nw):
                j = ws[k]
                gj = _grad_dense(A, s, b, c, dkind, dpar, u, j, Atb, fast)
                xn = _coord_step(pkind, x[j], gj, L[j], w1[j], r[j], lo[j], hi[j], gamma)
                scores[k] = abs(xn - x[j]) * math.sqrt(L[j])
        order = _order(ws, scores, mode, seed, ep)
        biggest = 0.0
        for kk in range(nw):
            j = ws[order[kk]]
            gj = _grad_dense(A, s, b, c, dkind, dpar, u, j, Atb, fast)
            old = x[j]
            xn = _coord_step(pkind, old, gj, L[j], w1[j], r[j], lo[j], hi[j], gamma)
            if xn != old:
                dx = xn - old
                x[j] = xn
                for i in range(m):
                    u[i] += A[i, j] * dx
                sc = abs(dx) * math.sqrt(L[j])
                if sc > biggest:
                    biggest = sc
    return biggest


@njit(cache=True)
def cd_epochs_csc(data, indices, indptr, s, b, c, dkind, dpar, u, x, ws, L, pkind, w1, r, lo, hi,
                  gamma, n_epochs, mode, seed, Atb, fast):
    """CSC twin of ``cd_epochs_dense``."""
    nw = ws.shape[0]
    scores = np.zeros(nw)
    biggest = 0.0
    for ep in range(n_epochs):
        if mode == 2:
            for k in range(nw):
                j = ws[k]
                gj = _grad_csc(data, indices, indptr, s, b, c, dkind, dpar, u, j, Atb, fast)
                xn = _coord_step(pkind, x[j], gj, L[j], w1[j], r[j], lo[j], hi[j], gamma)
                scores[k] = abs(xn - x[j]) * math.sqrt(L[j])
        order = _order(ws, scores, mode, seed, ep)
        biggest = 0.0
        for kk in range(nw):
            j = ws[order[kk]]
            gj = _grad_csc(data, indices, indptr, s, b, c, dkind, dpar, u, j, Atb, fast)
            old = x[j]
            xn = _coord_step(pkind, old, gj, L[j], w1[j], r[j], lo[j], hi[j], gamma)
            if xn != old:
                dx = xn - old
                x[j] = xn
                for q in range(indptr[j], indptr[j + 1]):
                    u[indices[q]] += data[q] * dx
                sc = abs(dx) * math.sqrt(L[j])
                if sc > biggest:
                    biggest = sc
    return biggest


# ---------------------------------------------------------------------------------------
# block (group) epochs: block soft-thresholding, singleton blocks use prox1d
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _block_grad_dense(A, s, b, c, dkind, dpar, u, idx, lo_k, hi_k, gout):
    m = A.shape[0]
    for t in range(hi_k - lo_k):
        j = idx[lo_k + t]
        acc = 0.0
        for i in range(m):
            acc += A[i, j] * c * s[i] * phi_deriv(dkind, s[i] * u[i] - b[i], dpar)
        gout[t] = acc


@njit(cache=True)
def _block_grad_csc(data, indices, indptr, s, b, c, dkind, dpar, u, idx, lo_k, hi_k, gout):
    for t in range(hi_k - lo_k):
        j = idx[lo_k + t]
        acc = 0.0
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            acc += data[q] * c * s[i] * phi_deriv(dkind, s[i] * u[i] - b[i], dpar)
        gout[t] = acc


@njit(cache=True)
def _block_new(x, idx, lo_k, hi_k, g, LG, wG, pkind, w1, r, lo, hi, gamma, xnew):
    """New values of block k: block soft-threshold (wG > 0) or coordinate prox1d."""
    nb = hi_k - lo_k
    if wG > 0.0:
        if LG <= 0.0:
            for t in range(nb):
                xnew[t] = 0.0
            return
        nrm = 0.0
        for t in range(nb):
            v = x[idx[lo_k + t]] - g[t] / LG
            xnew[t] = v
            nrm += v * v
        nrm = math.sqrt(nrm)
        shrink = 0.0 if nrm <= wG / LG else 1.0 - wG / (LG * nrm)
        for t in range(nb):
            xnew[t] *= shrink
    else:
        for t in range(nb):
            j = idx[lo_k + t]
            xnew[t] = _coord_step(pkind, x[j], g[t], LG, w1[j], r[j], lo[j], hi[j], gamma)


@njit(cache=True)
def bcd_epochs_dense(A, s, b, c, dkind, dpar, u, x, gptr, gidx, gw, LG, blocks, pkind, w1, r, lo, hi,
                     gamma, n_epochs):
    """Block CD sweeps over ``blocks`` (group numbers); group k holds gidx[gptr[k]:gptr[k+1]]."""
    m = A.shape[0]
    maxb = 1
    for k in range(gptr.shape[0] - 1):
        maxb = max(maxb, gptr[k + 1] - gptr[k])
    g = np.zeros(maxb)
    xn = np.zeros(maxb)
    biggest = 0.0
    for ep in range(n_epochs):
        biggest = 0.0
        for kk in range(blocks.shape[0]):
            k = blocks[kk]
            a0, a1 = gptr[k], gptr[k + 1]
            _block_grad_dense(A, s, b, c, dkind, dpar, u, gidx, a0, a1, g)
            _block_new(x, gidx, a0, a1, g, LG[k], gw[k], pkind, w1, r, lo, hi, gamma, xn)
            for t in range(a1 - a0):
                j = gidx[a0 + t]
                dx = xn[t] - x[j]
                if dx != 0.0:
                    x[j] = xn[t]
                    for i in range(m):
                        u[i] += A[i, j] * dx
                    sc = abs(dx) * math.sqrt(LG[k])
                    if sc > biggest:
                        biggest = sc
    return biggest


@njit(cache=True)
def bcd_epochs_csc(data, indices, indptr, s, b, c, dkind, dpar, u, x, gptr, gidx, gw, LG, blocks, pkind,
                   w1, r, lo, hi, gamma, n_epochs):
    """CSC twin of ``bcd_epochs_dense``."""
    maxb = 1
    for k in range(gptr.shape[0] - 1):
        maxb = max(maxb, gptr[k + 1] - gptr[k])
    g = np.zeros(maxb)
    xn = np.zeros(maxb)
    biggest = 0.0
    for ep in range(n_epochs):
        biggest = 0.0
        for kk in range(blocks.shape[0]):
            k = blocks[kk]
            a0, a1 = gptr[k], gptr[k + 1]
            _block_grad_csc(data, indices, indptr, s, b, c, dkind, dpar, u, gidx, a0, a1, g)
            _block_new(x, gidx, a0, a1, g, LG[k], gw[k], pkind, w1, r, lo, hi, gamma, xn)
            for t in range(a1 - a0):
                j = gidx[a0 + t]
                dx = xn[t] - x[j]
                if dx != 0.0:
                    x[j] = xn[t]
                    for q in range(indptr[j], indptr[j + 1]):
                        u[indices[q]] += data[q] * dx
                    sc = abs(dx) * math.sqrt(LG[k])
                    if sc > biggest:
                        biggest = sc
    return biggest


# ---------------------------------------------------------------------------------------
# Anderson extrapolation: ``anderson_extrapolate`` (arrays in, array out) runs the one
# compiled definition, ``_anderson_into`` (below), which the Gram solves call inline
# ---------------------------------------------------------------------------------------

def anderson_extrapolate(iterates: np.ndarray, reg: float = 1e-10):
    """Offline Anderson extrapolation of the last K+1 iterates (rows of ``iterates``):
    c = argmin ||U^T c||, sum c = 1 with U the successive differences; returns
    sum_k c_k x_{k+1}, or None when the system is singular or the point not finite."""
    it = np.ascontiguousarray(iterates, dtype=np.float64)
    K = it.shape[0] - 1
    if K < 1:
        return None
    out = np.empty(it.shape[1])
    if not _anderson_into(it, float(reg), np.empty((K, K)), np.empty(K), out):
        return None
    return out


# ---------------------------------------------------------------------------------------
# Gram (covariance) mode for quadratic models on a small working set
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def gram_csc(data, indices, indptr, cols, w2, m):
    """G = A_cols^T diag(w2) A_cols for CSC data (row indices sorted in each column),
    built row by row -- the cost is the sum of the squared row counts, cheap when rows
    are short -- without a CSR copy of the columns: each column keeps a cursor, and the
    columns whose next entry lies in row i wait in a linked list headed at row i. Rows of
    weight zero cost only their cursor moves (the caller may fold duplicate rows' weights
    onto one of them). Extra memory: one int32 m-vector of list heads and O(k^2) for G."""
    k = cols.shape[0]
    # np.empty + loops rather than np.full / np.zeros: they halve this kernel's compile time
    head = np.empty(m, dtype=np.int32)
    for i in range(m):
        head[i] = -1
    nxt = np.empty(k, dtype=np.int64)
    cur = np.empty(k, dtype=np.int64)
    for a in range(k):
        q = indptr[cols[a]]
        cur[a] = q
        if q < indptr[cols[a] + 1]:
            i = indices[q]
            nxt[a] = head[i]
            head[i] = a
    G = np.empty((k, k))
    for a in range(k):
        for b_ in range(k):
            G[a, b_] = 0.0
    pos = np.empty(k, dtype=np.int64)
    val = np.empty(k)
    for i in range(m):
        a = head[i]
        if a < 0:
            continue
        cnt = 0
        wi = w2[i]
        while a >= 0:
            pos[cnt] = a
            val[cnt] = data[cur[a]]
            cnt += 1
            a = nxt[a]
        if wi != 0.0:
            for t in range(cnt):
                pa = pos[t]
                va = val[t] * wi
                for u in range(t, cnt):
                    G[pa, pos[u]] += va * val[u]
        for t in range(cnt):
            a = pos[t]
            q = cur[a] + 1
            cur[a] = q
            if q < indptr[cols[a] + 1]:
                r = indices[q]
                nxt[a] = head[r]
                head[r] = a
    for a in range(k):
        for b_ in range(a + 1, k):
            v = G[a, b_] + G[b_, a]
            G[a, b_] = v
            G[b_, a] = v
    return G


@njit(cache=True)
def gram_csc_blocked(data, indices, indptr, cols, w2, m, block):
    """The same G as ``gram_csc``, for columns dense enough that products of dense blocks
    win (``backends.cd.common.dense_gram_pays``): ``block`` rows at a time are scattered
    into a small dense buffer (reused, cache-resident; the whole m x k matrix is never
    formed) scaled by sqrt(w2), and G += B^T B by BLAS. w2 >= 0."""
    k = cols.shape[0]
    G = np.zeros((k, k))
    buf = np.zeros((block, k))
    cur = np.empty(k, dtype=np.int64)
    for a in range(k):
        cur[a] = indptr[cols[a]]
    for r0 in range(0, m, block):
        r1 = min(r0 + block, m)
        rows = r1 - r0
        for a in range(k):
            end = indptr[cols[a] + 1]
            q = cur[a]
            while q < end and indices[q] < r1:
                i = indices[q]
                buf[i - r0, a] = data[q] * np.sqrt(w2[i])
                q += 1
            cur[a] = q
        B = buf[:rows]
        G += np.dot(B.T, B)
        for t in range(rows):
            for a in range(k):
                buf[t, a] = 0.0
    return G


@njit(cache=True)
def rows_of_cols(data, indices, indptr, cols, slot, nrows):
    """The rows i with slot[i] >= 0 of A[:, cols] (CSC), as a CSR matrix (indptr, column
    positions in cols, values) whose row slot[i] is row i: the distinct rows of a working
    set, once per working set, for ``gram_rows``. Columns come out sorted in each row."""
    rp = np.zeros(nrows + 1, dtype=np.int64)
    for a in range(cols.shape[0]):
        j = cols[a]
        for q in range(indptr[j], indptr[j + 1]):
            g = slot[indices[q]]
            if g >= 0:
                rp[g + 1] += 1
    for g in range(nrows):
        rp[g + 1] += rp[g]
    nz = rp[nrows]
    rc = np.empty(nz, dtype=np.int32)
    rv = np.empty(nz)
    fill = rp[:nrows].copy()
    for a in range(cols.shape[0]):
        j = cols[a]
        for q in range(indptr[j], indptr[j + 1]):
            g = slot[indices[q]]
            if g >= 0:
                f = fill[g]
                rc[f] = a
                rv[f] = data[q]
                fill[g] = f + 1
    return rp, rc, rv


@njit(cache=True)
def gram_rows(rp, rc, rv, w, k):
    """G = R^T diag(w) R for a CSR matrix R with k columns (``rows_of_cols``), row by
    row: the sum of the squared row counts, reading contiguous rows."""
    G = np.empty((k, k))
    for a in range(k):
        for b_ in range(k):
            G[a, b_] = 0.0
    for g in range(rp.shape[0] - 1):
        wg = w[g]
        if wg == 0.0:
            continue
        e = rp[g + 1]
        for t in range(rp[g], e):
            a = rc[t]
            va = rv[t] * wg
            for u in range(t, e):
                G[a, rc[u]] += va * rv[u]
    for a in range(k):                 # columns are sorted in each row: G is upper triangular
        for b_ in range(a + 1, k):
            G[b_, a] = G[a, b_]
    return G


@njit(cache=True)
def datafit_all(u, du, t, s, b, c, dkind, dpar, d_out, h_out):
    """One pass at the point u + t du (a line-search trial, without an m-vector to hold
    it; t = 0 for u itself): returns sum_i c phi(z_i) and fills d_out (first) and h_out
    (second derivatives in u_i), z_i = s_i (u_i + t du_i) - b_i. (The cd backend runs the
    logistic loss through ``ir.losses.logistic_pass`` in NumPy instead: SIMD exp.)"""
    total = 0.0
    for i in range(u.shape[0]):
        si = s[i]
        z = si * (u[i] + t * du[i]) - b[i]
        total += phi_value(dkind, z, dpar)
        d_out[i] = c * si * phi_deriv(dkind, z, dpar)
        h_out[i] = c * si * si * phi_curv(dkind, z, dpar)
    return c * total


# ---------------------------------------------------------------------------------------
# Gram mode, whole inner solve in one call (sweeps, KKT check, Anderson)
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def _gram_greedy_epoch(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor):
    """k Gauss-Southwell-Lipschitz steps: each moves the coordinate whose exact 1-D step
    has the largest sqrt(L_t) |dx_t| (scores recomputed from the current gradient, O(k)
    per step, the same order as the O(k) gradient update). Returns the last best score."""
    k = xw.shape[0]
    best = 0.0
    for _step in range(k):
        best = 0.0
        pick = -1
        xbest = 0.0
        for t in range(k):
            Lt = c2 * G[t, t]
            if Lt < Lfloor:
                Lt = Lfloor
            xn = _coord_step(pkind, xw[t], c2 * gw[t], Lt, w1[t], r[t], lo[t], hi[t], gamma)
            sc = abs(xn - xw[t]) * math.sqrt(Lt)
            if sc > best:
                best = sc
                pick = t
                xbest = xn
        if pick < 0:
            break
        dx = xbest - xw[pick]
        xw[pick] = xbest
        for i in range(k):
            gw[i] += G[pick, i] * dx
    return best


@njit(cache=True)
def _anderson_into(buf, reg, M, z, out):
    """Offline Anderson extrapolation of the K+1 iterates in the rows of buf (what
    ``anderson_extrapolate`` runs) into ``out``; M (K x K) and z (K) are
    work arrays. Solves (U U^T + reg tr I) z = 1 by Cholesky (the matrix is positive
    definite unless the iterates stalled). Returns False when it is not usable.
    Written with plain loops and no allocation: it keeps the first-call compile short."""
    K1, k = buf.shape
    K = K1 - 1
    tr = 0.0
    for a in range(K):
        for c_ in range(a + 1):
            acc = 0.0
            for t in range(k):
                acc += (buf[a + 1, t] - buf[a, t]) * (buf[c_ + 1, t] - buf[c_, t])
            M[a, c_] = acc
        tr += M[a, a]
    if not tr > 0.0 or not np.isfinite(tr):
        return False
    for a in range(K):
        M[a, a] += reg * tr
    # Cholesky M = L L^T in the lower triangle
    for a in range(K):
        for c_ in range(a + 1):
            acc = M[a, c_]
            for q in range(c_):
                acc -= M[a, q] * M[c_, q]
            if a == c_:
                if not acc > 0.0:
                    return False
                M[a, a] = math.sqrt(acc)
            else:
                M[a, c_] = acc / M[c_, c_]
    for a in range(K):                       # L y = 1
        acc = 1.0
        for q in range(a):
            acc -= M[a, q] * z[q]
        z[a] = acc / M[a, a]
    for a in range(K - 1, -1, -1):           # L^T z = y
        acc = z[a]
        for q in range(a + 1, K):
            acc -= M[q, a] * z[q]
        z[a] = acc / M[a, a]
    sz = 0.0
    for a in range(K):
        sz += z[a]
    if sz == 0.0 or not np.isfinite(sz):
        return False
    for t in range(k):
        acc = 0.0
        for a in range(K):
            acc += z[a] * buf[a + 1, t]
        out[t] = acc / sz
        if not np.isfinite(out[t]):
            return False
    return True


@njit(cache=True)
def _anderson_step(buf, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Mw, zw, xa, dlt, Gd):
    """Try the Anderson point of the iterates in buf on the Gram model: clipped to the
    bounds, kept (xw, gw updated in place) only when it lowers the model objective,
    computed exactly from G and gw. Returns whether it was kept."""
    k = xw.shape[0]
    if not _anderson_into(buf, 1e-10, Mw, zw, xa):
        return False
    for t in range(k):
        v = xa[t]
        if v < lo[t]:
            v = lo[t]
        if v > hi[t]:
            v = hi[t]
        xa[t] = v
        dlt[t] = v - xw[t]
    for i in range(k):       # G dlt by hand: numba's np.dot costs seconds of compile
        Gd[i] = 0.0
    for t in range(k):
        dt = dlt[t]
        if dt != 0.0:
            for i in range(k):
                Gd[i] += G[t, i] * dt
    df = 0.0
    dq = 0.0
    dp = 0.0
    for t in range(k):
        df += gw[t] * dlt[t]
        dq += dlt[t] * Gd[t]
        dp += pen_value(pkind, xa[t], w1[t], r[t], gamma) - pen_value(pkind, xw[t], w1[t], r[t], gamma)
    if c2 * (df + 0.5 * dq) + dp < 0.0:
        for t in range(k):
            xw[t] = xa[t]
            gw[t] += Gd[t]
        return True
    return False


@njit(cache=True)
def _gram_sweep_ordered(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, mode, seed, ep, ws, scores):
    """One sweep in a random order (mode 1) or by exact greedy GS-L steps (mode 2)."""
    if mode == 2:
        _gram_greedy_epoch(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor)
        return
    k = xw.shape[0]
    order = _order(ws, scores, mode, seed, ep)
    for kk in range(k):
        t = order[kk]
        old = xw[t]
        if old == 0.0 and abs(c2 * gw[t]) <= w1[t]:
            continue                  # stays at zero (see cd_gram_solve)
        Lt = c2 * G[t, t]
        if Lt < Lfloor:
            Lt = Lfloor
        xn = _coord_step(pkind, old, c2 * gw[t], Lt, w1[t], r[t], lo[t], hi[t], gamma)
        if xn != old:
            dx = xn - old
            xw[t] = xn
            for i in range(k):
                gw[i] += G[t, i] * dx


@njit(cache=True)
def _gram_after_sweep(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, tol, K_and, buf, work, Mw, zw, xa, dlt, Gd):
    """After a sweep: every K_and + 1 sweeps try Anderson (work[0] counts the buffered
    iterates, work[1] / work[2] the extrapolations tried / kept); then True when the
    working-set KKT residual is <= tol."""
    k = xw.shape[0]
    if K_and > 0:
        nb = work[0]
        for t in range(k):
            buf[nb, t] = xw[t]
        nb += 1
        if nb == K_and + 1:
            nb = 0
            work[1] += 1
            if _anderson_step(buf, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Mw, zw, xa, dlt, Gd):
                work[2] += 1
        work[0] = nb
    for t in range(k):
        if subdiff_dist(pkind, xw[t], c2 * gw[t], w1[t], r[t], lo[t], hi[t], gamma) > tol:
            return False
    return True


@njit(cache=True)
def cd_gram_solve(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, tol, K_and, stats):
    """Cyclic coordinate sweeps on  c2/2 x^T G x - c2 q^T x + pen(x)  over a working set
    (G symmetric, indexed by working-set position), with ``gw = G x - q`` kept up to date
    (O(k) per step instead of O(nnz of a column)) -- the quadratic model of least squares
    restricted to the working set, or the second-order model of a Newton step -- until
    the largest KKT distance of the working set, dist(-c2 gw_t, d pen_t(x_t)), is <= tol,
    or max_epochs sweeps.

    Every K_and + 1 sweeps (K_and > 0) an Anderson extrapolation of the last iterates is
    tried and kept when it lowers the model objective (computed exactly from G and gw).
    The whole loop runs compiled: on small working sets the Python overhead of a sweep
    (about 20 microseconds) was far more than the sweep itself. Random and greedy orders
    are ``cd_gram_solve_ordered`` (a separate kernel: the default cyclic one then compiles
    without the order machinery). ``stats`` (int64[3]) receives the sweeps done, the
    extrapolations tried and kept. Returns 1 when the tolerance was met, else 0."""
    # Written flat (sweep, Anderson and the KKT check inline, leaves called directly):
    # every level of compiled callees is optimized again with its caller, and the layered
    # version (``cd_gram_solve_ordered``) costs about twice the first-call compile time.
    k = xw.shape[0]
    K1 = max(K_and, 1)
    buf, Mw, zw = np.empty((K1 + 1, k)), np.empty((K1, K1)), np.empty(K1)
    xa, Gd = np.empty(k), np.empty(k)
    nbuf = 0
    tried = 0
    kept = 0
    ep = 0
    met = 0
    while ep < max_epochs:
        for t in range(k):
            old = xw[t]
            gt = c2 * gw[t]
            if old == 0.0 and abs(gt) <= w1[t]:
                # stays at zero (every penalty here thresholds at |gradient| <= w1, and a
                # coordinate at zero has 0 in its bounds): skip the 1-D step -- most of a
                # sweep's coordinates on a sparse solution
                continue
            Lt = c2 * G[t, t]
            if Lt < Lfloor:
                Lt = Lfloor
            xn = _coord_step(pkind, old, gt, Lt, w1[t], r[t], lo[t], hi[t], gamma)
            if xn != old:
                dx = xn - old
                xw[t] = xn
                for i in range(k):
                    gw[i] += G[t, i] * dx   # G is symmetric: read its contiguous row
        ep += 1
        if K_and > 0:
            for t in range(k):
                buf[nbuf, t] = xw[t]
            nbuf += 1
            if nbuf == K_and + 1:
                nbuf = 0
                tried += 1
                if _anderson_into(buf, 1e-10, Mw, zw, xa):
                    # clip, then keep only if the model objective decreases (exactly, from G)
                    for i in range(k):
                        Gd[i] = 0.0
                    change = 0.0
                    for t in range(k):
                        v = min(max(xa[t], lo[t]), hi[t])
                        xa[t] = v
                        dt = v - xw[t]
                        if dt != 0.0:
                            change += c2 * gw[t] * dt + (pen_value(pkind, v, w1[t], r[t], gamma)
                                                         - pen_value(pkind, xw[t], w1[t], r[t], gamma))
                            for i in range(k):
                                Gd[i] += G[t, i] * dt
                    quad = 0.0
                    for t in range(k):
                        quad += (xa[t] - xw[t]) * Gd[t]
                    if change + 0.5 * c2 * quad < 0.0:
                        kept += 1
                        for t in range(k):
                            xw[t] = xa[t]
                            gw[t] += Gd[t]
        ok = True
        for t in range(k):
            if subdiff_dist(pkind, xw[t], c2 * gw[t], w1[t], r[t], lo[t], hi[t], gamma) > tol:
                ok = False
                break
        if ok:
            met = 1
            break
    stats[0] = ep
    stats[1] = tried
    stats[2] = kept
    return met


@njit(cache=True)
def cd_gram_solve_ordered(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol, K_and,
                          stats):
    """``cd_gram_solve`` with a random order per sweep (mode 1, seeded by seed + sweep) or
    exact greedy Gauss-Southwell-Lipschitz selection (mode 2)."""
    k = xw.shape[0]
    K1 = max(K_and, 1)
    buf, Mw, zw = np.empty((K1 + 1, k)), np.empty((K1, K1)), np.empty(K1)
    xa, dlt, Gd = np.empty(k), np.empty(k), np.empty(k)
    work = np.zeros(3, dtype=np.int64)
    ws = np.arange(k)
    scores = np.zeros(k)
    ep = 0
    met = 0
    while ep < max_epochs:
        _gram_sweep_ordered(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, mode, seed, ep, ws, scores)
        ep += 1
        if _gram_after_sweep(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, tol, K_and, buf, work, Mw, zw, xa, dlt,
                             Gd):
            met = 1
            break
    stats[0] = ep
    stats[1] = work[1]
    stats[2] = work[2]
    return met


# ---------------------------------------------------------------------------------------
# fused evaluation: objective, gradient, KKT residual and the rescaled-dual gap
# ---------------------------------------------------------------------------------------

@njit(cache=True)
def glm_eval(x, u, g, d, s, b, c, dkind, dpar, pkind, w1, r, lo, hi, gamma, want_gap, const, scores, out):
    """The backend's outer check in one compiled pass, given d (the datafit derivative
    at u, ``datafit_deriv``) and g = A^T d (``grad_cols_*``): the objective, the KKT
    scores and (want_gap) the duality gap at the rescaled dual point -- the formulas of
    ``SparseGLM.evaluate``, which the engine still runs, in NumPy, on the returned point.
    Fills out (float64[7]): primal, kkt, gap_abs, dual, scale, rel_gap, violation (NaN
    where not available). Loops written inline: nested compiled callees multiply the
    first-call compile time."""
    n = x.shape[0]
    P = 0.0
    for i in range(u.shape[0]):
        P += phi_value(dkind, s[i] * u[i] - b[i], dpar)
    P *= c
    viol_lo = 0.0
    viol_hi = 0.0
    worst = 0.0
    gmax = 0.0
    for j in range(n):
        xj = x[j]
        if xj != 0.0:
            P += pen_value(pkind, xj, w1[j], r[j], gamma)
        sc = subdiff_dist(pkind, xj, g[j], w1[j], r[j], lo[j], hi[j], gamma)
        scores[j] = sc
        if sc > worst:
            worst = sc
        ag = abs(g[j])
        if ag > gmax:
            gmax = ag
        if lo[j] - xj > viol_lo:
            viol_lo = lo[j] - xj
        if xj - hi[j] > viol_hi:
            viol_hi = xj - hi[j]
    out[0] = P
    out[1] = worst / max(1.0, gmax)
    out[6] = viol_lo + viol_hi
    out[2] = np.nan
    out[3] = np.nan
    out[4] = np.nan
    out[5] = np.nan
    if not want_gap:
        return
    scale = 1.0
    for j in range(n):
        if r[j] != 0.0:
            continue
        v = -g[j]
        if v > w1[j] and not np.isfinite(hi[j]):
            scale = min(scale, w1[j] / v)
        elif v < -w1[j] and not np.isfinite(lo[j]):
            scale = min(scale, w1[j] / -v)
    # dual = -sum_i h_i^*(scale d_i) - sum_j pen_j^*(-scale g_j)
    dual = 0.0
    for i in range(d.shape[0]):
        v = scale * d[i]
        if s[i] == 0.0:
            if v != 0.0:
                dual = -np.inf
                break
            dual += c * phi_value(dkind, -b[i], dpar)
            continue
        dual -= v * b[i] / s[i] + c * phi_conj(dkind, v / (c * s[i]), dpar)
    for j in range(n):
        dual -= pen_conj(-scale * g[j], w1[j], r[j], lo[j], hi[j])
    out[4] = scale
    if np.isfinite(dual):
        gap = P - dual
        if gap < 0.0:
            gap = 0.0
        out[2] = gap
        out[3] = dual
        out[5] = gap / max(1.0, abs(P + const), abs(dual + const))
