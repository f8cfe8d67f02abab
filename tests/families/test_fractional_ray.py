"""The fractional family's refusal to certify a point that runs off on a ray of G's null
space toward an infimum no point attains (FractionalProgram.ray_limit, the certificate's
``attained`` measure), and the backends' stop there."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl


def _correlated(seed, m, n):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, n))
    return G, G @ rng.standard_normal(n) + 0.1 * rng.standard_normal(m)


def _ray_problem(lam=0.01, seed=5):
    """Columns 0 and 1 of G are equal, so v = e0 - e1 has G v = 0: along x + a v the
    ratio falls toward lam |v|_1 / |v|_2 = lam sqrt 2, below every finite critical point."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((30, 6))
    G[:, 1] = G[:, 0]
    y = G @ rng.standard_normal(6)
    return sl.problems.sparse_recovery(G, y, lam=lam, denominator="l2"), lam * np.sqrt(2.0)


def test_a_point_far_out_on_a_null_ray_is_never_certified():
    prob, limit = _ray_problem()
    p = prob.program
    v = np.zeros(6)
    v[0], v[1] = 1.0, -1.0
    x = 1e9 * v + np.linalg.lstsq(p.G, p.y, rcond=None)[0]
    assert p.ray_limit(x) == pytest.approx(limit, rel=1e-6)
    cert = p.certify(x)
    assert cert.attained == np.inf and not cert.meets(1e-3)
    G, y = _correlated(6, m=30, n=6)   # full column rank: no null ray, an attained minimum
    ordinary = sl.problems.sparse_recovery(G, y, lam=0.01, denominator="l2")
    res = ordinary.solve(backend="dinkelbach", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL and res.certificate.attained == 0.0
    assert ordinary.program.ray_limit(1e9 * res.x) is None


def test_dinkelbach_stops_on_a_ray_and_says_the_infimum_is_not_attained():
    prob, limit = _ray_problem()
    res = prob.solve(backend="dinkelbach", tol=1e-9, max_iter=20000)
    assert res.status is not sl.Status.OPTIMAL
    assert "no minimizer" in res.message and "not attained" in res.message
    assert f"{limit:.6g}" in res.message            # the ray's limit, lam sqrt 2, is named
    assert res.objective >= limit
    # moving along v = e0 - e1 takes two coordinates at once: fractional_cd stops at a
    # coordinate-wise minimum that is not critical, and does not claim it either
    res = prob.solve(backend="fractional_cd", tol=1e-9, max_iter=20000)
    assert res.status is not sl.Status.OPTIMAL and res.objective > limit


def test_a_scale_invariant_ratio_is_not_a_ray():
    """N without a constant (c0 = 0) over a norm: F(a x) = F(x); the minimum is attained on
    the whole ray, and ray_limit must not call it unattained."""
    rng = np.random.default_rng(7)
    x = cp.Variable(4)
    q = rng.standard_normal(4)
    prob = sl.problems.Fractional(q @ x + 2.0 * cp.norm1(x), cp.norm2(x), [x >= 1])
    p = prob.program
    z = 1.0 + np.abs(rng.standard_normal(4))
    assert p.ray_limit(z) is None and p.ray_limit(1e12 * z) is None
