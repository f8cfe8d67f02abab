"""Log-domain Sinkhorn on the EntropicOT and UnbalancedOT forms.

The potentials (f, g) are held in the log domain, so nothing under- or overflows at
small eps. Iterations are the stabilized scheme of Schmitzer (2019): between
"absorptions" the plan is ``diag(u) K diag(v)`` with ``K = exp((f~ + g~ - C)/eps)`` built
once (entries below exp(-745) are exact zeros), and an iteration is two dense
matrix-vector products (BLAS, the memory-bound floor). When ``u`` or ``v`` leaves
[exp(-tau), exp(tau)] (or a row of ``K v`` vanishes) the scalings are absorbed into
(f, g) with one exact log-sum-exp update each (fused Numba kernels) and K is rebuilt.
``stabilize='lse'`` runs every iteration as fused log-sum-exp passes instead.

Epsilon scaling (default on when eps < 0.05 max|C|): eps runs down geometrically from
max|C| / 4 by ``scaling_factor``; each stage stops at a loose marginal error and warm
starts the next. Iterations of all stages are counted.

Stopping: after each v-update the columns are exact and the row marginal ``u * (K v)``
is free, so the L1 marginal violation ||P1 - a||_1 / sum(a) is tested at every iteration;
the solve stops when it and the relative primal–dual gap estimate |<f, P1 - a>| /
|primal| are both <= tol (the gap with half of tol, so the engine's own measure of the
returned plan, which differs in rounding, lands below tol too) (unbalanced: when the potentials move by <= tol * eps).
The engine then recomputes the certificate from the returned plan.

Threads: the BLAS mat-vecs run on one thread (they are memory-bound; on a busy machine
spin-waiting OpenBLAS threads made iterations 10-20x slower); ``threads`` sets the
Numba threads of the fused passes (default: Numba's).

Options (``options.extra``): ``threads`` (None), ``stabilize`` ('absorb' | 'lse'), ``tau`` (50),
``eps_scaling`` (None: automatic, True, False), ``scaling_factor`` (0.25),
``stage_tol`` (1e-3), ``sparse_plan`` (False; True also returns a CSR plan in
``info['plan_sparse']`` keeping entries >= ``sparse_threshold`` (1e-12) times the mass),
``round`` (False; True also returns the Altschuler-Weed-Rigollet rounding of the plan onto
the transport polytope in ``info['plan_rounded']``, with its ``rounded_cost`` <C, R> and
recomputed ``rounded_violation``; balanced only), ``device`` ('cpu'; 'cuda' runs the
whole iteration of balanced OT on a GPU through ``sinkhorn_device.run_sinkhorn_cuda``,
the plan and certificate built on the host from the potentials it returns),
``overrelaxation`` (1.9; balanced OT, dense, lazy and multiscale: updates f <- (1 - w) f +
w f_sinkhorn -- in the dense scalings u <- u^(1 - w) (a / K v)^w -- on the stages at eps <=
2e-3 max C, ``ot_relax``; 1 is plain. DOTmark 64 x 64 at 1e-3 max C: 214 steps against
1778; the GPU run stays plain).
Statuses: converged, max_iter, time_limit, stopped (callback), numerical_error.

The lazy point-cloud program (form ``LazyEntropicOT``, ``families.ot.lazy``) runs the same
epsilon-scaled iteration and stopping test (``run_sinkhorn``) with ``LazySinkhornState``:
every half-iteration is one fused log-sum-exp pass that recomputes the squared Euclidean
cost in blocks (``kernels.ot_lazy``), O(n + m) memory, no kernel matrix (``stabilize`` and
``tau`` do not apply). Its x is the potentials [f; g]; ``sparse_plan`` keeps the entries
>= ``sparse_threshold`` times their row's mass (and reports the mass left out in
``info['plan_sparse_dropped']``), ``round`` returns a ``RoundedPlan`` (O(n + m)).
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..errors import InvalidDataError
from ..kernels import ot as K
from ..kernels import ot_lazy as KL
from ..kernels.cuda.device import device_option
from . import registry
from .ot_relax import RELAX_BELOW, next_omega, overrelaxation
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

_TINY = float(np.finfo(np.float64).tiny)

_EXTRA = ("threads", "stabilize", "tau", "eps_scaling", "scaling_factor", "stage_tol", "sparse_plan",
          "sparse_threshold", "round", "device", "support_rounds", "coarse_points", "overrelaxation")

#: the verbose table of Sinkhorn iterations (also sinkhorn_newton's warm-up and fallbacks);
#: 'marg. viol' is the measure compared with tol (unbalanced: the potentials' change)
TABLE = Table(("iteration", "iter", "7d"), ("time", "time", "9.3f"), ("eps", "eps", "10.3e"),
              ("residual", "marg. viol", "12.3e"), ("absorb", "absorb", "6d"))
#: lazy programs with fewer plan entries run their passes on one thread unless ``threads``
#: says otherwise: a pass then takes under ~5 ms, and on a busy machine each parallel
#: launch can wait that long for a descheduled worker (measured: 300 x 300 at eps = 1e-3
#: max C, 1.5 s serial, 10-30 s on two threads under load)
LAZY_SERIAL_BELOW = 2 ** 22
#: the time-limit message of the Sinkhorn backends
TIME_MESSAGE = "time limit reached at iteration {it}"


def monitor(options) -> IterationMonitor:
    """The iteration monitor of a Sinkhorn solve (its table and messages)."""
    return IterationMonitor(options, table=TABLE, time_message=TIME_MESSAGE)


def thread_option(name: str, extra) -> int | None:
    """The ``threads`` option: Numba threads for the fused passes (None: Numba's default).
    BLAS mat-vecs always run on one thread (memory-bound; see ``kernels.threads``)."""
    t = (extra or {}).get("threads")
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
        raise InvalidDataError(f"backend {name!r}: threads must be a positive integer, got {t!r}")
    return int(t)


def warm_potentials(red, options, state):
    """(F, G, warm): the previous solve's potentials when warm starting is on and they fit
    this problem (same support shape and eps), else (None, None, False)."""
    if options.warm_start and state.get("F") is not None:
        Fw, Gw = state["F"], state["G"]
        if Fw.shape == (red.shape[0],) and Gw.shape == (red.shape[1],) and state.get("eps") == red.eps:
            return Fw.copy(), Gw.copy(), True
    return None, None, False


def max_abs_finite(C) -> float:
    """max |C_ij| over the finite entries (1.0 if there are none), without a copy of C
    when every entry is finite."""
    hi, lo = float(C.max()), float(C.min())
    if np.isfinite(hi) and np.isfinite(lo):
        return max(abs(hi), abs(lo))
    fin = C[np.isfinite(C)]
    return float(np.max(np.abs(fin))) if fin.size else 1.0


class Reduced:
    """The problem on the support of a and b (zero-mass rows/columns are dropped and
    scattered back as exact zeros), with cached logs; the transposed cost is made on first
    use (only log-sum-exp column updates need it: about 0.1 s at n = m = 4096)."""

    def __init__(self, view):
        a, b = view.a, view.b
        self.view = view
        self.kind = view.kind
        self.eps = float(view.eps)
        self.rho = view.rho
        self.n_full, self.m_full = a.size, b.size
        self.ri = np.nonzero(a > 0)[0]
        self.ci = np.nonzero(b > 0)[0]
        self.full = self.ri.size == a.size and self.ci.size == b.size
        self.C = view.C if self.full else np.ascontiguousarray(view.C[np.ix_(self.ri, self.ci)])
        self._CT = None
        self.a = a[self.ri]
        self.b = b[self.ci]
        self.la = np.log(self.a)
        self.lb = np.log(self.b)
        self.mass = float(self.a.sum())
        self.k = 1.0 if self.kind == "balanced" else self.rho / (self.rho + self.eps)
        self.cmax = max_abs_finite(self.C)

    @property
    def CT(self):
        if self._CT is None:
            self._CT = self.view.CT if self.full else np.ascontiguousarray(self.C.T)
        return self._CT

    @property
    def shape(self):
        return self.C.shape

    # potentials: internal F, G with P = exp((F + G - C) / eps) on the support
    def to_user(self, F, G):
        """Full-size potentials in the form's convention (zero-mass rows get -inf)."""
        f = np.full(self.n_full, -np.inf)
        g = np.full(self.m_full, -np.inf)
        if self.kind == "balanced":
            f[self.ri], g[self.ci] = F, G
        else:  # P = a_i b_j exp((f + g - C) / eps)
            f[self.ri], g[self.ci] = F - self.eps * self.la, G - self.eps * self.lb
        return f, g

    def plan_flat(self, F, G) -> np.ndarray:
        """The F-ordered flat plan (the engine's x) from internal potentials."""
        f = np.full(self.n_full, -np.inf)
        g = np.full(self.m_full, -np.inf)
        f[self.ri], g[self.ci] = F, G
        PT = np.empty((self.m_full, self.n_full))
        K.gibbs_transposed(self.view.CT, f, g, 1.0 / self.eps, PT)
        return PT.ravel()

    def row_update(self, F, G, eps, out):
        K.lse_rows_shift(self.C, G, 1.0 / eps, out)
        return self._update(self.la, out, eps)

    def col_update(self, F, G, eps, out):
        K.lse_rows_shift(self.CT, F, 1.0 / eps, out)
        return self._update(self.lb, out, eps)

    def _update(self, lm, lse, eps):
        k = 1.0 if self.kind == "balanced" else self.rho / (self.rho + eps)
        return eps * (lm - k * lse) if k == 1.0 else eps * lm - k * eps * lse


class SinkhornState:
    """One run of (stabilized) log-domain Sinkhorn at a fixed eps, resumable."""

    def __init__(self, red: Reduced, F, G, eps, tau=50.0, mode="absorb"):
        self.red = red
        self.eps = float(eps)
        self.F = F
        self.G = G
        self.tau = float(tau)
        self.mode = mode
        n, m = red.shape
        self.k = 1.0 if red.kind == "balanced" else red.rho / (red.rho + self.eps)
        self.buf_n = np.empty(n)
        self.buf_m = np.empty(m)
        self.Kmat = None
        self.absorptions = 0
        self.err = float("inf")
        self.r = None
        self.dF = float("inf")
        self.errs: list = []  # the marginal violation at every step of this state (rate estimates)
        self.omega = 1.0      # overrelaxation of the updates (``run_sinkhorn`` sets it; balanced only)
        self.last_plain = True

    #: run_sinkhorn overrelaxes this state's updates (``overrelaxation``), balanced OT only
    overrelaxable = True

    def absorb(self):
        """Exact log-domain f and g updates, then rebuild K at the new potentials."""
        red = self.red
        self.F = red.row_update(self.F, self.G, self.eps, self.buf_n)
        self.G = red.col_update(self.F, self.G, self.eps, self.buf_m)
        if self.mode == "absorb":
            if self.Kmat is None:
                self.Kmat = np.empty(red.shape)
            K.gibbs(red.C, self.F, self.G, 1.0 / self.eps, self.Kmat)
            self.u = np.ones(red.shape[0])
            self.v = np.ones(red.shape[1])
            inv = 1.0 / self.eps
            self.wu = red.la + (self.k - 1.0) * self.F * inv
            self.wv = red.lb + (self.k - 1.0) * self.G * inv
        self.absorptions += 1

    def potentials(self):
        if self.mode == "absorb" and self.Kmat is not None:
            return self.F + self.eps * np.log(self.u), self.G + self.eps * np.log(self.v)
        return self.F, self.G

    def step(self) -> bool:
        """One iteration (a row then a column update). Sets ``err`` (balanced: L1 row
        marginal violation before the row update, relative) and ``dF`` (max change of
        f over eps). Returns False on numerical trouble that absorption cannot fix."""
        red = self.red
        w = self.omega if self.k == 1.0 else 1.0   # f <- (1 - w) f + w f_sinkhorn (``ot_relax``)
        self.last_plain = w == 1.0
        if self.mode == "lse":
            F_old = self.F
            # row marginal of the current plan: exp(F/eps + lse_rows(G))
            K.lse_rows(red.C, self.F, self.G, 1.0 / self.eps, self.buf_n)
            r = np.exp(self.buf_n)
            self.r = r
            self.err = float(np.abs(r - red.a).sum()) / red.mass
            self.errs.append(self.err)
            F_new = red.row_update(self.F, self.G, self.eps, self.buf_n)
            self.F = F_new if w == 1.0 else (1.0 - w) * F_old + w * F_new
            G_old = self.G
            G_new = red.col_update(self.F, self.G, self.eps, self.buf_m)
            self.G = G_new if w == 1.0 else (1.0 - w) * G_old + w * G_new
            self.dF = float(np.max(np.abs(self.F - F_old))) / self.eps
            return bool(np.all(np.isfinite(self.F)) and np.all(np.isfinite(self.G)))
        if self.Kmat is None:
            self.absorb()
        Kmat = self.Kmat
        s = Kmat @ self.v
        r = self.u * s
        self.r = r
        self.err = float(np.abs(r - red.a).sum()) / red.mass
        self.errs.append(self.err)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            u = np.exp(self.wu) * s ** (-self.k) if self.k != 1.0 else red.a / s
            if w != 1.0:     # in the scalings: u^(1 - w) (a / K v)^w
                u = self.u ** (1.0 - w) * u ** w
        if not np.all(np.isfinite(u)) or not np.all(u > 0):
            F0 = self.potentials()[0]
            self.F, self.G = self.potentials()
            self.absorb()
            self.dF = float(np.max(np.abs(self.F - F0))) / self.eps
            return bool(np.all(np.isfinite(self.F)) and np.all(np.isfinite(self.G)))
        du = u / self.u
        self.u = u
        t = Kmat.T @ u
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            v = np.exp(self.wv) * t ** (-self.k) if self.k != 1.0 else red.b / t
            if w != 1.0:
                v = self.v ** (1.0 - w) * v ** w
        if not np.all(np.isfinite(v)) or not np.all(v > 0):
            self.F, self.G = self.F + self.eps * np.log(self.u), self.G + self.eps * np.log(self.v)
            self.absorb()
            self.dF = float("inf")
            return bool(np.all(np.isfinite(self.F)) and np.all(np.isfinite(self.G)))
        self.v = v
        with np.errstate(divide="ignore"):
            self.dF = float(np.max(np.abs(np.log(du))))
        lim_hi, lim_lo = math.exp(self.tau), math.exp(-self.tau)
        if (u.max() > lim_hi or u.min() < lim_lo or v.max() > lim_hi or v.min() < lim_lo):
            self.F, self.G = self.potentials()
            self.absorb()
        return True

    def gap_estimate(self) -> float:
        """|<f, P1 - a>| / |<f, P1> + <g, b>|: the relative gap after an exact column update."""
        if self.r is None:
            return float("inf")
        F, G = self.potentials()
        red = self.red
        prim = float(F @ self.r + G @ red.b)
        return abs(float(F @ (self.r - red.a))) / max(abs(prim), _TINY)


class LazyReduced:
    """The lazy point-cloud program on the support of a and b (what ``run_sinkhorn`` and
    ``LazySinkhornState`` read): the transposed clouds, masses and their logs, max C."""

    def __init__(self, view):
        p = view.program
        self.view = view
        self.program = p
        self.kind = "balanced"
        self.eps = float(p.eps)
        self.rho = None
        self.k = 1.0
        self.XT, self.YT = p.XT, p.YT
        self.a, self.b = p.a_s, p.b_s
        self.la = np.log(self.a)
        self.lb = np.log(self.b)
        self.mass = float(self.a.sum())
        self.cmax = p.max_cost_support

    @property
    def shape(self):
        return (self.XT.shape[1], self.YT.shape[1])


class LazySinkhornState:
    """One run of log-domain Sinkhorn at a fixed eps on the lazy program (the interface of
    ``SinkhornState``). A half-iteration is one ``kernels.ot_lazy.lse`` pass; its pivot is
    the previous pass's log-sum-exp plus the largest increase of the other potential since
    (an upper bound of the row's largest exponent), so passes are single sweeps."""

    def __init__(self, red: LazyReduced, F, G, eps, tau=50.0, mode="lse"):
        self.red = red
        self.eps = float(eps)
        self.F = np.ascontiguousarray(F, dtype=np.float64)
        self.G = np.ascontiguousarray(G, dtype=np.float64)
        self.mode = mode
        self.k = 1.0
        self.Kmat = None
        self.absorptions = 0
        self.err = float("inf")
        self.r = None
        self.dF = float("inf")
        self.errs: list = []
        self._Lf = self._G_at_Lf = None    # row log-sum-exps and the G they were taken at
        self._Lg = self._F_at_Lg = None    # column log-sum-exps and the F they were taken at
        self.redone = 0                     # rows recomputed with their exact maximum
        self.omega = 1.0                    # overrelaxation of the updates (``run_sinkhorn`` sets it)
        self.last_plain = True              # whether the last step's updates were plain (omega = 1)

    #: run_sinkhorn overrelaxes this state's updates (``overrelaxation``)
    overrelaxable = True

    def potentials(self):
        return self.F, self.G

    def _pivot(self, L, w_then, w_now, inv, size):
        if L is None:
            return np.full(size, np.nan)
        return L + float(np.max(w_now - w_then)) * inv

    def step(self) -> bool:
        """A row update (whose pass also gives the row marginal of the current plan, whose
        columns are exact after the previous column update) then a column update."""
        red = self.red
        inv = 1.0 / self.eps
        n, m = red.shape
        L = np.empty(n)
        self.redone += KL.lse(red.XT, red.YT, self.G, inv, self._pivot(self._Lf, self._G_at_Lf, self.G, inv, n), L)
        with np.errstate(over="ignore", invalid="ignore"):
            if self._Lf is not None and self.last_plain:   # F = eps (log a - Lf): r = a exp(L - Lf), exact
                r = red.a * np.exp(L - self._Lf)
            else:
                r = np.exp(self.F * inv + L)
        self.r = r
        self.err = float(np.abs(r - red.a).sum()) / red.mass
        self.errs.append(self.err)
        F_old = self.F
        w = self.omega
        self.F = self.eps * (red.la - L) if w == 1.0 else (1.0 - w) * F_old + w * self.eps * (red.la - L)
        self._Lf, self._G_at_Lf = L, self.G
        Lc = np.empty(m)
        self.redone += KL.lse(red.YT, red.XT, self.F, inv, self._pivot(self._Lg, self._F_at_Lg, self.F, inv, m), Lc)
        self.G = self.eps * (red.lb - Lc) if w == 1.0 else (1.0 - w) * self.G + w * self.eps * (red.lb - Lc)
        self.last_plain = w == 1.0
        self._Lg, self._F_at_Lg = Lc, self.F
        with np.errstate(invalid="ignore"):
            self.dF = float(np.max(np.abs(self.F - F_old))) * inv
        return bool(np.all(np.isfinite(self.F)) and np.all(np.isfinite(self.G)))

    def gap_estimate(self) -> float:
        """As ``SinkhornState.gap_estimate`` (the same formula on r and the potentials)."""
        return SinkhornState.gap_estimate(self)


def forbidden_pairs_infeasible(view, name: str, t_setup: float) -> RawSolution | None:
    """An 'infeasible' RawSolution with its Farkas ray when the +inf-cost (forbidden) pairs
    leave no feasible plan (checked by a maximum flow before any iteration: Sinkhorn's
    potentials would only diverge), else None."""
    from ..families.ot import forbidden_pairs_ray
    ray = forbidden_pairs_ray(view)
    if ray is None:
        return None
    f, g = ray
    return RawSolution(x=None, status="infeasible", iterations=0, ray=ray,
                       setup_time=time.perf_counter() - t_setup,
                       message=f"{name}: a set S of {int(f.sum())} rows may send mass only to {int(-g.sum())} "
                               f"columns N(S), and a(S) - b(N(S)) = {float(f @ view.a + g @ view.b):.3e} > 0: "
                               f"no plan avoids the +inf costs")


def eps_schedule(red: Reduced, eps: float, scaling, factor: float) -> list:
    """The decreasing eps values of epsilon scaling, ending with eps."""
    start = red.cmax / 4.0
    if scaling is None:
        scaling = eps < 0.05 * red.cmax
    if not scaling or start <= eps:
        return [eps]
    out = []
    e = start
    while e > eps:
        out.append(e)
        e *= factor
    out.append(eps)
    return out


def run_sinkhorn(red: Reduced, mon: IterationMonitor, extra: dict, *, stop_tol: float, final_tol: float,
                 check_gap: bool, label: str, F=None, G=None, fields=None, resume=None, state=None):
    """Epsilon-scaled log-domain Sinkhorn. Returns (F, G, iterations, status, message, state).

    ``mon`` is the run's monitor (``mon.max_iter``: this run's budget; the checks, history,
    callback and deadline are its). ``stop_tol`` is the marginal target of the final
    stage; ``final_tol`` the gap target (when ``check_gap``). ``fields`` are added to every
    history record (the callback sees them). ``resume``: a ``SinkhornState`` at the final
    eps to continue (its kernel is reused, no absorption), used when the schedule is that
    eps alone. ``state``: the class of one fixed-eps run (``SinkhornState``; the lazy
    program's ``LazySinkhornState``).
    """
    state = SinkhornState if state is None else state
    mode = extra.get("stabilize", "absorb")
    if mode not in ("absorb", "lse"):
        raise InvalidDataError(f"{label}: stabilize must be 'absorb' or 'lse', got {mode!r}")
    tau = float(extra.get("tau", 50.0))
    factor = float(extra.get("scaling_factor", 0.25))
    if not 0.0 < factor < 1.0:
        raise InvalidDataError(f"{label}: scaling_factor must be in (0, 1), got {factor!r}")
    stage_tol = float(extra.get("stage_tol", 1e-3))
    n, m = red.shape
    F = np.zeros(n) if F is None else F
    G = np.zeros(m) if G is None else G
    schedule = eps_schedule(red, red.eps, extra.get("eps_scaling"), factor)
    max_iter = mon.max_iter
    fields = fields or {}
    key = "marginal_violation" if red.kind == "balanced" else "potential_change"
    it = 0
    st = None
    relax = overrelaxation(extra, label) if hasattr(state, "overrelaxable") else 1.0
    for si, e in enumerate(schedule):
        last = si == len(schedule) - 1
        if resume is not None and len(schedule) == 1 and resume.eps == e and resume.mode == mode:
            st = resume
        else:
            st = state(red, F, G, e, tau, mode)
        target = stop_tol if last else max(stage_tol, stop_tol)
        stopped = False      # before the stage converged (mon says why)
        best = math.inf
        while True:
            if it >= max_iter:  # the budget ran out as the previous stage converged
                stopped = mon.stop("max_iter", f"{max_iter} iterations (eps={e:g}, stage {si + 1} of "
                                               f"{len(schedule)})")
                break
            ok = st.step()
            it += 1
            if not ok:
                stopped = mon.stop("numerical_error", f"non-finite potentials at iteration {it} (eps={e:g})")
                break
            if relax != 1.0 and e <= RELAX_BELOW * red.cmax:
                best = min(best, st.err)
                st.omega = next_omega(st.omega, relax, st.err, best, target, len(st.errs) == 1)
            if red.kind == "balanced":
                conv = st.err <= target and getattr(st, "last_plain", True) and \
                    (not (last and check_gap) or st.gap_estimate() <= 0.5 * final_tol)
                meas = st.err
            else:
                conv = st.dF <= target
                meas = st.dF
            if conv or mon.due(it):
                rec = mon.record(it, meas, row={"absorb": st.absorptions}, eps=e, **{key: meas}, **fields)
                if mon.stopped(rec):
                    stopped = True
                    break
            if conv:
                break
            if it >= max_iter or mon.out_of_time():
                stopped = mon.limits(it, f"{max_iter} iterations (eps={e:g}, marginal violation {st.err:.2e})")
                break
        F, G = st.potentials()
        if stopped:
            return F, G, it, mon.status, mon.message, st
    mon.stop("converged")
    return F, G, it, mon.status, mon.message, st


def cpu_run(red, options, extra: dict, F, G, warm: bool, label: str, header: str, state=None):
    """The CPU solve of both programs: the verbose header, epsilon scaling off on a warm
    start, ``run_sinkhorn``. Returns (F, G, iterations, status, message, state, monitor)."""
    mon = monitor(options)
    if mon.verbose:
        print(header + (", warm start" if warm else ""))
        mon.header()
    if warm:
        extra = dict(extra, eps_scaling=False)
    F, G, it, status, message, st = run_sinkhorn(
        red, mon, extra, stop_tol=options.tol, final_tol=options.tol, check_gap=True, label=label, F=F, G=G,
        state=state)
    return F, G, it, status, message, st, mon


def non_finite(F, G, it, history, setup_time, info, message) -> RawSolution | None:
    """The 'numerical_error' RawSolution when a potential is NaN or Inf, else None."""
    if np.all(np.isfinite(F)) and np.all(np.isfinite(G)):
        return None
    return RawSolution(x=None, status="numerical_error", iterations=it, history=history, setup_time=setup_time,
                       info=info, message=message or "non-finite potentials")


def finish_plan(red: Reduced, F, G, extra: dict, info: dict):
    """The engine's x (F-ordered flat plan), the user duals and cost summaries."""
    x = red.plan_flat(F, G)
    f, g = red.to_user(F, G)
    view = red.view
    PT = x.reshape(red.m_full, red.n_full)
    parts = np.zeros((K.n_chunks(PT.shape[0]), 5))
    K.plan_objective_parts(view.CT, PT, parts)
    cp_, ent, mass = parts.sum(axis=0)[:3]
    info["transport_cost"] = float(cp_)
    info["entropic_cost"] = float(cp_ + red.eps * ent) if red.kind == "balanced" else None
    info["plan_mass"] = float(mass)
    info["f"], info["g"] = f, g
    if extra.get("sparse_plan"):
        import scipy.sparse as sp
        thr = float(extra.get("sparse_threshold", 1e-12)) * red.mass
        P = view.plan(x)
        info["plan_sparse"] = sp.csr_matrix(np.where(P >= thr, P, 0.0))
    if extra.get("round"):
        rounded_info(view, x, info)
    return x, [f, g]


def rounded_info(view, x, info: dict) -> None:
    """The ``round`` option: the AWR rounding of the returned plan onto U(a, b), its
    transport cost and its recomputed marginal violation (dense plan or lazy program)."""
    if view.kind != "balanced":
        raise InvalidDataError("sinkhorn: round=True rounds onto the transport polytope of balanced OT; this "
                               "problem is unbalanced")
    from ..families.ot import round_lazy, round_plan
    if getattr(view, "lazy", False):
        R = round_lazy(view.program, x)
        info["plan_rounded"] = R
        info["rounded_cost"] = R.transport_cost()
        info["rounded_violation"] = R.violation()
        return
    R = round_plan(view.plan(x), view.a, view.b)
    C = view.C
    info["plan_rounded"] = R
    info["rounded_cost"] = float(np.sum(np.where(R > 0, C * R, 0.0)))
    info["rounded_violation"] = float((np.abs(R.sum(axis=1) - view.a).sum() + np.abs(R.sum(axis=0) - view.b).sum())
                                      / view.a.sum())


class SinkhornBackend(Backend):
    name = "sinkhorn"
    description = "log-domain stabilized Sinkhorn with epsilon scaling (entropic OT, balanced or unbalanced)"
    forms = ("EntropicOT", "UnbalancedOT", "LazyEntropicOT")
    default_max_iter = 100000
    warmup = True  # Numba kernels: the bench harness runs a short solve first (compile / cache load)
    priority = 30

    def accepts_extra(self):
        return _EXTRA

    def setup(self, view, options: SolveOptions) -> Workspace:
        """The problem on the support of the marginals (``Reduced``, or ``LazyReduced`` for
        the lazy point-cloud program): built once per program."""
        if getattr(view, "lazy", False):
            return Workspace(lazy=LazyReduced(view))
        return Workspace(reduced=Reduced(view))

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        threads = thread_option(self.name, options.extra)
        if threads is None and getattr(view, "lazy", False) and view.shape[0] * view.shape[1] < LAZY_SERIAL_BELOW:
            threads = 1
        with K.threads(blas=1, numba_threads=threads):
            return self._solve(view, options, ws)

    def _solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        extra = self.checked_extra(options)
        device = device_option(extra, self.name)
        if device == "cuda" and (getattr(view, "lazy", False) or view.kind != "balanced"):
            what = "the lazy point-cloud program" if getattr(view, "lazy", False) else f"{view.kind} OT"
            raise InvalidDataError(f"backend 'sinkhorn': device='cuda' runs balanced OT with a cost matrix; "
                                   f"{what} runs on the CPU only (device='cpu')")
        if getattr(view, "lazy", False):
            return self._solve_lazy(view, options, ws)
        t_setup = time.perf_counter()
        infeasible = forbidden_pairs_infeasible(view, self.name, t_setup)
        if infeasible is not None:
            return infeasible
        red = ws["reduced"]
        F, G, warm = warm_potentials(red, options, ws.warm)
        if device == "cuda":
            return self._solve_device(red, options, ws, extra, F, G, warm, t_setup)
        compile_time = K.warm_up()
        setup_time = time.perf_counter() - t_setup
        n, m = red.shape
        F, G, it, status, message, st, mon = cpu_run(
            red, options, extra, F, G, warm, self.name,
            f"sinkhorn: {view.kind} OT {n}x{m} (support), eps={red.eps:.3e} "
            f"({red.eps / max(red.cmax, 1e-300):.1e} x max|C|), tol={options.tol:g}")
        history = mon.history
        solve_time = mon.elapsed()
        info = {"compile_time": compile_time, "jit_time": compile_time, "absorptions": st.absorptions if st else 0,
                "warm_start": warm, "solve_time": solve_time, "eps": red.eps}
        bad = non_finite(F, G, it, history, setup_time, info, message)
        if bad is not None:
            return bad
        x, duals = finish_plan(red, F, G, extra, info)
        ws.warm.update(F=F.copy(), G=G.copy(), eps=red.eps)
        mon.summary("sinkhorn", f"{it} iterations", solve_time)
        return RawSolution(x=x, status=status, iterations=it, duals=duals, history=history,
                           setup_time=setup_time, info=info, message=message)


    def _solve_device(self, red: Reduced, options, ws, extra, F, G, warm, t_setup) -> RawSolution:
        """device='cuda': the whole log-domain iteration on the GPU (``sinkhorn_device``),
        with the same epsilon schedule and stopping test; the potentials come back once and
        the plan and its certificate are computed on the host, as on the CPU path."""
        from .sinkhorn_device import run_sinkhorn_cuda
        factor = float(extra.get("scaling_factor", 0.25))
        if not 0.0 < factor < 1.0:
            raise InvalidDataError(f"sinkhorn: scaling_factor must be in (0, 1), got {factor!r}")
        schedule = [red.eps] if warm else eps_schedule(red, red.eps, extra.get("eps_scaling"), factor)
        setup_time = time.perf_counter() - t_setup
        mon = monitor(options)
        if mon.verbose:
            n, m = red.shape
            print(f"sinkhorn (device='cuda'): balanced OT {n}x{m} (support), eps={red.eps:.3e}, tol={options.tol:g}"
                  + (", warm start" if warm else ""))
            mon.header()
        info = {"compile_time": 0.0, "jit_time": 0.0, "absorptions": 0, "warm_start": warm}
        F, G, it, _, status = run_sinkhorn_cuda(
            red.a, red.b, red.C, red.eps, options.tol, mon.max_iter, mon.deadline, f0=F, g0=G,
            eps_schedule=schedule, stage_tol=float(extra.get("stage_tol", 1e-3)), monitor=mon, info=info)
        message = info.pop("message", "")
        info.update(solve_time=mon.elapsed(), eps=red.eps)
        bad = non_finite(F, G, it, mon.history, setup_time, info, message)
        if bad is not None:
            return bad
        x, duals = finish_plan(red, F, G, extra, info)
        ws.warm.update(F=F.copy(), G=G.copy(), eps=red.eps)
        mon.summary("sinkhorn", f"{it} iterations (device='cuda')", info["solve_time"])
        return RawSolution(x=x, status=status, iterations=it, duals=duals, history=mon.history,
                           setup_time=setup_time, info=info, message=message)

    def _solve_lazy(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        """The lazy point-cloud program: the same iteration and stopping test on one-pass
        log-sum-exp kernels; x = [f; g] (the potentials), the plan is never formed."""
        t_setup = time.perf_counter()
        extra = self.checked_extra(options)
        compile_time = KL.warm_up()
        red = ws["lazy"]
        prog = red.program
        fallback = None
        if getattr(prog, "method", None) == "multiscale":
            from ..families.ot.multiscale import SupportTooLarge
            from ..kernels import ot_sparse as KS
            from .sinkhorn_multiscale import solve_multiscale
            try:
                raw = solve_multiscale(view, options, extra, monitor(options), compile_time + KS.warm_up(), t_setup)
            except SupportTooLarge as exc:
                fallback = f"multiscale: {exc}; ran the full lazy passes instead"
            else:
                raw.info["lazy"] = prog.reason
                raw.info["program"] = repr(prog)
                if raw.x is not None:       # the options that read the plan work as on the lazy program
                    if extra.get("sparse_plan"):
                        raw.info["plan_sparse"], raw.info["plan_sparse_dropped"] = prog.plan_sparse(
                            raw.x, float(extra.get("sparse_threshold", 1e-12)))
                    if extra.get("round"):
                        rounded_info(view, raw.x, raw.info)
                return raw
        F, G, warm = warm_potentials(red, options, ws.warm)
        setup_time = time.perf_counter() - t_setup
        n, m = red.shape
        F, G, it, status, message, st, mon = cpu_run(
            red, options, extra, F, G, warm, self.name,
            f"sinkhorn: lazy point-cloud OT {n}x{m} (support) in {prog.dim}-D, eps={red.eps:.3e} "
            f"({red.eps / max(red.cmax, 1e-300):.1e} x max C), tol={options.tol:g}", state=LazySinkhornState)
        history = mon.history
        solve_time = mon.elapsed()
        info = {"compile_time": compile_time, "jit_time": compile_time, "absorptions": 0, "warm_start": warm,
                "solve_time": solve_time, "eps": red.eps, "lazy": prog.reason, "program": repr(prog),
                "exact_max_rows": st.redone if st else 0}
        if fallback:
            info["method"] = fallback
        bad = non_finite(F, G, it, history, setup_time, info, message)
        if bad is not None:
            return bad
        x = prog.point(F, G)
        stats = prog.stats_support(F, G)
        info["transport_cost"] = stats["transport_cost"]
        info["entropic_cost"] = stats["transport_cost"] + red.eps * stats["plogp"]
        info["plan_mass"] = stats["mass"]
        f, g = prog.duals(F, G)
        info["f"], info["g"] = f, g
        if extra.get("sparse_plan"):
            info["plan_sparse"], info["plan_sparse_dropped"] = prog.plan_sparse(
                x, float(extra.get("sparse_threshold", 1e-12)))
        if extra.get("round"):
            rounded_info(view, x, info)
        ws.warm.update(F=F.copy(), G=G.copy(), eps=red.eps)
        mon.summary("sinkhorn", f"{it} iterations (lazy)", solve_time)
        return RawSolution(x=x, status=status, iterations=it, duals=[f, g], history=history,
                           setup_time=setup_time, info=info, message=message)


registry.register(SinkhornBackend())
