"""Coordinate-descent kernels: 1-D subproblems against brute force, conjugates by
Fenchel-Young, derivatives by finite differences, dense vs CSC sweeps, Gram, Anderson."""
import numpy as np
import pytest
import scipy.sparse as sp

from solvelab.kernels import cd as K

GRID = np.linspace(-6, 6, 240001)


def _pen_vec(kind, w1, r, gamma):
    from solvelab.ir.losses import pen_value
    return pen_value(kind, GRID, w1, r, gamma)


@pytest.mark.parametrize("kind,w1,r,gamma,t", [
    (0, 0.7, 0.0, 0.0, 0.5), (0, 0.7, 0.3, 0.0, 2.0), (0, 0.0, 1.0, 0.0, 1.0),
    (1, 1.0, 0.0, 3.0, 0.5), (1, 0.4, 0.0, 2.0, 1.5),
    (2, 1.0, 0.0, 3.7, 0.5), (2, 0.5, 0.0, 3.0, 1.0)])
def test_prox1d_is_the_global_minimizer(kind, w1, r, gamma, t):
    pen = _pen_vec(kind, w1, r, gamma)
    for v in (-4.3, -1.1, -0.3, 0.0, 0.2, 0.9, 1.6, 2.5, 5.0):
        z = K.prox1d(kind, v, t, w1, r, -np.inf, np.inf, gamma)
        obj = pen + (GRID - v) ** 2 / (2 * t)
        zb = GRID[np.argmin(obj)]
        val = K.pen_value(kind, z, w1, r, gamma) + (z - v) ** 2 / (2 * t)
        assert val <= obj.min() + 1e-9, (v, z, zb)
        assert abs(z - zb) < 1e-3


@pytest.mark.parametrize("lo,hi", [(0.0, np.inf), (-0.5, 0.25), (-np.inf, -1.0)])
def test_prox1d_with_bounds_is_clipped_minimizer(lo, hi):
    inside = (GRID >= lo) & (GRID <= hi)
    for v in (-2.0, -0.3, 0.1, 1.7):
        z = K.prox1d(0, v, 0.8, 0.6, 0.2, lo, hi, 0.0)
        obj = np.where(inside, 0.6 * np.abs(GRID) + 0.2 * GRID ** 2 + (GRID - v) ** 2 / 1.6, np.inf)
        assert lo <= z <= hi
        assert abs(z - GRID[np.argmin(obj)]) < 1e-3


@pytest.mark.parametrize("kind,w1,r,gamma", [(0, 0.7, 0.2, 0.0), (1, 1.0, 0.0, 3.0), (2, 1.0, 0.0, 3.7)])
def test_prox_point_has_zero_subdifferential_distance(kind, w1, r, gamma):
    # x = prox(v, t) <=> (v - x)/t in ∂pen(x): with g = -(v - x)/t the distance is 0
    for v in (-3.0, -0.4, 0.05, 1.2, 4.0):
        t = 0.5
        x = K.prox1d(kind, v, t, w1, r, -np.inf, np.inf, gamma)
        g = -(v - x) / t
        assert K.subdiff_dist(kind, x, g, w1, r, -np.inf, np.inf, gamma) < 1e-10
        assert K.subdiff_dist(kind, x, g + 0.3, w1, r, -np.inf, np.inf, gamma) > 0.0 or x == 0.0


@pytest.mark.parametrize("dkind,dpar", [(0, 0.0), (1, 0.0), (2, 0.7), (3, 0.0)])
def test_phi_derivative_and_conjugate(dkind, dpar):
    for z in (-2.3, -0.5, 0.1, 0.69, 1.8):
        h = 1e-6
        fd = (K.phi_value(dkind, z + h, dpar) - K.phi_value(dkind, z - h, dpar)) / (2 * h)
        d = K.phi_deriv(dkind, z, dpar)
        assert abs(fd - d) < 1e-5
        # Fenchel-Young with equality at y = phi'(z)
        assert abs(K.phi_value(dkind, z, dpar) + K.phi_conj(dkind, d, dpar) - z * d) < 1e-8


def test_pen_conj_matches_brute_force():
    for (w1, r, lo, hi) in [(0.5, 0.3, -np.inf, np.inf), (0.5, 0.0, -1.0, 2.0), (0.0, 0.4, 0.0, np.inf)]:
        inside = (GRID >= lo) & (GRID <= hi)
        for v in (-1.5, -0.2, 0.3, 1.1):
            brute = np.max(np.where(inside, v * GRID - w1 * np.abs(GRID) - r * GRID ** 2, -np.inf))
            assert abs(K.pen_conj(v, w1, r, lo, hi) - brute) < 1e-4
    assert K.pen_conj(1.0, 0.5, 0.0, -np.inf, np.inf) == np.inf


def _problem(seed=0, m=40, p=25, density=0.3):
    rng = np.random.default_rng(seed)
    S = sp.random(m, p, density=density, random_state=seed, format="csc")
    A = np.asfortranarray(S.toarray())
    b = rng.standard_normal(m)
    return A, S, b


@pytest.mark.parametrize("dkind", [0, 1, 2, 3])
@pytest.mark.parametrize("mode", [0, 1, 2])
def test_dense_and_csc_sweeps_agree_and_keep_residual(dkind, mode):
    A, S, b = _problem()
    m, p = A.shape
    s = np.where(np.arange(m) % 2 == 0, 1.0, -1.0) if dkind in (1, 3) else np.ones(m)
    bb = np.zeros(m) if dkind == 1 else b
    c, dpar = 1.0 / m, 0.5
    L = c * {0: 2.0, 1: 0.25, 2: 2.0, 3: 2.0}[dkind] * K.col_sqnorms_dense(A, s)
    w1, r = np.full(p, 0.01), np.zeros(p)
    lo, hi = np.full(p, -np.inf), np.full(p, np.inf)
    ws = np.arange(p, dtype=np.int64)
    Atb = np.zeros(1)
    out = []
    for dense in (True, False):
        x, u = np.zeros(p), np.zeros(m)
        if dense:
            K.cd_epochs_dense(A, s, bb, c, dkind, dpar, u, x, ws, L, 0, w1, r, lo, hi, 0.0, 7, mode, 3, Atb, False)
        else:
            K.cd_epochs_csc(S.data, S.indices, S.indptr, s, bb, c, dkind, dpar, u, x, ws, L, 0, w1, r, lo, hi, 0.0,
                            7, mode, 3, Atb, False)
        np.testing.assert_allclose(u, A @ x, atol=1e-12)
        out.append(x)
    np.testing.assert_allclose(out[0], out[1], atol=1e-12)


def test_fast_least_squares_path_equals_general_path():
    A, S, b = _problem(1)
    m, p = A.shape
    s = np.ones(m)
    c = 0.5 / m
    L = c * 2 * K.col_sqnorms_csc(S.data, S.indices, S.indptr, s)
    w1, r = np.full(p, 0.02), np.full(p, 0.01)
    lo, hi = np.full(p, -np.inf), np.full(p, np.inf)
    ws = np.arange(p, dtype=np.int64)
    res = []
    for fast in (True, False):
        x, u = np.zeros(p), np.zeros(m)
        K.cd_epochs_csc(S.data, S.indices, S.indptr, s, b, c, 0, 0.0, u, x, ws, L, 0, w1, r, lo, hi, 0.0, 5, 0, 0,
                        A.T @ b, fast)
        res.append(x)
    np.testing.assert_allclose(res[0], res[1], atol=1e-12)


def test_blocked_gram_equals_the_sparse_kernel():
    """gram_csc_blocked (dense row blocks through BLAS) gives gram_csc's matrix: blocks that
    do not divide m, a column subset in any order, an empty column, weights (some zero)."""
    rng = np.random.default_rng(3)
    m, p = 203, 9
    A = np.where(rng.random((m, p)) < 0.6, rng.standard_normal((m, p)), 0.0)
    A[:, 4] = 0.0
    S = sp.csc_matrix(A)
    S.sort_indices()
    w2 = rng.uniform(0.0, 2.0, m)
    w2[::7] = 0.0
    for cols in (np.arange(p, dtype=np.int64), np.array([6, 4, 0, 2], dtype=np.int64)):
        ref = K.gram_csc(S.data, S.indices, S.indptr, cols, w2, m)
        for block in (1, 16, 64, 500):
            G = K.gram_csc_blocked(S.data, S.indices, S.indptr, cols, w2, m, block)
            np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ref, (A[:, cols] * w2[:, None]).T @ A[:, cols], atol=1e-12)


def test_blocked_gram_is_chosen_only_where_it_pays():
    from solvelab.backends.cd.common import dense_gram_pays
    assert dense_gram_pays(49990, 22, 649870)            # ijcnn1: 59% dense
    assert not dense_gram_pays(32561, 123, 451592)       # a9a: 11%
    assert not dense_gram_pays(0, 5, 0) and not dense_gram_pays(10, 0, 0)


def test_gram_mode_matches_column_mode():
    A, S, b = _problem(2)
    m, p = A.shape
    s = np.ones(m)
    c = 0.5 / m
    S.sort_indices()
    G = K.gram_csc(S.data, S.indices, S.indptr, np.arange(p, dtype=np.int64), s, m)
    np.testing.assert_allclose(G, A.T @ A, atol=1e-12)
    cols = np.array([3, 0, 5], dtype=np.int64)          # any subset, any order, with weights
    w = np.linspace(0.5, 2.0, m)
    np.testing.assert_allclose(K.gram_csc(S.data, S.indices, S.indptr, cols, w ** 2, m),
                               (A[:, cols] * w[:, None] ** 2).T @ A[:, cols], atol=1e-12)
    w1, r = np.full(p, 0.02), np.zeros(p)
    lo, hi = np.full(p, -np.inf), np.full(p, np.inf)
    x1, u = np.zeros(p), np.zeros(m)
    L = 2 * c * np.diag(G)
    K.cd_epochs_dense(A, s, b, c, 0, 0.0, u, x1, np.arange(p, dtype=np.int64), L, 0, w1, r, lo, hi, 0.0, 6, 0, 0,
                      np.zeros(1), False)
    x2 = np.zeros(p)
    gw = -(A.T @ b)
    stats = np.zeros(3, dtype=np.int64)
    # tol < 0: never met, so exactly 6 sweeps (no Anderson)
    met = K.cd_gram_solve(np.ascontiguousarray(G), gw, x2, 2 * c, w1, r, lo, hi, 0, 0.0, 0.0, 6, -1.0, 0, stats)
    assert met == 0 and stats[0] == 6
    np.testing.assert_allclose(x1, x2, atol=1e-10)
    np.testing.assert_allclose(gw, G @ x2 - A.T @ b, atol=1e-10)


def _gram_problem(seed=4, m=80, p=15):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, p))
    A[:, 1] = A[:, 0] + 0.05 * rng.standard_normal(m)          # correlated columns: slow CD
    b = rng.standard_normal(m)
    return np.ascontiguousarray(A.T @ A / m), A.T @ b / m


def test_gram_solve_meets_its_tolerance_with_every_selection_and_anderson():
    """cd_gram_solve stops on the working-set KKT residual; cyclic, random and exact greedy
    (Gauss-Southwell-Lipschitz) selection, with and without Anderson, reach the same point."""
    G, q = _gram_problem()
    p = q.size
    w1, r = np.full(p, 0.05), np.zeros(p)
    lo, hi = np.full(p, -np.inf), np.full(p, np.inf)
    sols = []
    for mode in (0, 1, 2):
        for K_and in (0, 5):
            x, gw = np.zeros(p), -q.copy()
            stats = np.zeros(3, dtype=np.int64)
            if mode == 0:
                met = K.cd_gram_solve(G, gw, x, 1.0, w1, r, lo, hi, 0, 0.0, 0.0, 100000, 1e-12, K_and, stats)
            else:
                met = K.cd_gram_solve_ordered(G, gw, x, 1.0, w1, r, lo, hi, 0, 0.0, 0.0, 100000, mode, 3, 1e-12, K_and,
                                              stats)
            assert met == 1
            np.testing.assert_allclose(gw, G @ x - q, atol=1e-12)
            kkt = np.zeros(p)
            K.kkt_scores(x, gw, 0, w1, r, lo, hi, 0.0, kkt)
            assert kkt.max() <= 1e-12
            if K_and:
                assert stats[1] > 0 and stats[2] <= stats[1]
            sols.append((mode, K_and, x, int(stats[0])))
    for _, _, x, _ in sols[1:]:
        np.testing.assert_allclose(x, sols[0][2], atol=1e-9)
    by = {(m_, k_): ep for m_, k_, _, ep in sols}
    # exact greedy picks the most useful coordinate each step: fewer sweeps than cyclic here
    assert by[(2, 0)] < by[(0, 0)]


def test_anderson_extrapolation_solves_its_least_squares_problem():
    # oracle: c = argmin ||U^T c|| s.t. sum c = 1 from the KKT system of the constrained
    # least squares, solved densely (independent of the kernel's Cholesky)
    rng = np.random.default_rng(0)
    it = np.cumsum(rng.standard_normal((6, 9)) * 0.5 ** np.arange(6)[:, None], axis=0)
    U = np.diff(it, axis=0)
    G = U @ U.T
    G += 1e-10 * np.trace(G) * np.eye(5)
    kkt = np.block([[2 * G, np.ones((5, 1))], [np.ones((1, 5)), np.zeros((1, 1))]])
    c = np.linalg.solve(kkt, np.r_[np.zeros(5), 1.0])[:5]
    out = np.empty(9)
    assert K._anderson_into(it, 1e-10, np.empty((5, 5)), np.empty(5), out)
    np.testing.assert_allclose(out, c @ it[1:], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(K.anderson_extrapolate(it), out, rtol=0, atol=0)
    # the iterates did not move: nothing to extrapolate
    assert not K._anderson_into(np.ones((4, 3)), 1e-10, np.empty((3, 3)), np.empty(3), np.empty(3))
    assert K.anderson_extrapolate(np.ones((4, 3))) is None


def test_block_sweep_solves_group_lasso_optimality():
    A, S, b = _problem(3, m=60, p=12, density=0.6)
    m, p = A.shape
    s = np.ones(m)
    c = 0.5 / m
    gptr = np.array([0, 3, 6, 9, 12], dtype=np.int64)
    gidx = np.arange(12, dtype=np.int64)
    gw = np.full(4, 0.05)
    LG = np.array([c * 2 * np.linalg.norm(A[:, gidx[gptr[k]:gptr[k + 1]]], 2) ** 2 for k in range(4)])
    zeros = np.zeros(p)
    lo, hi = np.full(p, -np.inf), np.full(p, np.inf)
    x, u = np.zeros(p), np.zeros(m)
    K.bcd_epochs_csc(S.data, S.indices, S.indptr, s, b, c, 0, 0.0, u, x, gptr, gidx, gw, LG,
                     np.arange(4, dtype=np.int64), 0, zeros, zeros, lo, hi, 0.0, 3000)
    g = 2 * c * A.T @ (A @ x - b)
    for k in range(4):
        sl_ = slice(gptr[k], gptr[k + 1])
        nx = np.linalg.norm(x[sl_])
        if nx > 0:
            np.testing.assert_allclose(g[sl_], -gw[k] * x[sl_] / nx, atol=1e-8)
        else:
            assert np.linalg.norm(g[sl_]) <= gw[k] + 1e-10


def test_anderson_recovers_the_limit_of_a_linear_iteration():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((5, 5))
    M = 0.5 * M / np.linalg.norm(M, 2)
    q = rng.standard_normal(5)
    fix = np.linalg.solve(np.eye(5) - M, q)
    xs = [np.zeros(5)]
    for _ in range(6):
        xs.append(M @ xs[-1] + q)
    xa = K.anderson_extrapolate(np.array(xs))
    assert np.linalg.norm(xa - fix) < 1e-6 * np.linalg.norm(fix)
    assert np.linalg.norm(xs[-1] - fix) > 1e-3


@pytest.mark.parametrize("n", [0, 1, 2, 7, 64])
def test_visit_order_is_a_permutation(n):
    """_order (hand-written, no NumPy sort/random machinery): cyclic is the identity,
    random a permutation that changes with the epoch, greedy sorts scores decreasingly."""
    rng = np.random.default_rng(n)
    ws = np.arange(n, dtype=np.int64)
    scores = rng.random(n)
    scores[: n // 3] = 0.5                                   # ties
    assert np.array_equal(K._order(ws, scores, 0, 0, 0), np.arange(n))
    for seed, ep in [(0, 0), (3, 1), (2 ** 40, 7), (-5, 2)]:
        o = K._order(ws, scores, 1, seed, ep)
        assert np.array_equal(np.sort(o), np.arange(n))
    if n >= 7:
        assert not np.array_equal(K._order(ws, scores, 1, 3, 1), K._order(ws, scores, 1, 3, 2))
    o = K._order(ws, scores, 2, 0, 0)
    assert np.array_equal(np.sort(o), np.arange(n))
    assert np.all(np.diff(scores[o]) <= 0)


def test_gram_of_distinct_rows_equals_the_weighted_gram():
    """rows_of_cols + gram_rows (one row per group of identical rows, with the group's
    summed weight) give the weighted Gram matrix of all rows, as gram_csc (whose rows of
    weight zero are skipped) does."""
    rng = np.random.default_rng(3)
    base = sp.random(40, 12, density=0.3, random_state=3, format="csr", data_rvs=lambda k: rng.integers(1, 3, k))
    rows = rng.integers(0, 40, 300)                     # 300 rows drawn from 40 distinct ones
    S = sp.csc_matrix(base[rows])
    S.sort_indices()
    m, p = S.shape
    A = S.toarray()
    cols = np.array([0, 2, 3, 5, 7, 8, 10, 11], dtype=np.int64)
    w = rng.random(m)
    w[::7] = 0.0
    ref = (A[:, cols] * w[:, None]).T @ A[:, cols]
    np.testing.assert_allclose(K.gram_csc(S.data, S.indices, S.indptr, cols, w, m), ref, atol=1e-12)
    # groups of identical rows of A[:, cols], one representative each
    _, first, group = np.unique(A[:, cols], axis=0, return_index=True, return_inverse=True)
    group = group.ravel()
    slot = np.full(m, -1, dtype=np.int32)
    slot[first] = np.arange(first.size, dtype=np.int32)
    rp, rc, rv = K.rows_of_cols(S.data, S.indices, S.indptr, cols, slot, first.size)
    R = sp.csr_matrix((rv, rc, rp), shape=(first.size, cols.size)).toarray()
    np.testing.assert_array_equal(R, A[first][:, cols])
    wg = np.bincount(group, weights=w, minlength=first.size)
    np.testing.assert_allclose(K.gram_rows(rp, rc, rv, wg, cols.size), ref, atol=1e-12)
