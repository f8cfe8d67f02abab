"""ADMM: infeasibility and unboundedness detection, and scale invariance.

Random LPs and QPs are infeasible or unbounded by construction (a Farkas vector, a
recession direction of negative cost), solved at data scales 1e-6, 1 and 1e6 (the
objective and the constraints scaled separately), and compared with CVXPY+Clarabel's
status on the unit-scale instance (a status does not depend on the scale). The
backend's own verdict (its RawSolution) is rechecked here independently of
``solvelab.ir.certificate``: a dual ray by Farkas' lemma with entrywise-relative
tolerances, a primal ray with the feasible point it comes with.
"""
import time

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.ir.certificate import check_unboundedness, primal_residual

from raw_runs import run_raw

SCALES = [(1.0, 1.0), (1e-6, 1.0), (1e6, 1.0), (1.0, 1e-6), (1.0, 1e6), (1e-6, 1e6), (1e6, 1e-6)]


# --- generators -------------------------------------------------------------------------

def _obj(expr, so):
    return expr if so == 1.0 else so * expr


def _scaled(lhs, rhs, sc, op):
    lhs, rhs = (lhs, rhs) if sc == 1.0 else (sc * lhs, sc * rhs)
    return {"<=": lhs <= rhs, ">=": lhs >= rhs, "==": lhs == rhs}[op]


def _factor(rng, n, rank, null=None):
    """B with P = B B^T of the given rank and P d = 0 for the columns d of ``null``."""
    B = rng.standard_normal((n, rank))
    if null is not None:
        Q, _ = np.linalg.qr(null)
        B = B - Q @ (Q.T @ B)
    return B


def standard_form(rng, kind, qp, so=1.0, sc=1.0):
    """min c'x (+ |B'x|^2 / 2) s.t. A x = b, x >= 0."""
    m = int(rng.integers(5, 15))
    n = int(rng.integers(m + 5, 2 * m + 10))
    A = rng.standard_normal((m, n))
    x0 = np.where(rng.random(n) < 0.6, rng.uniform(0.2, 2.0, n), 0.0)
    B = None
    if kind == "infeasible":          # y with A'y >= 0 and b'y < 0 (Farkas)
        y = rng.standard_normal(m)
        t = np.maximum(-(A.T @ y), 0) + rng.uniform(0.0, 0.5, n) * (rng.random(n) < 0.5)
        A = A + np.outer(y, t) / (y @ y)
        b = A @ x0
        b = b - (b @ y + rng.uniform(0.05, 1.0) * np.linalg.norm(b)) * y / (y @ y)
        c = rng.standard_normal(n)
    elif kind == "unbounded":         # d >= 0 with A d = 0 and c'd < 0 (and B'd = 0)
        d = np.where(rng.random(n) < 0.5, rng.uniform(0.5, 1.5, n), 0.0)
        d[0] = 1.0
        A = A - np.outer(A @ d, d) / (d @ d)
        b = A @ x0
        c = A.T @ rng.standard_normal(m) + rng.uniform(0.1, 1.0, n)
        c = c - ((c @ d) + rng.uniform(0.1, 1.0) * np.linalg.norm(d)) * d / (d @ d)
        if qp:
            B = _factor(rng, n, max(1, n // 3), d[:, None])
    else:                             # x0 feasible, c - A'y > 0: bounded
        b = A @ x0
        c = A.T @ rng.standard_normal(m) + rng.uniform(0.1, 1.0, n)
    if qp and B is None:
        B = _factor(rng, n, max(1, n // 3))
    x = cp.Variable(n)
    f = c @ x + (0.5 * cp.sum_squares(B.T @ x) if qp else 0)
    return cp.Problem(cp.Minimize(_obj(f, so)), [_scaled(A @ x, b, sc, "=="), _scaled(x, 0, sc, ">=")])


def inequality_form(rng, kind, qp, so=1.0, sc=1.0, split=True):
    """min c'x (+ |B'x|^2 / 2) s.t. A1 x <= b1, A2 x <= b2 (two constraint terms; one
    when ``split`` is False)."""
    n = int(rng.integers(5, 20))
    m = int(rng.integers(n + 2, 2 * n + 5))
    A = rng.standard_normal((m, n))
    x0 = rng.standard_normal(n)
    B = None
    if kind == "infeasible":          # y >= 0 with A'y = 0 and b'y < 0
        k = int(rng.integers(2, min(m, n + 1) + 1))
        y = np.zeros(m)
        y[rng.choice(m, k, replace=False)] = rng.uniform(0.5, 1.5, k)
        A = A - np.outer(y, y @ A) / (y @ y)
        b = A @ x0 + rng.uniform(0.1, 1.0, m)
        b = b - (b @ y + rng.uniform(0.05, 1.0) * np.linalg.norm(b) * np.linalg.norm(y)) * y / (y @ y)
        c = rng.standard_normal(n)
    elif kind == "unbounded":         # A d <= 0, c'd < 0 (and B'd = 0)
        d = rng.standard_normal(n)
        ad = A @ d
        A = A - np.outer(ad - np.where(rng.random(m) < 0.5, -np.abs(ad), 0.0), d) / (d @ d)
        b = A @ x0 + rng.uniform(0.1, 1.0, m)
        c = -A.T @ np.where(rng.random(m) < 0.5, rng.uniform(0.5, 1.5, m), 0.0)
        c = c - ((c @ d) + rng.uniform(0.1, 1.0) * np.linalg.norm(c)) * d / (d @ d)
        if qp:
            B = _factor(rng, n, max(1, n // 2), d[:, None])
    else:
        b = A @ x0 + rng.uniform(0.1, 1.0, m)
        c = -A.T @ np.where(rng.random(m) < 0.5, rng.uniform(0.5, 1.5, m), 0.0)
    if qp and B is None:
        B = _factor(rng, n, max(1, n // 2))
    x = cp.Variable(n)
    f = c @ x + (0.5 * cp.sum_squares(B.T @ x) if qp else 0)
    h = m // 2 if split else m
    cons = [_scaled(A[:h] @ x, b[:h], sc, "<=")] + ([_scaled(A[h:] @ x, b[h:], sc, "<=")] if split else [])
    return cp.Problem(cp.Minimize(_obj(f, so)), cons)


def transport(rng, kind, so=1.0, sc=1.0):
    """A transport LP with forbidden pairs (P_ij = 0 as constraints); infeasible when a set
    of rows may only ship to columns whose demand is smaller (Hall's condition fails)."""
    n = int(rng.integers(4, 8))
    a = rng.uniform(0.5, 1.5, n)
    a /= a.sum()
    bm = rng.uniform(0.5, 1.5, n)
    bm /= bm.sum()
    allowed = rng.random((n, n)) < 0.7
    np.fill_diagonal(allowed, True)
    if kind == "infeasible":
        rows = rng.choice(n, max(2, n // 2), replace=False)
        cols = rng.choice(n, len(rows) - 1, replace=False)
        allowed[rows, :] = False
        allowed[np.ix_(rows, cols)] = True
        if a[rows].sum() - bm[cols].sum() <= 0.05:
            bm[cols] *= 0.5 * a[rows].sum() / bm[cols].sum()
            bm /= bm.sum()
    P = cp.Variable((n, n))
    cons = [_scaled(cp.sum(P, axis=1), a, sc, "=="), _scaled(cp.sum(P, axis=0), bm, sc, "=="),
            _scaled(P, 0, sc, ">=")]
    forbidden = np.argwhere(~allowed)
    if len(forbidden):
        cons.append(_scaled(cp.hstack([P[i, j] for i, j in forbidden]), 0, sc, "=="))
    C = rng.uniform(0, 1, (n, n))
    return cp.Problem(cp.Minimize(_obj(cp.sum(cp.multiply(C, P)), so)), cons)


GENERATORS = {
    "std-lp": lambda rng, kind, so, sc: standard_form(rng, kind, False, so, sc),
    "std-qp": lambda rng, kind, so, sc: standard_form(rng, kind, True, so, sc),
    "ineq-lp": lambda rng, kind, so, sc: inequality_form(rng, kind, False, so, sc),
    "ineq-qp": lambda rng, kind, so, sc: inequality_form(rng, kind, True, so, sc),
}


FAMILIES = ("std-lp", "std-qp", "ineq-lp", "ineq-qp", "transport")
KINDS = ("feasible", "infeasible", "unbounded")


def instance(family, kind, seed, so=1.0, sc=1.0):
    """The same instance (same data) at every scale."""
    rng = np.random.default_rng([seed, FAMILIES.index(family), KINDS.index(kind)])
    if family == "transport":
        return transport(rng, kind, so, sc)
    return GENERATORS[family](rng, kind, so, sc)


# --- independent checks of what the backend returns ---------------------------------------

def farkas_holds(program, dy, tol=1e-6):
    """dy proves infeasibility: every objective part zero, sum A_i^T dy_i = 0 relative to
    |A_i|^T |dy_i| (entrywise), and sum [sigma_i(dy_i) + <b_i, dy_i>] < 0."""
    norm = max(np.max(np.abs(d), initial=0.0) for d in dy)
    total = np.zeros(program.n)
    size = np.zeros(program.n)
    value = 0.0
    for t, d in zip(program.terms, dy):
        d = d / norm
        if not t.f.is_indicator:
            assert not np.any(d)
            continue
        A = abs(t.A.to_sparse())
        total += t.A.rmatvec(d)
        size += A.T @ np.abs(d)
        s = t.f.support(d)
        assert np.isfinite(s)
        value += s + t.b @ d
    return np.max(np.abs(total)) <= tol * np.max(size) and value < 0


def run_admm(prob, **extra):
    return run_raw("admm", prob, **extra)


def _status_of(raw):
    return {"converged": "optimal"}.get(raw.status, raw.status)


# --- the examples ------------------------------------------------------------------------

def test_infeasible_with_an_unbounded_direction_is_infeasible():
    x = cp.Variable(2)
    res = sl.Problem(cp.Minimize(x[0] + x[1]), [x[0] >= 1, x[0] <= 0]).solve(backend="admm")
    assert res.status is sl.Status.INFEASIBLE, res.message
    assert res.x is None


def test_tiny_infeasible_constraints_are_infeasible_never_optimal():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(0), [1e-7 * (x[0] + x[1]) >= 1e-7, 1e-7 * (x[0] + x[1]) <= 0])
    program, raw, res = run_admm(prob)
    assert raw.status == "infeasible" and farkas_holds(program, raw.ray)
    assert res.status is sl.Status.INFEASIBLE, res.message
    assert sl.Problem(prob.objective, prob.constraints).solve(backend="admm").status is sl.Status.INFEASIBLE


def test_tiny_objective_unbounded_below():
    x = cp.Variable(5)
    prob = cp.Problem(cp.Minimize(1e-7 * cp.sum(x)), [x <= 1])
    program, raw, res = run_admm(prob)
    assert raw.status == "unbounded"
    assert check_unboundedness(program, raw.ray) and primal_residual(program, raw.x) <= 1e-6
    assert res.status is sl.Status.UNBOUNDED, res.message
    assert res.objective == -np.inf


def test_tiny_objective_optimal_at_the_bounds():
    x = cp.Variable(5)
    lo = -np.arange(1.0, 6.0)
    res = sl.Problem(cp.Minimize(1e-8 * cp.sum(x)), [x >= lo]).solve(backend="admm", warm_start=False)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert np.allclose(x.value, lo, rtol=1e-6)
    assert res.objective == pytest.approx(-1.5e-7, rel=1e-6)
    unit = sl.Problem(cp.Minimize(cp.sum(x)), [x >= lo]).solve(backend="admm", warm_start=False)
    assert res.iterations <= 2 * unit.iterations + 20


def _covariance(rng, n, k, var):
    B = rng.standard_normal((n, k))
    S = (B * (var * np.linspace(1.0, 0.2, k))) @ B.T + np.diag(var * rng.uniform(0.5, 2.0, n))
    return 0.5 * (S + S.T)


def test_min_variance_portfolio_with_daily_covariance_matches_clarabel():
    rng = np.random.default_rng(0)
    n = 40
    Sigma = _covariance(rng, n, 5, 1e-4)          # daily returns: entries ~1e-4
    w = cp.Variable(n)
    cons = [cp.sum(w) == 1, w >= 0]
    # the reference: Clarabel on the same model in percent (entries ~1), where its
    # absolute tolerances are relative ones, rescaled back
    wp = cp.Variable(n)
    ref = 1e-4 * cp.Problem(cp.Minimize(cp.quad_form(wp, 1e4 * Sigma)), [cp.sum(wp) == 1, wp >= 0]).solve(
        solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    for so in (1.0, 1e-6, 1e6):
        res = sl.Problem(cp.Minimize(so * cp.quad_form(w, Sigma)), cons).solve(backend="admm", warm_start=False)
        assert res.status is sl.Status.OPTIMAL, (so, res.message)
        assert res.objective == pytest.approx(so * ref, rel=1e-6)


def test_scaling_does_not_change_the_iterations():
    counts = {}
    for so, sc in SCALES:
        prob = instance("std-lp", "feasible", 3, so, sc)
        _, raw, res = run_admm(prob)
        assert res.status is sl.Status.OPTIMAL, (so, sc, res.message)
        counts[(so, sc)] = raw.iterations
    base = counts[(1.0, 1.0)]
    assert all(abs(c - base) <= 0.25 * base + 20 for c in counts.values()), counts


def test_infeasible_transport_with_forbidden_pairs_is_detected():
    for seed in range(3):
        for so, sc in ((1.0, 1.0), (1e-6, 1e6)):
            prob = instance("transport", "infeasible", seed, so, sc)
            program, raw, res = run_admm(prob)
            assert raw.status == "infeasible" and farkas_holds(program, raw.ray), (seed, raw.status)
            assert res.status is sl.Status.INFEASIBLE, res.message
            assert raw.iterations < 2000


# --- random problems at three scales ------------------------------------------------------

def _sweep(kinds, families, seeds, scales):
    """Solve each instance at each scale; return rows (family, kind, seed, so, sc, raw
    status, engine status, iterations, seconds) after checking every claim."""
    rows = []
    for family in families:
        for kind in kinds:
            for seed in seeds:
                ref = instance(family, kind, seed)
                ref.solve(solver="CLARABEL")
                expected = {"feasible": "optimal", "infeasible": "infeasible", "unbounded": "unbounded"}[kind]
                # the construction holds. (Clarabel 0.11 ends a few of these after a step
                # failure with the same verdict at its reduced accuracy, '..._inaccurate':
                # the verdict is what confirms the construction; ours is compared with it)
                ref_status = ref.status.removesuffix("_inaccurate")
                assert ref_status == expected, (family, kind, seed, ref.status)
                for so, sc in scales:
                    prob = instance(family, kind, seed, so, sc)
                    t = time.perf_counter()
                    program, raw, res = run_admm(prob)
                    dt = time.perf_counter() - t
                    got = _status_of(raw)
                    # no wrong claim, and every claim rechecked here
                    if got in ("optimal", "infeasible", "unbounded"):
                        assert got == ref_status, (family, kind, seed, so, sc, got)
                    if raw.status == "infeasible":
                        assert raw.x is None and farkas_holds(program, raw.ray)
                    if raw.status == "unbounded":
                        assert check_unboundedness(program, raw.ray)
                        assert primal_residual(program, raw.x) <= 1e-6
                    rows.append((family, kind, seed, so, sc, got, res.status.value, raw.iterations, dt))
    return rows


def test_random_infeasible_and_unbounded_are_detected_at_every_scale():
    rows = _sweep(("infeasible", "unbounded"), ("std-lp", "std-qp", "ineq-lp", "ineq-qp"), range(2), SCALES[:5])
    detected = [r for r in rows if r[5] == r[1]]
    assert len(detected) == len(rows), [r for r in rows if r[5] != r[1]]
    # the engine agrees (its certificate rechecks the ray, and the point for 'unbounded')
    assert all(r[6] == r[1] for r in rows), [r for r in rows if r[6] != r[1]]
    assert np.mean([r[8] for r in rows]) < 0.5


def test_random_feasible_problems_are_never_claimed_infeasible_or_unbounded():
    families = ("std-lp", "std-qp", "ineq-lp", "ineq-qp", "transport")
    rows = _sweep(("feasible",), families, range(2), [(1.0, 1.0), (1e-6, 1e6), (1e6, 1e-6)])
    assert all(r[5] == "optimal" for r in rows), [r for r in rows if r[5] != "optimal"]
    # about the same iterations at every scale (the iterates agree up to rounding, which
    # an LP's tail can amplify into a few more checks)
    for family in families:
        for seed in range(2):
            its = [r[7] for r in rows if r[0] == family and r[2] == seed]
            assert max(its) <= 2 * min(its) + 20, (family, seed, its)


@pytest.mark.xfail(reason="ir.certificate.check_primal_infeasibility measures sum_i A_i^T dy_i against "
                          "its largest part, which is the sum itself when a single constraint term "
                          "carries the ray (A x <= b alone): the ratio is 1 for every ray", strict=False)
def test_single_constraint_term_infeasible_is_certified_by_the_engine():
    prob = inequality_form(np.random.default_rng(0), "infeasible", False, split=False)
    program, raw, res = run_admm(prob)
    assert raw.status == "infeasible" and farkas_holds(program, raw.ray)
    assert res.status is sl.Status.INFEASIBLE, res.message


def test_unbounded_point_is_feasible_and_infeasible_wins_over_a_ray():
    # a ray of descent exists in both; only the first has a feasible point
    x = cp.Variable(3)
    program, raw, res = run_admm(cp.Problem(cp.Minimize(x[0] - x[1]), [x[0] + x[1] >= 1, x[2] == 2, x[0] <= 5]))
    assert raw.status == "unbounded" and primal_residual(program, raw.x) <= 1e-6
    assert res.status is sl.Status.UNBOUNDED
    program, raw, res = run_admm(cp.Problem(cp.Minimize(x[0] - x[1]), [x[0] + x[1] >= 1, x[2] == 2, x[2] <= 1]))
    assert raw.status == "infeasible" and res.status is sl.Status.INFEASIBLE


# --- options ------------------------------------------------------------------------------

@pytest.mark.parametrize("opts,name", [
    ({"rho": 0}, "rho"), ({"rho": float("nan")}, "rho"), ({"rho": True}, "rho"), ({"rho": float("inf")}, "rho"),
    ({"sigma": -1e-6}, "sigma"), ({"sigma": False}, "sigma"), ({"alpha": 0.0}, "alpha"),
    ({"alpha": float("nan")}, "alpha"), ({"alpha": True}, "alpha"), ({"eq_rho_scale": 0}, "eq_rho_scale"),
    ({"max_rho_updates": -1}, "max_rho_updates"), ({"max_rho_updates": 2.5}, "max_rho_updates"),
    ({"max_rho_updates": True}, "max_rho_updates"), ({"anderson": -3}, "anderson"),
    ({"anderson": float("nan")}, "anderson"), ({"adaptive_rho": 1}, "adaptive_rho"),
    ({"scaling": "yes"}, "scaling"), ({"system": 3}, "system")])
def test_bad_options_are_refused_naming_the_option_and_backend(opts, name):
    x = cp.Variable(3)
    with pytest.raises(sl.InvalidDataError, match=f"admm.*{name}"):
        sl.Problem(cp.Minimize(cp.sum_squares(x - 1)), [x >= 0]).solve(backend="admm", **opts)
