"""The updated KKT solver of admm's polish (backends/active_kkt.py) against a fresh direct
solve of the same system, and the polish's exact line search against phi' itself."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvelab.backends.active_kkt import MAX_CHANGED, ActiveKKT

polish = importlib.import_module("solvelab.backends.admm_polish")


def _direct(H, A, rho, mask, top):
    """[[H, A_J^T], [A_J, -I/rho]] [dx; w_J] = [top; 0] by a fresh sparse LU."""
    J = np.flatnonzero(mask)
    AJ = A[J]
    K = sp.bmat([[H, AJ.T], [AJ, -sp.identity(J.size) / rho]], format="csc")
    sol = spla.spsolve(K, np.concatenate([top, np.zeros(J.size)]))
    w = np.zeros(A.shape[0])
    w[J] = sol[H.shape[0]:]
    return sol[:H.shape[0]], w


@pytest.mark.parametrize("sigma", [1e-2, 1e-8])
def test_updated_solves_match_a_fresh_factorization(sigma):
    rng = np.random.default_rng(0)
    n, m, rho = 25, 40, 1e4
    A = sp.random(m, n, density=0.2, random_state=1, format="csr") + sp.eye(m, n, format="csr")
    H = sp.diags(sigma + rng.random(n) * (sigma < 1e-4))          # an LP's sigma I, or a QP's diagonal
    kkt = ActiveKKT(H, A, rho)
    mask = rng.random(m) < 0.5
    steps = 120
    for step in range(steps):
        flip = rng.choice(m, size=rng.integers(1, 4), replace=False)
        mask[flip] = ~mask[flip]
        top = rng.standard_normal(n)
        dx, w = kkt.solve(mask, top)
        ref_dx, ref_w = _direct(H, A, rho, mask, top)
        scale = max(np.max(np.abs(ref_dx)), 1e-300)
        assert np.max(np.abs(dx - ref_dx)) <= 1e-7 * scale, step
        assert np.max(np.abs(w[~mask]), initial=0.0) <= 1e-12 * max(np.max(np.abs(ref_w)), 1e-300)  # w_j = 0 off J
        assert np.max(np.abs(w[mask] - ref_w[mask])) <= 1e-7 * max(np.max(np.abs(ref_w)), 1e-300)
    # the point of the class: far fewer factorizations than steps
    assert kkt.factorizations < steps / 4
    assert kkt.factorizations >= 1


def test_more_changed_rows_than_the_limit_refactor():
    rng = np.random.default_rng(2)
    n, m = 10, 3 * MAX_CHANGED
    A = sp.random(m, n, density=0.5, random_state=3, format="csr")
    H = sp.identity(n) * 1e-3
    kkt = ActiveKKT(H, A, 1e2)
    kkt.solve(np.zeros(m, dtype=bool), rng.standard_normal(n))
    before = kkt.factorizations
    mask = np.zeros(m, dtype=bool)
    mask[: MAX_CHANGED + 1] = True
    top = rng.standard_normal(n)
    dx, _ = kkt.solve(mask, top)
    assert kkt.factorizations == before + 1 and not kkt.changed
    assert np.allclose(dx, _direct(H, A, 1e2, mask, top)[0], rtol=1e-8, atol=0)


class _Rows:
    """The attributes _line_min reads from PolishData."""

    def __init__(self, A, lo, hi, q, P):
        self.A, self.lo, self.hi, self.q, self.P = A, lo, hi, q, P


@pytest.mark.parametrize("seed", range(5))
def test_line_search_ends_where_phi_prime_changes_sign(seed):
    rng = np.random.default_rng(seed)
    n, m, rho = 8, 30, 10.0 ** rng.integers(0, 5)
    A = sp.csr_matrix(rng.standard_normal((m, n)))
    lo = rng.standard_normal(m) - 1.0
    hi = lo + rng.random(m) * 2.0
    hi[:5] = lo[:5]                                     # equality rows
    lo[5:8] = -np.inf                                   # one-sided rows
    d = _Rows(A, lo, hi, rng.standard_normal(n), sp.diags(rng.random(n)))
    x, xk = rng.standard_normal(n), rng.standard_normal(n)
    v = A @ x + rng.standard_normal(m) / rho
    grad = d.q + d.P @ x + polish.SIGMA * (x - xk) + rho * (A.T @ polish._residual(d, v))
    dx = -grad                                          # a descent direction
    a = A @ dx

    def slope(t):
        return float(d.q @ dx + (d.P @ dx) @ (x + t * dx) + polish.SIGMA * dx @ (x + t * dx - xk)
                     + rho * a @ polish._residual(d, v + t * a))

    t = polish._line_min(d, x, dx, xk, v, a, rho)
    assert t > 0
    size = abs(slope(0.0))
    assert abs(slope(t)) <= 1e-9 * size               # phi' is continuous: zero at the minimizer
    assert slope(t * (1 - 1e-6)) <= 1e-9 * size and slope(t * (1 + 1e-6)) >= -1e-9 * size


def test_line_search_is_zero_along_an_ascent_direction():
    A = sp.csr_matrix(np.eye(3))
    d = _Rows(A, np.zeros(3), np.ones(3), np.ones(3), sp.csr_matrix((3, 3)))
    x = np.full(3, 0.5)
    assert polish._line_min(d, x, np.ones(3), x, A @ x, A @ np.ones(3), 1e4) == 0.0
