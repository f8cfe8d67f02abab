"""The scalar losses and penalties: one NumPy definition (ir.losses) and its compiled twin
(kernels.cd) under one code table (kernels.codes), held together here point by point,
and each checked against calculus (finite differences, Fenchel-Young)."""
from __future__ import annotations

import numpy as np
import pytest

from solvelab.ir import functions as F
from solvelab.ir import losses
from solvelab.kernels import cd as K
from solvelab.kernels import codes

Z = np.r_[np.linspace(-30, 30, 601), [-700.0, -40.0, 40.0, 700.0, 0.0, 1e-9, -1e-9]]
LOSSES = [(code, M) for code in codes.DATAFIT.values() for M in ((0.0,) if code != losses.HUBER else (0.3, 2.0))]


def test_one_code_table():
    assert set(codes.DATAFIT) == {"sum_squares", "logistic", "huber", "squared_hinge", "exp"}
    assert set(codes.DATAFIT_TITLE) == set(codes.DATAFIT.values()) == set(codes.DATAFIT_LIPSCHITZ)
    # the GLM family's names are aliases of this table, not a second one
    from solvelab.families.glm import DATAFIT_KIND, DATAFIT_NAME, L_PHI
    assert DATAFIT_KIND is codes.DATAFIT and DATAFIT_NAME is codes.DATAFIT_TITLE and L_PHI is codes.DATAFIT_LIPSCHITZ
    # every datafit code names an IR function of that name
    for name in codes.DATAFIT:
        assert any(getattr(c, "name", None) == name for c in vars(F).values() if isinstance(c, type))


@pytest.mark.parametrize("code,M", LOSSES)
def test_numpy_and_compiled_losses_agree(code, M):
    z = Z[np.abs(Z) < 700] if code == losses.EXP else Z
    for numpy_f, kernel_f in ((losses.value, K.phi_value), (losses.deriv, K.phi_deriv), (losses.curv, K.phi_curv)):
        got = numpy_f(code, z, M)
        want = np.array([kernel_f(code, float(v), M) for v in z])
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)
    y = losses.conj_domain(code, losses.deriv(code, z[np.abs(z) < 30], M))
    want = sum(K.phi_conj(code, float(v), M) for v in y)
    assert losses.conj_sum(code, y, M) == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("code,M", LOSSES)
def test_losses_obey_calculus(code, M):
    z = np.linspace(-5, 5, 101) + 1e-3          # off the kinks of Huber / squared hinge
    h = 1e-6
    fd = (losses.value(code, z + h, M) - losses.value(code, z - h, M)) / (2 * h)
    np.testing.assert_allclose(losses.deriv(code, z, M), fd, rtol=1e-6, atol=1e-6)
    fd2 = (losses.deriv(code, z + h, M) - losses.deriv(code, z - h, M)) / (2 * h)
    smooth = np.abs(np.abs(z) - M) > 1e-3 if code == losses.HUBER else np.ones_like(z, bool)
    np.testing.assert_allclose(losses.curv(code, z, M)[smooth], fd2[smooth], rtol=1e-5, atol=1e-5)
    # Fenchel-Young with equality at y = phi'(z): phi(z) + phi*(y) = z y
    y = losses.deriv(code, z, M)
    total = np.sum(losses.value(code, z, M)) + losses.conj_sum(code, y, M)
    assert total == pytest.approx(float(np.dot(z, y)), rel=1e-10, abs=1e-10)
    if code in (losses.LOGISTIC, losses.SQUARED_HINGE, losses.EXP):
        assert losses.conj_sum(code, np.array([-0.1]), M) == np.inf


@pytest.mark.parametrize("code,w1,r,gamma,t", [
    (losses.CONVEX, 0.7, 0.0, 0.0, 0.5), (losses.CONVEX, 0.7, 0.3, 0.0, 2.0),
    (losses.MCP, 1.0, 0.0, 3.0, 0.5), (losses.MCP, 0.4, 0.0, 2.0, 1.5),
    (losses.SCAD, 1.0, 0.0, 3.7, 0.5), (losses.SCAD, 0.5, 0.0, 3.0, 1.0)])
def test_numpy_and_compiled_penalties_agree(code, w1, r, gamma, t):
    v = np.linspace(-8, 8, 1601)
    got = losses.pen_prox(code, v, t, w1, r, gamma)
    want = np.array([K.prox1d(code, float(a), t, w1, r, -np.inf, np.inf, gamma) for a in v])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(losses.pen_value(code, v, w1, r, gamma),
                               [K.pen_value(code, float(a), w1, r, gamma) for a in v], rtol=1e-13, atol=1e-14)
    # the prox is the global minimizer of pen(x) + (x - v)^2 / (2t) (a grid search)
    grid = np.linspace(-10, 10, 200001)
    pen = losses.pen_value(code, grid, w1, r, gamma)
    for a in v[::80]:
        obj = lambda x: losses.pen_value(code, x, w1, r, gamma) + (x - a) ** 2 / (2 * t)  # noqa: E731
        assert obj(got[v == a]) <= np.min(pen + (grid - a) ** 2 / (2 * t)) + 1e-9
    # the slope is the derivative away from 0
    x = v[np.abs(v) > 1e-2] + 1e-4
    h = 1e-7
    fd = (losses.pen_value(code, x + h, w1, r, gamma) - losses.pen_value(code, x - h, w1, r, gamma)) / (2 * h)
    np.testing.assert_allclose(losses.pen_slope(code, x, w1, r, gamma), fd, rtol=1e-5, atol=1e-5)


def test_ir_functions_read_the_shared_definitions():
    rng = np.random.default_rng(1)
    z = 10 * rng.standard_normal(50)
    w = rng.random(50)
    assert F.Logistic().value(z) == pytest.approx(float(np.sum(np.logaddexp(0.0, z))), rel=1e-14)
    np.testing.assert_allclose(F.WeightedLogistic(w).grad(z), w / (1 + np.exp(-z)), rtol=1e-14)
    assert F.Huber(1.5).value(z) == pytest.approx(float(np.sum(losses.value(losses.HUBER, z, 1.5))), rel=0)
    assert F.SquaredHinge().value(z) == pytest.approx(float(np.sum(np.maximum(z, 0) ** 2)), rel=1e-14)
    assert F.Exp().conj(np.array([2.0, 0.0])) == pytest.approx(2 * np.log(2) - 2, rel=1e-14)
    from solvelab.families.glm import MCP, SCAD
    np.testing.assert_allclose(MCP(0.5, 3.0).prox(z, 0.7), losses.pen_prox(losses.MCP, z, 0.7, 0.5, 0.0, 3.0))
    np.testing.assert_allclose(SCAD(0.5, 3.7).prox(z, 0.7), losses.pen_prox(losses.SCAD, z, 0.7, 0.5, 0.0, 3.7))
