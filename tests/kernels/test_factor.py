"""The factorization cache: correct solves on every path, symbolic analysis reused."""
import numpy as np
import pytest
import scipy.sparse as sp

from solvelab.kernels import factor


def _spd(n, seed=0):
    rng = np.random.default_rng(seed)
    M = sp.random(2 * n, n, density=0.05, random_state=seed, format="csr") + sp.eye(2 * n, n)
    return (M.T @ M + 1e-3 * sp.identity(n)).tocsc(), rng.standard_normal(n)


def _quasi_definite(n, m, seed=0):
    rng = np.random.default_rng(seed)
    M = sp.random(m, n, density=0.1, random_state=seed, format="csr")
    K = sp.bmat([[1e-6 * sp.identity(n), M.T], [M, -sp.diags(1.0 / rng.uniform(0.1, 10, m))]], format="csc")
    return K, rng.standard_normal(n + m)


@pytest.fixture(params=["cholmod", "scipy"])
def path(request, monkeypatch):
    if request.param == "cholmod":
        if factor.cholmod_module() is None:
            pytest.skip("scikit-sparse (CHOLMOD) is not installed")
        monkeypatch.delenv("SOLVELAB_NO_CHOLMOD", raising=False)
    else:
        monkeypatch.setenv("SOLVELAB_NO_CHOLMOD", "1")
    return request.param


def test_dense_cholesky_solves():
    K, rhs = _spd(50)
    f = factor.DenseCholesky(K)
    assert np.allclose(K @ f.solve(rhs), rhs, atol=1e-8)


def test_sparse_spd_solves(path):
    K, rhs = _spd(300)
    f = factor.SparseSymmetric(K)
    assert f.kind == ("cholmod-cholesky" if path == "cholmod" else "superlu")
    assert np.linalg.norm(K @ f.solve(rhs) - rhs) <= 1e-8 * np.linalg.norm(rhs)


def test_quasi_definite_ldl_solves(path):
    K, rhs = _quasi_definite(200, 120)
    f = factor.SparseSymmetric(K, quasi_definite=True)
    assert np.linalg.norm(K @ f.solve(rhs) - rhs) <= 1e-8 * np.linalg.norm(rhs)


def test_refactor_reuses_symbolic_analysis(path):
    K, rhs = _spd(200)
    f = factor.SparseSymmetric(K)
    sym, num = factor.stats.symbolic, factor.stats.numeric
    K2 = K.copy()
    K2.data *= 3.0
    assert f.same_pattern(K2)
    f.refactor(K2)
    assert factor.stats.symbolic == sym and factor.stats.numeric == num + 1
    assert np.allclose(K2 @ f.solve(rhs), rhs, atol=1e-8)


def test_nan_matrix_is_a_named_error(path):
    K, _ = _spd(40)
    K = K.copy()
    K.data[0] = np.nan
    with pytest.raises(factor.FactorizationError, match="NaN"):
        factor.SparseSymmetric(K)
    with pytest.raises(factor.FactorizationError, match="NaN"):
        factor.DenseCholesky(K)


def test_indefinite_matrix_is_refused_by_cholesky():
    K = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(factor.FactorizationError):
        factor.DenseCholesky(K)


def test_backend_name_follows_environment(monkeypatch):
    monkeypatch.setenv("SOLVELAB_NO_CHOLMOD", "1")
    assert factor.backend_name() == "scipy-superlu"
