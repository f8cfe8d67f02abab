"""Coordinate descent on the SparseGLM form (sparse GLMs: Lasso family, sparse logistic,
elastic net, bounds, group lasso, MCP / SCAD).

    minimize  sum_i c phi(s_i (A x)_i - b_i) + sum_j pen_j(x_j) [+ sum_G wG ||x_G||_2]

Algorithm (in the spirit of celer / skglm, with cached ``@njit`` kernels over plain
arrays, see ``solvelab.kernels.cd``):

* outer loop: full gradient, per-coordinate KKT score (distance of -grad_j to the
  subdifferential) and, where the form has one, the duality gap at the rescaled dual
  point; stop when the relative gap (else the relative KKT residual) meets ``tol``;
* gap-safe screening (sphere test, radius sqrt(2 gap / alpha) with alpha the strong
  concavity of the dual) removes coordinates that are zero at every solution;
* working set: the current support plus the coordinates with the largest KKT scores,
  size max(ws_start, 2 |support|) (``ws_strategy='kkt'``), or all coordinates
  (``ws_strategy='full'``);
* inner loop on the working set: coordinate sweeps (``selection`` cyclic, random, or
  greedy Gauss-Southwell-Lipschitz order), with the residual A x updated in place;
  every ``anderson`` sweeps an Anderson extrapolation of the last iterates is tried and
  kept if it lowers the objective; the inner loop stops when the working-set KKT score
  is below 0.3 times the outer one;
* group penalties: block coordinate descent with block soft-thresholding over all blocks;
* Poisson (exp) datafit: no global Lipschitz constant, so every working-set problem is
  solved by proximal Newton with a backtracking line search (whatever ``gram`` says),
  and gap-safe screening is off (the dual is not strongly concave); the certificate
  is still the rescaled-dual gap where the form has one.

``max_iter`` counts coordinate sweeps (epochs over the working set). Options
(``options.extra``): ``selection`` ('cyclic' | 'random' | 'greedy'), ``ws_strategy``
('kkt' | 'full'), ``screening`` (bool, default True), ``anderson`` (memory K, 0 = off,
default 5), ``ws_start`` (initial working-set size, default 10), ``seed``.

The statuses are the backend's own ('converged' when its certificate meets tol); the
engine recomputes the certificate from the returned x with ``SparseGLM.certify``.
Compile (JIT) time is measured apart and reported in ``info['jit_time']`` and in the
setup time.
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..ir.glm_form import L_PHI, Evaluation, _pen_value, kkt_distances, relative
from . import registry
from .base import Backend, RawSolution, SolveOptions, callback_stops

_EXTRA = ("selection", "ws_strategy", "screening", "anderson", "ws_start", "seed", "gram", "gram_max")
_COMPILED: set = set()


def _kernels():
    from ..kernels import cd as K
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


def warmup() -> float:
    """Compile (or load from the on-disk cache) every kernel, the block-CD ones of groups
    included; returns the seconds spent. A solve does not need this: it compiles only the
    kernels its problem uses."""
    from .cd_blocks import _compile_mine
    return compile_kernels(None) + _compile_mine()


def kernels_needed(view, D, opt) -> list:
    """The kernels a solve of ``view`` may call: one storage (dense or CSC), block CD only
    with groups, the Gram / Newton kernels only when a working set can be small enough,
    the column sweeps only when it can be too large for them."""
    st = "dense" if D.dense is not None else "csc"
    if view.groups:
        return [f"col_sqnorms_{st}", f"bcd_epochs_{st}"]
    names = [f"col_sqnorms_{st}", f"grad_cols_{st}", f"add_cols_{st}"]
    gram_solve = "cd_gram_solve" if opt["mode"] == 0 else "cd_gram_solve_ordered"
    if D.m == 0:
        return names
    if view.dkind == 4:
        # Poisson: proximal Newton only (values and conjugates in NumPy)
        return (names + ["datafit_all", gram_solve]
                + (["rows_of_cols", "gram_rows"] if dedup_applies(D) else ["gram_csc"] if st == "csc" else []))
    if _fused_eval_applies(view, D):
        names.append("glm_eval")
    if view.dkind not in (0, 1):       # (logistic: NumPy, see _logistic_all)
        names += ["datafit_all"]
    gram = opt["gram"]
    # the column sweeps run when a working set exceeds gram_max (or, dense, the rows)
    big = (not gram) or D.p > opt["gram_max"] or (st == "dense" and D.p > D.m)
    if gram:
        # gram_csc: Newton weights, the full Gram matrix of a CSC least-squares problem,
        # or its working-set Gram matrices when it has too many columns for a full one
        # (row by row from the CSC columns: no CSR copy of the data, as SciPy's M.T @ M
        # makes; SciPy over column chunks avoids the copy but took 125 ms on mushrooms,
        # where this kernel takes 2 ms)
        if view.dkind != 0 and dedup_applies(D):
            # Newton Hessians from the distinct rows; gram_csc (for a working set whose
            # rows barely repeat) then compiles on first use only: on one-hot data it is
            # not needed, and the first call saves its 0.3 s of compile
            names += [gram_solve, "rows_of_cols", "gram_rows"]
        else:
            names += [gram_solve] + (["gram_csc"] if st == "csc" else [])
    if big:
        names.append(f"cd_epochs_{st}")
        if view.dkind != 0 and opt["anderson"]:
            names.append("datafit_value")
    return names


# The compiled one-pass evaluation pays off where NumPy's per-call overhead (a few dozen
# small-array operations, ~0.1 ms) is comparable to the pass itself; on larger data the
# NumPy evaluation is as fast (measured: a9a, 4.5e5 nonzeros, 0.51 ms NumPy vs 0.79 ms
# compiled; mushrooms, 1.7e5: 0.29 vs 0.14 ms) and its first-call compile is saved.
FUSED_EVAL_MAX_NNZ = 200_000
# Logistic: the compiled pass pays two scalar libm calls (log, exp) per sample, the NumPy
# one SIMD loops (``_logistic_all``, the certificate's forms) plus a fixed ~40 us: NumPy
# wins beyond a couple of thousand samples (mushrooms, 8124: 252 vs 339 us per check).
FUSED_EVAL_MAX_LOGISTIC_M = 2000


def _fused_eval_applies(view, D) -> bool:
    return bool(D.m > 0 and not view.groups and view.lin is None and view.dkind != 4
                and D.nnz <= FUSED_EVAL_MAX_NNZ and (view.dkind != 1 or D.m <= FUSED_EVAL_MAX_LOGISTIC_M))


def dedup_applies(D) -> bool:
    """Whether proximal Newton looks for duplicate rows (``_Data.duplicate_rows``): CSC
    data with at least 1000 rows, whose O(m) work arrays for it (about 24 bytes a row)
    stay within 10% of the data (12 bytes a nonzero, 8 a row) -- rows of 17 nonzeros or
    more (mushrooms: 21; a9a, 14, does without, and its first call without the compile)."""
    return bool(D.dense is None and D.m >= 1000 and 24 * D.m <= 0.1 * (12 * D.nnz + 8 * D.m))


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
        self.fast = bool(view.dkind == 0 and D.m > 0 and (D.s == 1.0).all())
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
            self.Atb = D.rmatvec(D.b) if self.fast else np.zeros(1)
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
        if not self.fused:
            return view.evaluate(x, u, D, want_gap=want_gap, fast=self.fast_eval(view))
        n = view.n
        if self.d_buf is None:
            self.d_buf = np.empty(D.m)   # reused: the solve reads only the latest evaluation
        d, g, scores, out = self.d_buf, np.empty(n), np.empty(n), np.empty(7)
        K.datafit_deriv(u, D.s, D.b, view.c, view.dkind, view.dpar, d)
        if self.all_cols is None:
            self.all_cols = np.arange(n, dtype=np.int64)
        G = self.full_gram()
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
        if D.m == 0 or view.dkind in (0, 4):
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
        if view.dkind == 0:
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
        D = self.D
        # (dense data with more columns than rows: the full Gram matrix would cost m p^2,
        # far more than a solve -- 8 ms on a 200 x 1000 Lasso that solves in 1 ms)
        if D.p <= opt["gram_max"] and (not self.dense or D.p <= D.m):
            hit = state.get("gram")
            if hit is None or hit[0] is not D:
                if self.dense:
                    As = self.A * D.s[:, None] if not (D.s == 1.0).all() else self.A
                    G = np.ascontiguousarray(As.T @ As)
                else:
                    G = self.K.gram_csc(self.data, self.ind, self.ptr, np.arange(D.p, dtype=np.int64), D.s * D.s,
                                        D.m)
                state["gram"] = hit = (D, G)
            return np.ascontiguousarray(hit[1][np.ix_(ws, ws)])
        return self.gram(ws)

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
        return self.K.gram_csc(self.data, self.ind, self.ptr, ws, sq_weights, D.m)

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


class CDBackend(Backend):
    name = "cd"
    description = ("coordinate descent for sparse GLMs: working sets, Anderson extrapolation, gap-safe "
                   "screening, cyclic/random/greedy selection, Numba kernels on CSC and dense data")
    forms = ("SparseGLM",)
    default_max_iter = 100000      # sweeps; proximal Newton counts its (cheap, O(k^2)) model sweeps too
    priority = 10

    def accepts_extra(self):
        return _EXTRA

    # ------------------------------------------------------------------------------------
    def _options(self, options):
        extra = self.checked_extra(options)
        sel = extra.get("selection", "cyclic")
        if sel not in ("cyclic", "random", "greedy"):
            raise InvalidDataError(f"cd: selection must be 'cyclic', 'random' or 'greedy', got {sel!r}")
        wss = extra.get("ws_strategy", "kkt")
        if wss not in ("kkt", "full"):
            raise InvalidDataError(f"cd: ws_strategy must be 'kkt' or 'full', got {wss!r}")
        anderson = int(extra.get("anderson", 5))
        if anderson < 0:
            raise InvalidDataError(f"cd: anderson must be a memory >= 0 (0 turns it off), got {anderson!r}")
        ws_start = int(extra.get("ws_start", 10))
        if ws_start < 1:
            raise InvalidDataError(f"cd: ws_start must be >= 1, got {ws_start!r}")
        return {"selection": sel, "mode": {"cyclic": 0, "random": 1, "greedy": 2}[sel], "ws_strategy": wss,
                "screening": bool(extra.get("screening", True)), "anderson": anderson,
                "ws_start": ws_start, "seed": int(extra.get("seed", 0)),
                "gram": bool(extra.get("gram", True)), "gram_max": int(extra.get("gram_max", 1024))}

    def solve(self, view, options: SolveOptions, state: dict) -> RawSolution:
        if view.data().dense is not None:
            # dense data: the Gram / Hessian products are small BLAS calls, which
            # multi-threaded OpenBLAS turns into waits on a busy machine (see kernels.threads)
            from ..kernels.threads import threads
            with threads(blas=1):
                return self._solve(view, options, state)
        return self._solve(view, options, state)

    def _solve(self, view, options: SolveOptions, state: dict) -> RawSolution:
        t_setup0 = time.perf_counter()
        opt = self._options(options)
        D = view.data()
        jit_time = compile_kernels(kernels_needed(view, D, opt))
        KD = _Data(D)
        KD.state = state
        KD.prepare(view)
        n = view.n
        tol = float(options.tol)
        hit = state.get("colsq")          # depends on the matrix and row scales only (not b)
        if hit is not None and hit[0] is D:
            colsq = hit[1]
        else:
            colsq = KD.col_sqnorms(D.s)
            state["colsq"] = (D, colsq)
        if view.dkind == 4:
            L = view.c * colsq           # not a Lipschitz constant (exp has none): unused by Newton
        else:
            L = view.c * L_PHI[view.dkind] * colsq
        if view.pkind == 1:
            L = np.maximum(L, 1.001 / view.gamma)      # the 1-D MCP model stays strongly convex
        elif view.pkind == 2:
            L = np.maximum(L, 1.001 / (view.gamma - 1.0))
        col_norms = np.sqrt(colsq)

        x = np.clip(np.zeros(n), view.lo, view.hi)
        x = np.where(np.isfinite(x), x, 0.0)
        warm = False
        if options.warm_start and state.get("x") is not None:
            xw = np.asarray(state["x"], dtype=np.float64)
            if xw.shape == (n,) and np.isfinite(xw).all():
                x = np.clip(xw, view.lo, view.hi)
                warm = True
        u = D.matvec(x) if D.m and x.any() else np.zeros(D.m)
        setup_time = time.perf_counter() - t_setup0
        if view.groups:
            return self._solve_blocks(view, options, state, opt, KD, D, L, colsq, x, u, tol, setup_time,
                                      jit_time, warm)

        t0 = time.perf_counter()
        deadline = None if options.time_limit is None else t0 + float(options.time_limit)
        max_epochs = int(options.max_iter)
        verbose = bool(options.verbose)
        history: list[dict] = []
        screened = np.zeros(n, dtype=bool)
        can_screen = (opt["screening"] and view.pkind == 0 and view.gap_available()
                      and D.m > 0 and view.dkind != 4)
        screenable = (view.w1 > 0) & ~np.isfinite(view.lo) & ~np.isfinite(view.hi)
        s_max2 = float((D.s ** 2).max(initial=0.0))
        alpha_inv = view.c * L_PHI[view.dkind] * s_max2   # 1 / strong concavity of the dual
        prev_ws = state.get("ws") if warm else None
        ws_size = opt["ws_start"] if prev_ws is None else max(opt["ws_start"], int(len(prev_ws)))
        epochs = 0
        outer = 0
        status, message = "max_iter", ""
        K_and = opt["anderson"]
        and_ok = and_tried = 0
        ws = np.arange(n, dtype=np.int64)
        best_val = None
        tighten = 1.0
        # least squares whose full Gram matrix is (or will be) kept: a sweep over every
        # coordinate costs O(p^2), less than one gradient A^T d, so working sets only add
        # outer iterations (each a full gradient and gap)
        whole_gram = bool(view.dkind == 0 and opt["gram"] and D.m > 0 and n <= opt["gram_max"]
                          and (not KD.dense or n <= D.m))
        if whole_gram and n * n <= D.nnz:
            # sweeps cost less than the outer check: aim below the target at once rather
            # than learn the gap / KKT ratio over extra outer iterations
            tighten = 0.05
        newton_cap = bool(opt["gram"] and view.dkind not in (0, 4) and D.m > 0
                          and (not KD.dense or opt["gram_max"] <= D.m))
        if verbose:
            print(f"cd: {view.describe()}, m={D.m}, p={n}, nnz={D.nnz}, "
                  f"{'dense' if KD.dense else 'csc'}; selection={opt['selection']}, "
                  f"ws={opt['ws_strategy']}, screening={can_screen}, anderson={K_and}, tol={tol:g}"
                  + (", warm start" if warm else "") + f"; jit {jit_time:.2f}s")
            print(f"{'outer':>6} {'epochs':>7} {'time':>9} {'objective':>16} {'gap':>10} {'kkt':>10} "
                  f"{'ws':>6} {'screened':>8}")
        while True:
            ev = KD.evaluate(view, x, u)
            best_val = ev.value
            stop = outer_step(view, ev, x, epochs, outer, t0, int(min(ws_size, n)), int(screened.sum()), history,
                              options, tol, max_epochs, deadline)
            if stop is not None:
                status, message = stop
                break
            outer += 1
            grad_now = ev.grad            # A^T d at the current u (None once u moves)
            # -- gap-safe screening --------------------------------------------------------
            if can_screen and ev.gap_abs is not None:
                radius = math.sqrt(2.0 * ev.gap_abs * alpha_inv)
                test = screenable & ~screened & (ev.scale * np.abs(ev.grad) + radius * col_norms < view.w1)
                if test.any():
                    newly = np.nonzero(test)[0]
                    moved = newly[x[newly] != 0]
                    if moved.size:
                        KD.dh_fresh = False
                        KD.add_cols(moved.astype(np.int64), -x[moved], u)
                        grad_now = None
                        x[moved] = 0.0
                    screened |= test
            # -- working set ---------------------------------------------------------------
            gscale = ev.grad_scale
            kkt_abs = float(ev.kkt_scores[~screened].max(initial=0.0))
            if opt["ws_strategy"] == "full" or whole_gram:
                ws = np.nonzero(~screened)[0].astype(np.int64)
            else:
                support = (x != 0) & ~screened
                n_free = int(np.sum(~screened))
                n_supp = int(support.sum())
                ws_size = min(n_free, max(2 * n_supp, opt["ws_start"]))
                if newton_cap and n_supp < opt["gram_max"]:
                    # keep proximal Newton (Gram of at most gram_max columns) as long as the
                    # support fits: column sweeps on a non-quadratic datafit are far slower.
                    # Once the support alone fills gram_max the cap is dropped: a working set
                    # of just the support could never take in a violated coordinate (stall)
                    ws_size = min(ws_size, opt["gram_max"])
                ws, _ = top_scored(ev.kkt_scores, support, screened, ws_size)
                ws = np.sort(ws).astype(np.int64)
                if ws.size == 0:
                    ws = np.nonzero(~screened)[0].astype(np.int64)
            tol_in, tighten = inner_tolerance(ev, ev.kkt_scores, screened, ws, kkt_abs, gscale, tol, tighten)
            epochs_before = epochs
            epochs = self._inner(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs, deadline,
                                 counters := [0, 0], grad_now)
            and_tried += counters[0]
            and_ok += counters[1]
            if epochs == epochs_before:
                # the working set already meets its tolerance but the gap does not: tighten
                tighten *= 0.1
                if tighten < 1e-8:
                    status, message = "max_iter", f"no progress after {epochs} epochs (stalled)"
                    break
        solve_time = time.perf_counter() - t0
        x_ret = x if np.isfinite(x).all() else None
        if x_ret is not None:
            state["x"] = x.copy()
            state["ws"] = np.nonzero(x)[0]
        if verbose:
            print(f"cd: {status} after {outer} outer / {epochs} epochs, {solve_time:.4f} s"
                  + (f"; {message}" if message else ""))
        info = {"epochs": epochs, "outer_iterations": outer, "screened": int(screened.sum()),
                "screened_features": np.nonzero(screened)[0],
                "ws_size": int(ws.size), "anderson_tried": and_tried, "anderson_accepted": and_ok,
                "jit_time": jit_time, "warm_start": warm, "certificate": best_val, "solve_time": solve_time,
                "form": view.describe(), "storage": "dense" if KD.dense else "csc"}
        # the per-term duals cost a pass over the data through the generic operators; the
        # SparseGLM certificate does not read them, so they are computed when asked for
        duals = (lambda xr=x_ret.copy(): view.duals(xr)) if x_ret is not None else None
        return RawSolution(x=None if x_ret is None else x_ret.copy(), status=status, iterations=epochs,
                           duals=duals, history=history, setup_time=setup_time, info=info, message=message)

    # ------------------------------------------------------------------------------------
    @staticmethod
    def _inner(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs, deadline, counters, grad=None):
        """Sweeps on the working set until its KKT score is below tol_in."""
        if (KD.use_gram(view, ws, opt) and view.dkind != 0) or (view.dkind == 4 and D.m > 0):
            return CDBackend._inner_newton(view, KD, D, x, u, ws, L, opt, tol_in, epochs, max_epochs,
                                           deadline)
        if KD.use_gram(view, ws, opt):
            return CDBackend._inner_gram(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs,
                                         deadline, counters, grad)
        mode, seed = opt["mode"], opt["seed"]
        last = []
        check = 10
        inner = 0
        while epochs < max_epochs:
            KD.epochs(view, u, x, ws, L, 1, mode, seed + epochs)
            epochs += 1
            inner += 1
            if K_and:
                last.append(x[ws].copy())
                if len(last) == K_and + 1:
                    counters[0] += 1
                    counters[1] += try_anderson(KD, view, x, u, ws, view.lo[ws], view.hi[ws], last,
                                                lambda xs: float(np.sum(_pen(view, xs, ws))))
                    last = []
            if inner % check == 0:
                d = view.deriv(D, u)
                g = KD.grad_cols(d, ws)
                sc = kkt_distances(view.pkind, x[ws], g, view.w1[ws], view.r[ws], view.lo[ws], view.hi[ws],
                                   view.gamma)
                if float(sc.max(initial=0.0)) <= tol_in:
                    break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
        return epochs

    @staticmethod
    def _inner_gram(view, KD, D, x, u, ws, L, opt, K_and, tol_in, epochs, max_epochs, deadline, counters,
                    grad=None):
        """Least squares on a small working set: CD on its Gram matrix (O(k) per step)."""
        K = _kernels()
        mode, seed = opt["mode"], opt["seed"]
        G = KD.gram_ws(ws, opt, KD.state)
        c2 = 2.0 * view.c
        # G x_ws - q, exactly, from u (read off the outer gradient when it is current)
        gw = (grad[ws] if grad is not None else KD.grad_cols(view.deriv(D, u), ws)) / c2
        x0 = x[ws].copy()
        xw = x0.copy()
        w1, r, lo, hi = view.w1[ws], view.r[ws], view.lo[ws], view.hi[ws]
        Lfloor = 0.0
        if view.pkind:
            Lfloor = 1.001 / (view.gamma if view.pkind == 1 else view.gamma - 1.0)
        stats = np.zeros(3, dtype=np.int64)
        # compiled in chunks, so that the deadline is still looked at now and then
        while epochs < max_epochs:
            chunk = min(max_epochs - epochs, 5000)
            met = _gram_solve(K, G, gw, xw, c2, w1, r, lo, hi, view.pkind, view.gamma, Lfloor, chunk, mode,
                              seed + epochs, tol_in, K_and, stats)
            epochs += int(stats[0])
            counters[0] += int(stats[1])
            counters[1] += int(stats[2])
            if met or (deadline is not None and time.perf_counter() >= deadline):
                break
        x[ws] = xw
        KD.add_cols(ws, xw - x0, u)
        return epochs

    @staticmethod
    def _inner_newton(view, KD, D, x, u, ws, L, opt, tol_in, epochs, max_epochs, deadline):
        """Proximal Newton on the working set (non-quadratic datafits): the second-order
        model (weighted Gram matrix of the working-set columns) is minimized by CD, then a
        backtracking line search on the true objective. ``epochs`` counts model sweeps."""
        K = _kernels()
        mode, seed = opt["mode"], opt["seed"]
        w1, r, lo, hi = view.w1[ws], view.r[ws], view.lo[ws], view.hi[ws]
        Lfloor = 0.0
        if view.pkind:
            Lfloor = 1.001 / (view.gamma if view.pkind == 1 else view.gamma - 1.0)
        # d, h: derivative and curvature at u (the line search overwrites them with those
        # of its trial points: the accepted one's are what the next step needs, and a step
        # that finds none ends the loop); Ad = A delta, the step direction. Scratch shared
        # by the solve's Newton calls.
        d, h, Ad = KD.work(3)
        stats = np.zeros(3, dtype=np.int64)
        f_data = None
        h_floor = 0.01 * view.c * L_PHI[view.dkind] * D.s * D.s if view.dkind in (2, 3) else None
        folded = KD.duplicate_rows(ws, Ad) if dedup_applies(D) else None
        if KD.dh_fresh:          # the outer check just computed them at this u (read once)
            f_data = KD.dh_value
        KD.dh_fresh = False
        for _newton in range(50):
            if f_data is None:
                f_data = _datafit_all(view, K, D, u, d, h)
            if folded is None:
                g = KD.grad_cols(d, ws)
            else:       # A_ws^T d = R^T (d summed over each group of identical rows)
                g = folded[1].T @ np.bincount(folded[0], weights=d, minlength=folded[2])
            xw = x[ws].copy()
            sc = kkt_distances(view.pkind, xw, g, w1, r, lo, hi, view.gamma)
            kkt_now = float(sc.max(initial=0.0))
            if kkt_now <= tol_in or epochs >= max_epochs:
                break
            if deadline is not None and time.perf_counter() >= deadline:
                break
            # Huber and the squared hinge have zero curvature outside their quadratic
            # zone: a column whose samples all sit there has a flat model, so the Newton
            # step runs off along it and the line search cuts it to nothing (seen: steps
            # of 1e-8, stalled). A curvature floor of 1% of the global bound keeps the
            # model honest for samples a step may carry back into the zone.
            w2 = h if h_floor is None else np.maximum(h, h_floor)
            if folded is not None:
                # duplicate rows: one row per group, with the group's summed weight
                group, R, ng = folded
                H = K.gram_rows(R.indptr, R.indices, R.data, np.bincount(group, weights=w2, minlength=ng),
                                ws.size)
            else:
                H = KD.gram(ws, sq_weights=w2)
            # tiny ridge: keeps the 1-D models strictly convex where the curvature vanishes
            dg = np.diagonal(H).copy()
            H[np.diag_indices_from(H)] += 1e-12 * max(float(dg.max(initial=0.0)), 1e-300)
            gw = g.copy()                                  # model gradient H (x_new - x) + g
            xn = xw.copy()
            # The model sweeps cost O(k^2) each, far less than the Hessian and gradient of a
            # Newton step (O(nnz) and more): solve the model well (KKT down by 100x, in one
            # compiled call); an inexact model (the old cap of 20 sweeps) made the Newton
            # steps crawl on correlated columns.
            model_tol = 0.01 * kkt_now
            _gram_solve(K, H, gw, xn, 1.0, w1, r, lo, hi, view.pkind, view.gamma, Lfloor,
                        min(1600, max_epochs - epochs), mode, seed + epochs, model_tol, opt["anderson"], stats)
            epochs += int(stats[0])
            delta = xn - xw
            if not delta.any():
                break
            if folded is None:
                Ad[:] = 0.0
                KD.add_cols(ws, delta, Ad)
            else:       # A_ws delta: each group's row once, then copied to its members
                np.take(folded[1] @ delta, folded[0], out=Ad)
            p_old = float(np.sum(_pen_value(view.pkind, xw, w1, r, view.gamma)))
            f_old = f_data + p_old
            decrease = float(np.sum(g * delta)) + float(np.sum(_pen_value(view.pkind, xn, w1, r, view.gamma))) - p_old
            step = newton_line_search(view, K, D, u, Ad, d, h, xw, delta, lo, hi, f_old, decrease,
                                      lambda xs: float(np.sum(_pen_value(view.pkind, xs, w1, r, view.gamma))))
            if step is None:
                break
            t, xt, f_data = step
            x[ws] = xt
            u += t * Ad if t != 1.0 else Ad
        return epochs

    # ------------------------------------------------------------------------------------
    def _solve_blocks(self, view, options, state, opt, KD, D, L, colsq, x, u, tol, setup_time, jit_time, warm):
        from .cd_blocks import solve_blocks
        return solve_blocks(view, options, state, opt, KD, D, L, colsq, x, u, tol, setup_time, jit_time, warm)


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


def outer_step(view, ev, x, epochs, outer, t0, ws_size, screened, history, options, tol, max_epochs, deadline):
    """The bookkeeping of one outer iteration (shared with the block path): a history
    record (and its verbose line), then the stopping tests -- NaN, the certificate ``tol``,
    the callback, the iteration budget, the time limit. Returns (status, message) to stop,
    or None to go on."""
    if not (math.isfinite(ev.primal) and np.isfinite(ev.grad).all()):
        return "numerical_error", f"NaN or Inf after {epochs} epochs"
    elapsed = time.perf_counter() - t0
    rec = {"iteration": epochs, "outer": outer, "time": elapsed, "objective": view.program.sign * ev.primal,
           "certificate": ev.value, "kkt": ev.kkt, "gap": ev.rel_gap, "ws_size": ws_size, "screened": screened}
    history.append(rec)
    if options.verbose:
        gs = f"{ev.rel_gap:10.2e}" if ev.rel_gap is not None else f"{'n/a':>10}"
        print(f"{outer:6d} {epochs:7d} {elapsed:9.4f} {rec['objective']:16.9e} {gs} {ev.kkt:10.2e} "
              f"{ws_size:6d} {screened:8d}")
    if ev.value <= tol:
        return "converged", ""
    if callback_stops(options, rec, x):
        return "stopped", f"stopped by the callback after {epochs} epochs"
    if epochs >= max_epochs or outer >= max_epochs:
        return "max_iter", ""
    if deadline is not None and time.perf_counter() >= deadline:
        return "time_limit", f"time limit of {options.time_limit:g} s reached after {epochs} epochs"
    return None


def _gram_sweeps(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol, K_and, stats):
    """The compiled Gram-model sweeps: cyclic, or random / greedy (a separate kernel)."""
    if mode == 0:
        return K.cd_gram_solve(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, tol, K_and, stats)
    return K.cd_gram_solve_ordered(G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol,
                                   K_and, stats)


FACE_FIRST = 20      # sweeps before the first look at the face (doubled while looks do not pay)
FACE_MIN_WORK = 2e5  # multiply-adds of sweeping (~0.1 ms) that a look must be worth


def _gram_solve(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol, K_and, stats):
    """Solve the Gram model  c2/2 x^T G x - c2 q^T x + pen(x)  (``gw = G x - q`` kept up to
    date) to KKT ``tol``: compiled sweeps and, for models without l1 (ridge, box), a
    Newton step on the face of the current point -- the nonzero coordinates strictly
    inside their bounds, signs fixed -- after every few sweeps. On that face the model is
    a smooth quadratic, minimized by one Cholesky solve of the face's size (the step stops
    where a coordinate reaches zero or a bound); CD alone crawls on ill-conditioned data
    (the quick suite's nonnegative least squares, 600 x 300: 13371 sweeps, now 1537).
    Faces whose Gram block is singular are left to the sweeps. ``stats`` gets the sweeps,
    Anderson tries and keeps."""
    k = xw.shape[0]
    # only models without an l1 part (nonnegative / box-constrained least squares, ridge):
    # with l1, CD identifies the support and Anderson takes it from there, and the faces
    # of correlated l1 problems were singular or never held still (mushrooms, a9a: no
    # look taken), so the chunking would only cost its calls
    if (pkind != 0 or max_epochs <= FACE_FIRST or FACE_FIRST * k * k < FACE_MIN_WORK
            or w1.any()):
        return _gram_sweeps(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor, max_epochs, mode, seed, tol,
                            K_and, stats)
    total = np.zeros(3, dtype=np.int64)
    # chunks of whole Anderson cycles (K_and + 1 sweeps): each compiled call starts a new
    # cycle, so the sweeps are exactly those of one uninterrupted call
    cycle = K_and + 1 if K_and > 0 else 1
    chunk, cap, met = -(-FACE_FIRST // cycle) * cycle, (5000 // cycle) * cycle, 0
    while total[0] < max_epochs:
        met = _gram_sweeps(K, G, gw, xw, c2, w1, r, lo, hi, pkind, gamma, Lfloor,
                           min(chunk, max_epochs - int(total[0])), mode, seed + int(total[0]), tol, K_and, stats)
        total += stats
        if met or stats[0] == 0:
            break
        S = np.nonzero((xw != 0) & (xw > lo) & (xw < hi))[0]
        # a look costs |S|^3 / 3 flops and ~50 us of NumPy calls: taken only when the
        # sweeps since the last one cost about as much; while looks pay, they come after
        # every chunk, else the chunks double
        sweeps_cost = chunk * k * max(S.size, 1)
        if not (S.size and S.size ** 3 <= 3 * sweeps_cost and sweeps_cost >= FACE_MIN_WORK
                and _face_newton(G, gw, xw, c2, w1, r, lo, hi, S)):
            chunk = min(2 * chunk, cap)
    stats[:] = total
    return met


def _face_newton(G, gw, xw, c2, w1, r, lo, hi, S) -> bool:
    """One Newton step on the face {x_S, signs fixed, inside the bounds; the rest fixed}
    of the Gram model with pen = w1 |x| + r x^2 + box: solve (c2 G_SS + 2 diag r_S) delta =
    -(c2 gw_S + w1_S sign(x_S) + 2 r_S x_S) by Cholesky (refused if singular), then move
    along delta until the face ends (a coordinate reaching 0 or a bound stops there).
    Kept -- xw and gw updated in place -- only when the model objective, computed
    exactly, decreases."""
    xs = xw[S]
    sg = np.sign(xs)
    H = c2 * G[np.ix_(S, S)]
    H[np.diag_indices_from(H)] += 2.0 * r[S]
    rhs = -(c2 * gw[S] + w1[S] * sg + 2.0 * r[S] * xs)
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return False
    dg = np.diagonal(L)
    if not dg.min() > 1e-7 * dg.max():           # (numerically) singular face: leave it to CD
        return False
    delta = np.linalg.solve(L.T, np.linalg.solve(L, rhs))
    if not np.isfinite(delta).all():
        return False
    alpha = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for limit in (np.where(sg * delta < 0, -xs / delta, np.inf),           # reaching 0
                      np.where(delta > 0, (hi[S] - xs) / delta, np.inf),     # the bounds
                      np.where(delta < 0, (lo[S] - xs) / delta, np.inf)):
            alpha = min(alpha, float(limit.min(initial=np.inf)))
    if not alpha > 0.0:
        return False
    xn = xs + alpha * delta
    xn[sg * xn <= 0] = 0.0                      # a coordinate that reached zero sits at zero
    xn = np.clip(xn, lo[S], hi[S])
    step = xn - xs
    Gd = G[:, S] @ step
    change = (c2 * (float(gw[S] @ step) + 0.5 * float(step @ Gd[S]))
              + float(np.sum(w1[S] * (np.abs(xn) - np.abs(xs)) + r[S] * (xn * xn - xs * xs))))
    if not change < 0.0:
        return False
    xw[S] = xn
    gw += Gd
    return True


def _datafit_all(view, K, D, u, d, h, du=None, t=0.0):
    """Datafit value, derivative (into d) and curvature (into h) at u + t du (at u when du
    is None), the Poisson linear part lin^T u included."""
    if view.dkind == 1:
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
    """``kernels.cd.datafit_all`` for the logistic loss, in NumPy over blocks of samples:
    its exp and log1p are SIMD loops, about 3x faster than the compiled scalar loop's
    libm calls (measured 0.36 vs 0.95 ms on 5e4 samples, 0.04 vs 0.13 ms on 8e3), and
    logistic solves then need no compiled datafit kernel (0.25 s less first-call compile).
    With z = s (u + t du) - b: value c sum log(1 + e^z), d = c s sigma(z), h = c s^2
    sigma(z) (1 - sigma(z)), from e = exp(-|z|) -- no overflow."""
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
        e = np.abs(z)
        np.negative(e, out=e)
        np.exp(e, out=e)
        tot += float(np.maximum(z, 0.0).sum()) + float(np.log1p(e).sum())
        sig = np.add(e, 1.0)
        np.divide(np.where(z > 0, 1.0, e), sig, out=sig)
        d = d_out[lo:hi]
        np.multiply(ss, sig, out=d)
        d *= c
        h = h_out[lo:hi]
        np.subtract(1.0, sig, out=h)
        h *= sig
        h *= ss
        h *= ss
        h *= c
    return c * tot


def _pen(view, xw, ws):
    return _pen_value(view.pkind, xw, view.w1[ws], view.r[ws], view.gamma)


registry.register(CDBackend())
