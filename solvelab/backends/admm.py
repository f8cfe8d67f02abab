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
never forms ``M^T M``. Equality constraints get rho x 1e3 (as in OSQP). rho adapts to
balance the primal and dual residuals, with a bounded number of refactorizations.

A solve converges only when ``solvelab.ir.certificate.certify`` (KKT residuals and
duality gap) meets ``tol``; cheap primal/dual residuals decide when to compute it.
Primal infeasibility and unboundedness are detected from the differences of the
iterates (dy, dx), which tend to certificates (Banjac et al. 2019); the rays are checked
with the certificate module before they are reported.

Backend options (``options.extra``): ``rho`` (initial penalty, default 0.1), ``sigma``
(default 1e-6), ``alpha`` (relaxation in (0, 2), default 1.6), ``adaptive_rho``
(default True), ``max_rho_updates`` (default 30), ``eq_rho_scale`` (default 1e3),
``system`` ('auto' | 'reduced' | 'kkt'), ``scaling`` (Ruiz-style equilibration of the
columns and of each split term as a whole, default True), ``anderson`` (memory of the
safeguarded Anderson acceleration of the (z, u) iteration, default 10; 0 disables it).
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..ir.certificate import certify, check_primal_infeasibility, check_unboundedness
from ..kernels import factor as _factor
from ..kernels.anderson import Anderson
from . import registry
from .base import Backend, RawSolution, SolveOptions, callback_stops

_EXTRA = ("rho", "sigma", "alpha", "adaptive_rho", "max_rho_updates", "eq_rho_scale", "system", "scaling", "anderson")


def _inf(v) -> float:
    return float(np.max(np.abs(v), initial=0.0)) if np.size(v) else 0.0


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

        Quadratic terms enter with sqrt(w q) so the Hessian is balanced too.
        """
        n = self.n
        e = np.ones(n)
        order = self.quad + self.split
        c = np.ones(len(order))
        if self.M.nnz == 0:
            return e, {i: 1.0 for i in order}
        absM = abs(self.M).tocsr()
        row_block = np.zeros(self.M.shape[0], dtype=np.int64)
        for k, i in enumerate(order):
            a, b = self.offsets[i]
            row_block[a:b] = k
        for _ in range(iters):
            W = sp.diags(c[row_block]) @ absM @ sp.diags(e)
            rows = np.asarray(W.max(axis=1).todense()).ravel()
            blk = np.zeros(len(order))
            np.maximum.at(blk, row_block, rows)
            cols = np.asarray(W.max(axis=0).todense()).ravel()
            blk_scale = np.where(blk > 0, 1.0 / np.sqrt(np.where(blk > 0, blk, 1.0)), 1.0)
            col_scale = np.where(cols > 0, 1.0 / np.sqrt(np.where(cols > 0, cols, 1.0)), 1.0)
            c = np.clip(c * blk_scale, 1e-4, 1e4)
            e = np.clip(e * col_scale, 1e-4, 1e4)
            if np.max(np.abs(1 - blk_scale), initial=0) < 1e-3 and np.max(np.abs(1 - col_scale), initial=0) < 1e-3:
                break
        return e, {i: float(c[k]) for k, i in enumerate(order)}

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


class AdmmBackend(Backend):
    name = "admm"
    description = ("ADMM for any prox-affine program: over-relaxation, adaptive rho, cached sparse "
                   "Cholesky/LDL (CHOLMOD or SciPy), infeasibility detection")
    forms = ("ProxAffine",)
    default_max_iter = 20000
    priority = 30

    def accepts_extra(self):
        return _EXTRA

    # ------------------------------------------------------------------------------
    def _options(self, extra):
        o = {"rho": float(extra.get("rho", 0.1)), "sigma": float(extra.get("sigma", 1e-6)),
             "alpha": float(extra.get("alpha", 1.6)), "adaptive_rho": bool(extra.get("adaptive_rho", True)),
             "max_rho_updates": int(extra.get("max_rho_updates", 30)),
             "eq_rho_scale": float(extra.get("eq_rho_scale", 1e3)), "system": extra.get("system", "auto"),
             "scaling": bool(extra.get("scaling", True)), "anderson": int(extra.get("anderson", 10))}
        if not (o["rho"] > 0 and math.isfinite(o["rho"])):
            raise InvalidDataError(f"admm: rho must be a positive number, got {o['rho']!r}")
        if not (o["sigma"] > 0 and math.isfinite(o["sigma"])):
            raise InvalidDataError(f"admm: sigma must be a positive number, got {o['sigma']!r}")
        if not 0.0 < o["alpha"] < 2.0:
            raise InvalidDataError(f"admm: alpha (relaxation) must lie in (0, 2), got {o['alpha']!r}")
        if o["system"] not in ("auto", "reduced", "kkt"):
            raise InvalidDataError(f"admm: system must be 'auto', 'reduced' or 'kkt', got {o['system']!r}")
        return o

    def solve(self, view, options: SolveOptions, state: dict) -> RawSolution:
        t_setup0 = time.perf_counter()
        o = self._options(self.checked_extra(options))
        prog = view.program
        terms = prog.terms
        n = prog.n
        tol = float(options.tol)
        check_every = max(1, int(options.check_every))
        max_iter = int(options.max_iter)
        verbose = bool(options.verbose)

        # ---- structure (cached per data version) ----
        cached = state.get("structure")
        if (cached is not None and cached[0] == prog.data_version and cached[1].n == n
                and cached[1].scaling == o["scaling"]):
            S = cached[1]
        else:
            S = _Structure(prog, o["scaling"])
            state["structure"] = (prog.data_version, S)
            state.pop("system", None)
        # ---- numbers that follow Parameters (re-read every solve; cheap) ----
        q_lin = np.zeros(n)
        for i in S.linear:
            t = terms[i]
            q_lin += t.A.rmatvec(t.grad(np.zeros(t.m)))
        q_lin *= S.col_scale
        quad_d, quad_target = [], []
        for i in S.quad:
            t = terms[i]
            wq = t.weight * float(t.f.quad_coef)
            if not (wq > 0 and math.isfinite(wq)):
                return RawSolution(x=None, status="numerical_error", iterations=0,
                                   message=f"term [{i}] has a non-positive or non-finite weight {t.weight}")
            # w q/2 ||z||^2 + w c^T z with z = A x - b  ==  w q/2 ||A x - (b - c/q)||^2 + const
            c_lin = np.broadcast_to(np.asarray(getattr(t.f, "c", 0.0), dtype=np.float64), (t.m,))
            quad_d.append(np.full(t.m, wq))
            quad_target.append(t.b - c_lin / float(t.f.quad_coef))
        split_terms = [terms[i] for i in S.split]
        split_m = [t.m for t in split_terms]
        base_rho = np.array([o["rho"] * (o["eq_rho_scale"] if _is_equality(t) else 1.0)
                             * S.term_scale[i] ** 2
                             for i, t in zip(S.split, split_terms)])
        for i, arr in zip(S.quad + S.split, quad_target + [t.b for t in split_terms]):
            if not np.all(np.isfinite(arr)):
                return RawSolution(x=None, status="numerical_error", iterations=0,
                                   message=f"term [{i}] has NaN or Inf data")

        # ---- warm start ----
        x = np.zeros(n)
        z = [np.zeros(m) for m in split_m]
        u = [np.zeros(m) for m in split_m]
        rho_scale = 1.0
        warm = False
        if options.warm_start and state.get("x") is not None:
            xw, zw, uw = state.get("x"), state.get("z"), state.get("u")
            if (xw.shape == (n,) and zw is not None and len(zw) == len(z)
                    and all(a.shape == b.shape for a, b in zip(zw, z)) and np.all(np.isfinite(xw))):
                x, z, u = xw / S.col_scale, [a.copy() for a in zw], [a.copy() for a in uw]
                rho_scale = float(state.get("rho_scale", 1.0))
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

        # ---- factorization (cached across solves when nothing changed) ----
        kind = S.choose_system(o["system"])
        sys_key = (kind, o["sigma"], tuple(float(d[0]) for d in quad_d), tuple(base_rho), rho_scale)
        cached_sys = state.get("system")
        factorized_at_setup = False
        try:
            if cached_sys is not None and cached_sys[0] == sys_key:
                system = cached_sys[1]
            else:
                system = cached_sys[1] if (cached_sys is not None and cached_sys[1].kind == kind) else _System(S, kind, o["sigma"])
                system.sigma = o["sigma"]
                system.factorize(row_weights(rho_scale))
                factorized_at_setup = True
                state["system"] = (sys_key, system)
        except _factor.FactorizationError as exc:
            return RawSolution(x=None, status="numerical_error", iterations=0,
                               setup_time=time.perf_counter() - t_setup0, message=str(exc))
        setup_time = time.perf_counter() - t_setup0

        alpha, sigma = o["alpha"], o["sigma"]
        quad_target_rows = np.concatenate(quad_target) if quad_target else np.zeros(0)
        t0 = time.perf_counter()
        deadline = None if options.time_limit is None else t0 + float(options.time_limit)
        history: list[dict] = []
        rho_updates = 0
        status, message = "max_iter", ""
        it = 0
        x_prev_check = x * S.col_scale          # checks and rays work in user coordinates
        y_prev_check = None
        last_cert = None
        if verbose:
            print(f"admm: n={n}, {len(S.quad)} folded quadratic, {len(S.split)} split term(s), "
                  f"system={kind} ({system.fac.kind}), rho={o['rho'] * rho_scale:g}, alpha={alpha:g}, "
                  f"tol={tol:g}" + (", warm start" if warm else ""))
            print(f"{'iter':>7} {'time':>9} {'objective':>16} {'prim res':>10} {'dual res':>10} "
                  f"{'rho':>9} {'cert':>10}")

        def duals_of(x_, u_, scale):
            out = [None] * len(terms)
            for k, i in enumerate(S.split):
                out[i] = (base_rho[k] * scale) * u_[k]
            for i in S.quad + S.linear:
                t = terms[i]
                out[i] = t.grad(t.residual(x_))
            for i in S.silent:
                out[i] = np.zeros(terms[i].m)
            return out

        sizes = np.cumsum([0] + split_m + split_m)
        nz = len(split_m)

        def pack(z_, u_):
            return np.concatenate(z_ + u_) if nz else np.zeros(0)

        def unpack(w):
            parts = [w[sizes[j]:sizes[j + 1]] for j in range(2 * nz)]
            return [p.copy() for p in parts[:nz]], [p.copy() for p in parts[nz:]]

        aa = Anderson(o["anderson"]) if (o["anderson"] > 0 and nz) else None

        def accelerate():
            nonlocal z, u
            if aa is None:
                return
            w_new, _ = aa.step(w_before, pack(z, u))
            z, u = unpack(w_new)

        with np.errstate(over="ignore", invalid="ignore"):
            while True:
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

                if it % check_every != 0 and it < max_iter and (deadline is None or time.perf_counter() < deadline):
                    accelerate()
                    continue
                # ---- residuals, certificate, infeasibility, adaptive rho ----
                if not np.all(np.isfinite(x)):
                    status, message = "numerical_error", f"NaN or Inf in the iterates at iteration {it}"
                    break
                xu = x * S.col_scale
                rp, p_scale = 0.0, 1.0
                for k, t in enumerate(split_terms):
                    a, bnd = S.offsets[S.split[k]]
                    ax = Mx[a:bnd] - t.b
                    rp = max(rp, _inf(ax - z[k]))
                    p_scale = max(p_scale, _inf(ax), _inf(z[k]))
                duals = duals_of(xu, u, rho_scale)
                grad_total = np.zeros(n)
                d_scale = 1.0
                for t, y in zip(terms, duals):
                    if not np.any(y):
                        continue
                    aty = t.A.rmatvec(y)
                    grad_total += aty
                    d_scale = max(d_scale, _inf(aty))
                rd = _inf(grad_total)
                rp_rel, rd_rel = rp / p_scale, rd / d_scale
                cert_val = None
                objective = prog.objective(xu)
                if (rp_rel <= tol and rd_rel <= tol) or it >= max_iter:
                    cert = certify(prog, xu, duals)
                    cert_val = float(cert.value)
                    last_cert = cert_val
                elapsed = time.perf_counter() - t0
                rec = {"iteration": it, "time": elapsed, "objective": prog.sign * objective,
                       "primal_residual": rp_rel, "dual_residual": rd_rel, "rho": o["rho"] * rho_scale}
                if cert_val is not None:
                    rec["certificate"] = cert_val
                history.append(rec)
                if verbose:
                    cs = f"{cert_val:10.2e}" if cert_val is not None else f"{'':>10}"
                    print(f"{it:7d} {elapsed:9.3f} {prog.sign * objective:16.9e} {rp_rel:10.2e} "
                          f"{rd_rel:10.2e} {o['rho'] * rho_scale:9.2e} {cs}")
                if cert_val is not None and math.isfinite(cert_val) and cert_val <= tol:
                    status = "converged"
                    break
                # infeasibility / unboundedness from the iterate differences
                if y_prev_check is not None and rp_rel > tol:
                    dy = [a - b for a, b in zip(duals, y_prev_check)]
                    if check_primal_infeasibility(prog, dy):
                        status, message = "infeasible", f"primal infeasible: dual ray found at iteration {it}"
                        ray = dy
                        break
                if rd_rel > tol and it > check_every:
                    dx = xu - x_prev_check
                    if _inf(dx) > 0 and check_unboundedness(prog, dx):
                        status, message = "unbounded", f"unbounded: primal ray found at iteration {it}"
                        ray = dx
                        break
                x_prev_check = xu.copy()
                y_prev_check = [y.copy() for y in duals]
                if callback_stops(options, rec, xu):
                    status, message = "stopped", f"stopped by the callback at iteration {it}"
                    break
                if it >= max_iter:
                    status = "max_iter"
                    break
                if deadline is not None and time.perf_counter() >= deadline:
                    status, message = "time_limit", f"time limit of {options.time_limit:g} s reached at iteration {it}"
                    break
                # adaptive rho (OSQP's rule), a bounded number of refactorizations
                if o["adaptive_rho"] and S.split and rho_updates < o["max_rho_updates"] and rp_rel > 0 and rd_rel > 0:
                    ratio = math.sqrt(rp_rel / rd_rel)
                    if ratio > 5.0 or ratio < 0.2:
                        new_scale = min(max(rho_scale * ratio, 1e-6), 1e6)
                        if new_scale != rho_scale:
                            for k in range(len(u)):
                                u[k] = u[k] * (rho_scale / new_scale)  # keep y = rho u
                            rho_scale = new_scale
                            try:
                                system.factorize(row_weights(rho_scale))
                            except _factor.FactorizationError as exc:
                                status, message = "numerical_error", str(exc)
                                break
                            rho_updates += 1
                            state["system"] = ((kind, o["sigma"], tuple(float(d[0]) for d in quad_d),
                                                tuple(base_rho), rho_scale), system)
                            if aa is not None:
                                aa.reset()   # the fixed-point map changed with rho
                            continue
                accelerate()

        solve_time = time.perf_counter() - t0
        x = x * S.col_scale
        info = {"rho": o["rho"] * rho_scale, "rho_updates": rho_updates, "system": kind,
                "factorization": system.fac.kind, "factorized_at_setup": factorized_at_setup,
                "warm_start": warm, "certificate": last_cert, "solve_time": solve_time,
                "anderson": None if aa is None else {"accepted": aa.accepted, "rejected": aa.rejected}}
        if verbose:
            print(f"admm: {status} after {it} iterations, {rho_updates} rho update(s), {solve_time:.3f} s"
                  + (f"; {message}" if message else ""))
        if status in ("infeasible", "unbounded"):
            return RawSolution(x=None, status=status, iterations=it, ray=ray, history=history,
                               setup_time=setup_time, info=info, message=message)
        if status == "numerical_error":
            return RawSolution(x=x if np.all(np.isfinite(x)) else None, status=status, iterations=it,
                               history=history, setup_time=setup_time, info=info, message=message)
        state["x"], state["z"], state["u"] = x.copy(), [a.copy() for a in z], [a.copy() for a in u]
        state["rho_scale"] = rho_scale
        return RawSolution(x=x, status=status, iterations=it, duals=duals_of(x, u, rho_scale),
                           history=history, setup_time=setup_time, info=info, message=message)


registry.register(AdmmBackend())
