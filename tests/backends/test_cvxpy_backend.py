"""The CVXPY + Clarabel reference backend.

Programs are built directly in the IR with ``program.source`` set to the matching
cvxpy.Problem (what the compiler does), and ``VariableInfo.key`` set to the CVXPY
variable ids.
"""
import cvxpy as cp
import numpy as np
import pytest

from solvelab.backends import registry
from solvelab.backends.base import SolveOptions
from solvelab.backends.cvxpy_backend import CvxpyBackend
from solvelab.engine import finish
from solvelab.errors import BackendRefusedError
from solvelab.ir import functions as F
from solvelab.ir.certificate import certify, recover_duals
from solvelab.ir.forms import ProxAffine
from solvelab.ir.linop import BlockRowOperator, GatherOperator, IdentityOperator, MatrixOperator
from solvelab.ir.program import Program, Term, VariableInfo
from solvelab.result import Status

BACKEND = CvxpyBackend()


def _mat(A, n, offset=0):
    return BlockRowOperator([(offset, MatrixOperator(A))], n)


def _eye(n, offset=0, total=None):
    return BlockRowOperator([(offset, IdentityOperator(n))], total or n)


def _data(seed, m, n):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ np.where(rng.random(n) < 0.3, rng.standard_normal(n), 0.0) + 0.5 * rng.standard_normal(m)
    return A, b, rng


def lasso(seed=1, m=80, n=50):
    A, b, _ = _data(seed, m, n)
    lam = 0.2 * np.max(np.abs(A.T @ b))
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * cp.norm1(x)))
    prog = Program([VariableInfo("x", (n,), 0, n, key=x.id)],
                   [Term(F.SumSquares(), _mat(A, n), b, weight=0.5),
                    Term(F.L1Norm(), _eye(n), np.zeros(n), weight=lam)], source=prob)
    return prog, prob


def nnls(seed=2, m=80, n=50):
    A, b, _ = _data(seed, m, n)
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x >= 0])
    prog = Program([VariableInfo("x", (n,), 0, n, key=x.id)],
                   [Term(F.SumSquares(), _mat(A, n), b),
                    Term(F.NonNeg(), _eye(n), np.zeros(n), role="constraint")], source=prob)
    return prog, prob


def box_qp(seed=3, m=80, n=50):
    A, b, rng = _data(seed, m, n)
    lo, hi = -0.1 - 0.2 * rng.random(n), 0.1 + 0.2 * rng.random(n)
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x >= lo, x <= hi])
    prog = Program([VariableInfo("x", (n,), 0, n, key=x.id)],
                   [Term(F.SumSquares(), _mat(A, n), b),
                    Term(F.Box(lo, hi), _eye(n), np.zeros(n), role="constraint")], source=prob)
    return prog, prob


CASES = {"lasso": lasso, "nnls": nnls, "box_qp": box_qp}


def _solve(prog, **kw):
    view = ProxAffine.match(prog)
    assert view, getattr(view, "reason", "")
    ws = kw.pop("workspace", None)
    return BACKEND.run(view, SolveOptions(**kw), ws)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_solution_certifies_with_recovered_duals(name, seed):
    prog, prob = CASES[name](seed=seed)
    raw = _solve(prog)
    assert raw.status == "converged", raw.message
    assert raw.duals is None  # the engine recovers them
    cert = certify(prog, raw.x, recover_duals(prog, raw.x))
    assert cert.value <= 1e-6, str(cert)
    # the objective is CVXPY's (to the solver's accuracy)
    assert prog.objective(raw.x) == pytest.approx(prob.value, rel=1e-8, abs=1e-8)
    res = finish(prog, raw, "cvxpy", 1e-6)
    assert res.status is Status.OPTIMAL, res.message


def test_snapping_moves_only_near_kink_entries():
    prog, prob = lasso(seed=1)
    # Clarabel at looser tolerances than the backend's own, so its point needs the snap
    loose = {"polish": False, "tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8}
    raw = _solve(prog, extra=loose)
    raw_plain = _solve(prog, extra={**loose, "no_snap": True})
    assert raw_plain.info.get("snap") is None and "snap" not in raw_plain.info
    # (two Clarabel solves agree to rounding; snapped entries differ by far more)
    changed = ~np.isclose(raw.x, raw_plain.x, rtol=1e-8, atol=0.0)
    assert changed.sum() >= 1
    # the moved entries were already tiny and are now exactly zero
    assert np.all(raw.x[changed] == 0.0)
    assert np.max(np.abs(raw_plain.x[changed]), initial=0.0) <= 1e-5
    # sparse solution: exact zeros exist after snapping
    assert np.sum(raw.x == 0.0) >= 5


def test_matrix_and_two_variables_map_back_in_F_order():
    rng = np.random.default_rng(5)
    X = cp.Variable((3, 4))
    w = cp.Variable(2)
    C = rng.standard_normal((3, 4))
    prob = cp.Problem(cp.Minimize(cp.sum_squares(X - C) + cp.sum_squares(w - np.array([1.0, -2.0]))),
                      [X >= 0, w <= 0])
    n = 14
    prog = Program([VariableInfo("w", (2,), 0, 2, key=w.id), VariableInfo("X", (3, 4), 2, 12, key=X.id)],
                   [Term(F.SumSquares(), _eye(12, 2, n), C.ravel(order="F")),
                    Term(F.SumSquares(), _eye(2, 0, n), np.array([1.0, -2.0])),
                    Term(F.NonNeg(), _eye(12, 2, n), np.zeros(12), role="constraint"),
                    Term(F.NonPos(), _eye(2, 0, n), np.zeros(2), role="constraint")], source=prob)
    raw = _solve(prog)
    assert raw.status == "converged"
    np.testing.assert_allclose(raw.x[2:].reshape(3, 4, order="F"), np.maximum(C, 0), atol=1e-7)
    np.testing.assert_allclose(raw.x[:2], [0.0, -2.0], atol=1e-7)
    assert finish(prog, raw, "cvxpy", 1e-6).status is Status.OPTIMAL


def test_group_lasso_and_logistic_cross_check():
    A, b, rng = _data(7, 60, 20)
    y = np.sign(b + 0.1)
    groups = [np.arange(0, 5), np.arange(5, 12), np.arange(12, 20)]
    x = cp.Variable(20)
    obj = cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / 60 + 0.05 * sum(cp.norm(x[g], 2) for g in groups)
    prob = cp.Problem(cp.Minimize(obj))
    terms = [Term(F.Logistic(), _mat(-y[:, None] * A, 20), np.zeros(60), weight=1 / 60)]
    terms += [Term(F.L2Norm(), BlockRowOperator([(0, GatherOperator(g, 20))], 20), np.zeros(g.size), weight=0.05)
              for g in groups]
    prog = Program([VariableInfo("x", (20,), 0, 20, key=x.id)], terms, source=prob)
    raw = _solve(prog)
    assert raw.status == "converged"
    assert prog.objective(raw.x) == pytest.approx(prob.value, rel=1e-7)
    # interior-point x is only ~sqrt(gap) accurate on cone problems: the polish repairs it
    cert = certify(prog, raw.x, raw.duals)
    assert cert.value <= 1e-6, str(cert)
    assert finish(prog, raw, "cvxpy", 1e-6).status is Status.OPTIMAL


def test_polish_is_off_by_default():
    x = cp.Variable(3)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - 1) + cp.norm(x, 2)))
    terms = [Term(F.SumSquares(), _mat(np.eye(3), 3), np.ones(3)),
             Term(F.L2Norm(), _mat(np.eye(3), 3), np.zeros(3))]
    prog = Program([VariableInfo("x", (3,), 0, 3, key=x.id)], terms, source=prob)
    assert "polished" not in _solve(prog).info


def test_polish_repairs_interior_point_accuracy_on_cone_problems():
    # the conformance suite's group lasso: Clarabel's x is ~sqrt(gap) accurate (KKT ~1e-5)
    rng = np.random.default_rng(0)
    m, n, g = 30, 12, 4
    A, b = rng.standard_normal((m, n)), rng.standard_normal(m)
    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b)
                                  + 1.5 * sum(cp.norm(x[i:i + g], 2) for i in range(0, n, g))))
    terms = [Term(F.SumSquares(), _mat(A, n), b, weight=0.5)]
    terms += [Term(F.L2Norm(), BlockRowOperator([(0, GatherOperator(np.arange(i, i + g), n))], n), np.zeros(g),
                   weight=1.5) for i in range(0, n, g)]
    prog = Program([VariableInfo("x", (n,), 0, n, key=x.id)], terms, source=prob)
    plain = _solve(prog, extra={"polish": False})
    assert "polished" not in plain.info
    plain_cert = certify(prog, plain.x, None).value
    raw = _solve(prog, extra={"polish": True})  # opt-in: the default keeps a pure CVXPY answer
    cert = certify(prog, raw.x, raw.duals)
    assert cert.value <= 1e-6, str(cert)
    if plain_cert > 1e-6:
        assert raw.info["polished"] is True and raw.info["certificate_before_polish"] > 1e-6
    # the polish moves the objective by no more than the solver's own accuracy
    assert prog.objective(raw.x) <= prog.objective(plain.x) + 1e-9
    assert prog.objective(raw.x) == pytest.approx(prog.objective(plain.x), rel=1e-7)


def test_infeasible_is_trusted_without_ray():
    x = cp.Variable(3)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x)), [x >= 1, x <= -1])
    prog = Program([VariableInfo("x", (3,), 0, 3, key=x.id)],
                   [Term(F.SumSquares(), _eye(3), np.zeros(3)),
                    Term(F.NonNeg(), _eye(3), np.ones(3), role="constraint"),
                    Term(F.NonPos(), _eye(3), -np.ones(3), role="constraint")], source=prob)
    raw = _solve(prog)
    assert raw.status == "infeasible"
    assert raw.ray is None and raw.info["trusted_status"] is True and raw.x is None
    res = finish(prog, raw, "cvxpy", 1e-6)
    assert res.status is Status.INFEASIBLE
    assert "cvxpy" in res.message.lower() or "reference" in res.message.lower()


def test_unbounded_is_trusted_without_ray():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(x[0] + x[1]), [x <= 1])
    prog = Program([VariableInfo("x", (2,), 0, 2, key=x.id)],
                   [Term(F.Linear(np.ones(2)), _eye(2), np.zeros(2)),
                    Term(F.NonPos(), _eye(2), np.ones(2), role="constraint")], source=prob)
    raw = _solve(prog)
    assert raw.status == "unbounded" and raw.info["trusted_status"] is True
    assert finish(prog, raw, "cvxpy", 1e-6).status is Status.UNBOUNDED


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_iteration_limit_maps_to_max_iter():
    prog, _ = lasso(seed=4)
    raw = _solve(prog, max_iter=2)
    assert raw.info["cvxpy_status"] == "user_limit"
    assert raw.status == "max_iter"
    assert raw.iterations == 2
    assert finish(prog, raw, "cvxpy", 1e-6).status is not Status.OPTIMAL


def test_solver_error_maps_to_numerical_error(monkeypatch):
    prog, prob = nnls()

    def boom(*a, **k):
        raise cp.error.SolverError("simulated failure")

    monkeypatch.setattr(prob, "solve", boom)
    raw = _solve(prog)
    assert raw.status == "numerical_error" and raw.x is None
    assert "simulated failure" in raw.message
    assert finish(prog, raw, "cvxpy", 1e-6).status is Status.NUMERICAL_ERROR


def test_retries_with_default_tolerances_when_tight_ones_fail(monkeypatch):
    prog, prob = nnls()
    real = prob.solve
    calls = []

    def flaky(*a, **k):
        calls.append(k)
        if "tol_gap_abs" in k:
            raise cp.error.SolverError("insufficient progress")
        return real(*a, **k)

    monkeypatch.setattr(prob, "solve", flaky)
    raw = _solve(prog)
    assert len(calls) == 2 and "tol_gap_abs" not in calls[1]
    assert raw.status == "converged" and raw.info["retried_with_default_tolerances"]


def test_tolerances_and_options_reach_clarabel(monkeypatch):
    prog, prob = lasso()
    seen = {}
    real = prob.solve

    def spy(*a, **k):
        seen.update(k)
        return real(*a, **k)

    monkeypatch.setattr(prob, "solve", spy)
    _solve(prog, tol=1e-5, max_iter=77, time_limit=30.0, extra={"equilibrate_enable": False})
    assert seen["solver"] == "CLARABEL"
    assert seen["max_iter"] == 77 and seen["time_limit"] == 30.0
    assert seen["tol_gap_abs"] <= 1e-9 and seen["tol_feas"] <= 1e-9
    assert seen["equilibrate_enable"] is False
    # a user's own tolerance wins
    _solve(prog, extra={"tol_gap_abs": 1e-7})
    assert seen["tol_gap_abs"] == 1e-7


def test_other_solver():
    prog, prob = box_qp()
    raw = _solve(prog, extra={"solver": "OSQP"})
    assert raw.status == "converged" and raw.info["solver"] == "OSQP"
    assert prog.objective(raw.x) == pytest.approx(prob.value, rel=1e-6)


def test_refusals():
    prog, _ = lasso()
    prog.source = None
    with pytest.raises(BackendRefusedError, match="compiled from a CVXPY model"):
        _solve(prog)
    prog, _ = lasso()
    with pytest.raises(BackendRefusedError, match="not installed"):
        _solve(prog, extra={"solver": "NO_SUCH_SOLVER"})


def test_registered_last_with_description():
    b = registry.get("cvxpy")
    assert b.name == "cvxpy" and b.forms == ("ProxAffine",)
    assert b.description == "CVXPY + Clarabel reference (cross-check any model)"
    others = [o.priority for o in registry.all_backends().values() if o is not b]
    assert all(p < b.priority for p in others)


def test_a_trusted_infeasible_claim_is_refuted_by_a_feasible_point():
    # Clarabel has called feasible, badly scaled models infeasible (conformance kit, SOC at
    # scale 1e6): a claim without a ray must not stand when a known point is feasible
    from solvelab.backends.base import RawSolution
    x = cp.Variable(3)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x)), [x >= -1])
    prog = Program([VariableInfo("x", (3,), 0, 3, key=x.id)],
                   [Term(F.SumSquares(), _eye(3), np.zeros(3)),
                    Term(F.NonNeg(), _eye(3), -np.ones(3), role="constraint")], source=prob)
    claim = RawSolution(x=None, status="infeasible", iterations=3, info={"trusted_status": True})
    res = finish(prog, claim, "cvxpy", 1e-6)
    assert res.status is Status.INACCURATE and res.x is None
    assert "refuted" in res.message
    # a point the backend knows (its last solution) refutes it too, when 0 does not
    shifted = Program(prog.variables, [prog.terms[0], Term(F.NonNeg(), _eye(3), np.ones(3), role="constraint")],
                      source=prob)
    known = RawSolution(x=np.full(3, 2.0), status="infeasible", iterations=3, info={"trusted_status": True})
    assert finish(shifted, known, "cvxpy", 1e-6).status is Status.INACCURATE
    unknown = RawSolution(x=None, status="infeasible", iterations=3, info={"trusted_status": True})
    assert finish(shifted, unknown, "cvxpy", 1e-6).status is Status.INFEASIBLE


def test_the_reference_cannot_take_a_family_node_without_cvxpy():
    import solvelab as sl
    from solvelab.backends import registry as reg
    a = np.full(4, 0.25)
    prob = sl.problems.entropic_ot(a, a, np.random.default_rng(0).random((4, 4)), 0.1)
    assert "cvxpy" not in reg.capable(prob.compile())
    with pytest.raises(BackendRefusedError, match="to_cvxpy"):
        prob.solve(backend="cvxpy")
