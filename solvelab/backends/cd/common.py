"""What the two paths of the cd backend share: the coordinate path (``coordinate``) and
the block path for group penalties (``blocks``).

Kernel compilation (``compile_kernels``, each kernel once per process), the kernel-ready
data view ``_Data`` (dense or CSC dispatch, Gram matrices, the compiled outer check),
the datafit pass of proximal Newton (``_datafit_all``) and its line search, Anderson
steps on the columns, working-set selection and inner tolerances, and the outer check
with its verbose table (``outer_step`` on the solve's ``IterationMonitor``).
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ...families.glm.certificate import Evaluation
from ...families.glm.scalars import relative
from ...ir import losses
from ..base import IterationMonitor, Table

_COMPILED: set = set()


def _kernels():
    from ...kernels import cd as K
    return K


def _tiny_calls():
    """One call per kernel on tiny arrays of the exact types a solve passes (so the call
    compiles, or loads from the on-disk cache, the one signature the solve will use)."""
    import scipy.sparse as sp
    K = _kernels()
    A = np.asfortranarray(np.eye(3, 2))
    S = sp.csc_matrix(A)
    data, ind, ptr = S.data, S.indices.astype(np.int32), S.indptr.astype(np.int32)
    s, b, u, x = np.ones(3), np.zeros(3), np.zeros(3), np.zeros(2)
    ws = np.arange(2, dtype=np.int64)
    L, w1, r = np.ones(2), np.ones(2) * 0.1, np.zeros(2)
    lo, hi = np.full(2, -np.inf), np.full(2, np.inf)
    out = np.zeros(2)
    gptr, gidx, gw = np.array([0, 2], dtype=np.int64), ws, np.ones(1)
    blocks = np.zeros(1, dtype=np.int64)
    return {
        "cd_epochs_dense": lambda: K.cd_epochs_dense(A, s, b, 1.0, 0, 0.0, u, x, ws, L, 0, w1, r, lo, hi, 3.0, 1, 0,
                                                     0, out, True),
        "cd_epochs_csc": lambda: K.cd_epochs_csc(data, ind, ptr, s, b, 1.0, 0, 0.0, u, x, ws, L, 0, w1, r, lo, hi,
                                                 3.0, 1, 0, 0, out, True),
        "grad_cols_dense": lambda: K.grad_cols_dense(A, u, ws, out),
        "grad_cols_csc": lambda: K.grad_cols_csc(data, ind, ptr, u, ws, out),
        "add_cols_dense": lambda: K.add_cols_dense(A, ws, out, u),
        "add_cols_csc": lambda: K.add_cols_csc(data, ind, ptr, ws, out, u),
        "col_sqnorms_dense": lambda: K.col_sqnorms_dense(A, s),
        "col_sqnorms_csc": lambda: K.col_sqnorms_csc(data, ind, ptr, s),
        "datafit_value": lambda: K.datafit_value(u, s, b, 1.0, 0, 0.0),
        "datafit_all": lambda: K.datafit_all(u, u, 0.0, s, b, 1.0, 1, 0.0, np.zeros(3), np.zeros(3)),
        "gram_csc": lambda: K.gram_csc(data, ind, ptr, ws, s, 3),
        "gram_csc_blocked": lambda: K.gram_csc_blocked(data, ind, ptr, ws, s, 3, 2),
        "rows_of_cols": lambda: K.rows_of_cols(data, ind, ptr, ws, np.zeros(3, dtype=np.int32), 3),
        # (int32 index arrays: what SciPy's CSR matrix of the distinct rows holds)
        "gram_rows": lambda: K.gram_rows(np.zeros(2, dtype=np.int32), np.zeros(1, dtype=np.int32), np.ones(1),
                                         np.ones(1), 2),
        "cd_gram_solve": lambda: K.cd_gram_solve(np.eye(2), np.zeros(2), np.zeros(2), 1.0, w1, r, lo, hi, 0, 3.0,
                                                 0.0, 1, 1e-6, 2, np.zeros(3, dtype=np.int64)),
        "cd_gram_solve_ordered": lambda: K.cd_gram_solve_ordered(np.eye(2), np.zeros(2), np.zeros(2), 1.0, w1, r, lo,
                                                                 hi, 0, 3.0, 0.0, 1, 1, 0, 1e-6, 2,
                                                                 np.zeros(3, dtype=np.int64)),
        "glm_eval": lambda: (K.datafit_deriv(u, s, b, 1.0, 0, 0.0, np.zeros(3)),
                             K.glm_eval(x, u, np.zeros(2), np.zeros(3), s, b, 1.0, 0, 0.0, 0, w1, r, lo, hi, 3.0, True,
                                        0.0, np.zeros(2), np.zeros(7))),
        "bcd_epochs_dense": lambda: K.bcd_epochs_dense(A, s, b, 1.0, 0, 0.0, u, x, gptr, gidx, gw, np.ones(1), blocks,
                                                       0, w1, r, lo, hi, 3.0, 1),
        "bcd_epochs_csc": lambda: K.bcd_epochs_csc(data, ind, ptr, s, b, 1.0, 0, 0.0, u, x, gptr, gidx, gw, np.ones(1),
                                                   blocks, 0, w1, r, lo, hi, 3.0, 1),
    }


def compile_kernels(names=None) -> float:
    """Compile (or load from the on-disk cache) the named kernels, each once per process;
    ``None``: all of them. Returns the seconds spent (0 when all were ready)."""
    calls = _tiny_calls() if names is None or not set(names) <= _COMPILED else {}
    todo = [k for k in (calls if names is None else names) if k not in _COMPILED]
    if not todo:
        return 0.0
    t0 = time.perf_counter()
    for k in todo:
        calls[k]()
        _COMPILED.add(k)
    return time.perf_counter() - t0


# The compiled one-pass evaluation pays off where NumPy's per-call overhead (a few dozen
# small-array operations, ~0.1 ms) is comparable to the pass itself; on larger data the
# NumPy evaluation is as fast (measured: a9a, 4.5e5 nonzeros, 0.51 ms NumPy vs 0.79 ms
# compiled; mushrooms, 1.7e5: 0.29 vs 0.14 ms) and its first-call compile is saved.
FUSED_EVAL_MAX_NNZ = 200_000
# Logistic: the compiled pass pays two scalar libm calls (log, exp) per sample, the NumPy
# one SIMD loops (``_logistic_all``, the certificate's forms) plus a fixed ~40 us: NumPy
# wins beyond a couple of thousand samples (mushrooms, 8124: 252 vs 339 us per check).
FUSED_EVAL_MAX_LOGISTIC_M = 2000


def _fused_eval_fits(view, D) -> bool:
    """The forms the compiled one-pass evaluation handles (at any size)."""
    return bool(D.m > 0 and not view.groups and view.lin is None and view.dkind != losses.EXP)


def _fused_eval_applies(view, D) -> bool:
    """Whether the compiled pass pays for these data (see the thresholds above)."""
    return _fused_eval_fits(view, D) and bool(
        D.nnz <= FUSED_EVAL_MAX_NNZ and (view.dkind != losses.LOGISTIC or D.m <= FUSED_EVAL_MAX_LOGISTIC_M))


def dedup_applies(D) -> bool:
    """Whether proximal Newton looks for duplicate rows (``_Data.duplicate_rows``): CSC
    data with at least 1000 rows, whose O(m) work arrays for it (about 24 bytes a row)
    stay within 10% of the data (12 bytes a nonzero, 8 a row) -- rows of 17 nonzeros or
    more (mushrooms: 21; a9a, 14, does without, and its first call without the compile)."""
    return bool(D.dense is None and D.m >= 1000 and 24 * D.m <= 0.1 * (12 * D.nnz + 8 * D.m))


#: The Gram matrix of k CSC columns with nnz entries in all, m rows: the sparse kernel
#: (``gram_csc``) costs about the sum of the squared row counts, ~nnz^2 / m products at
#: ~0.9 ns; the blocked dense one (``gram_csc_blocked``: GRAM_BLOCK_ROWS rows at a time
#: scattered into a small dense buffer, then BLAS) ~0.75 ns per entry of the m x k
#: matrix plus ~0.066 ns per product of m k^2 (ijcnn1, 50k x 22 at 59% density: 7.6 ms
#: against about 0.8 + 1.6 ms). The blocked kernel is used when it is estimated cheaper.
GRAM_SPARSE_NS, GRAM_DENSIFY_NS, GRAM_BLAS_NS = 0.9, 0.75, 0.066
GRAM_BLOCK_ROWS = 2048
#: Up to this many entries (m x k; 32 MB) the dense route densifies the columns at once
#: and makes one BLAS call (``_Data._gram_densified``); above, it goes block by block.
GRAM_DENSIFY_VALUES = 4_000_000


def dense_gram_pays(m: int, k: int, nnz: int) -> bool:
    """Whether the blocked dense kernel builds the Gram matrix of k CSC columns (nnz
    entries, m rows) faster than the sparse one (constants above)."""
    if m == 0 or k == 0:
        return False
    return GRAM_SPARSE_NS * nnz * nnz / m > m * k * (GRAM_DENSIFY_NS + GRAM_BLAS_NS * k)


class _Data:
    """Kernel-ready view of GLMData: dense or CSC dispatch in one place."""

    def __init__(self, D):
        self.D = D
        self.state = None        # the problem's solver state (set by the solve)
        K = _kernels()
        self.K = K
        self.dense = D.dense is not None
        if self.dense:
            self.A = D.dense
        else:
            S = D.csc
            self.data, self.ind, self.ptr = S.data, S.indices, S.indptr

    def col_sqnorms(self, s):
        if self.D.m == 0:
            return np.zeros(self.D.p)
        if self.dense:
            return self.K.col_sqnorms_dense(self.A, s)
        return self.K.col_sqnorms_csc(self.data, self.ind, self.ptr, s)

    def prepare(self, view):
        """Least squares with unit row scales gets the A^T b fast path."""
        D = self.D
        self.fast = bool(view.dkind == losses.LEAST_SQUARES and D.m > 0 and (D.s == 1.0).all())
        self.Atb = None          # A^T b, computed on the first column sweep or check that needs it
        self.fused = None        # whether evaluate() may use the compiled pass (set on first use)
        self.d_buf = None
        self._work = []
        self._dup = None         # (working set, duplicate_rows of it)
        self.dh_fresh = False    # work(2) holds d, h at the current u (see fast_eval)
        self.all_cols = None

    def epochs(self, view, u, x, ws, L, n_epochs, mode, seed):
        D, K = self.D, self.K
        if self.Atb is None:
            self.Atb = D.rmatvec_recurring(D.b) if self.fast else np.zeros(1)
        args = (D.s, D.b, view.c, view.dkind, view.dpar, u, x, ws, L, view.pkind, view.w1, view.r,
                view.lo, view.hi, view.gamma, n_epochs, mode, seed, self.Atb, self.fast)
        if self.dense:
            return K.cd_epochs_dense(self.A, *args)
        return K.cd_epochs_csc(self.data, self.ind, self.ptr, *args)

    def block_epochs(self, view, u, x, gptr, gidx, gw, LG, blocks, n_epochs):
        D, K = self.D, self.K
        args = (D.s, D.b, view.c, view.dkind, view.dpar, u, x, gptr, gidx, gw, LG, blocks, view.pkind,
                view.w1, view.r, view.lo, view.hi, view.gamma, n_epochs)
        if self.dense:
            return K.bcd_epochs_dense(self.A, *args)
        return K.bcd_epochs_csc(self.data, self.ind, self.ptr, *args)

    def evaluate(self, view, x, u, want_gap=True):
        """The outer check of a solve: ``view.evaluate`` (NumPy, several dozen small array
        operations) or, for the common forms (no groups, no Poisson, data present), the
        same quantities from one compiled pass (``datafit_deriv``, ``grad_cols``, ``glm_eval``)."""
        D, K = self.D, self.K
        if self.fused is None:
            self.fused = _fused_eval_applies(view, D)
            self.gap_ok = bool(view.gap_available())
            self.const = float(view.program.constant)
        G = self.full_gram()
        # with the full Gram matrix kept, the compiled pass needs no pass over the data at
        # any size (A^T d from G x), so it beats the NumPy one's two passes (ijcnn1, 650k
        # nonzeros: ~2.4 ms a check)
        gram_pass = G is not None and self.Atb is not None and _fused_eval_fits(view, D)
        if not (self.fused or gram_pass):
            ev = view.evaluate(x, u, D, want_gap=want_gap, fast=self.fast_eval(view))
            if self.fast and self.Atb is None and not x.any():
                self.Atb = ev.grad / (-2.0 * view.c)   # at x = 0 (u = 0), A^T d = -2c A^T b
            return ev
        n = view.n
        if self.d_buf is None:
            self.d_buf = np.empty(D.m)   # reused: the solve reads only the latest evaluation
        d, g, scores, out = self.d_buf, np.empty(n), np.empty(n), np.empty(7)
        K.datafit_deriv(u, D.s, D.b, view.c, view.dkind, view.dpar, d)
        if self.all_cols is None:
            self.all_cols = np.arange(n, dtype=np.int64)
        if G is not None and self.Atb is not None:
            # least squares with the full Gram matrix kept: A^T d = 2c (G x - A^T b) in
            # O(p^2) instead of a pass over the data (mushrooms: 12k vs 171k products)
            np.subtract(G @ x, self.Atb, out=g)
            g *= 2.0 * view.c
        elif self.dense:
            K.grad_cols_dense(self.A, d, self.all_cols, g)
        else:
            K.grad_cols_csc(self.data, self.ind, self.ptr, d, self.all_cols, g)
        if self.fast and self.Atb is None and not x.any():
            self.Atb = g / (-2.0 * view.c)       # at x = 0 (u = 0), A^T d = -2c A^T b
        if view.needs_origin(u):
            view.note_origin(g, view.datafit_value(D, u))
        K.glm_eval(x, u, g, d, D.s, D.b, view.c, view.dkind, view.dpar, view.pkind, view.w1, view.r, view.lo,
                   view.hi, view.gamma, bool(want_gap and self.gap_ok), self.const, scores, out)
        P, kkt, gap_abs, dual, scale, rel, viol = (float(v) for v in out)
        # the kernel's ratios have max(1, .) floors; the relative ones are taken here
        gscale = max(float(np.abs(g).max(initial=0.0)), view._origin_scale(D))
        kkt = relative(float(scores.max(initial=0.0)), gscale)
        if math.isnan(rel):
            gap_abs = dual = rel = None
            if math.isnan(scale):
                scale = None
        else:
            rel = relative(gap_abs, max(abs(P + self.const), abs(dual + self.const)))
            f0 = view._origin_value(D)
            if f0 > 0.0:
                rel = min(rel, math.sqrt(gap_abs / f0))
            dual += self.const
        return Evaluation(P + self.const, g, d, scores, kkt, gap_abs, dual, scale, rel, viol, gscale)

    def full_gram(self):
        """The full Gram matrix A^T A of a unit-scale least-squares problem when the solve
        keeps it (``gram_ws``), else None."""
        if not self.fast:
            return None
        hit = self.state.get("gram") if self.state is not None else None
        return hit[1] if hit is not None and hit[0] is self.D else None

    def fast_eval(self, view):
        """Per-sample sums for ``SparseGLM.evaluate`` from proximal Newton's own pass
        (``_datafit_all``: value, derivative and curvature at once). The conjugate sum
        stays in NumPy: compiled, it saved 7% (a9a logistic, 441 vs 476 us) for 0.35 s
        of first-call compile."""
        D, K = self.D, self.K
        if D.m == 0 or view.dkind in (losses.LEAST_SQUARES, losses.EXP):
            return None          # least squares, Poisson: a few NumPy vector operations
        # into the Newton buffers: a Newton step that starts at this very u (nothing moved
        # it since: ``dh_fresh``) reuses the derivative, curvature and value
        d, h = self.work(2)

        def value_deriv(u):
            self.dh_value = _datafit_all(view, K, D, u, d, h)
            self.dh_fresh = True
            return self.dh_value, d
        return value_deriv, None

    def work(self, k):
        """k m-vectors of scratch, allocated once per solve (the Newton steps and the
        outer checks of one solve take turns with them, never at the same time)."""
        while len(self._work) < k:
            self._work.append(np.empty(self.D.m))
        return self._work[:k]

    def datafit_value(self, view, u) -> float:
        if self.D.m == 0:
            return 0.0
        if view.dkind == losses.LEAST_SQUARES:
            return view.datafit_value(self.D, u)
        return self.K.datafit_value(u, self.D.s, self.D.b, view.c, view.dkind, view.dpar)

    def use_gram(self, view, ws, opt) -> bool:
        """Gram mode: least squares, a working set of at most ``gram_max`` columns, and
        (dense data) fewer columns than rows."""
        k = ws.size
        if self.D.m == 0 or k > opt["gram_max"] or not opt["gram"]:
            return False
        return (not self.dense) or k <= self.D.m

    def gram_ws(self, ws, opt, state):
        """Gram matrix of the working set for least squares: read off the full Gram
        matrix (built once per data, kept in the problem's state, reused along a path)
        when there are at most ``gram_max`` columns (and, dense, no more than rows), else
        built for the working set."""
        G = self.kept_gram(opt, state)
        return np.ascontiguousarray(G[np.ix_(ws, ws)]) if G is not None else self.gram(ws)

    def kept_gram(self, opt, state):
        """The full Gram matrix kept in the problem's state (built on first use), or None
        when there are more than ``gram_max`` columns (or, dense, more columns than rows)."""
        D = self.D
        # (dense data with more columns than rows: the full Gram matrix would cost m p^2,
        # far more than a solve -- 8 ms on a 200 x 1000 Lasso that solves in 1 ms)
        if not (D.p <= opt["gram_max"] and (not self.dense or D.p <= D.m)):
            return None
        hit = state.get("gram")
        if hit is None or hit[0] is not D:
            if self.dense:
                As = self.A * D.s[:, None] if not (D.s == 1.0).all() else self.A
                G = np.ascontiguousarray(As.T @ As)
            else:
                cols = np.arange(D.p, dtype=np.int64)
                G = self._gram_densified(cols, D.s * D.s) if self.densifies(cols) else self.gram(cols)
            state["gram"] = hit = (D, G)
        return hit[1]

    def gram(self, ws, weights=None, B=None, sq_weights=None):
        """G = A_ws^T diag(w)^2 A_ws (w = s, or ``weights``; or diag(``sq_weights``) for
        w^2 directly) as a dense C-ordered array. (``B`` is ignored: CSC data no longer
        needs a CSR copy of the columns.)"""
        D = self.D
        if sq_weights is None:
            w = D.s if weights is None else weights
            sq_weights = w * w
        if self.dense:
            Aw = self.A[:, ws] * np.sqrt(sq_weights)[:, None]
            return np.ascontiguousarray(Aw.T @ Aw)
        if dense_gram_pays(D.m, ws.size, int(np.sum(self.ptr[ws + 1] - self.ptr[ws]))):
            return self.K.gram_csc_blocked(self.data, self.ind, self.ptr, ws, sq_weights, D.m, GRAM_BLOCK_ROWS)
        return self.K.gram_csc(self.data, self.ind, self.ptr, ws, sq_weights, D.m)

    def densifies(self, ws) -> bool:
        """Whether the kept full Gram matrix (least squares) of CSC columns ws goes through
        ``_gram_densified``: dense enough for BLAS (``dense_gram_pays``) and at most
        GRAM_DENSIFY_VALUES. (Proximal Newton's weighted working-set Grams stay on the
        kernels: on a Huber w-step at tol 1e-10, its 5e-15 rounding difference turned a
        solve that certifies into one that stalls; see BENCHMARKS 2026-12-07.)"""
        D = self.D
        return bool(not self.dense and D.m * ws.size <= GRAM_DENSIFY_VALUES
                    and dense_gram_pays(D.m, ws.size, int(np.sum(self.ptr[ws + 1] - self.ptr[ws]))))

    def _gram_densified(self, ws, sq_weights):
        """G of dense-enough CSC columns through one dense copy (at most
        GRAM_DENSIFY_VALUES entries) and one BLAS product: ijcnn1's 50k x 22 in 1.5 ms,
        against 3.4 ms for the blocked kernel, whose many small products run slower.
        (Tried: A^T b from the same product, b as one more column. It saved 0.1 ms, and
        made a cold fit's last bits depend on whether the Gram matrix was cached.)"""
        D = self.D
        whole = ws.size == D.p and bool(np.array_equal(ws, np.arange(D.p)))
        B = (D.csc if whole else D.csc[:, ws]).toarray(order="F")
        if not (sq_weights == 1.0).all():
            B *= np.sqrt(sq_weights)[:, None]
        return np.ascontiguousarray(B.T @ B)

    def duplicate_rows(self, ws, scratch):
        """Groups of identical rows of A[:, ws] (CSC data), so that a weighted Gram matrix
        sum_i w_i a_i a_i^T can be built from one row per group with the group's summed
        weight: on categorical (one-hot) data most rows repeat once restricted to a working
        set (mushrooms, 52 columns: 1635 distinct rows of 8124). Rows are told apart by a
        random projection A[:, ws] r computed into ``scratch``: identical rows get bitwise
        identical sums (the same additions in the same order); two different rows would
        need an exact floating-point tie, and even then only the Newton model would be
        off (the line search and the certificate do not use it). Returns (group of each
        row as int32, R, ng) -- R the ng distinct rows as a CSR matrix (ng x k), for the
        Hessian, A_ws^T d and A_ws delta -- or None where it does not pay (few duplicates;
        the caller checks ``dedup_applies`` for the memory side). Kept for the next call
        while the working set stays the same."""
        if ws.size < 8:
            return None
        hit = self._dup
        if hit is not None and np.array_equal(hit[0], ws):
            return hit[1]                 # the same working set as the last outer step
        out = self._duplicate_rows(ws, scratch)
        self._dup = (ws.copy(), out)
        return out

    def _duplicate_rows(self, ws, scratch):
        m = self.D.m
        r = 1.0 + np.random.default_rng(20261125).random(ws.size)
        scratch[:] = 0.0
        self.add_cols(ws, r, scratch)
        order = np.argsort(scratch)
        hs = scratch[order]
        first = np.empty(m, dtype=bool)
        first[0] = True
        np.not_equal(hs[1:], hs[:-1], out=first[1:])
        del hs
        ng = int(np.count_nonzero(first))
        if ng > 0.6 * m:
            return None
        group = np.empty(m, dtype=np.int32)
        group[order] = np.cumsum(first) - 1
        slot = np.full(m, -1, dtype=np.int32)
        slot[order[first]] = np.arange(ng, dtype=np.int32)
        rp, rc, rv = self.K.rows_of_cols(self.data, self.ind, self.ptr, ws, slot, ng)
        return group, sp.csr_matrix((rv, rc, rp), shape=(ng, ws.size)), ng

    def grad_cols(self, d, cols):
        out = np.zeros(cols.shape[0])
        if self.D.m == 0:
            return out
        if self.dense:
            self.K.grad_cols_dense(self.A, d, cols, out)
        else:
            self.K.grad_cols_csc(self.data, self.ind, self.ptr, d, cols, out)
        return out

    def add_cols(self, cols, delta, u):
        if self.D.m == 0:
            return
        if self.dense:
            self.K.add_cols_dense(self.A, cols, delta, u)
        else:
            self.K.add_cols_csc(self.data, self.ind, self.ptr, cols, delta, u)


def newton_line_search(view, K, D, u, Ad, d, h, xw, delta, lo, hi, f_old, decrease, penalty):
    """Backtracking (Armijo) along a proximal-Newton step (shared with the block path):
    trial points xw + t delta clipped to [lo, hi] and u + t A delta, whose datafit value,
    derivative (into d) and curvature (into h) come from one pass -- the next Newton step
    reuses those of the accepted trial; the caller moves u to u + t A delta. Returns
    (t, x_new, datafit value) or None when no step is accepted (d, h then hold a rejected
    trial's)."""
    t = 1.0
    for _ls in range(30):
        xt = np.clip(xw + t * delta, lo, hi)
        f_dt = _datafit_all(view, K, D, u, d, h, Ad, t)
        f_new = f_dt + penalty(xt)
        if f_new <= f_old + 1e-4 * t * min(decrease, 0.0) or f_new < f_old and decrease >= 0:
            return t, xt, f_dt
        t *= 0.5
    # near the solution the predicted decrease falls below the rounding of f: Armijo cannot
    # see it, but the (very accurate) full Newton step is safe when it does not raise f
    # beyond rounding
    fs = abs(f_old)
    if abs(decrease) <= 1e-13 * fs:
        xt = np.clip(xw + delta, lo, hi)
        f_dt = _datafit_all(view, K, D, u, d, h, Ad, 1.0)
        if f_dt + penalty(xt) <= f_old + 1e-13 * fs:
            return 1.0, xt, f_dt
    return None


def try_anderson(KD, view, x, u, cols, lo, hi, iterates, penalty) -> int:
    """Column sweeps' Anderson step (shared with the block path): the extrapolation of the
    iterates of x[cols], clipped to [lo, hi], is kept -- x and u = A x updated in place --
    only when it lowers datafit + ``penalty(x_cols)``. Returns 1 when kept, else 0."""
    xa = _kernels().anderson_extrapolate(np.asarray(iterates))
    if xa is None:
        return 0
    xa = np.clip(xa, lo, hi)
    ua = u.copy()
    KD.add_cols(cols, xa - x[cols], ua)
    if KD.datafit_value(view, ua) + penalty(xa) < KD.datafit_value(view, u) + penalty(x[cols]):
        x[cols] = xa
        u[:] = ua
        return 1
    return 0


def anderson_window(KD, view, x, u, cols, lo, hi, window, K, counters, penalty) -> None:
    """One epoch of the Anderson schedule of the column and block loops: x[cols] joins
    ``window``; once it holds K + 1 iterates the step is tried (``try_anderson``), the
    window emptied, and counters [tried, kept] updated."""
    window.append(x[cols].copy())
    if len(window) == K + 1:
        counters[0] += 1
        counters[1] += try_anderson(KD, view, x, u, cols, lo, hi, window, penalty)
        window.clear()


def top_scored(scores, support, screened, size):
    """The working set of an outer step (shared with the block path): indices of the
    ``size`` largest ``scores``, the support always in, screened entries never. Returns
    (indices, unsorted; the scores with the support at +inf and the screened at -1)."""
    score = scores.copy()
    score[support] = np.inf
    score[screened] = -1.0
    sel = np.argpartition(-score, size - 1)[:size] if size < score.size else np.arange(score.size)
    return sel[score[sel] >= 0], score


def inner_tolerance(ev, scores, screened, ws, kkt_abs, gscale, tol, tighten, full=False):
    """(tol_in, tighten) for the working-set solve of an outer step (shared with the block
    path). The working-set problem needs solving only as far as what was left out is
    violated (when that is (nearly) optimal, to the target); when the gap binds while the
    KKT residual meets tol, the target is lowered by the observed gap / KKT ratio. With
    ``full`` (nothing left out) the solve still returns as the KKT score falls, so that the
    gap is checked (and screening done) on the way."""
    out_ws = ~screened
    out_ws[ws] = False
    outside = float(scores[out_ws].max(initial=0.0))
    if ev.rel_gap is not None and ev.rel_gap > tol and 0 < ev.kkt <= tol:
        tighten = min(tighten, 0.5 * ev.kkt / ev.rel_gap)
    first = 0.3 * kkt_abs if full else min(0.3 * kkt_abs, outside)
    return max(first, 0.3 * tol * gscale * tighten), tighten


#: the verbose table of both paths: one row per outer iteration
TABLE = Table(("outer", "outer", "6d"), ("iteration", "epochs", "7d"), ("time", "time", "9.4f"),
              ("objective", "objective", "16.9e"), ("gap", "gap", "10.2e", "n/a"), ("kkt", "kkt", "10.2e"),
              ("ws_size", "ws", "6d"), ("screened", "screened", "8d"))


def monitor(options) -> IterationMonitor:
    """The iteration monitor of a cd solve: ``max_iter`` counts epochs (sweeps)."""
    return IterationMonitor(options, table=TABLE, unit="epochs")


#: below this certificate, the running u = A x (updated column by column, thousands of
#: times) may have drifted from A x by more than the target: u is recomputed before each
#: outer check from then on. Seen: a Huber fit at tol 1e-12 stalled at 2.2e-12 for
#: 100000 epochs, every inner solve converged on the drifted u; recomputed, 3.4e-13.
DRIFT_MATTERS = 1e-8


def refresh_residual(D, x, u, last_certificate) -> None:
    """u[:] = A x when the last outer check was below ``DRIFT_MATTERS`` (one pass over the
    data, as much as the check's gradient): the check then measures the point itself."""
    if last_certificate is not None and last_certificate <= DRIFT_MATTERS and D.m:
        u[:] = D.matvec(x)


def outer_step(view, ev, x, epochs, outer, mon, ws_size, screened, tol) -> bool:
    """The bookkeeping of one outer iteration (shared with the block path): NaN, then a
    history record (and its verbose row), then the stopping tests -- the certificate
    ``tol``, the callback, the epoch (or outer-iteration) budget, the time limit. Returns
    True to stop (``mon`` says why)."""
    if not (math.isfinite(ev.primal) and np.isfinite(ev.grad).all()):
        return mon.stop("numerical_error", f"NaN or Inf after {epochs} epochs")
    rec = mon.record(epochs, ev.value, outer=outer, objective=view.program.sign * ev.primal, certificate=ev.value,
                     kkt=ev.kkt, gap=ev.rel_gap, ws_size=ws_size, screened=screened)
    if ev.value <= tol:
        return mon.stop("converged")
    return mon.check(rec, x, exhausted=outer >= mon.max_iter)


def _datafit_all(view, K, D, u, d, h, du=None, t=0.0):
    """Datafit value, derivative (into d) and curvature (into h) at u + t du (at u when du
    is None), the Poisson linear part lin^T u included."""
    if view.dkind == losses.LOGISTIC:
        return _logistic_all(u, du, float(t), D.s, D.b, view.c, d, h)
    val = K.datafit_all(u, u if du is None else du, float(t), D.s, D.b, view.c, view.dkind, view.dpar, d, h)
    if view.lin is not None:
        val += float(np.dot(view.lin, u)) + view.lin_const
        if du is not None and t != 0.0:
            val += t * float(np.dot(view.lin, du))
        d += view.lin
    return val


LOGISTIC_BLOCK = 16384    # samples per block of the NumPy logistic pass (temporaries O(block))


def _logistic_all(u, du, t, s, b, c, d_out, h_out) -> float:
    """``kernels.cd.datafit_all`` for the logistic loss, as ``ir.losses.logistic_pass``
    over blocks of samples: its exp and log1p are SIMD loops, about 3x faster than the
    compiled scalar loop's libm calls (measured 0.36 vs 0.95 ms on 5e4 samples, 0.04 vs
    0.13 ms on 8e3), and logistic solves then need no compiled datafit kernel (0.25 s less
    first-call compile). z = s (u + t du) - b."""
    tot = 0.0
    m = u.shape[0]
    for lo in range(0, m, LOGISTIC_BLOCK):
        hi = min(lo + LOGISTIC_BLOCK, m)
        ss = s[lo:hi]
        if du is None or t == 0.0:
            z = ss * u[lo:hi]
        else:
            z = du[lo:hi] * t
            z += u[lo:hi]
            z *= ss
        z -= b[lo:hi]
        tot += losses.logistic_pass(z, c, ss, d_out[lo:hi], h_out[lo:hi])
    return tot
