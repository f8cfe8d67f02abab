"""The smooth-NLP family and its backends (sketched_newton, sqp).

Hand-written problems (tests/families/nlp_cases.py: Hock-Schittkowski 6, 7, 27, 28, 39,
40, 48, 51, 79 and CUTEst BT1, optima as published) at objective scales 1e-6, 1, 1e6,
against the literature value and scipy's SLSQP on the same instance; the certificate is
recomputed here from the case's own functions. Then the status contract, the sketch
solvers, bad inputs, missing derivatives, check_derivatives and the CUTEst path.
"""
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

import solvelab as sl
from solvelab.errors import InvalidDataError, MissingDependencyError, ShapeError
from solvelab.problems.nlp import NLP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nlp_cases import CASES, arrays, build  # noqa: E402

BACKENDS = ("sketched_newton", "sqp")
SCALES = (1e-6, 1.0, 1e6)
TOL = 1e-8


def recheck(case, scale, x, lam) -> float:
    """stationarity and feasibility from the case's functions (not the node's)."""
    a = arrays(case, scale)
    g, c, J = a["grad"](x), a["eq"](x), a["jac"](x)
    JTl = J.T @ lam
    g0 = np.max(np.abs(a["grad"](a["x0"])))
    stat = np.max(np.abs(g + JTl)) / max(np.max(np.abs(g)), np.max(np.abs(JTl)), g0)
    c0 = np.max(np.abs(a["eq"](a["x0"])))
    feas = np.max(np.abs(c)) / max(c0, np.abs(J).sum(axis=1).max() * np.max(np.abs(x)))
    return max(stat, feas)


def slsqp(case, scale) -> float:
    a = arrays(case, scale)
    res = minimize(a["objective"], a["x0"], jac=a["grad"], method="SLSQP",
                   constraints=[{"type": "eq", "fun": a["eq"], "jac": a["jac"]}],
                   options={"ftol": 1e-14 * scale, "maxiter": 500})
    return float(res.fun), np.asarray(res.x)


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"{s:g}")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_hand_written_problems(name, backend, scale):
    case = CASES[name]
    res = build(name, scale).solve(backend=backend, tol=TOL)
    assert res.status is sl.Status.OPTIMAL, (res.status, res.message)
    assert recheck(case, scale, res.x, np.asarray(res.duals)) <= TOL
    fstar = scale * case["fstar"]
    ref, xs = slsqp(case, scale)
    den = abs(fstar) if fstar else scale
    assert abs(res.objective - fstar) <= 1e-6 * den
    # SLSQP agrees on the same instance (its points miss c = 0 by up to 1e-5), or it stopped
    # at a worse stationary point: HS40 at scale 1e6, x = (0, 1, 0, -1), f = 0 > f* = -2.5e5
    assert abs(res.objective - ref) <= 1e-4 * den or res.objective < ref - 1e-4 * den


def test_trust_constr_agrees_on_hs40():
    a = arrays(CASES["HS40"])
    ref = minimize(a["objective"], a["x0"], jac=a["grad"], method="trust-constr",
                   hess=lambda x: CASES["HS40"]["H"](x),
                   constraints=[__import__("scipy.optimize", fromlist=["NonlinearConstraint"]).NonlinearConstraint(
                       a["eq"], 0.0, 0.0, jac=a["jac"])], options={"gtol": 1e-10, "xtol": 1e-12})
    res = build("HS40").solve(backend="sketched_newton", tol=TOL)
    assert res.objective == pytest.approx(ref.fun, rel=1e-6)


def test_certificate_is_scale_invariant_in_the_constraints():
    a = arrays(CASES["HS7"])
    x = a["x0"] + 0.3
    base = build("HS7").program.certify(x, None).as_dict()
    for t in (1e-6, 1e6):
        p = NLP(a["objective"], a["x0"], eq=lambda z, t=t: t * a["eq"](z), grad=a["grad"],
                jac=lambda z, t=t: t * a["jac"](z), hess=lambda z, l, t=t: a["hess"](z, t * l))
        for k, v in p.program.certify(x, None).as_dict().items():
            assert v == pytest.approx(base[k], rel=1e-9)


def _quartic(n=120, m=12, sparse=False):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, n))
    a, b = rng.standard_normal(n), A @ rng.standard_normal(n)
    jac = (lambda x: sp.csr_matrix(A)) if sparse else (lambda x: A)
    hess = (lambda x, l: sp.diags(1 + 3 * x ** 2)) if sparse else (lambda x, l: np.diag(1 + 3 * x ** 2))
    return NLP(lambda x: 0.5 * np.sum((x - a) ** 2) + 0.25 * np.sum(x ** 4), np.zeros(n), eq=lambda x: A @ x - b,
               grad=lambda x: x - a + x ** 3, jac=jac, hess=hess)


@pytest.mark.parametrize("kind", ("block_kaczmarz", "gaussian", "countsketch"))
def test_sketched_steps_reach_the_certificate(kind):
    res = _quartic().solve(backend="sketched_newton", tol=TOL, direct_below=0, sketch=kind, seed=1)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.info["sketch_solves"] > 0 and res.info["sketch_iterations"] > 0
    assert "sketch" in res.info["linear_solver"]


def test_small_problems_use_the_direct_fallback_and_say_why():
    res = build("HS6").solve(backend="sketched_newton")
    assert "would not pay" in res.info["linear_solver"] and res.info["sketch_solves"] == 0


def test_sparse_jacobian_and_hessian():
    res = _quartic(sparse=True).solve(backend="sketched_newton", tol=TOL)
    ref = _quartic().solve(backend="sqp", tol=TOL)
    assert res.status is sl.Status.OPTIMAL and ref.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(ref.objective, rel=1e-9)


def test_hvp_only_is_enough():
    a = arrays(CASES["HS79"])
    hess = a.pop("hess")
    p = NLP(a.pop("objective"), a.pop("x0"), hvp=lambda x, l, v: hess(x, l) @ v, **a)
    assert p.solve(backend="sketched_newton", tol=TOL).status is sl.Status.OPTIMAL


@pytest.mark.parametrize("backend", BACKENDS)
def test_status_contract(backend):
    prob = build("HS7")
    assert prob.solve(backend=backend, max_iter=2, warm_start=False).status is sl.Status.MAX_ITER
    assert prob.solve(backend=backend, time_limit=1e-9, warm_start=False).status is sl.Status.TIME_LIMIT
    seen = []
    res = prob.solve(backend=backend, warm_start=False, callback=lambda info: seen.append(info) or len(seen) >= 2)
    assert res.status is sl.Status.INACCURATE and "callback" in res.message and "x" in seen[0]
    first = prob.solve(backend=backend, tol=TOL, warm_start=False)
    again = prob.solve(backend=backend, tol=TOL)
    assert first.status is again.status is sl.Status.OPTIMAL
    assert again.iterations == 0 and again.info["warm_start"]
    assert again.info["lifecycle"]["setups"] == 1


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_locally_infeasible_is_a_rechecked_local_verdict(scale):
    """x1^2 + 1 = 0 has no real solution: both backends end at a stationary point of |c|^2
    (x1 = 0), reported locally_infeasible with the recheck's figures, never optimal and
    never 'infeasible' (a global claim); the constraint's scale changes nothing."""
    p = NLP(lambda x: x @ x, [1.0, 0.5], eq=lambda x: scale * np.array([x[0] ** 2 + 1.0]), grad=lambda x: 2 * x,
            jac=lambda x: scale * np.array([[2 * x[0], 0.0]]),
            hess=lambda x, l: np.diag([2 + 2 * scale * l[0], 2.0]))
    for backend in BACKENDS:
        res = p.solve(backend=backend)
        assert res.status is sl.Status.LOCALLY_INFEASIBLE, (backend, res.status, res.message)
        assert "rechecked" in res.message and "not a certificate" in res.message
        assert abs(res.x[0]) < 1e-3 and not res.certificate.meets(1e-6)
        ok, _ = p.program.check_local_infeasibility(res.x, 1e-6)
        assert ok


def test_a_false_locally_infeasible_claim_is_refuted():
    """At a feasible point, or one where J^T c is far from 0, the recheck says no."""
    p = NLP(lambda x: x @ x, [1.0, 0.5], eq=lambda x: np.array([x[0] - 1.0]), grad=lambda x: 2 * x,
            jac=lambda x: np.array([[1.0, 0.0]]), hess=lambda x, l: 2 * np.eye(2))
    assert not p.program.check_local_infeasibility(np.array([1.0, 0.0]), 1e-6)[0]    # feasible
    assert not p.program.check_local_infeasibility(np.array([3.0, 0.0]), 1e-6)[0]    # J^T c = 2 != 0


def test_missing_derivatives_are_named():
    a = arrays(CASES["HS6"])
    with pytest.raises(InvalidDataError, match="missing derivative: grad.*from_jax"):
        NLP(a["objective"], a["x0"], eq=a["eq"], jac=a["jac"], hess=a["hess"])
    with pytest.raises(InvalidDataError, match="missing derivative: jac"):
        NLP(a["objective"], a["x0"], eq=a["eq"], grad=a["grad"], hess=a["hess"])
    with pytest.raises(InvalidDataError, match="missing derivative: hess or hvp"):
        NLP(a["objective"], a["x0"], eq=a["eq"], grad=a["grad"], jac=a["jac"])


def test_bad_inputs():
    a = arrays(CASES["HS6"])
    kw = dict(eq=a["eq"], grad=a["grad"], jac=a["jac"], hess=a["hess"])
    with pytest.raises(ShapeError, match="x0"):
        NLP(a["objective"], np.ones((2, 1)), **kw)
    with pytest.raises(InvalidDataError, match="objective is nan"):
        NLP(lambda x: np.nan, a["x0"], **kw)
    with pytest.raises(InvalidDataError, match="eq .* NaN"):
        NLP(a["objective"], a["x0"], **dict(kw, eq=lambda x: np.array([np.nan])))
    with pytest.raises(ShapeError, match=r"jac must return a matrix of shape \(1, 2\)"):
        NLP(a["objective"], a["x0"], **dict(kw, jac=lambda x: np.ones((2, 2))))
    with pytest.raises(InvalidDataError, match="inequalit"):
        NLP(a["objective"], a["x0"], inequality=(a["eq"], a["jac"]), grad=a["grad"], hess=a["hess"])


def test_bounds_are_refused_by_sketched_newton():
    a = arrays(CASES["HS6"])
    p = NLP(a.pop("objective"), a.pop("x0"), bounds=(-5.0, 5.0), **a)
    with pytest.raises(sl.BackendRefusedError, match="bounds"):
        p.solve(backend="sketched_newton")


def test_check_derivatives_catches_a_wrong_gradient():
    a = arrays(CASES["HS79"])
    x = a["x0"] + 0.1
    good = NLP.check_derivatives(a["objective"], x, grad=a["grad"], c=a["eq"], jac=a["jac"], hess=a["hess"])
    assert max(good.values()) < 1e-6
    wrong = lambda z: a["grad"](z) * np.array([1.01, 1, 1, 1, 1])  # noqa: E731
    bad = NLP.check_derivatives(a["objective"], x, grad=wrong)
    assert bad["grad"] > 1e-3


def test_from_jax_needs_jax():
    if importlib.util.find_spec("jax") is None:
        with pytest.raises(MissingDependencyError, match="pip install jax"):
            NLP.from_jax(lambda x: x @ x, None, np.ones(2))
        return
    import jax.numpy as jnp
    p = NLP.from_jax(lambda x: (1 - x[0]) ** 2, lambda x: jnp.array([10 * (x[1] - x[0] ** 2)]), np.array([-1.2, 1.0]))
    assert p.solve(backend="sketched_newton", tol=TOL).status is sl.Status.OPTIMAL


def test_cutest_path():
    from solvelab.bench import cutest
    why = cutest.unavailable()
    if why:
        pytest.skip(f"CUTEst path not run: {why}")
    f = cutest.load_nlp("HS6")   # the export cache when there, else sif2jax (slow first import)
    p = NLP(objective=f.f, x0=f.x0, gradient=f.grad, equality=(f.c_eq, f.jac_eq), lower=f.lo, upper=f.hi,
            hvp="fd")
    res = p.solve(backend="sketched_newton", tol=1e-6)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(f.expected_objective or 0.0, abs=1e-8)


def test_cutest_loader_keywords_and_fd_hessian_products():
    # the keywords solvelab.bench.suites.cutest passes, with hvp='fd' (explicit opt-in)
    a = arrays(CASES["HS40"])
    p = NLP(objective=a["objective"], x0=a["x0"], gradient=a["grad"], equality=(a["eq"], a["jac"]),
            lower=np.full(4, -np.inf), upper=np.full(4, np.inf), hvp="fd")
    res = p.solve(backend="sketched_newton", tol=TOL)
    assert res.status is sl.Status.OPTIMAL and res.objective == pytest.approx(-0.25, rel=1e-8)
