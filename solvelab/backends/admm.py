"""ADMM on the general prox-affine form (OSQP/SCS-like operator splitting).

    minimize  sum_i w_i f_i(A_i x - b_i)

Terms are split three ways:

  * quadratic terms (``w q/2 ||A x - b||^2 + w c^T (A x - b)``, e.g. ``sum_squares``) are
    folded into the x-update's linear system; linear terms go to its right-hand side;
  * every other term gets a copy ``z_i = A_i x - b_i`` with a scaled dual ``u_i``.

One iteration, with relaxation alpha (default 1.6) and per-term penalties rho_i:

    x  <- argmin  sum_quad w q/2 ||A x - b'||^2 + c^T x + sigma/2 ||x - x_prev||^2
                   + sum_i rho_i/2 ||A_i x - b_i - z_i + u_i||^2
    r_i = alpha (A_i x - b_i) + (1 - alpha) z_i
    z_i <- prox_{w_i f_i / rho_i}(r_i + u_i)
    u_i <- u_i + r_i - z_i                (the dual is y_i = rho_i u_i in ∂(w_i f_i)(z_i))

The x-system is factorized once per (data, rho) and cached across iterations and
solves (``solvelab.kernels.factor``): the reduced SPD system ``sigma I + M^T D M``
(dense LAPACK when small, sparse Cholesky when ``M^T M`` stays sparse), or else the
quasi-definite KKT system ``[[sigma I, M^T], [M, -D^-1]]`` with a sparse LDL^T, which
never forms ``M^T M``. Equality constraints get rho x 1e3 (as in OSQP).

Scale invariance. Multiplying the objective or a term by a constant changes neither
the iterates (up to that constant) nor any test:
  * the equilibration (Ruiz, one scalar per term so that every f keeps its prox) first
    divides each term's rows by their largest entry;
  * rho and sigma are relative to the objective's size in the equilibrated variables
    (OSQP's cost scaling: the larger of mean diag(P), |q|_inf and the subgradient size of
    the other objective terms), which is the same as scaling the objective to size 1;
  * the stopping test and the rho adaptation use relative residuals, as the
    certificate's but with entrywise sizes too (so that a homogeneous constraint A x = 0,
    or a program with one term, still has a scale): per term
    |A_i x - b_i - z_i| / max(|A_i x|, |b_i|, |A_i| |x|, |op| |x_block| over the variables
    it reads), and |sum_i A_i^T y_i| / max(|A|^T |y|, |A_i^T y_i|, and for quadratic terms
    |P x| and |q|);
  * Anderson acceleration works on the state in the equilibrated rows.

A solve converges only when ``solvelab.ir.certificate.certify`` (KKT residuals and
duality gap) meets ``tol``; the cheap residuals decide when to compute it (ten times
tighter after each refusal; at 1e-4 tol the run ends 'converged' and the engine judges).

Infeasibility and unboundedness (Banjac et al. 2019): when the problem has no solution
the iterates diverge, and their differences dy, dx over ``check_every`` iterations (and
over the whole run since the last rho change) tend to certificates. Every check tests
them: a dual ray (objective parts zeroed, constraint parts projected onto their support
functions' domains) by Farkas' lemma with entrywise-relative tolerances, then by
``check_primal_infeasibility`` (the engine's test, which the run waits a while for); a
primal ray by ``check_unboundedness``. A primal ray is reported (status 'unbounded')
only with a feasible point, which a feasibility phase looks for: from a fresh start,
without the linear objective (what is left is bounded below), it runs on to a point
with a relative primal residual within ``tol``, or to a dual ray (then the problem is
'infeasible'). (The diverged x itself is no evidence: far along the ray every relative
measure calls a fixed violation small.)
So that the differences are those of one fixed map, Anderson acceleration starts only
once both relative residuals are below 1e-2 (or from a warm start), and rho changes at
geometrically spaced iterations, within 1e-6..1e6 of its relative value, never while a
dual ray awaits the engine's test.

Backend options (``options.extra``): ``rho`` (initial penalty relative to the objective's
size, default 0.1), ``sigma`` (relative, default 1e-6), ``alpha`` (relaxation in (0, 2),
default 1.6), ``adaptive_rho`` (default True), ``max_rho_updates`` (default 30),
``eq_rho_scale`` (default 1e3), ``system`` ('auto' | 'reduced' | 'kkt'), ``scaling``
(Ruiz-style equilibration of the columns and of each split term as a whole, default
True), ``anderson`` (memory of the safeguarded Anderson acceleration of the (z, u)
iteration, default 10; 0 disables it), ``polish`` (default True: on polyhedral QPs / LPs,
proximal-multiplier Newton steps from ADMM's point, kept only when the certificate of the
polished point passes; ``admm_polish``).
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..ir.certificate import (certify, check_primal_infeasibility, check_unboundedness, farkas_value,
                              primal_residual)
from ..ir.forms import own_certificate
from ..kernels import factor as _factor
from ..kernels.anderson import Anderson
from . import registry
from .admm_polish import MAX_SIZE as POLISH_MAX_SIZE, PolishData, polish as polish_step, polishable
from .anchoring import HalpernAnchor
from .base import Backend, Changes, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

_EXTRA = ("rho", "sigma", "alpha", "adaptive_rho", "max_rho_updates", "eq_rho_scale", "system", "scaling", "anderson",
          "halpern", "restart", "restart_every", "polish", "distributed", "blocks")
#: what ``distributed=client`` hands to consensus ADMM (backends.consensus)
_CONSENSUS_EXTRA = ("distributed", "blocks", "rho", "adaptive_rho", "max_rho_updates")


#: the only absolute floor: the smallest normal double (0 / 0 is read as 0)
_TINY = np.finfo(np.float64).tiny


def _inf(v) -> float:
    return float(np.max(np.abs(v), initial=0.0)) if np.size(v) else 0.0


def _rel(num: float, den: float) -> float:
    """num / den, with an exact zero read as zero whatever den is."""
    return 0.0 if num == 0.0 else num / max(den, _TINY)


#: a dual ray's Farkas value must be this fraction of the size of its parts (cancellation
#: down to rounding level is no proof)
_FARKAS_MARGIN = 1e-6

#: a run stops when the certificate is below this fraction of tol: a point just inside tol
#: by one measure is often just outside it by another (a constraint's own scale)
_CERT_MARGIN = 0.1

#: the range of rho relative to the objective's size (OSQP's rho_min, rho_max): rho no
#: smaller than sigma keeps the x-update a step of ADMM, not of a proximal point method
_RHO_RANGE = (1e-6, 1e6)

#: rho changes when sqrt(primal / dual residual) leaves [1 / band, band] (OSQP: 5)
_RHO_BAND = 5.0
#: ... or [1 / 1.5, 1.5] after 20 checks without halving the larger residual
_RHO_BAND_STALLED = 1.5

#: Anderson acceleration starts once both relative residuals are below this
_AA_GATE = 1e-2

#: the verbose iteration table
_TABLE = Table(("iteration", "iter", "7d"), ("time", "time", "9.3f"), ("objective", "objective", "16.9e"),
               ("primal_residual", "prim res", "10.2e"), ("dual_residual", "dual res", "10.2e"),
               ("rho", "rho", "9.2e"), ("certificate", "cert", "10.2e"))


def _is_equality(term) -> bool:
    return term.f.is_indicator and term.f.name == "zero"


class _Structure:
    """What depends only on the operators: which terms fold or split, and the stacked M.

    M stacks the rows of the folded quadratic terms (first) and of the split terms.
    Rebuilt only when the program's operators change (``data_version``).
    """

    def __init__(self, program, scaling: bool = True):
        self.n = program.n
        self.scaling = scaling
        self.quad, self.linear, self.split, self.silent = [], [], [], []
        for i, t in enumerate(program.terms):
            f = t.f
            if f.quadratic and not f.is_indicator:
                q = float(getattr(f, "quad_coef", 0.0))
                if q > 0 and t.weight != 0.0:
                    self.quad.append(i)
                elif f.name == "linear" and t.weight != 0.0:
                    self.linear.append(i)
                else:
                    self.silent.append(i)          # f = 0 or weight 0: nothing to do
            else:
                self.split.append(i)
        blocks, offsets, off = [], {}, 0
        for i in self.quad + self.split:
            A = program.terms[i].A.to_sparse()
            blocks.append(sp.csr_matrix(A, dtype=np.float64))
            offsets[i] = (off, off + A.shape[0])
            off += A.shape[0]
        self.offsets = offsets
        self.m = off
        self.M = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, self.n))
        # equilibration: columns scaled by col_scale (x = col_scale * x_internal), each
        # term's rows by one scalar, which ADMM absorbs into that term's rho (any f)
        if scaling:
            self.col_scale, self.term_scale = self._equilibrate(program)
        else:
            self.col_scale, self.term_scale = np.ones(self.n), {i: 1.0 for i in self.quad + self.split}
        self.M = sp.csr_matrix(self.M @ sp.diags(self.col_scale))
        self.MT = self.M.T.tocsr()
        self.m_quad = sum(program.terms[i].m for i in self.quad)
        # cost of forming M^T M: sum over rows of nnz(row)^2
        row_nnz = np.diff(self.M.indptr).astype(np.float64)
        self.gram_flops = float(np.dot(row_nnz, row_nnz))
        self.quad_signature = tuple(self.quad)
        # dense data goes through BLAS: a CSR matvec on a full matrix is ~5x slower
        self.dense = (self.m * self.n <= 2e7 and self.M.nnz >= 0.3 * self.m * self.n
                      and self.n <= _factor_dense_limit())
        if self.dense:
            self.M_sparse = self.M
            self.M = np.ascontiguousarray(self.M.toarray())
            self.MT = self.M.T

    def _equilibrate(self, program, iters: int = 15):
        """Ruiz-style scaling with one scalar per term (so any f keeps its prox).

        Each term's rows are first divided by their largest entry, so that the result
        does not depend on how a term (or the objective) was multiplied; the Ruiz passes
        then balance the columns against the terms, within a factor 1e4 either way.
        """
        n = self.n
        e = np.ones(n)
        order = self.quad + self.split
        if self.M.nnz == 0:
            return e, {i: 1.0 for i in order}
        absM = abs(self.M).tocsr()
        row_block = np.zeros(self.M.shape[0], dtype=np.int64)
        for k, i in enumerate(order):
            a, b = self.offsets[i]
            row_block[a:b] = k
        rows = np.asarray(absM.max(axis=1).todense()).ravel()
        blk = np.zeros(len(order))
        np.maximum.at(blk, row_block, rows)
        c0 = np.where(blk > 0, 1.0 / np.where(blk > 0, blk, 1.0), 1.0)
        c = c0.copy()
        for _ in range(iters):
            W = sp.diags(c[row_block]) @ absM @ sp.diags(e)
            rows = np.asarray(W.max(axis=1).todense()).ravel()
            blk = np.zeros(len(order))
            np.maximum.at(blk, row_block, rows)
            cols = np.asarray(W.max(axis=0).todense()).ravel()
            blk_scale = np.where(blk > 0, 1.0 / np.sqrt(np.where(blk > 0, blk, 1.0)), 1.0)
            col_scale = np.where(cols > 0, 1.0 / np.sqrt(np.where(cols > 0, cols, 1.0)), 1.0)
            c = np.clip(c * blk_scale, 1e-4 * c0, 1e4 * c0)
            e = np.clip(e * col_scale, 1e-4, 1e4)
            if np.max(np.abs(1 - blk_scale), initial=0) < 1e-3 and np.max(np.abs(1 - col_scale), initial=0) < 1e-3:
                break
        return e, {i: float(c[k]) for k, i in enumerate(order)}

    def objective_scale(self, program, q_lin, quad_wq) -> float:
        """The objective's size in the equilibrated variables (OSQP's cost scaling): the
        largest of mean diag(P), |q|_inf and, for the other split objective terms, their
        subgradient size times their rows' largest entry. 1 for a feasibility problem."""
        parts = [_inf(q_lin)]
        Ms = self.M_sparse if self.dense else self.M
        if self.quad:
            diag = np.zeros(self.n)
            for i, wq in zip(self.quad, quad_wq):
                a, b = self.offsets[i]
                diag += wq * np.asarray(Ms[a:b].multiply(Ms[a:b]).sum(axis=0)).ravel()
            parts.append(float(np.mean(diag)))
        for i in self.split:
            t = program.terms[i]
            if t.f.is_indicator or t.role != "objective" or t.weight == 0.0:
                continue
            a, b = self.offsets[i]
            size = abs(t.weight) * float(np.max(np.abs(getattr(t.f, "w", 1.0)), initial=0.0))
            parts.append(size * float(abs(Ms[a:b]).max()) if b > a else 0.0)
        s = max(parts)
        return s if (s > 0.0 and math.isfinite(s)) else 1.0

    def abs_MT(self):
        """|M|^T (entrywise), for the size of a sum of A_i^T y_i."""
        if getattr(self, "_abs_MT", None) is None:
            self._abs_MT = np.abs(self.MT) if self.dense else abs(self.MT).tocsr()
        return self._abs_MT

    def abs_M(self):
        """|M| (entrywise), for the size of A_i x."""
        if getattr(self, "_abs_M", None) is None:
            self._abs_M = np.abs(self.M) if self.dense else abs(self.M).tocsr()
        return self._abs_M

    def choose_system(self, requested: str) -> str:
        if requested in ("reduced", "kkt"):
            return requested
        if self.dense:
            return "reduced"
        if self.n <= _factor_dense_limit() and self.gram_flops <= 2e8:
            return "reduced"
        if self.gram_flops <= 4.0 * (self.M.nnz + self.n):
            return "reduced"
        return "kkt"


def _factor_dense_limit() -> int:
    return 2500


class _System:
    """The x-update's linear system for given row weights D (quad: w q; split: rho)."""

    def __init__(self, structure: _Structure, kind: str, sigma: float):
        self.s = structure
        self.kind = kind
        self.sigma = sigma
        self.fac = None
        self.d = None

    def factorize(self, d: np.ndarray) -> None:
        s, n = self.s, self.s.n
        self.d = d.copy()
        if self.kind == "reduced" and s.dense:
            K = (s.MT * d) @ s.M
            K[np.diag_indices(n)] += self.sigma
            if isinstance(self.fac, _factor.DenseCholesky):
                self.fac.refactor(K)
            else:
                self.fac = _factor.DenseCholesky(K)
        elif self.kind == "reduced":
            K = (s.MT @ sp.diags(d) @ s.M + self.sigma * sp.identity(n, format="csr")).tocsc()
            if n <= _factor_dense_limit():
                if isinstance(self.fac, _factor.DenseCholesky):
                    self.fac.refactor(K)
                else:
                    self.fac = _factor.DenseCholesky(K)
            elif isinstance(self.fac, _factor.SparseSymmetric) and self.fac.same_pattern(K):
                self.fac.refactor(K)
            else:
                self.fac = _factor.SparseSymmetric(K, quasi_definite=False)
        else:
            Ms = s.M_sparse if s.dense else s.M
            K = sp.bmat([[self.sigma * sp.identity(n), Ms.T], [Ms, sp.diags(-1.0 / d)]], format="csc")
            if isinstance(self.fac, _factor.SparseSymmetric) and self.fac.same_pattern(K):
                self.fac.refactor(K)
            else:
                self.fac = _factor.SparseSymmetric(K, quasi_definite=True)

    def solve(self, top: np.ndarray, target: np.ndarray) -> np.ndarray:
        """x solving (sigma I + M^T D M) x = top + M^T D target."""
        if self.kind == "reduced":
            return self.fac.solve(top + self.s.MT @ (self.d * target))
        sol = self.fac.solve(np.concatenate([top, target]))
        return sol[: self.s.n]


def _reads(term) -> list:
    """(offset, size, |op|) of each variable block the term's operator reads: the size of
    what a term reads is sum |op| |x_block| (the certificate's term size)."""
    blocks = getattr(term.A, "blocks", None)
    if blocks is None:
        return [(0, term.A.shape[1], float(term.A.norm_est()))]
    return [(o, op.shape[1], float(op.norm_est())) for o, op in blocks]


def _real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _option(extra: dict, name: str, default, kind: str):
    """One backend option, refused (naming it and the backend) unless it is of ``kind``:
    'positive' (finite > 0), 'relaxation' (in (0, 2)), 'reflection' (in (0, 2]), 'count' (integer
    >= 0), 'bool'."""
    v = extra.get(name, default)
    if kind == "bool":
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        raise InvalidDataError(f"admm: option {name} must be True or False, got {v!r}")
    if kind == "count":
        if _real(v) and math.isfinite(v) and float(v).is_integer() and v >= 0:
            return int(v)
        raise InvalidDataError(f"admm: option {name} must be a non-negative integer, got {v!r}")
    ok = _real(v) and math.isfinite(v) and (0.0 < v < 2.0 if kind == "relaxation" else
                                            0.0 < v <= 2.0 if kind == "reflection" else v > 0.0)
    if not ok:
        what = {"relaxation": "a number in (0, 2)", "reflection": "a number in (0, 2] (2: the reflected map)"}.get(
            kind, "a positive finite number")
        raise InvalidDataError(f"admm: option {name} must be {what}, got {v!r}")
    return float(v)


class AdmmBackend(Backend):
    name = "admm"
    description = ("ADMM for any prox-affine program: over-relaxation, adaptive rho, cached sparse "
                   "Cholesky/LDL (CHOLMOD or SciPy), infeasibility and unboundedness detection")
    forms = ("ProxAffine",)
    default_max_iter = 20000
    priority = 30

    def accepts_extra(self):
        return _EXTRA

    # ------------------------------------------------------------------------------
    def _options(self, extra):
        halpern = _option(extra, "halpern", False, "bool")
        # anchored, the map may be the reflected one (alpha = 2: nonexpansive, not averaged,
        # which only the anchor makes converge), and is by default
        alpha = _option(extra, "alpha", 2.0, "reflection") if halpern else _option(extra, "alpha", 1.6, "relaxation")
        o = {"rho": _option(extra, "rho", 0.1, "positive"), "sigma": _option(extra, "sigma", 1e-6, "positive"),
             "alpha": alpha,
             "adaptive_rho": _option(extra, "adaptive_rho", True, "bool"),
             "max_rho_updates": _option(extra, "max_rho_updates", 30, "count"),
             "eq_rho_scale": _option(extra, "eq_rho_scale", 1e3, "positive"),
             "system": extra.get("system", "auto"),
             "scaling": _option(extra, "scaling", True, "bool"),
             # (the anchor is the acceleration: no Anderson extrapolation on top of it)
             "anderson": 0 if halpern else _option(extra, "anderson", 10, "count"),
             "halpern": halpern,
             "restart": _option(extra, "restart", True, "bool"),
             "restart_every": _option(extra, "restart_every", 16, "count"),
             "polish": _option(extra, "polish", True, "bool")}
        if o["restart_every"] < 1:
            raise InvalidDataError(f"admm: option restart_every must be a positive integer, got {o['restart_every']!r}")
        if not (isinstance(o["system"], str) and o["system"] in ("auto", "reduced", "kkt")):
            raise InvalidDataError(f"admm: option system must be 'auto', 'reduced' or 'kkt', got {o['system']!r}")
        return o

    # ---- distributed=client: consensus ADMM over row blocks (backends.consensus) ----
    @staticmethod
    def _distributed(options: SolveOptions) -> bool:
        return (options.extra or {}).get("distributed") is not None or "blocks" in (options.extra or {})

    def _consensus(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        from ..errors import BackendRefusedError
        from ..ir.forms import match
        from .consensus import ConsensusAdmmBackend
        extra = self.checked_extra(options)
        other = sorted(set(extra) - set(_CONSENSUS_EXTRA))
        if other:
            raise InvalidDataError(f"admm: with distributed=client it runs consensus ADMM, which does not take "
                                   f"{other}; it accepts {', '.join(_CONSENSUS_EXTRA)}")
        glm = match(view.program, "SparseGLM")
        consensus = ConsensusAdmmBackend()
        why = consensus.cannot_take(glm) if glm else glm.reason
        if why:
            raise BackendRefusedError(f"admm: distributed=client runs consensus ADMM over row blocks, which needs "
                                      f"a sparse GLM (a datafit of A x plus a separable convex penalty): {why}")
        sub = ws.setdefault("consensus", Workspace())
        sub.warm = ws.warm.get("consensus", {}) if options.warm_start else {}
        raw = consensus.solve(glm, options, sub)
        ws.warm = {"consensus": sub.warm}
        return raw

    def setup(self, view, options: SolveOptions) -> Workspace:
        """The operator-dependent part: which terms fold or split, the stacked matrix and
        its equilibration (``structure``); the factorizations (``system``, keyed by rho)
        are added by the solves and live as long as the workspace."""
        if self._distributed(options):
            return Workspace()       # the consensus blocks are set up by their first solve
        o = self._options(self.checked_extra(options))
        return Workspace(structure=_Structure(view.program, o["scaling"]))

    def update(self, ws: Workspace, view, options: SolveOptions, changes: Changes) -> bool:
        if self._distributed(options):
            return not changes.operators
        S = ws.get("structure")
        scaling = bool(self._options(self.checked_extra(options))["scaling"])
        return not changes.operators and S is not None and S.n == view.program.n and S.scaling == scaling

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        if self._distributed(options):
            return self._consensus(view, options, ws)
        if ws.get("structure") is None:      # the last solve was distributed
            ws["structure"] = _Structure(view.program, bool(self._options(self.checked_extra(options))["scaling"]))
        t_setup0 = time.perf_counter()
        o = self._options(self.checked_extra(options))
        prog = view.program
        terms = prog.terms
        n = prog.n
        tol = float(options.tol)
        # the stopping test is the certificate the engine will judge by (forms.own_certificate:
        # a structured program's own, an LP node's row by row, or a structured form's, as a
        # CVXPY-declared OT problem's), else the generic one of its terms
        own = own_certificate(prog)
        judge = own if own is not None else (lambda x_, d_: certify(prog, x_, d_))
        S = ws["structure"]
        last = ws.warm     # the last solution (ws itself keeps the factorizations)
        # ---- numbers that follow Parameters (re-read every solve; cheap) ----
        q_lin = np.zeros(n)
        for i in S.linear:
            t = terms[i]
            q_lin += t.A.rmatvec(t.grad(np.zeros(t.m)))
        q_lin *= S.col_scale
        quad_d, quad_target, quad_wq, quad_q = [], [], [], {}
        for i in S.quad:
            t = terms[i]
            wq = t.weight * float(t.f.quad_coef)
            if not (wq > 0 and math.isfinite(wq)):
                return RawSolution(x=None, status="numerical_error", iterations=0,
                                   message=f"term [{i}] has a non-positive or non-finite weight {t.weight}")
            # w q/2 ||z||^2 + w c^T z with z = A x - b  ==  w q/2 ||A x - (b - c/q)||^2 + const
            c_lin = np.broadcast_to(np.asarray(getattr(t.f, "c", 0.0), dtype=np.float64), (t.m,))
            quad_d.append(np.full(t.m, wq))
            quad_wq.append(wq)
            quad_target.append(t.b - c_lin / float(t.f.quad_coef))
            quad_q[i] = _inf(t.A.rmatvec(t.grad(-t.b)))      # OSQP's |q| part of this term's gradient
        split_terms = [terms[i] for i in S.split]
        split_m = [t.m for t in split_terms]
        split_reads = [_reads(t) for t in split_terms]
        for i, arr in zip(S.quad + S.split, quad_target + [t.b for t in split_terms]):
            if not np.all(np.isfinite(arr)):
                return RawSolution(x=None, status="numerical_error", iterations=0,
                                   message=f"term [{i}] has NaN or Inf data")
        if not np.all(np.isfinite(q_lin)):
            return RawSolution(x=None, status="numerical_error", iterations=0,
                               message="a linear objective term has NaN or Inf data")
        # rho and sigma are relative to the objective's size (OSQP's cost scaling)
        obj_scale = S.objective_scale(prog, q_lin, quad_wq)
        sigma = o["sigma"] * obj_scale
        base_rho = np.array([o["rho"] * obj_scale * (o["eq_rho_scale"] if _is_equality(t) else 1.0)
                             * S.term_scale[i] ** 2
                             for i, t in zip(S.split, split_terms)])

        # ---- warm start ----
        x = np.zeros(n)
        z = [np.zeros(m) for m in split_m]
        u = [np.zeros(m) for m in split_m]
        rho_scale = 1.0
        warm = False
        if options.warm_start and last.get("x") is not None:
            xw, zw, uw = last.get("x"), last.get("z"), last.get("u")
            if (xw.shape == (n,) and zw is not None and len(zw) == len(z)
                    and all(a.shape == b.shape for a, b in zip(zw, z)) and np.all(np.isfinite(xw))):
                # u is kept as the dual y = rho u itself, so a new rho (or scale) keeps it
                yw = last.get("y")
                x, z = xw / S.col_scale, [a.copy() for a in zw]
                rho_scale = float(last.get("rho_scale", 1.0))
                if yw is not None and len(yw) == len(z):
                    u = [y / (r * rho_scale) for y, r in zip(yw, base_rho)]
                else:
                    u = [a.copy() for a in uw]
                warm = True
        if not warm:
            # a cheap start: z at the projection of A x - b, no dual information yet
            Mx = S.M @ x
            for k, (i, t) in enumerate(zip(S.split, split_terms)):
                a, bnd = S.offsets[i]
                z[k] = t.prox(Mx[a:bnd] - t.b, 1.0 / base_rho[k])

        def row_weights(scale):
            parts = list(quad_d) + [np.full(m, r * scale) for m, r in zip(split_m, base_rho)]
            return np.concatenate(parts) if parts else np.zeros(0)

        def system_key(scale):
            return (kind, sigma, tuple(quad_wq), tuple(base_rho), scale)

        # ---- factorization (cached across solves when nothing changed) ----
        kind = S.choose_system(o["system"])
        cached_sys = ws.get("system")
        factorized_at_setup = False
        try:
            if cached_sys is not None and cached_sys[0] == system_key(rho_scale):
                system = cached_sys[1]
            else:
                system = cached_sys[1] if (cached_sys is not None and cached_sys[1].kind == kind) else _System(S, kind, sigma)
                system.sigma = sigma
                system.factorize(row_weights(rho_scale))
                factorized_at_setup = True
                ws["system"] = (system_key(rho_scale), system)
        except _factor.FactorizationError as exc:
            return RawSolution(x=None, status="numerical_error", iterations=0,
                               setup_time=time.perf_counter() - t_setup0, message=str(exc))
        setup_time = time.perf_counter() - t_setup0

        alpha = o["alpha"]
        quad_target_rows = np.concatenate(quad_target) if quad_target else np.zeros(0)
        mon = IterationMonitor(options, table=_TABLE)
        check_every, max_iter = mon.check_every, mon.max_iter

        def refactor(scale) -> bool:
            """Factor the system at rho scale ``scale`` and cache it; False (the run is
            stopped with the reason) when the factorization fails."""
            try:
                system.factorize(row_weights(scale))
            except _factor.FactorizationError as exc:
                mon.stop("numerical_error", str(exc))
                return False
            ws["system"] = (system_key(scale), system)
            return True
        rho_updates = 0
        ray = None
        it = 0
        polished = None
        last_cert = None
        if mon.verbose:
            print(f"admm: n={n}, {len(S.quad)} folded quadratic, {len(S.split)} split term(s), "
                  f"system={kind} ({system.fac.kind}), rho={o['rho'] * rho_scale:g} x {obj_scale:.3g} "
                  f"(objective size), alpha={alpha:g}, tol={tol:g}" + (", warm start" if warm else ""))
            mon.header()

        def duals_of(x_, u_, scale):
            out = [None] * len(terms)
            for k, i in enumerate(S.split):
                out[i] = (base_rho[k] * scale) * u_[k]
            for i in S.quad + S.linear:
                t = terms[i]
                out[i] = t.grad(t.residual(x_))
            for i in S.silent + (S.linear if phase else []):
                out[i] = np.zeros(terms[i].m)
            return out

        sizes = np.cumsum([0] + split_m + split_m)
        nz = len(split_m)

        # polishing (admm_polish): on a polyhedral QP / LP, proximal-multiplier steps with
        # Newton inner solves from ADMM's point, kept only when the certificate of the polished
        # point passes; tried when the residuals first reach 1e-3, then at each tenfold
        # decrease, at iterations 500, 1000, 2000, ..., and at the end of the iteration budget
        # (never past the time limit)
        polish_on = (o["polish"] and polishable(split_terms)
                     and n + sum(split_m) <= POLISH_MAX_SIZE)
        polish_level, polish_tries, polish_at = 1e-3, 0, 500
        polish_data = None
        polish_resume = None        # where the last try stopped, when the budget cut it short

        def polish_allowed(it_):
            """Whether polishing may go on at iteration it_: while its work (PolishData.work,
            in sparse LUs) is below 120 plus one per 10 iterations (an LU of the active rows'
            KKT matrix costs 10-20 of admm's iterations on the Netlib LPs, so a polish that
            fails makes a run about 1.5-2x longer, 25fv47: 1.6x; counted, not timed, so a run
            is the same on any machine), and never past the time limit."""
            used = 0.0 if polish_data is None else polish_data.work
            return used < 120 + it_ // 10 and not mon.out_of_time()

        def polish_judge(xs, ys):
            """The certificate's value at the polished point (internal x, split duals)."""
            xu_p = xs * S.col_scale
            duals_p = [None] * len(terms)
            for k, i in enumerate(S.split):
                duals_p[i] = ys[k]
            for i in S.quad + S.linear:
                duals_p[i] = terms[i].grad(terms[i].residual(xu_p))
            for i in S.silent:
                duals_p[i] = np.zeros(terms[i].m)
            return float(judge(xu_p, duals_p).value)

        # Anderson works on the state in the equilibrated rows (z~ = c z, u~ = c u), where
        # every term has one size whatever the term or the objective was multiplied by
        row_c = [S.term_scale[i] for i in S.split]

        def pack(z_, u_):
            return np.concatenate([c * a for c, a in zip(row_c + row_c, z_ + u_)]) if nz else np.zeros(0)

        def unpack(w):
            parts = [w[sizes[j]:sizes[j + 1]] / c for j, c in zip(range(2 * nz), row_c + row_c)]
            return parts[:nz], parts[nz:]

        aa = Anderson(o["anderson"]) if (o["anderson"] > 0 and nz) else None
        # Halpern anchoring (backend 'halpern' on this form): the state (x, z, u) is averaged
        # with the anchor before each step; its residual is measured on (z, u) in the
        # equilibrated rows, as Anderson's, or on x when no term is split
        anchor = HalpernAnchor(o["restart"], o["restart_every"]) if o["halpern"] else None

        def fp_norm(diff):
            if not nz:
                return float(np.linalg.norm(diff[0]))
            return math.sqrt(sum(float(np.dot(c * a, c * a)) for c, a in zip(row_c + row_c, diff[1:])))

        def accelerate():
            # after a rejected extrapolation, check_every plain steps before the next one:
            # extrapolating again at once can cycle (accept, reject, reset, accept, ...)
            nonlocal z, u, aa_resume
            if aa is None or not aa_on or it < aa_resume:
                return
            rejected = aa.rejected
            w_new, _ = aa.step(w_before, pack(z, u))
            z, u = unpack(w_new)
            if aa.rejected > rejected:
                aa_resume = it + check_every

        # references for the rays: the last check, and the first check since rho changed
        ref_short = ref_long = None
        primal_ray_seen = None
        farkas_since = None
        # Anderson only once both residuals are small (or from a warm start, a previous
        # solution): extrapolating a divergent iteration (no solution) gives garbage and
        # hides the rays in its differences
        aa_on = warm
        aa_resume = 0
        aa_best, aa_stall = math.inf, 0    # Anderson is dropped after 20 checks without progress
        best_res, stall = math.inf, 0      # and rho moves on a smaller imbalance
        # the feasibility phase: once a primal ray is found at a point that is not feasible,
        # the linear objective is dropped (what is left is bounded below) and the run goes
        # on to a feasible point, or to a dual ray if the problem is also infeasible
        phase = False
        last_update_it, rho_spacing = 0, check_every
        cheap_tol = tol      # the cheap residuals' level at which the certificate is computed
        refused_cert = math.inf   # the certificate at the last time it refused the cheap residuals
        with np.errstate(over="ignore", invalid="ignore"):
            while True:
                if anchor is not None:
                    state = anchor.combine([x] + z + u, fp_norm)
                    x, z, u = state[0], state[1:1 + nz], state[1 + nz:]
                w_before = pack(z, u) if aa is not None else None
                # ---- x-update ----
                target_split = [t.b + zk - uk for t, zk, uk in zip(split_terms, z, u)]
                target = np.concatenate([quad_target_rows] + target_split) if S.m else np.zeros(0)
                x = system.solve(sigma * x - q_lin, target)
                Mx = S.M @ x
                # ---- z- and u-updates (relaxed) ----
                for k, t in enumerate(split_terms):
                    a, bnd = S.offsets[S.split[k]]
                    ax = Mx[a:bnd] - t.b
                    r = alpha * ax + (1.0 - alpha) * z[k]
                    zn = t.prox(r + u[k], 1.0 / (base_rho[k] * rho_scale))
                    u[k] = u[k] + r - zn
                    z[k] = zn
                it += 1

                if not (mon.due(it) or mon.out_of_time()):
                    accelerate()
                    continue
                # ---- residuals, certificate, infeasibility, adaptive rho ----
                if not np.all(np.isfinite(x)):
                    mon.stop("numerical_error", f"NaN or Inf in the iterates at iteration {it}")
                    break
                xu = x * S.col_scale
                # primal: per term, relative to max(|A_i x|, |b_i|, |A_i| |x|) with the last over the
                # variables the term reads (as the certificate: X[0, :] == 0 has X's size)
                absMx = S.abs_M() @ np.abs(x)
                rp_rel = 0.0
                for k, t in enumerate(split_terms):
                    a, bnd = S.offsets[S.split[k]]
                    axk = Mx[a:bnd]
                    reads = sum(nrm * _inf(xu[o:o + size]) for o, size, nrm in split_reads[k])
                    rp_rel = max(rp_rel, _rel(_inf(axk - t.b - z[k]),
                                              max(_inf(axk), _inf(absMx[a:bnd]), _inf(t.b), reads)))
                duals = duals_of(xu, u, rho_scale)
                # dual: relative to the largest part of the sum and to |A|^T |y| (entrywise: the
                # size of what cancels, which a single term also has)
                y_rows = np.concatenate([np.abs(duals[i]) for i in S.quad + S.split]) if S.m else np.zeros(0)
                grad_total = np.zeros(n)
                d_scale = _inf((S.abs_MT() @ y_rows) / S.col_scale) if S.m else 0.0
                for i, (t, y) in enumerate(zip(terms, duals)):
                    if not np.any(y):
                        continue
                    aty = t.A.rmatvec(y)
                    grad_total += aty
                    d_scale = max(d_scale, _inf(aty))
                    if i in quad_q:   # the gradient's two parts: |P x| and |q|
                        d_scale = max(d_scale, quad_q[i], _inf(aty - t.A.rmatvec(t.grad(-t.b))))
                rd_rel = _rel(_inf(grad_total), d_scale)
                cert_val = None
                objective = prog.objective(xu)
                if not phase and ((rp_rel <= cheap_tol and rd_rel <= cheap_tol) or it >= max_iter):
                    cert = judge(xu, duals)
                    cert_val = float(cert.value)
                    last_cert = cert_val
                    if not cert_val <= _CERT_MARGIN * tol and it < max_iter:
                        # the cheap residuals said yes, the certificate no: ask them for ten
                        # times more; far past tol, a certificate that has stopped improving
                        # (less than halved since the last refusal) is not going to move.
                        # (A still-falling one goes on: anchored steps drive the residuals
                        # far below the certificate, afiro 3e-12 against 1e-6 and falling)
                        stuck = not cert_val < 0.5 * refused_cert
                        refused_cert = cert_val
                        if cheap_tol <= 1e-4 * tol and stuck:
                            mon.stop("converged", f"the residuals are {max(rp_rel, rd_rel):.1e} (relative to "
                                                  f"the terms' entrywise sizes) but the certificate stays at "
                                                  f"{cert_val:.2e}")
                            mon.record(it, cert_val, show=False, objective=prog.sign * prog.objective(xu),
                                       primal_residual=rp_rel, dual_residual=rd_rel, rho=o["rho"] * rho_scale,
                                       certificate=cert_val)
                            break
                        cheap_tol *= 0.1
                if (polish_on and not phase and polish_tries < 16
                        and (max(rp_rel, rd_rel) <= polish_level or it >= polish_at or it >= max_iter)
                        and not (cert_val is not None and cert_val <= _CERT_MARGIN * tol)
                        and polish_allowed(it)):
                    polish_tries += 1
                    polish_level = 0.1 * min(polish_level, max(rp_rel, rd_rel))
                    polish_at = 2 * max(it, polish_at)
                    if polish_data is None:
                        polish_data = PolishData(S, S.split, split_terms, q_lin, np.concatenate(quad_d) if quad_d
                                                 else np.zeros(0), quad_target_rows, obj_scale)
                    split_duals = [duals[i] for i in S.split]
                    if polish_resume is not None and polish_judge(x, split_duals) < 0.5 * polish_resume.value:
                        polish_resume = None     # ADMM has since passed well beyond where the last try stopped
                    got, polish_resume = polish_step(polish_data, x, split_duals, polish_judge,
                                                     _CERT_MARGIN * tol, lambda: polish_allowed(it),
                                                     resume=polish_resume)
                    if got is not None and got[2] <= _CERT_MARGIN * tol:
                        x, ys, cert_val = got
                        Mx = S.M @ x
                        for k, t in enumerate(split_terms):
                            a, bnd = S.offsets[S.split[k]]
                            z[k] = t.prox(Mx[a:bnd] - t.b, 1.0)
                            u[k] = ys[k] / (base_rho[k] * rho_scale)
                        xu = x * S.col_scale
                        last_cert = cert_val
                        polished = it
                        mon.record(it, cert_val, objective=prog.sign * prog.objective(xu), primal_residual=rp_rel,
                                   dual_residual=rd_rel, rho=o["rho"] * rho_scale, certificate=cert_val)
                        mon.stop("converged", f"polished at iteration {it} (proximal-multiplier Newton steps "
                                              f"from ADMM's point): certificate {cert_val:.2e}")
                        break
                fields = {"phase": "feasibility"} if phase else {}
                if cert_val is not None:
                    fields["certificate"] = cert_val
                rec = mon.record(it, max(rp_rel, rd_rel) if cert_val is None else cert_val,
                                 objective=prog.sign * objective, primal_residual=rp_rel, dual_residual=rd_rel,
                                 rho=o["rho"] * rho_scale, **fields)
                if cert_val is not None and math.isfinite(cert_val) and cert_val <= _CERT_MARGIN * tol:
                    mon.stop("converged")
                    break
                # ---- infeasibility / unboundedness from the iterate differences ----
                found = self._rays(prog, S, xu, duals, ref_short, ref_long, primal=not phase)
                if found[0] is not None:
                    # a ray that passes only the entrywise-relative test waits a while for one
                    # that also passes the engine's test, then is reported anyway
                    farkas_since = it if farkas_since is None else farkas_since
                    if found[2] or it - farkas_since >= max(50 * check_every, 3 * farkas_since):
                        mon.stop("infeasible", f"primal infeasible: dual ray found at iteration {it}")
                        ray = found[0]
                        break
                if phase and _feasible_along(prog, xu, primal_ray_seen, tol):
                    mon.stop("unbounded", f"unbounded: primal ray found at iteration {ray_it}, a feasible point "
                                          f"at iteration {it}")
                    ray = primal_ray_seen
                    break
                if found[1] is not None:
                    # the current x has run off along the ray, where any relative measure calls
                    # a fixed violation small: the feasible point comes from a fresh start
                    primal_ray_seen, ray_it = found[1], it
                    phase = True
                    q_lin = np.zeros(n)
                    x = np.zeros(n)
                    Mx = S.M @ x
                    for k, t in enumerate(split_terms):
                        a, bnd = S.offsets[S.split[k]]
                        z[k] = t.prox(Mx[a:bnd] - t.b, 1.0 / base_rho[k])
                    u = [np.zeros(m) for m in split_m]
                    ref_short = ref_long = None
                    farkas_since = None
                    aa_on = False
                    if anchor is not None:
                        anchor.new_map()           # no linear objective: a new anchor
                    if aa is not None:
                        aa.reset()
                    if rho_scale != 1.0:
                        rho_scale = 1.0
                        if not refactor(rho_scale):
                            break
                        rho_updates += 1
                    continue
                ref_short = (it, xu.copy(), [y.copy() for y in duals])
                if ref_long is None:
                    ref_long = ref_short
                if mon.check(rec, xu):
                    break
                res = max(rp_rel, rd_rel)
                best_res, stall = (res, 0) if res < 0.5 * best_res else (best_res, stall + 1)
                aa_now = rp_rel <= _AA_GATE and rd_rel <= _AA_GATE and aa_stall < 20
                if aa_on:
                    aa_best, aa_stall = (res, 0) if res < 0.5 * aa_best else (aa_best, aa_stall + 1)
                if aa is not None and aa_now != aa_on:
                    aa.reset()
                aa_on = aa_now
                # adaptive rho (OSQP's rule on the relative residuals), a bounded number of refactorizations
                # at geometrically spaced iterations: a run without a solution (whose residuals
                # drive rho to an extreme) keeps long stretches of a fixed map for its rays
                if (o["adaptive_rho"] and S.split and rho_updates < o["max_rho_updates"] and rp_rel > 0
                        and rd_rel > 0 and it - last_update_it >= rho_spacing and farkas_since is None):
                    ratio = math.sqrt(rp_rel / rd_rel)
                    band = _RHO_BAND if stall < 20 else _RHO_BAND_STALLED
                    if ratio > band or ratio < 1.0 / band:
                        new_scale = min(max(rho_scale * ratio, _RHO_RANGE[0] / o["rho"]), _RHO_RANGE[1] / o["rho"])
                        if new_scale != rho_scale:
                            for k in range(len(u)):
                                u[k] = u[k] * (rho_scale / new_scale)  # keep y = rho u
                            rho_scale = new_scale
                            if not refactor(rho_scale):
                                break
                            rho_updates += 1
                            last_update_it, rho_spacing = it, 2 * rho_spacing
                            stall = aa_stall = 0
                            ref_short = ref_long = None   # the map changed: new references for the rays
                            if anchor is not None:
                                anchor.new_map()          # and a new anchor
                            if aa is not None:
                                aa.reset()   # the fixed-point map changed with rho
                            continue
                accelerate()

        solve_time = mon.elapsed()
        status, message, history = mon.status, mon.message, mon.history
        x = x * S.col_scale
        info = {"rho": o["rho"] * rho_scale, "rho_updates": rho_updates, "system": kind,
                "factorization": system.fac.kind, "factorized_at_setup": factorized_at_setup,
                "warm_start": warm, "certificate": last_cert, "solve_time": solve_time,
                "objective_scale": obj_scale,
                "anderson": None if aa is None else {"accepted": aa.accepted, "rejected": aa.rejected},
                "halpern": None if anchor is None else {"restarts": anchor.restarts, "alpha": alpha},
                "polish": None if not polish_on else {
                    "tries": polish_tries, "polished_at": polished,
                    "factorizations": 0 if polish_data is None else polish_data.factorizations,
                    "solves": 0 if polish_data is None else polish_data.solves}}
        mon.summary("admm", f"{it} iterations, {rho_updates} rho update(s)", solve_time)
        if status == "infeasible":
            return RawSolution(x=None, status=status, iterations=it, ray=ray, history=history,
                               setup_time=setup_time, info=info, message=message)
        if status == "unbounded":
            return RawSolution(x=x, status=status, iterations=it, ray=ray, history=history,
                               setup_time=setup_time, info=info, message=message)
        if status == "numerical_error":
            return RawSolution(x=x if np.all(np.isfinite(x)) else None, status=status, iterations=it,
                               history=history, setup_time=setup_time, info=info, message=message)
        if primal_ray_seen is not None and status in ("max_iter", "time_limit", "stopped"):
            # a direction of unbounded descent without a feasible point in the budget: the
            # engine reports it as such (infeasible or unbounded)
            return RawSolution(x=x, status="unbounded", iterations=it, ray=primal_ray_seen, history=history,
                               setup_time=setup_time, info=info,
                               message=f"a primal ray was found but no feasible point within {it} iterations")
        last["x"], last["z"], last["u"] = x.copy(), [a.copy() for a in z], [a.copy() for a in u]
        last["y"] = [(r * rho_scale) * a for r, a in zip(base_rho, u)]
        last["rho_scale"] = rho_scale
        return RawSolution(x=x, status=status, iterations=it, duals=duals_of(x, u, rho_scale),
                           history=history, setup_time=setup_time, info=info, message=message)

    @staticmethod
    def _rays(prog, S, xu, duals, ref_short, ref_long, primal=True):
        """(dual ray, primal ray, strict) from the differences of the iterates to the
        references (None where no difference passes). The dual ray is cleaned first:
        objective terms get zero, constraint terms their projection onto the support
        function's domain. ``strict``: the dual ray passes ``check_primal_infeasibility``
        (the engine's test), not only ``_farkas``."""
        dual_ray = primal_ray = farkas = None
        strict = False
        for ref in (ref_short, ref_long):
            if ref is None or (ref is ref_long and ref_long is ref_short):
                continue
            _, x_ref, y_ref = ref
            if dual_ray is None:
                dy = []
                for t, y, y0 in zip(prog.terms, duals, y_ref):
                    d = y - y0
                    dy.append(t.f.project_dual_domain(d) if t.f.is_indicator else np.zeros_like(d))
                if any(np.any(d) for d in dy):
                    if check_primal_infeasibility(prog, dy):
                        dual_ray, strict = dy, True
                    elif farkas is None and _farkas(prog, S, dy):
                        farkas = dy
            if primal and primal_ray is None:
                dx = xu - x_ref
                if _inf(dx) > 0 and check_unboundedness(prog, dx):
                    primal_ray = dx
        return (dual_ray if strict else farkas), primal_ray, strict


def _feasible_along(prog, x, ray, tol: float) -> bool:
    """Whether x, run off along ``ray``, is a feasible point: each term's distance to its
    domain relative to the term's size at x without its component along the ray (far
    along the ray every size grows, and a fixed violation would look small), and the
    engine's ``primal_residual``."""
    d = ray / max(float(np.linalg.norm(ray)), _TINY)
    xp = x - float(np.dot(x, d)) * d
    for t in prog.terms:
        z = t.residual(x)
        dist = _inf(z - t.f.project_domain(z))
        if dist == 0.0:
            continue
        reads = sum(nrm * _inf(xp[o:o + size]) for o, size, nrm in _reads(t))
        if _rel(dist, max(_inf(t.A.matvec(xp)), _inf(t.b), reads)) > tol:
            return False
    return primal_residual(prog, x) <= tol


def _farkas(prog, S, dy, tol: float = 1e-6) -> bool:
    """Whether the dual ray ``dy`` (one vector per term) proves the constraints
    inconsistent: sum_i A_i^T dy_i = 0, relative to |A|^T |dy| (entrywise: the size of
    what cancels), and sum_i [sigma_i(dy_i) + <b_i, dy_i>] < 0, relative to its parts."""
    norm = _inf(np.concatenate([np.ravel(d) for d in dy]))
    if not (math.isfinite(norm) and norm > 0.0):
        return False
    signed = np.zeros(S.m)
    dy = [d / norm for d in dy]
    for i, (t, d) in enumerate(zip(prog.terms, dy)):
        if not t.f.is_indicator:
            if np.any(d):
                return False
            continue
        if i not in S.offsets:
            return False
        a, b = S.offsets[i]
        signed[a:b] = d
    right = farkas_value(prog.terms, dy)
    if right is None:
        return False
    value, size = right
    total = _inf((S.MT @ signed) / S.col_scale)
    scale = _inf((S.abs_MT() @ np.abs(signed)) / S.col_scale)
    return _rel(total, scale) <= tol and value < 0.0 and -value > _FARKAS_MARGIN * size


registry.register(AdmmBackend())
