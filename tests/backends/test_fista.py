"""FISTA backend: oracle tests against CVXPY + Clarabel, certificates, options.

Programs are built directly in the IR (the compiler is tested elsewhere); each case
also builds the matching cvxpy.Problem, solved by Clarabel as the reference.
"""
import time

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl

from solvelab.backends import registry
from solvelab.backends.base import SolveOptions
from solvelab.backends.fista import FistaBackend
from solvelab.engine import finish
from solvelab.ir import functions as F
from solvelab.ir.certificate import certify
from solvelab.ir.forms import Composite
from solvelab.ir.linop import (BlockRowOperator, DiagonalOperator, GatherOperator, IdentityOperator,
                               MatrixOperator, ZeroOperator)
from solvelab.ir.program import Program, Term, VariableInfo
from solvelab.result import Status

FISTA = FistaBackend()


def _mat(A, n, offset=0):
    return BlockRowOperator([(offset, MatrixOperator(A))], n)


def _eye(n, offset=0, total=None):
    return BlockRowOperator([(offset, IdentityOperator(n))], total or n)


def _gather(idx, n):
    return BlockRowOperator([(0, GatherOperator(np.asarray(idx), n))], n)


def _data(seed, m, n):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x_true = np.where(rng.random(n) < 0.3, rng.standard_normal(n), 0.0)
    b = A @ x_true + 0.5 * rng.standard_normal(m)
    return A, b, rng


# --------------------------------------------------------------------------------------
# cases: (Program, cvxpy.Problem)
# --------------------------------------------------------------------------------------

def case_lasso(seed=0, m=60, n=40):
    A, b, _ = _data(seed, m, n)
    lam = 0.3 * np.max(np.abs(A.T @ b))
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.SumSquares(), _mat(A, n), b, weight=0.5),
                    Term(F.L1Norm(), _eye(n), np.zeros(n), weight=lam)])
    x = cp.Variable(n)
    return prog, cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * cp.norm1(x)))


def case_lasso_box(seed=1, m=60, n=40):
    A, b, _ = _data(seed, m, n)
    lam = 0.1 * np.max(np.abs(A.T @ b))
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.SumSquares(), _mat(A, n), b, weight=0.5),
                    Term(F.L1Norm(), _eye(n), np.zeros(n), weight=lam),
                    Term(F.Box(-0.3, 0.3), _eye(n), np.zeros(n), role="constraint")])
    x = cp.Variable(n)
    return prog, cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * cp.norm1(x)),
                            [x >= -0.3, x <= 0.3])


def case_elastic_net(seed=2, m=50, n=80):
    A, b, _ = _data(seed, m, n)
    l1, l2 = 0.2 * np.max(np.abs(A.T @ b)), 0.7
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.SumSquares(), _mat(A, n), b, weight=0.5),
                    Term(F.L1Norm(), _eye(n), np.zeros(n), weight=l1),
                    Term(F.SumSquares(), _eye(n), np.zeros(n), weight=l2)])
    x = cp.Variable(n)
    return prog, cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + l1 * cp.norm1(x)
                                        + l2 * cp.sum_squares(x)))


def case_nnls(seed=3, m=70, n=40):
    A, b, _ = _data(seed, m, n)
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.SumSquares(), _mat(A, n), b),
                    Term(F.NonNeg(), _eye(n), np.zeros(n), role="constraint")])
    x = cp.Variable(n)
    return prog, cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x >= 0])


def case_box_ls(seed=4, m=70, n=40):
    A, b, rng = _data(seed, m, n)
    lo = -0.2 - rng.random(n) * 0.3
    hi = 0.1 + rng.random(n) * 0.3
    lo[:5], hi[5:10] = -np.inf, np.inf
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.SumSquares(), _mat(A, n), b),
                    Term(F.Box(lo, hi), _eye(n), np.zeros(n), role="constraint")])
    x = cp.Variable(n)
    fl, fh = np.isfinite(lo), np.isfinite(hi)
    return prog, cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x[fl] >= lo[fl], x[fh] <= hi[fh]])


def case_huber(seed=5, m=80, n=30):
    A, b, rng = _data(seed, m, n)
    b[:8] += 20 * rng.standard_normal(8)  # outliers
    M = 1.0
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.Huber(M), _mat(A, n), b)])
    x = cp.Variable(n)
    return prog, cp.Problem(cp.Minimize(cp.sum(cp.huber(A @ x - b, M))))


def case_logistic_l1(seed=6, m=100, n=30):
    A, b, rng = _data(seed, m, n)
    y = np.sign(b + 0.1)
    lam = 0.02
    # sum_i log(1 + exp(-y_i a_i^T x)) / m + lam ||x||_1
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.Logistic(), _mat(-y[:, None] * A, n), np.zeros(m), weight=1.0 / m),
                    Term(F.L1Norm(), _eye(n), np.zeros(n), weight=lam)])
    x = cp.Variable(n)
    return prog, cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / m
                                        + lam * cp.norm1(x)))


def case_group_lasso(seed=7, m=60, n=40):
    A, b, rng = _data(seed, m, n)
    groups = np.array_split(rng.permutation(n), 8)
    lam = 0.25 * max(np.linalg.norm(A[:, g].T @ b) for g in groups)
    terms = [Term(F.SumSquares(), _mat(A, n), b, weight=0.5)]
    terms += [Term(F.L2Norm(), _gather(g, n), np.zeros(len(g)), weight=lam) for g in groups]
    prog = Program([VariableInfo("x", (n,), 0, n)], terms)
    x = cp.Variable(n)
    obj = 0.5 * cp.sum_squares(A @ x - b) + lam * sum(cp.norm(x[g], 2) for g in groups)
    return prog, cp.Problem(cp.Minimize(obj))


def case_two_variables_overlap(seed=8, m=50, n=30, k=10):
    """Two variables; l1 with shifts on part of x, a nonneg bound overlapping it partly,
    a box on w, and a variable-free stretch of x with no penalty at all."""
    A, b, rng = _data(seed, m, n)
    Bw = rng.standard_normal((m, k))
    N = n + k
    c = 0.1 * rng.standard_normal(20)
    lam = 0.1 * np.max(np.abs(A.T @ b))
    smooth = Term(F.SumSquares(), BlockRowOperator([(0, MatrixOperator(A)), (n, MatrixOperator(Bw))], N), b,
                  weight=0.5)
    l1 = Term(F.L1Norm(np.linspace(0.5, 1.5, 20)), BlockRowOperator([(0, GatherOperator(np.arange(20), n))], N),
              c, weight=lam)
    nonneg = Term(F.NonNeg(), BlockRowOperator([(0, GatherOperator(np.arange(10, 25), n))], N), np.zeros(15),
                  role="constraint")
    box = Term(F.Box(-0.2, 0.2), _eye(k, n, N), np.zeros(k), role="constraint")
    prog = Program([VariableInfo("x", (n,), 0, n), VariableInfo("w", (k,), n, k)], [smooth, l1, nonneg, box])
    x, w = cp.Variable(n), cp.Variable(k)
    wts = np.linspace(0.5, 1.5, 20)
    obj = 0.5 * cp.sum_squares(A @ x + Bw @ w - b) + lam * cp.sum(cp.multiply(wts, cp.abs(x[:20] - c)))
    return prog, cp.Problem(cp.Minimize(obj), [x[10:25] >= 0, w >= -0.2, w <= 0.2])


CASES = {
    "lasso": case_lasso,
    "lasso_box": case_lasso_box,
    "elastic_net": case_elastic_net,
    "nnls": case_nnls,
    "box_ls": case_box_ls,
    "huber": case_huber,
    "logistic_l1": case_logistic_l1,
    "group_lasso": case_group_lasso,
    "two_variables_overlap": case_two_variables_overlap,
}


def _solve(prog, **kw):
    view = Composite.match(prog)
    assert view, getattr(view, "reason", "")
    ws = kw.pop("workspace", None)
    opts = SolveOptions(**kw)
    ws = FISTA.setup(view, opts) if ws is None else ws
    return FISTA.solve(view, opts, ws), ws


def _reference(prob):
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    assert prob.status in ("optimal", "optimal_inaccurate")
    return prob.value


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_clarabel_and_certifies(name):
    prog, prob = CASES[name]()
    tol = 1e-7
    raw, _ = _solve(prog, tol=tol, max_iter=20000)
    assert raw.status == "converged", (raw.status, raw.message, raw.history[-1])
    ref = _reference(prob)
    obj = prog.objective(raw.x)
    assert abs(obj - ref) <= 1e-5 * max(1.0, abs(ref)), (obj, ref)
    # the certificate, recomputed from the returned point and duals, meets tol
    cert = certify(prog, raw.x, raw.duals)
    assert cert.value <= tol, str(cert)
    assert len(raw.duals) == len(prog.terms)
    # the returned point is feasible exactly (prox-gradient point)
    for t in prog.constraint_terms():
        z = t.residual(raw.x)
        assert np.max(np.abs(z - t.f.project(z)), initial=0.0) == 0.0
    # the engine agrees: optimal
    res = finish(prog, raw, "fista", tol)
    assert res.status is Status.OPTIMAL, res.message


def test_sparse_solution_has_exact_zeros():
    prog, prob = case_lasso()
    raw, _ = _solve(prog, tol=1e-8)
    prob.solve(solver="CLARABEL")
    xr = prob.variables()[0].value
    zero_ref = np.abs(xr) < 1e-6
    assert zero_ref.sum() >= 5
    assert np.all(raw.x[zero_ref] == 0.0)
    assert np.all(raw.x[~zero_ref] != 0.0)


def test_history_and_info():
    prog, _ = case_lasso()
    raw, _ = _solve(prog, tol=1e-8, check_every=5)
    assert raw.history, "no history recorded"
    keys = {"iteration", "time", "objective", "gradient_mapping", "step"}
    for h in raw.history:
        assert keys <= set(h)
    its = [h["iteration"] for h in raw.history]
    assert its == sorted(its) and all(i % 5 == 0 for i in its)
    # objective decreases overall and the final certificate is recorded
    assert raw.history[-1]["objective"] <= raw.history[0]["objective"]
    assert raw.history[-1]["certificate"] <= 1e-8
    for k in ("restarts", "backtracks", "step"):
        assert k in raw.info
    assert raw.info["step"] > 0


@pytest.mark.parametrize("restart", ["gradient", "function", "none"])
def test_restart_variants_converge(restart):
    prog, prob = case_lasso_box()
    raw, _ = _solve(prog, tol=1e-7, max_iter=20000, extra={"restart": restart})
    assert raw.status == "converged"
    ref = _reference(prob)
    assert abs(prog.objective(raw.x) - ref) <= 1e-6 * max(1.0, abs(ref))
    if restart == "none":
        assert raw.info["restarts"] == 0


def test_restart_helps_on_strongly_convex_problem():
    # a well-conditioned strongly convex problem: restarted FISTA converges linearly
    prog, _ = case_elastic_net()
    raw_r, _ = _solve(prog, tol=1e-9, max_iter=50000)
    raw_n, _ = _solve(prog, tol=1e-9, max_iter=50000, extra={"restart": "none"})
    assert raw_r.status == raw_n.status == "converged"
    assert raw_r.info["restarts"] > 0
    assert raw_r.iterations < raw_n.iterations


def test_backtracking_from_small_L_and_gentle_decrease():
    prog, _ = case_nnls()
    view = Composite.match(prog)
    L_up = view.lipschitz()
    raw, _ = _solve(prog, tol=1e-8, extra={"L0_factor": 1e4})
    assert raw.status == "converged"
    assert raw.info["backtracks"] > 0
    # the accepted step stays within a factor 2 of the safe bound, and L never exceeds 2 L_up
    assert raw.info["L"] <= 2.0 * L_up
    raw2, _ = _solve(prog, tol=1e-8, extra={"L_decrease": 1.0, "L0_factor": 1.0})
    assert raw2.status == "converged"


def test_warm_start_needs_fewer_iterations():
    prog, _ = case_lasso(seed=11, m=80, n=60)
    first, ws = _solve(prog, tol=1e-8)
    assert first.status == "converged"
    assert "x" in ws.warm
    # perturb the data slightly: a warm start is much closer to the new solution
    rng = np.random.default_rng(0)
    prog.terms[0].b = prog.terms[0].b + 1e-3 * rng.standard_normal(prog.terms[0].b.size)
    cold, _ = _solve(prog, tol=1e-8)
    warm, _ = _solve(prog, tol=1e-8, workspace=ws)
    assert cold.status == warm.status == "converged"
    assert warm.info["warm_start"] and not cold.info["warm_start"]
    assert warm.iterations < cold.iterations, (warm.iterations, cold.iterations)
    assert np.allclose(warm.x, cold.x, atol=1e-5)
    # warm_start=False ignores the stored point
    again, _ = _solve(prog, tol=1e-8, workspace=ws, warm_start=False)
    assert not again.info["warm_start"]
    # a stored point of the wrong size is ignored
    ws.warm["x"] = np.zeros(3)
    odd, _ = _solve(prog, tol=1e-8, workspace=ws)
    assert not odd.info["warm_start"] and odd.status == "converged"


def test_time_limit_honoured():
    rng = np.random.default_rng(1)
    m, n = 600, 1200
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.SumSquares(), _mat(A, n), b, weight=0.5),
                    Term(F.L1Norm(), _eye(n), np.zeros(n), weight=0.01)])
    t0 = time.process_time()   # CPU time: a loaded machine stretches wall time, not this process's work
    raw, _ = _solve(prog, tol=1e-14, max_iter=10 ** 6, time_limit=0.05)
    elapsed = time.process_time() - t0
    assert raw.status == "time_limit"
    assert elapsed < 2.0   # the limit stopped the run (10^6 iterations would take minutes)
    assert raw.x is not None and np.all(np.isfinite(raw.x))
    assert 0 < raw.iterations < 10 ** 6
    res = finish(prog, raw, "fista", 1e-14)
    assert res.status is Status.TIME_LIMIT


def test_max_iter_status():
    prog, _ = case_logistic_l1()
    raw, _ = _solve(prog, tol=1e-12, max_iter=7, check_every=3)
    assert raw.status == "max_iter"
    assert raw.iterations == 7
    assert raw.history[-1]["iteration"] == 7
    assert finish(prog, raw, "fista", 1e-12).status is Status.MAX_ITER


def test_nan_detected():
    prog, _ = case_lasso()
    b = prog.terms[0].b.copy()
    b[3] = np.nan
    prog.terms[0].b = b
    raw, _ = _solve(prog, tol=1e-8)
    assert raw.status == "numerical_error"
    assert "NaN" in raw.message or "Inf" in raw.message
    assert finish(prog, raw, "fista", 1e-8).status is Status.NUMERICAL_ERROR


def test_inf_in_operator_detected():
    prog, _ = case_nnls()
    A = prog.terms[0].A.blocks[0][1].M.copy()
    A[0, 0] = np.inf
    prog.terms[0].A = _mat(A, A.shape[1])
    raw, _ = _solve(prog, tol=1e-8)
    assert raw.status == "numerical_error"


def test_callback_can_stop():
    prog, _ = case_lasso()
    seen = []

    def cb(info):
        seen.append(info["iteration"])
        return info["iteration"] >= 20

    raw, _ = _solve(prog, tol=1e-14, callback=cb, check_every=10)
    assert seen[:3] == [0, 10, 20]
    assert raw.status == "stopped" and "callback" in raw.message
    assert raw.iterations == 20
    assert np.all(np.isfinite(raw.x))


def test_verbose_prints_table(capsys):
    prog, _ = case_lasso()
    _solve(prog, tol=1e-6, verbose=True)
    out = capsys.readouterr().out
    assert "iter" in out and "objective" in out and "converged" in out


def test_unknown_option_refused():
    prog, _ = case_lasso()
    with pytest.raises(ValueError, match="does not know"):
        _solve(prog, extra={"stepsize": 1.0})


def test_no_nonsmooth_terms_and_linear_term():
    # min ||A x - b||^2 + c^T x : smooth only; the dual residual is the gradient
    A, b, rng = _data(9, 40, 10)
    c = rng.standard_normal(10)
    prog = Program([VariableInfo("x", (10,), 0, 10)],
                   [Term(F.SumSquares(), _mat(A, 10), b), Term(F.Linear(c), _eye(10), np.zeros(10))])
    raw, _ = _solve(prog, tol=1e-9)
    assert raw.status == "converged"
    xs = np.linalg.solve(2 * A.T @ A, 2 * A.T @ b - c)
    assert np.allclose(raw.x, xs, atol=1e-6)


def test_pure_prox_problem_without_smooth_part():
    # no smooth term at all: min lam |x - c|_1 s.t. 0 <= x <= 1 -> x = clip(c)
    n = 12
    c = np.linspace(-1, 2, n)
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.L1Norm(), _eye(n), c, weight=2.0),
                    Term(F.Box(0.0, 1.0), _eye(n), np.zeros(n), role="constraint")])
    raw, _ = _solve(prog, tol=1e-9)
    assert raw.status == "converged"
    assert np.allclose(raw.x, np.clip(c, 0, 1))


def test_diagonal_and_zero_operators_in_smooth_part():
    n = 20
    d = np.linspace(1, 3, n)
    prog = Program([VariableInfo("x", (n,), 0, n)],
                   [Term(F.SumSquares(), BlockRowOperator([(0, DiagonalOperator(d))], n), np.ones(n)),
                    Term(F.SumSquares(), BlockRowOperator([(0, ZeroOperator((3, n)))], n), np.ones(3)),
                    Term(F.L1Norm(), _eye(n), np.zeros(n), weight=1.0)])
    raw, _ = _solve(prog, tol=1e-10)
    assert raw.status == "converged"
    # closed form: minimize (d x - 1)^2 + |x|  ->  x = max(2d - 1, 0) / (2 d^2)
    assert np.allclose(raw.x, np.maximum(2 * d - 1, 0) / (2 * d * d), atol=1e-8)
    assert prog.objective(raw.x) == pytest.approx(
        prog.objective(np.maximum(2 * d - 1, 0) / (2 * d * d)), rel=1e-10)


def test_registered_and_dispatched():
    b = registry.get("fista")
    assert b.name == "fista" and b.forms == ("Composite",) and b.description
    prog, _ = case_group_lasso()
    assert isinstance(registry.view_for(b, prog), Composite)
    assert "fista" in registry.capable(prog)


def test_converged_iterates_do_not_break_backtracking():
    """Near a solution the step is at rounding level; the line search must not fail there
    (it used to report numerical_error once the running A y drifted past L/2 ||d||^2)."""
    rng = np.random.default_rng(0)
    A2 = rng.standard_normal((400, 300))
    b2 = rng.standard_normal(400)
    x = cp.Variable(300)
    prob = sl.Problem(cp.Minimize(cp.sum(cp.huber(A2 @ x - b2)) + 0.01 * cp.norm1(x)))
    res = prob.solve(backend="fista", tol=1e-15, max_iter=1500, warm_start=False)
    assert res.status in (sl.Status.MAX_ITER, sl.Status.OPTIMAL), res.message
    assert res.certificate.value < 1e-10
