"""FISTA: unbounded problems end 'unbounded' (a checked ray and a feasible point) instead
of running off to -1e19, bounded ones are never claimed so, and options are validated.

Random Composite problems (a quadratic plus a linear smooth part, l1 on some
coordinates, bounds) are unbounded by construction (a direction in the quadratic's null
space, in the bounds' recession cone, off the l1 coordinates, of negative cost) or bounded
(a positive definite quadratic); CVXPY+Clarabel gives the reference status.
"""
import time

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.ir.certificate import check_unboundedness, primal_residual

from raw_runs import run_raw


def run_fista(prob, **extra):
    return run_raw("fista", prob, **extra)


def _unbounded_claim_holds(program, raw):
    return (raw.status == "unbounded" and check_unboundedness(program, raw.ray)
            and raw.x is not None and primal_residual(program, raw.x) <= 1e-6)


@pytest.mark.parametrize("case", ["free", "tiny", "huge", "bounds", "null space", "l1 and a free variable"])
def test_unbounded_problems_stop_early_with_a_ray(case):
    x = cp.Variable(5)
    obj, cons = {
        "free": (cp.sum(x), []),
        "tiny": (1e-7 * cp.sum(x), [x <= 1]),
        "huge": (1e6 * cp.sum(x), [x <= 1]),
        "bounds": (x[0] - 2 * x[1], [x >= -1, x[:1] <= 3]),
        "null space": (cp.sum_squares(x[:3] - 1) + x[4], []),
        "l1 and a free variable": (cp.norm1(x[:2]) - x[3], [x >= -2]),
    }[case]
    program, raw, res = run_fista(cp.Problem(cp.Minimize(obj), cons))
    assert _unbounded_claim_holds(program, raw), (raw.status, raw.message)
    assert raw.iterations <= 1000
    assert res.status is sl.Status.UNBOUNDED and res.objective == -np.inf
    assert np.all(np.abs(raw.x) < 1e12)


def test_engine_reports_unbounded_through_solve():
    x = cp.Variable(4)
    t = time.perf_counter()
    res = sl.Problem(cp.Minimize(cp.sum(x))).solve(backend="fista")
    assert res.status is sl.Status.UNBOUNDED
    assert res.iterations < 100 and time.perf_counter() - t < 5


@pytest.mark.parametrize("case", ["logistic", "huber with a bound", "lasso", "tiny objective at the bounds"])
def test_bounded_problems_are_not_claimed_unbounded(case):
    rng = np.random.default_rng(1)
    A, b = rng.standard_normal((30, 8)), rng.standard_normal(30)
    x = cp.Variable(8)
    obj, cons = {
        "logistic": (cp.sum(cp.logistic(x)), []),                    # bounded below, not attained
        "huber with a bound": (cp.sum(cp.huber(x[:4])) + x[5], [x[5] >= -5]),
        "lasso": (cp.sum_squares(A @ x - b) + cp.norm1(x), []),
        "tiny objective at the bounds": (1e-8 * cp.sum(x), [x >= -np.arange(1.0, 9.0)]),
    }[case]
    program, raw, res = run_fista(cp.Problem(cp.Minimize(obj), cons))
    assert raw.status != "unbounded"
    if case != "logistic":
        assert res.status is sl.Status.OPTIMAL, res.message
    if case == "tiny objective at the bounds":
        assert np.allclose(raw.x, -np.arange(1.0, 9.0), rtol=1e-6)
        assert res.objective == pytest.approx(-3.6e-7, rel=1e-6)


def composite(rng, kind, so=1.0, sc=1.0):
    """min so * (|B'x|^2 / 2 + c'x + lam |x_L|_1) s.t. -1 <= x_K <= 1, x_G >= -1."""
    n = int(rng.integers(6, 20))
    perm = rng.permutation(n)
    K, G, F = np.sort(perm[: n // 3]), np.sort(perm[n // 3: 2 * n // 3]), np.sort(perm[2 * n // 3:])
    L = K[: max(1, len(K) // 2)]
    if kind == "unbounded":
        d = np.zeros(n)
        d[G] = rng.uniform(0.0, 1.0, len(G)) * (rng.random(len(G)) < 0.6)
        d[F] = rng.standard_normal(len(F))
        Q, _ = np.linalg.qr(d[:, None])
        B = rng.standard_normal((n, n - 1))
        B = B - Q @ (Q.T @ B)
        c = rng.standard_normal(n)
        c = c - ((c @ d) + rng.uniform(0.1, 1.0) * np.linalg.norm(c) * np.linalg.norm(d)) * d / (d @ d)
    else:
        B = rng.standard_normal((n, n)) + np.sqrt(n) * np.eye(n)
        c = rng.standard_normal(n)
    x = cp.Variable(n)
    f = 0.5 * cp.sum_squares(B.T @ x) + c @ x + 0.3 * cp.norm1(x[L])
    cons = [sc * x[K] >= -sc, sc * x[K] <= sc, sc * x[G] >= -sc] if sc != 1.0 else [x[K] >= -1, x[K] <= 1, x[G] >= -1]
    return cp.Problem(cp.Minimize(f if so == 1.0 else so * f), cons)


def test_random_composite_problems_at_three_scales():
    rows = []
    for kind in ("unbounded", "bounded"):
        for seed in range(4):
            ref = composite(np.random.default_rng([seed, kind == "bounded"]), kind)
            ref.solve(solver="CLARABEL")
            assert ref.status == ("unbounded" if kind == "unbounded" else "optimal"), (kind, seed, ref.status)
            for so, sc in ((1.0, 1.0), (1e-6, 1.0), (1e6, 1.0), (1e-6, 1e6)):
                prob = composite(np.random.default_rng([seed, kind == "bounded"]), kind, so, sc)
                t = time.perf_counter()
                program, raw, res = run_fista(prob)
                rows.append((kind, seed, so, sc, raw.status, res.status.value, raw.iterations,
                             time.perf_counter() - t))
                if kind == "unbounded":
                    assert _unbounded_claim_holds(program, raw), rows[-1]
                    assert res.status is sl.Status.UNBOUNDED
                else:
                    assert raw.status == "converged" and res.status is sl.Status.OPTIMAL, rows[-1]
    # detection is quick at every scale
    assert max(r[6] for r in rows if r[0] == "unbounded") <= 2000, rows


# --- options ------------------------------------------------------------------------------

@pytest.mark.parametrize("opts,name", [
    ({"L0_factor": 0}, "L0_factor"), ({"L0_factor": -2.0}, "L0_factor"), ({"L0_factor": float("nan")}, "L0_factor"),
    ({"L0_factor": True}, "L0_factor"), ({"L0_factor": float("inf")}, "L0_factor"), ({"L0_factor": "10"}, "L0_factor"),
    ({"L_decrease": 0.0}, "L_decrease"), ({"L_decrease": 1.5}, "L_decrease"), ({"L_decrease": False}, "L_decrease"),
    ({"check_factor": -1}, "check_factor"), ({"check_factor": float("nan")}, "check_factor"),
    ({"restart": 1}, "restart"), ({"restart": "sometimes"}, "restart")])
def test_bad_options_are_refused_naming_the_option_and_backend(opts, name):
    x = cp.Variable(3)
    with pytest.raises(sl.InvalidDataError, match=f"fista.*{name}"):
        sl.Problem(cp.Minimize(cp.sum_squares(x - 1) + cp.norm1(x))).solve(backend="fista", **opts)


def test_objective_scale_does_not_change_the_iterations():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((40, 15)), rng.standard_normal(40)
    x = cp.Variable(15)
    models = [lambda s: (cp.Minimize(s * (cp.sum_squares(A @ x - b) + cp.norm1(x))), []),
              lambda s: (cp.Minimize(s * cp.sum(x)), [x >= -np.arange(1.0, 16.0)]),      # no curvature
              lambda s: (cp.Minimize(s * (cp.sum_squares(x[:10] - 1) + x[12])), [x[12] <= 3])]
    for model in models:
        runs = [run_fista(cp.Problem(*model(s)))[1] for s in (1e-6, 1.0, 1e6)]
        assert len({r.status for r in runs}) == 1 and runs[0].status in ("converged", "unbounded")
        its = [r.iterations for r in runs]
        assert max(its) <= 1.25 * min(its) + 10, its
