"""pdhg's evaluation kernels against the numpy formulas they replace: the LP certificate's
parts at a scaled point (``kernels.lp_measures.lp_parts`` / ``row_ratio_reads`` against
``families.lp.measures``), the two ray screens against ``check_farkas`` /
``check_unbounded_ray``, the Numba Ruiz scaling against scipy's diagonal products, and the
small-Gram norm of a matrix operator against its mat-vec definition."""
import importlib

import numpy as np
import pytest
import scipy.sparse as sp

from solvelab.families.lp import LPProgram, check_farkas, check_unbounded_ray, measures
from solvelab.families.lp.certificate import RAY_TOL
from solvelab.ir.linop import LinearOperator, MatrixOperator
from solvelab.kernels import lp_measures as KM
from solvelab.kernels import pdhg as K

pdhg = importlib.import_module("solvelab.backends.pdhg")


def _lp(seed, scale=1.0, m=25, n=35):
    """An LP with every kind of row and column bound, entries spread over 1e-3..1e3."""
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=0.3, random_state=rng, data_rvs=rng.standard_normal).tocsr()
    A = sp.diags(10.0 ** rng.uniform(-3, 3, m)) @ A @ sp.diags(10.0 ** rng.uniform(-1, 1, n))
    kind = rng.integers(0, 4, m)
    base = rng.standard_normal(m)
    rl = np.where(kind != 2, base - (kind == 3), -np.inf) * scale
    ru = np.where(kind != 1, base + (kind == 3), np.inf) * scale
    ck = rng.integers(0, 3, n)
    l = np.where(ck == 1, -np.inf, 0.0)
    u = np.where(ck == 2, 3.0, np.inf)
    return LPProgram(rng.standard_normal(n) * scale, sp.csr_matrix(A * scale), rl, ru, l, u)


def _point(run, rng, S, lp):
    """A random scaled point whose y has the signs its rows allow (as a PDHG step's)."""
    m, n = lp.shape
    x = rng.standard_normal(n) * 10.0 ** rng.uniform(-2, 2, n)
    x = np.clip(x, run.vec[1], run.vec[2])
    y = rng.standard_normal(m)
    y = np.where(np.isfinite(run.vec[3]), y, np.minimum(y, 0.0))
    y = np.where(np.isfinite(run.vec[4]), y, np.maximum(y, 0.0))
    return x, S.A @ x, y, S.AT @ y


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("seed", range(4))
def test_the_parts_kernel_gives_the_certificates_measures(seed, scale):
    lp = _lp(seed, scale)
    S = pdhg.Scaled(lp)
    run = pdhg._Run(lp, S, True)
    rng = np.random.default_rng(100 + seed)
    for _ in range(5):
        pt = _point(run, rng, S, lp)
        p, d, g, P = run.assess(pt)
        want = measures(lp, *run.original(*pt), reads=0.0)
        np.testing.assert_allclose([p, d, g, P], want[:4], rtol=1e-9, atol=0)
        with_reads = measures(lp, *run.original(*pt))[0]
        np.testing.assert_allclose(run.primal_with_reads(pt), with_reads, rtol=1e-9, atol=0)
        assert run.primal_with_reads(pt) <= p   # the row sizes only enlarge the denominators


def test_a_nan_point_is_reported_not_measured():
    lp = _lp(0)
    S = pdhg.Scaled(lp)
    run = pdhg._Run(lp, S, True)
    x, Ax, y, ATy = _point(run, np.random.default_rng(0), S, lp)
    Ax[3] = np.nan
    assert run.assess((x, Ax, y, ATy)) is None


def test_a_multiplier_outside_its_signs_falls_back_to_the_projection():
    lp = _lp(1)
    S = pdhg.Scaled(lp)
    run = pdhg._Run(lp, S, True)
    x, Ax, y, ATy = _point(run, np.random.default_rng(1), S, lp)
    free_below = np.flatnonzero(~np.isfinite(lp.rl))
    y[free_below[0]] = 5.0   # a positive multiplier on a row without a lower bound
    ATy = S.AT @ y
    got = run.assess((x, Ax, y, ATy))
    want = measures(lp, *run.original(x, Ax, y, ATy), reads=0.0)
    np.testing.assert_allclose(got, want[:4], rtol=1e-12, atol=0)


def _infeasible_lp():
    """x1 + x2 <= 1 and x1 + x2 >= 3 with x >= 0: the multipliers (-1, 1) prove it."""
    A = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0], [1.0, -1.0]]))
    return LPProgram(np.array([1.0, 2.0]), A, np.array([-np.inf, 3.0, -5.0]), np.array([1.0, np.inf, 5.0]),
                     np.zeros(2), np.full(2, np.inf))


def _unbounded_lp():
    """min -x1 with x1 - x2 <= 1, x >= 0: the ray (1, 1) descends."""
    A = sp.csr_matrix(np.array([[1.0, -1.0], [0.0, 1.0]]))
    return LPProgram(np.array([-1.0, 0.0]), A, np.array([-np.inf, 0.0]), np.array([1.0, np.inf]),
                     np.zeros(2), np.full(2, np.inf))


@pytest.mark.parametrize("seed", range(6))
def test_the_ray_screens_agree_with_the_ray_checks(seed):
    rng = np.random.default_rng(seed)
    for lp, y_ray, x_ray in ((_infeasible_lp(), np.array([-1.0, 1.0, 0.0]), None),
                             (_unbounded_lp(), None, np.array([1.0, 1.0])), (_lp(seed), None, None)):
        S = pdhg.Scaled(lp)
        run = pdhg._Run(lp, S, True)
        c, l, u, rl, ru = run._orig_vectors()
        ratio = S.alpha / S.beta
        p0 = _point(run, rng, S, lp)
        for trial in range(6):
            x1, y1 = p0[0].copy(), p0[2].copy()
            if trial % 2 == 0 and y_ray is not None:   # along the true ray, at a random length
                y1 = y1 + S.y_in(y_ray) * 10.0 ** rng.uniform(0, 4)
            elif trial % 2 == 0 and x_ray is not None:
                x1 = x1 + S.x_in(x_ray) * 10.0 ** rng.uniform(0, 4)
            else:
                x1 = np.clip(x1 + rng.standard_normal(x1.size), run.vec[1], run.vec[2])
                y1 = y1 + rng.standard_normal(y1.size)
            p1 = (x1, S.A @ x1, y1, S.AT @ y1)
            o1, o0 = run.original(*p1), run.original(*p0)
            fk = KM.farkas_ray(p1[2], p1[3], p0[2], p0[3], S.dr, S.dc, ratio, l, u, rl, ru, RAY_TOL)
            farkas = check_farkas(lp, o1[2] - o0[2], o1[3] - o0[3])
            assert KM.ray_passes(fk, lp.norm_A * fk[3], RAY_TOL) == farkas
            dk = KM.descent_ray(p1[0], p1[1], p0[0], p0[1], S.dr, S.dc, S.beta, c, l, u, rl, ru, RAY_TOL)
            descent = check_unbounded_ray(lp, o1[0] - o0[0], o1[1] - o0[1])
            assert KM.ray_passes(dk, lp.norm_A, RAY_TOL) == descent
            if trial == 0:   # the true rays are found, and only they
                assert farkas == (y_ray is not None) and descent == (x_ray is not None)


def _ruiz_reference(A, iters):
    """The scaling as scipy's diagonal products compute it (the kernel's definition)."""
    m, n = A.shape
    dr, dc = np.ones(m), np.ones(n)
    M = abs(sp.csr_matrix(A))
    for _ in range(iters):
        S = sp.diags(dr) @ M @ sp.diags(dc)
        rmax = np.asarray(S.max(axis=1).todense()).ravel()
        cmax = np.asarray(S.max(axis=0).todense()).ravel()
        dr = dr / np.sqrt(np.where(rmax > 0, rmax, 1.0))
        dc = dc / np.sqrt(np.where(cmax > 0, cmax, 1.0))
    S = sp.diags(dr) @ M @ sp.diags(dc)
    r1, c1 = np.asarray(S.sum(axis=1)).ravel(), np.asarray(S.sum(axis=0)).ravel()
    return dr / np.sqrt(np.where(r1 > 0, r1, 1.0)), dc / np.sqrt(np.where(c1 > 0, c1, 1.0))


@pytest.mark.parametrize("iters", [0, 1, 10])
def test_ruiz_kernel_matches_the_diagonal_products(iters):
    A = _lp(3, m=40, n=30).A.tolil()
    A[7, :] = 0.0   # an empty row and column keep scale 1
    A[:, 4] = 0.0
    A = A.tocsr()
    dr, dc = K.ruiz(A, iters)
    rr, rc = _ruiz_reference(A, iters)
    np.testing.assert_allclose(dr, rr, rtol=1e-13)
    np.testing.assert_allclose(dc, rc, rtol=1e-13)
    assert dr[7] == 1.0 and dc[4] == 1.0
    S = pdhg.Scaled(LPProgram(np.ones(30), A, np.zeros(40), np.ones(40), np.zeros(30), np.ones(30)), iters)
    want = (sp.diags(dr) @ A @ sp.diags(dc)).toarray()
    np.testing.assert_allclose(S.A.toarray(), want, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(S.AT.toarray(), S.A.toarray().T)


@pytest.mark.parametrize("kind", ["sparse_tall", "dense_wide", "sparse_wide_1e6"])
def test_the_small_gram_norm_equals_the_matvec_one(kind):
    rng = np.random.default_rng(5)
    M = {"sparse_tall": sp.random(60, 20, 0.2, random_state=1, format="csr"),
         "dense_wide": rng.standard_normal((30, 70)),
         "sparse_wide_1e6": sp.random(40, 300, 0.05, random_state=2, format="csc") * 1e6}[kind]
    op = MatrixOperator(M)
    exact = np.linalg.norm(M.toarray() if sp.issparse(M) else M, 2)
    got = op._norm_small()
    assert got == pytest.approx(LinearOperator._norm_small(op), rel=1e-13)
    assert exact <= got <= exact * (1 + 1e-10)
