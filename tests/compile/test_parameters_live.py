"""Every Parameter the compiler accepts is live: after a new value, a re-solve of the same
``sl.Problem`` (not recompiled) matches a fresh CVXPY + Clarabel solve.

Each case builds a model with Parameters, solves it, moves every Parameter, and solves
again; both solves must be ``optimal`` and within 1e-5 (relative objective) of Clarabel,
and ``compile_count`` must stay 1. Values that would make a model invalid are refused
with a clear error when they are read, not solved stale.
"""
from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl

RNG = np.random.default_rng(2024)
m, n = 12, 5
A = RNG.standard_normal((m, n))
b = RNG.standard_normal(m)
S = A.T @ A / m + 0.1 * np.eye(n)


def _psd(seed):
    B = np.random.default_rng(seed).standard_normal((n, n))
    return B @ B.T / n + 0.05 * np.eye(n)


def _p(shape=(), value=None, **attrs):
    return cp.Parameter(shape, value=value, **attrs)


def case_huber_M():
    x, M = cp.Variable(n), _p(nonneg=True, value=1.0)
    return cp.Minimize(cp.sum(cp.huber(A @ x - b, M))), [], {M: 0.1}, "admm"


def case_kl_div_second_argument():
    x, q = cp.Variable(4), _p(4, pos=True, value=np.array([1.0, 2.0, 0.5, 1.5]))
    return cp.Minimize(cp.sum(cp.kl_div(x, q))), [cp.sum(x) == 3], {q: np.array([3.0, 0.2, 1.0, 0.7])}, "admm"


def case_rel_entr_second_argument():
    x, q = cp.Variable(4), _p(4, pos=True, value=np.array([1.0, 2.0, 0.5, 1.5]))
    return cp.Minimize(cp.sum(cp.rel_entr(x, q))), [cp.sum(x) == 3], {q: np.array([3.0, 0.2, 1.0, 0.7])}, "admm"


def case_bounds_attribute_lower():
    lo = _p(6, value=np.zeros(6))
    x = cp.Variable(6, bounds=[lo, None])
    return cp.Minimize(cp.sum_squares(x - 0.1 * np.arange(6))), [], {lo: np.full(6, 0.4)}, "fista"


def case_bounds_attribute_both_with_infinite_entries():
    lo, hi = _p(4, value=np.array([-1.0, -np.inf, 0.0, -2.0])), _p(4, value=np.full(4, 2.0))
    x = cp.Variable(4, bounds=[lo, hi])
    c = np.array([3.0, -3.0, 1.0, -1.0])
    return (cp.Minimize(cp.sum_squares(x - c)), [],
            {lo: np.array([-np.inf, -1.5, 1.5, -np.inf]), hi: np.array([np.inf, 0.5, np.inf, -1.5])}, "fista")


def case_bound_constraint_rhs():
    x, ub = cp.Variable(n), _p(n, value=np.ones(n))
    return (cp.Minimize(cp.sum_squares(A @ x - b)), [x <= ub, x >= -1],
            {ub: np.array([0.1, np.inf, -0.2, 0.3, np.inf])}, "fista")


def case_general_inequality_rhs():
    x, h = cp.Variable(n), _p(3, value=np.ones(3))
    G = A[:3]
    return (cp.Minimize(cp.sum_squares(x - 1)), [G @ x <= h],
            {h: np.array([-0.5, np.inf, 0.2])}, "admm")


def case_equality_rhs():
    x, d = cp.Variable(n), _p(2, value=np.array([1.0, -1.0]))
    return cp.Minimize(cp.sum_squares(A @ x - b)), [A[:2] @ x == d], {d: np.array([0.3, 2.0])}, "admm"


def case_matrix_in_product():
    x, Ap = cp.Variable(n), _p((m, n), value=A)
    return (cp.Minimize(cp.sum_squares(Ap @ x - b) + 0.1 * cp.norm1(x)), [],
            {Ap: RNG.standard_normal((m, n))}, "fista")


def case_scalar_coefficient_and_division():
    x, lam, d = cp.Variable(n), _p(nonneg=True, value=1.0), _p(pos=True, value=2.0)
    return (cp.Minimize(cp.sum_squares(A @ x - b) / d + lam * cp.norm1(x)), [],
            {lam: 0.05, d: 7.0}, "fista")


def case_quad_over_lin_denominator():
    x, d = cp.Variable(n), _p(pos=True, value=1.0)
    return cp.Minimize(cp.quad_over_lin(A @ x - b, d) + 0.1 * cp.norm1(x)), [], {d: 3.0}, "admm"


def case_quad_form_matrix():
    x, P = cp.Variable(n), _p((n, n), PSD=True, value=_psd(1))
    return cp.Minimize(cp.quad_form(x, P) - np.ones(n) @ x), [], {P: _psd(2)}, "admm"


def case_weight_vector_on_abs():
    x, w = cp.Variable(n), _p(n, nonneg=True, value=np.ones(n))
    return (cp.Minimize(cp.sum_squares(A @ x - b) + w @ cp.abs(x)), [],
            {w: np.array([0.0, 2.0, 0.5, 5.0, 0.1])}, "fista")


def case_weight_vector_on_pos():
    x, w = cp.Variable(n), _p(m, nonneg=True, value=np.ones(m))
    return (cp.Minimize(cp.sum(cp.multiply(w, cp.pos(A @ x - b))) + cp.sum_squares(x)), [],
            {w: np.linspace(0.0, 3.0, m)}, "admm")


def case_weight_vector_on_huber():
    x, w = cp.Variable(n), _p(m, nonneg=True, value=np.ones(m))
    M = _p(nonneg=True, value=1.0)
    return (cp.Minimize(w @ cp.huber(A @ x - b, M)), [],
            {w: np.linspace(0.1, 3.0, m), M: 0.3}, "fista")


def case_weight_vector_on_logistic():
    x, w = cp.Variable(n), _p(m, nonneg=True, value=np.ones(m))
    y = np.sign(b)
    return (cp.Minimize(w @ cp.logistic(-cp.multiply(y, A @ x)) + cp.sum_squares(x)), [],
            {w: np.linspace(0.1, 3.0, m)}, "fista")


def case_weight_vector_on_square_and_exp():
    x, w = cp.Variable(n), _p(n, nonneg=True, value=np.ones(n))
    return (cp.Minimize(cp.sum(cp.multiply(w, cp.square(x - 1))) + w @ cp.exp(x - 2)), [],
            {w: np.array([0.2, 1.0, 3.0, 0.7, 2.0])}, "admm")


def case_weight_vector_on_entr_and_log():
    x, w = cp.Variable(n), _p(n, pos=True, value=np.ones(n))
    return (cp.Maximize(w @ cp.entr(x) + w @ cp.log(x)), [cp.sum(x) == 4],
            {w: np.array([0.2, 1.0, 3.0, 0.7, 2.0])}, "admm")


def case_weight_vector_on_group_norms():
    X, w = cp.Variable((3, 4)), _p(4, nonneg=True, value=np.ones(4))
    C = RNG.standard_normal((3, 4))
    return (cp.Minimize(cp.sum_squares(X - C) + w @ cp.norm(X, 2, axis=0)), [],
            {w: np.array([0.0, 3.0, 0.5, 1.0])}, "admm")


def case_maximum_with_parameter():
    x, c = cp.Variable(n), _p(m, value=np.zeros(m))
    return (cp.Minimize(cp.sum(cp.maximum(A @ x - b, c)) + cp.sum_squares(x)), [],
            {c: np.linspace(-1.0, 1.0, m)}, "admm")


def case_norm_constraints():
    x, t, r = cp.Variable(n), _p(nonneg=True, value=1.0), _p(nonneg=True, value=2.0)
    return (cp.Minimize(cp.sum_squares(A @ x - b)), [cp.norm(x, 2) <= t, cp.sum_squares(x - 0.5) <= r],
            {t: 0.3, r: 1.0}, "admm")


def case_l1_linf_cone_constraints():
    x, t, s = cp.Variable(n), _p(nonneg=True, value=2.0), _p(nonneg=True, value=1.0)
    return (cp.Minimize(cp.sum_squares(A @ x - b)), [cp.norm1(x) <= t, cp.norm_inf(x) <= s],
            {t: 0.5, s: 0.2}, "admm")


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def _reference(obj, cons):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cp.Problem(obj, cons).solve(solver="CLARABEL")


def _check(prob, obj, cons, backend, name):
    res = prob.solve(backend=backend, tol=1e-7)
    ref = _reference(obj, cons)
    assert res.status is sl.Status.OPTIMAL, (name, res.status, res.message)
    assert res.objective == pytest.approx(ref, rel=1e-5, abs=1e-7), (name, res.objective, ref)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parameter_change_is_followed_without_recompiling(name):
    obj, cons, changes, backend = CASES[name]()
    prob = sl.Problem(obj, cons)
    _check(prob, obj, cons, backend, name)
    for par, value in changes.items():
        par.value = value
    _check(prob, obj, cons, backend, name)
    assert prob.compile_count == 1


def test_stale_huber_is_gone_with_the_reported_numbers():
    """The issue's instance: Clarabel 0.827 after M = 0.1, not the stale 3.909."""
    rng = np.random.default_rng(0)
    A0, b0 = rng.standard_normal((30, 6)), 2 * rng.standard_normal(30)
    x, M = cp.Variable(6), cp.Parameter(nonneg=True, value=1.0)
    obj = cp.Minimize(cp.sum(cp.huber(A0 @ x - b0, M)))
    prob = sl.Problem(obj)
    prob.solve(backend="admm", tol=1e-7)
    M.value = 0.1
    res = prob.solve(backend="admm", tol=1e-7)
    assert res.objective == pytest.approx(_reference(obj, []), rel=1e-5)


def test_bounds_parameter_moves_the_solution():
    lo = cp.Parameter(6, value=np.zeros(6))
    x = cp.Variable(6, bounds=[lo, None])
    prob = sl.Problem(cp.Minimize(cp.sum_squares(x)))
    prob.solve(backend="admm")
    lo.value = np.full(6, 0.4)
    res = prob.solve(backend="admm", tol=1e-7)
    assert res.status is sl.Status.OPTIMAL and x.value.min() == pytest.approx(0.4, rel=1e-6)
    assert prob.compile_count == 1


# -- values that break a model are refused when read ----------------------------------------

def test_kl_div_nonpositive_second_argument_is_refused_on_refresh():
    x, q = cp.Variable(3), cp.Parameter(3, value=np.ones(3))    # no sign declared
    prob = sl.Problem(cp.Minimize(cp.sum(cp.kl_div(x, q))), [cp.sum(x) == 1])
    prob.solve(backend="admm")
    q.value = np.array([1.0, -1.0, 2.0])
    with pytest.raises(sl.InvalidDataError, match="kl_div needs a positive second argument"):
        prob.solve(backend="admm")


def test_empty_parameter_bounds_are_refused_on_refresh():
    lo, hi = cp.Parameter(3, value=np.zeros(3)), cp.Parameter(3, value=np.ones(3))
    x = cp.Variable(3, bounds=[lo, hi])
    prob = sl.Problem(cp.Minimize(cp.sum_squares(x - 2)))
    prob.solve(backend="fista")
    lo.value = np.array([0.0, 3.0, 0.0])
    with pytest.raises(sl.InvalidDataError, match="empty at entry 1"):
        prob.solve(backend="fista")


def test_impossible_infinite_bound_is_refused():
    x, ub = cp.Variable(3), cp.Parameter(3, value=np.ones(3))
    prob = sl.Problem(cp.Minimize(cp.sum_squares(x)), [x <= ub])
    prob.solve(backend="admm")
    ub.value = np.array([1.0, -np.inf, 2.0])
    with pytest.raises(sl.InvalidDataError, match="can never hold"):
        prob.solve(backend="admm")


def test_exponent_parameter_is_refused_at_compile_time():
    x, p = cp.Variable(3, nonneg=True), cp.Parameter(pos=True, value=3.0)
    with pytest.raises((sl.NonConvexError, sl.UnsupportedAtomError)):
        sl.compile(cp.Problem(cp.Minimize(cp.sum(cp.power(x, p)))))


def test_unchanged_parameters_do_not_bump_the_data_version():
    x, M = cp.Variable(n), cp.Parameter(nonneg=True, value=1.0)
    prob = sl.Problem(cp.Minimize(cp.sum(cp.huber(A @ x - b, M))))
    prog = prob.compile()
    version = prog.data_version
    assert prog.refresh() is False and prog.data_version == version
    M.value = 0.5
    assert prog.refresh() is True and prog.data_version == version + 1
