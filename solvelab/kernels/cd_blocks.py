"""Numba kernels for block (group) coordinate descent on a working set of blocks.

Everything is ``@njit(cache=True)`` over plain arrays, indexed *locally*: a working set
of blocks is described by the concatenation of its columns (``cols``, held by the caller)
and by ``bptr`` (block b holds local positions ``bptr[b]:bptr[b+1]``), ``bw`` (the group
weight w_G of block b) and ``bgrp`` (True: a group l2 block; False: a singleton with the
per-coordinate penalty ``pen_j`` of ``solvelab.kernels.cd``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .cd import _coord_step, pen_value, subdiff_dist


@njit(cache=True)
def block_kkt(xw, g, bptr, bw, bgrp, w1, r, lo, hi, pkind, gamma, out):
    """KKT score of every block: for a group, dist(-g_G, w_G d||x_G||) / sqrt(|G|) (as
    ``SparseGLM.evaluate``); for a singleton, the subdifferential distance of its penalty
    (bounds included). Returns the largest score."""
    biggest = 0.0
    for b in range(bptr.shape[0] - 1):
        a0, a1 = bptr[b], bptr[b + 1]
        if bgrp[b]:
            nx = 0.0
            for t in range(a0, a1):
                nx += xw[t] * xw[t]
            nx = math.sqrt(nx)
            acc = 0.0
            if nx > 0.0:
                for t in range(a0, a1):
                    v = g[t] + bw[b] * xw[t] / nx
                    acc += v * v
                dist = math.sqrt(acc)
            else:
                for t in range(a0, a1):
                    acc += g[t] * g[t]
                dist = math.sqrt(acc) - bw[b]
                if dist < 0.0:
                    dist = 0.0
            sc = dist / math.sqrt(a1 - a0)
        else:
            sc = 0.0
            for t in range(a0, a1):
                v = subdiff_dist(pkind, xw[t], g[t], w1[t], r[t], lo[t], hi[t], gamma)
                if v > sc:
                    sc = v
        out[b] = sc
        if sc > biggest:
            biggest = sc
    return biggest


@njit(cache=True)
def block_pen(xw, bptr, bw, bgrp, w1, r, pkind, gamma):
    """Penalty of the working-set blocks: sum w_G ||x_G|| + sum pen_j(x_j)."""
    out = 0.0
    for b in range(bptr.shape[0] - 1):
        a0, a1 = bptr[b], bptr[b + 1]
        if bgrp[b]:
            nx = 0.0
            for t in range(a0, a1):
                nx += xw[t] * xw[t]
            out += bw[b] * math.sqrt(nx)
        else:
            for t in range(a0, a1):
                if xw[t] != 0.0:
                    out += pen_value(pkind, xw[t], w1[t], r[t], gamma)
    return out


@njit(cache=True)
def bcd_gram_epochs(G, gq, xw, c2, bptr, bw, bgrp, bL, w1, r, lo, hi, pkind, gamma, n_epochs):
    """Block CD sweeps on  c2/2 x^T G x - c2 q^T x + pen(x)  (G symmetric, C-ordered), with
    ``gq = G x - q`` kept up to date (O(k |B|) per block instead of O(nnz of its columns)).
    ``bL[b]``: a Lipschitz constant of block b's gradient, >= c2 lambda_max(G_BB).
    Least squares on a working set (G its Gram matrix), or the model of a Newton step.
    Returns the largest sqrt(L_b) ||dx_B|| of the last sweep."""
    k = xw.shape[0]
    maxb = 1
    for b in range(bptr.shape[0] - 1):
        maxb = max(maxb, bptr[b + 1] - bptr[b])
    xn = np.zeros(maxb)
    biggest = 0.0
    for ep in range(n_epochs):
        biggest = 0.0
        for b in range(bptr.shape[0] - 1):
            a0, a1 = bptr[b], bptr[b + 1]
            Lb = bL[b]
            if bgrp[b] and Lb <= 0.0:
                # the datafit ignores the block: the penalty alone decides (0, or stay put)
                for t in range(a0, a1):
                    xn[t - a0] = 0.0 if bw[b] > 0.0 else xw[t]
            elif bgrp[b]:
                nrm = 0.0
                for t in range(a0, a1):
                    v = xw[t] - c2 * gq[t] / Lb
                    xn[t - a0] = v
                    nrm += v * v
                nrm = math.sqrt(nrm)
                thr = bw[b] / Lb
                shrink = 0.0 if nrm <= thr else 1.0 - thr / nrm
                for t in range(a0, a1):
                    xn[t - a0] *= shrink
            else:
                for t in range(a0, a1):
                    xn[t - a0] = _coord_step(pkind, xw[t], c2 * gq[t], Lb, w1[t], r[t], lo[t], hi[t], gamma)
            moved = 0.0
            for t in range(a0, a1):
                dx = xn[t - a0] - xw[t]
                if dx != 0.0:
                    xw[t] = xn[t - a0]
                    for i in range(k):
                        gq[i] += G[t, i] * dx     # G symmetric: its contiguous row
                    moved += dx * dx
            sc = math.sqrt(moved * max(Lb, 0.0))
            if sc > biggest:
                biggest = sc
    return biggest


@njit(cache=True)
def group_grams_csc(data, indices, indptr, s, gptr, gidx, which, maxb, m):
    """Gram blocks A_G^T diag(s)^2 A_G of the groups ``which`` (padded to maxb x maxb)."""
    out = np.zeros((which.shape[0], maxb, maxb))
    work = np.zeros(m)
    for kk in range(which.shape[0]):
        k = which[kk]
        a0, a1 = gptr[k], gptr[k + 1]
        for ta in range(a0, a1):
            ja = gidx[ta]
            for q in range(indptr[ja], indptr[ja + 1]):
                i = indices[q]
                work[i] = data[q] * s[i] * s[i]
            for tb in range(ta, a1):
                jb = gidx[tb]
                acc = 0.0
                for q in range(indptr[jb], indptr[jb + 1]):
                    acc += work[indices[q]] * data[q]
                out[kk, ta - a0, tb - a0] = acc
                out[kk, tb - a0, ta - a0] = acc
            for q in range(indptr[ja], indptr[ja + 1]):
                work[indices[q]] = 0.0
    return out


@njit(cache=True)
def group_grams_dense(A, s, gptr, gidx, which, maxb):
    """Dense twin of ``group_grams_csc``."""
    m = A.shape[0]
    out = np.zeros((which.shape[0], maxb, maxb))
    for kk in range(which.shape[0]):
        k = which[kk]
        a0, a1 = gptr[k], gptr[k + 1]
        for ta in range(a0, a1):
            ja = gidx[ta]
            for tb in range(ta, a1):
                jb = gidx[tb]
                acc = 0.0
                for i in range(m):
                    acc += A[i, ja] * A[i, jb] * s[i] * s[i]
                out[kk, ta - a0, tb - a0] = acc
                out[kk, tb - a0, ta - a0] = acc
    return out
