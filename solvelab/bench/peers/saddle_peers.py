"""Peers for the saddle suite: LP solvers on the LP formulation of a matrix game.

    min_{x, v} v   s.t.   A^T x <= v 1,   1^T x = 1,   x >= 0

(x: the row player's strategy, v the value); the column player's strategy is the
multiplier of the rows A^T x <= v 1 (LP duality is the minimax theorem). Each peer
returns z = [x; y], which the suite scores by L(x, y) and the game's relative gap.

``highs-game-lp``     scipy.optimize.linprog, method 'highs' (dual simplex / IPM as
                      HiGHS chooses), its time limit set to the run's
``clarabel-game-lp``  CVXPY + Clarabel (interior point) on ``SaddleProblem.to_cvxpy()``;
                      skipped above ``CLARABEL_MAX`` payoff entries, where canonicalizing
                      and factoring the dense LP takes longer than the suite's limit here

For distributionally robust logistic regression (family ``dro_logistic``):

``clarabel-dro``      CVXPY + Clarabel on ``DROProblem.to_cvxpy()`` (one exponential cone
                      per sample); p is the exact best response to its x
``lbfgsb-dro``        scipy's L-BFGS-B on the smooth primal P(x) (gradient by Danskin),
                      gtol tightened from 1e-3 until the point meets tol or 1e-12 is spent

For the enclosing ball written as a coupled saddle point (family ``coupled_saddle``):

``clarabel-ball``     CVXPY + Clarabel on min t s.t. |x - p_i|^2 / 2 <= t (n second-order
                      cones, in units of the points' largest entry: Clarabel's tolerances are
                      absolute); y is the cones' multipliers, normalized onto the simplex
"""
from __future__ import annotations

import time

import numpy as np

from ..peer import Peer, PeerRun, PeerSkip, register_peer

FAMILIES = ("matrix_game",)
#: the largest m * n the Clarabel peer takes (1000 x 1000 took 21 s on the 2-core box)
CLARABEL_MAX = 1_000_000


def _game(instance, data):
    prob = instance.make_problem(data)
    p = prob.program
    from ...families.saddle import Domain
    if p.X.kind != Domain.SIMPLEX or p.Y.kind != Domain.SIMPLEX or np.any(p.c) or np.any(p.b):
        raise PeerSkip("the LP peers take matrix games (two simplices, no linear terms)")
    return prob, p


def _normalize(y):
    y = np.maximum(np.asarray(y, dtype=np.float64), 0.0)
    s = y.sum()
    return y / s if s > 0 else y


@register_peer
class HighsGameLP(Peer):
    name = "highs-game-lp"
    description = "scipy.optimize.linprog (HiGHS) on the matrix game's LP; y from the row multipliers"
    package = "scipy"
    families = FAMILIES
    imports = ("scipy.optimize",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        import scipy.sparse as sp
        from scipy.optimize import linprog
        _, p = _game(instance, data)
        m, n = p.shape
        s = p.K_max or 1.0           # HiGHS's tolerances are absolute: pose it on A / max|A|
        At = (p.K.T / s) if p.dense else (p.KT / s)
        A_ub = sp.hstack([sp.csr_matrix(At), -np.ones((n, 1))]).tocsr()
        A_eq = np.r_[np.ones(m), 0.0][None, :]
        opts = {"primal_feasibility_tolerance": max(tol, 1e-10), "dual_feasibility_tolerance": max(tol, 1e-10)}
        if time_limit:
            opts["time_limit"] = float(time_limit)
        t0 = time.perf_counter()
        res = linprog(np.r_[np.zeros(m), 1.0], A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0],
                      bounds=[(0, None)] * m + [(None, None)], method="highs", options=opts)
        wall = time.perf_counter() - t0
        if res.status != 0 or res.x is None:
            return PeerRun(x=None, status="time_limit" if res.status == 1 else "error", iterations=int(res.nit or 0),
                           message=str(res.message), info={"wall": wall})
        y = _normalize(-np.asarray(res.ineqlin.marginals))
        z = np.r_[np.clip(res.x[:m], 0.0, None), y]
        record(iteration=int(res.nit or 0), x=z)
        return PeerRun(x=z, status="converged", iterations=int(res.nit or 0), info={"wall": wall})


@register_peer
class ClarabelGameLP(Peer):
    name = "clarabel-game-lp"
    description = "CVXPY + Clarabel on the matrix game's LP (SaddleProblem.to_cvxpy); y from the duals"
    package = "cvxpy"
    families = FAMILIES
    imports = ("cvxpy",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        prob, p = _game(instance, data)
        m, n = p.shape
        if m * n > CLARABEL_MAX:
            raise PeerSkip(f"{self.name}: {m} x {n} = {m * n} payoff entries > {CLARABEL_MAX}: canonicalizing and "
                           "factoring the dense LP takes longer than the suite's time limit on this machine")
        t0 = time.perf_counter()
        cp_prob, x = prob.to_cvxpy()
        cp_prob.solve(solver="CLARABEL", tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
        ok = cp_prob.status in ("optimal", "optimal_inaccurate") and x.value is not None
        if not ok:
            return PeerRun(x=None, status="error", message=str(cp_prob.status), info={"wall": time.perf_counter() - t0})
        y = _normalize(prob.y_from_cvxpy(cp_prob))
        z = np.r_[np.clip(np.asarray(x.value, dtype=np.float64), 0.0, None), y]
        record(iteration=int(cp_prob.solver_stats.num_iters or 0), x=z)
        return PeerRun(x=z, status="converged" if cp_prob.status == "optimal" else "error",
                       iterations=int(cp_prob.solver_stats.num_iters or 0), message=str(cp_prob.status),
                       info={"wall": time.perf_counter() - t0})


def _dro(instance, data):
    prob = instance.make_problem(data)
    return prob, prob.program


@register_peer
class ClarabelDRO(Peer):
    name = "clarabel-dro"
    description = "CVXPY + Clarabel on the DRO problem's DCP formulation (DROProblem.to_cvxpy)"
    package = "cvxpy"
    families = ("dro_logistic",)
    imports = ("cvxpy",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        prob, prog = _dro(instance, data)
        t0 = time.perf_counter()
        cp_prob, x = prob.to_cvxpy()
        cp_prob.solve(solver="CLARABEL", tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
        wall = time.perf_counter() - t0
        if cp_prob.status not in ("optimal", "optimal_inaccurate") or x.value is None:
            return PeerRun(x=None, status="error", message=str(cp_prob.status), info={"wall": wall})
        xv = np.asarray(x.value, dtype=np.float64)
        z = np.r_[xv, prog.worst_weights(prog.losses(prog.margins(xv)))]
        its = int(cp_prob.solver_stats.num_iters or 0)
        record(iteration=its, x=z)
        return PeerRun(x=z, status="converged" if cp_prob.status == "optimal" else "error", iterations=its,
                       message=str(cp_prob.status), info={"wall": wall})


@register_peer
class LbfgsbDRO(Peer):
    name = "lbfgsb-dro"
    description = "scipy L-BFGS-B on the DRO problem's smooth primal P(x), gtol tightened until tol is met"
    package = "scipy"
    families = ("dro_logistic",)
    imports = ("scipy.optimize",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        from scipy.optimize import minimize

        from ...families.saddle.dro import primal_parts
        _, prog = _dro(instance, data)

        def fg(x):
            q = primal_parts(prog, x)
            return q["value"], q["grad"]

        t0, z, its = time.perf_counter(), None, 0
        for gtol in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12):
            r = minimize(fg, np.zeros(prog.shape[1]), jac=True, method="L-BFGS-B",
                         options={"gtol": gtol, "ftol": 0.0, "maxiter": int(max_iter or 15000)})
            its = int(r.nit)
            z = np.r_[r.x, primal_parts(prog, r.x)["weights"]]
            if prog.certify(z).value <= tol:
                break
            if time_limit and time.perf_counter() - t0 > time_limit:
                break
        record(iteration=its, x=z)
        return PeerRun(x=z, status="converged", iterations=its, info={"wall": time.perf_counter() - t0})


@register_peer
class ClarabelBall(Peer):
    name = "clarabel-ball"
    description = "CVXPY + Clarabel on the enclosing ball's epigraph form (n second-order cones)"
    package = "cvxpy"
    families = ("coupled_saddle",)
    imports = ("cvxpy",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        import cvxpy as cp
        P = data.get("P")
        if P is None:
            raise PeerSkip("clarabel-ball takes the enclosing-ball instances (points P) only")
        t0 = time.perf_counter()
        s = float(np.max(np.abs(P))) or 1.0
        Q = P / s
        c, t = cp.Variable(P.shape[1]), cp.Variable()
        cons = [0.5 * cp.sum_squares(c - q) <= t for q in Q]
        prob = cp.Problem(cp.Minimize(t), cons)
        prob.solve(solver="CLARABEL", tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
        wall = time.perf_counter() - t0
        if prob.status not in ("optimal", "optimal_inaccurate") or c.value is None:
            return PeerRun(x=None, status="error", message=str(prob.status), info={"wall": wall})
        y = np.clip(np.array([float(np.asarray(k.dual_value).ravel()[0]) for k in cons]), 0.0, None)
        y = y / y.sum() if y.sum() > 0 else np.full(y.size, 1.0 / y.size)
        z = np.r_[s * np.asarray(c.value, dtype=np.float64), y]
        its = int(prob.solver_stats.num_iters or 0)
        record(iteration=its, x=z)
        return PeerRun(x=z, status="converged" if prob.status == "optimal" else "error", iterations=its,
                       message=str(prob.status), info={"wall": wall})
