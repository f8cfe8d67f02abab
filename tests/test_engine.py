"""The public API: solve, write-back, statuses, options common to every backend."""
import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.kernels import factor

RNG = np.random.default_rng(3)
A = RNG.standard_normal((30, 10))
b = RNG.standard_normal(30)


def test_solve_takes_a_cvxpy_problem_and_fills_its_variables():
    x = cp.Variable(10)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 0.3 * cp.norm1(x)), [x >= -1, x <= 1])
    ref = cp.Problem(prob.objective, prob.constraints).solve(solver="CLARABEL")
    x_ref = x.value.copy()
    res = sl.solve(prob, backend="fista")
    assert res.status is sl.Status.OPTIMAL and res.backend == "fista"
    assert res.objective == pytest.approx(ref, rel=1e-5)
    np.testing.assert_allclose(x.value, x_ref, atol=1e-4)
    np.testing.assert_allclose(x.value, res.x)
    assert res.iterations > 0 and res.history and res.timings["total"] > 0


def test_matrix_variables_are_written_back_in_their_shape():
    X = cp.Variable((3, 4))
    T = RNG.standard_normal((3, 4))
    res = sl.Problem(cp.Minimize(cp.sum_squares(X - T) + cp.norm1(X))).solve(backend="admm")
    assert X.value.shape == (3, 4)
    expected = np.sign(T) * np.maximum(np.abs(T) - 0.5, 0)  # prox of 0.5*l1 at T
    np.testing.assert_allclose(X.value, expected, atol=1e-5)
    assert res.values[X.name()].shape == (3, 4)


def test_maximize_reports_the_users_objective():
    x = cp.Variable(4)
    obj = cp.Maximize(-cp.sum_squares(x - 2) - cp.norm1(x))
    ref = cp.Problem(obj).solve(solver="CLARABEL")
    res = sl.Problem(obj).solve(backend="admm")
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(ref, rel=1e-6)
    assert res.objective < 0


def test_auto_picks_a_capable_backend():
    x = cp.Variable(10)
    res = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm1(x))).solve()
    # cd (when installed) takes sparse GLMs first, then fista, then admm
    assert res.backend in {"cd", "fista", "admm"} and res.status is sl.Status.OPTIMAL
    res = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [cp.norm(x, 2) <= 1]).solve()
    assert res.backend == "admm"


def test_backends_lists_names_forms_descriptions():
    names = {b["name"]: b for b in sl.backends()}
    assert {"admm", "fista", "cvxpy"} <= set(names)
    assert names["fista"]["forms"] == ("Composite",)
    assert all(b["description"] for b in names.values())


def test_parameter_resolve_reuses_compile_and_factorization():
    x = cp.Variable(10)
    lam = cp.Parameter(nonneg=True, value=0.1)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x)))
    first = prob.solve(backend="admm")
    assert first.status is sl.Status.OPTIMAL
    before = factor.stats.numeric
    objs, rho_updates = [], 0
    for value in (0.5, 1.0, 2.0):
        lam.value = value
        res = prob.solve(backend="admm")
        assert res.status is sl.Status.OPTIMAL
        assert res.info["factorized_at_setup"] is False  # the cached factorization was reused
        rho_updates += res.info["rho_updates"]
        ref = cp.Problem(prob.objective).solve(solver="CLARABEL")
        assert res.objective == pytest.approx(ref, rel=1e-5)
        objs.append(res.objective)
    assert prob.compile_count == 1
    # same matrices: the only numeric factorizations are the ones adaptive rho asked for
    assert factor.stats.numeric - before == rho_updates
    assert objs == sorted(objs)


def test_callback_sees_progress_and_can_stop():
    x = cp.Variable(10)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm1(x)))
    seen = []

    def cb(info):
        seen.append(info)
        return len(seen) >= 2

    res = prob.solve(backend="fista", callback=cb, check_every=1, tol=1e-12, warm_start=False)
    assert len(seen) == 2 and res.status is not sl.Status.OPTIMAL


def test_time_limit_is_honoured():
    m, n = 400, 300
    A2 = RNG.standard_normal((m, n))
    x = cp.Variable(n)
    prob = sl.Problem(cp.Minimize(cp.sum(cp.huber(A2 @ x - RNG.standard_normal(m))) + 0.01 * cp.norm1(x)))
    res = prob.solve(backend="fista", time_limit=0.05, tol=1e-14, max_iter=10**7)
    assert res.status is sl.Status.TIME_LIMIT
    assert res.timings["solve"] < 10.0  # generous: a loaded machine, but far below 10^7 iterations


def test_verbose_prints_an_iteration_table(capsys):
    x = cp.Variable(10)
    sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm1(x))).solve(backend="admm", verbose=True)
    out = capsys.readouterr().out
    assert "iter" in out.lower() and len(out.splitlines()) >= 3


def test_result_repr_is_readable():
    x = cp.Variable(10)
    res = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b))).solve(backend="admm")
    text = repr(res)
    assert "status=optimal" in text and "backend='admm'" in text


# --- the engine / model split ---------------------------------------------------------

def test_problem_from_program_wraps_a_node_and_writes_back_its_variables():
    from solvelab.compile import compile_problem
    x = cp.Variable(10, name="x")
    lam = cp.Parameter(nonneg=True, value=0.2, name="lam")
    node = compile_problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x)))
    prob = sl.Problem.from_program(node, variables=[x])
    assert prob.compile() is node and prob.compile_count == 1 and prob.objective is None
    assert [p.name() for p in prob.parameters()] == ["lam"]
    res = prob.solve(backend="fista", tol=1e-8)
    ref = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x))).solve(solver="CLARABEL")
    assert res.status is sl.Status.OPTIMAL and res.objective == pytest.approx(ref, rel=1e-6)
    np.testing.assert_allclose(x.value, res.x)
    assert prob.status is res.status and prob.value == res.objective and prob.result is res
    lam.value = 2.0   # the node's Parameters are re-read on the next solve, without compiling
    again = prob.solve(backend="fista", tol=1e-8)
    ref = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x))).solve(solver="CLARABEL")
    assert again.objective == pytest.approx(ref, rel=1e-6) and prob.compile_count == 1
    with pytest.raises(TypeError, match="not both"):
        sl.Problem(cp.Minimize(cp.sum(x)), program=node)


def test_the_engine_runs_anything_that_compiles_with_the_state_it_is_given():
    from solvelab import engine
    x = cp.Variable(10)
    program = sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b))))

    class Compiles:
        def compile(self):
            return program

    state = {}
    res = engine.run(Compiles(), state, backend="admm")
    assert res.status is sl.Status.OPTIMAL and set(state) == {"admm"}
    assert x.value is None   # writing back is the model layer's business
    assert engine.solve(Compiles(), backend="admm").status is sl.Status.OPTIMAL
    with pytest.raises(TypeError, match="solvelab.Problem or a cvxpy.Problem"):
        sl.solve(42)


def test_a_coerced_cvxpy_problem_is_reused_and_follows_its_solves():
    from solvelab.model import as_problem
    x = cp.Variable(10)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x >= 0])
    model = as_problem(prob)
    assert as_problem(prob) is model and as_problem(model) is model
    res = sl.solve(prob, backend="admm")
    assert prob.status == "optimal" and prob.value == pytest.approx(res.objective)
    assert model.result is res and model.compile_count == 1


def test_normalize_history_is_public():
    from solvelab import engine
    hist = engine.normalize_history([{"gradient_mapping": 0.5}, {"residual": 1.0}, {}])
    assert [h["residual"] for h in hist[:2]] == [0.5, 1.0] and np.isnan(hist[2]["residual"])
