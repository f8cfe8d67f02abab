"""Implicit gradients through the KKT system (``solvelab.model.diff_kkt``): QPs and LPs
from CVXPY with Parameters in the linear term, the right-hand sides and a constraint
matrix, checked against central differences of re-solves, and at data scales 1e-6 .. 1e6
against the scaling law of the unit-scale gradients.

The re-solves are admm's at tol 1e-12, each certified optimal (KKT residuals and gap
recomputed from the point): on these QPs Clarabel stops at optimal_inaccurate with x off
by ~1e-4, too coarse for differences. The vjp never calls a solver, so the check stays
independent of the code it tests."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.errors import BackendRefusedError


def _qp(scale=1.0, seed=0, n=8, m=2, k=4):
    rng = np.random.default_rng(seed)
    L = rng.standard_normal((n, n))
    P = scale * (L @ L.T + 0.1 * np.eye(n))
    q = cp.Parameter(n, value=scale * rng.standard_normal(n), name="q")
    b = cp.Parameter(m, value=scale * rng.standard_normal(m), name="b")
    h = cp.Parameter(k, value=scale * 0.1 * np.abs(rng.standard_normal(k)), name="h")
    G = cp.Parameter((k, n), value=scale * rng.standard_normal((k, n)), name="G")
    A = scale * rng.standard_normal((m, n))
    x = cp.Variable(n, name="x")
    prob = sl.Problem(cp.Minimize(0.5 * cp.quad_form(x, P) + q @ x), [A @ x == b, G @ x <= h])
    return prob, x, (q, b, h, G)


def _solve(prob):
    r = prob.solve(backend="admm", tol=1e-12, max_iter=200000, warm_start=False)
    assert r.status is sl.Status.OPTIMAL, r.message
    return r


def _fd(prob, x, w, par, step):
    base = par.value.copy()
    out = np.zeros(base.shape)
    for j in np.ndindex(base.shape):
        vals = []
        for sgn in (1, -1):
            moved = base.copy()
            moved[j] += sgn * step
            par.value = moved
            r = _solve(prob)
            vals.append(w @ r.x)
        out[j] = (vals[0] - vals[1]) / (2 * step)
    par.value = base
    return out


def test_qp_gradients_match_differences_of_solves():
    prob, x, pars = _qp()
    res = _solve(prob)
    G, h = pars[3].value, pars[2].value
    active = np.abs(G @ res.x - h) < 1e-8
    assert 0 < active.sum() < active.size       # some inequalities active, some not
    w = np.random.default_rng(1).standard_normal(x.size)
    grads = res.vjp({x: w})
    for par in pars:
        fd = _fd(prob, x, w, par, 1e-5)
        assert np.abs(grads[par] - fd).max() <= 1e-6 * np.abs(fd).max(), par.name()
    # inactive rows of G x <= h: their right-hand side does not move the solution
    assert np.all(grads[pars[2]][~active] == 0.0)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_qp_gradients_follow_the_scaling_law(scale):
    """All data times s: the same solution x, so dL/dq, dL/db, dL/dh, dL/dG scale by 1/s."""
    prob1, x1, pars1 = _qp()
    res1 = _solve(prob1)
    w = np.random.default_rng(1).standard_normal(x1.size)
    g1 = res1.vjp({x1: w})
    prob, x, pars = _qp(scale)
    res = _solve(prob)
    assert np.abs(res.x - res1.x).max() <= 1e-6 * np.abs(res1.x).max()
    gs = res.vjp({x: w})
    for p1, ps in zip(pars1, pars):
        assert np.abs(gs[ps] * scale - g1[p1]).max() <= 1e-5 * np.abs(g1[p1]).max(), p1.name()


def test_lp_vertex_gradients():
    """At a nondegenerate vertex the solution is A_act^{-1} b_act: dL/db = A_act^{-T} w on
    the active rows, and the cost does not move it (dL/dc = 0)."""
    rng = np.random.default_rng(3)
    n = 4
    A = np.vstack([np.eye(n), -np.eye(n), rng.standard_normal((3, n))])
    b = cp.Parameter(A.shape[0], value=np.concatenate([np.ones(n), np.ones(n), np.abs(rng.standard_normal(3)) + 0.5]))
    c = cp.Parameter(n, value=rng.standard_normal(n))
    x = cp.Variable(n)
    prob = sl.Problem(cp.Minimize(c @ x), [A @ x <= b])
    res = _solve(prob)
    act = np.abs(A @ res.x - b.value) < 1e-8
    assert act.sum() == n
    w = rng.standard_normal(n)
    g = res.vjp({x: w})
    expect = np.zeros(A.shape[0])
    expect[act] = np.linalg.solve(A[act].T, w)
    assert np.abs(g[b] - expect).max() <= 1e-8 * np.abs(expect).max()
    assert np.abs(g[c]).max() <= 1e-8 * np.abs(expect).max()
    fd = _fd(prob, x, w, b, 1e-5)
    assert np.abs(g[b] - fd).max() <= 1e-6 * np.abs(fd).max()


def test_unsupported_terms_are_named():
    x = cp.Variable(3)
    a = cp.Parameter(3, value=np.ones(3))
    prob = sl.Problem(cp.Minimize(cp.norm(x - a, 2) + cp.sum(cp.exp(x))))
    res = prob.solve(backend="cvxpy", tol=1e-9)
    with pytest.raises(BackendRefusedError, match=r"term \[\d\] .* not supported by the KKT derivative"):
        res.vjp({x: np.ones(3)})
