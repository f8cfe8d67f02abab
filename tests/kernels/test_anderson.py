"""Anderson acceleration: faster on a linear contraction, safeguard undoes bad steps."""
import numpy as np

from solvelab.kernels.anderson import Anderson


def _iterate(T, w, steps, aa=None):
    for _ in range(steps):
        tw = T(w)
        w = aa.step(w, tw)[0] if aa is not None else tw
    return w


def test_accelerates_a_slow_linear_contraction():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    M = Q @ np.diag(np.linspace(0.5, 0.995, 30)) @ Q.T
    c = rng.standard_normal(30)
    fixed = np.linalg.solve(np.eye(30) - M, c)

    def T(w):
        return M @ w + c

    plain = _iterate(T, np.zeros(30), 80)
    fast = _iterate(T, np.zeros(30), 80, Anderson(memory=10))
    assert np.linalg.norm(fast - fixed) < 1e-6 * np.linalg.norm(fixed)
    assert np.linalg.norm(plain - fixed) > 1e-2 * np.linalg.norm(fixed)


def test_safeguard_returns_the_plain_step_when_the_residual_grows():
    aa = Anderson(memory=3)
    w0, w1 = np.zeros(2), np.array([1.0, 0.0])
    aa.step(w0, w1)
    out, extrapolated = aa.step(w1, np.array([1.5, 0.0]))
    assert extrapolated
    # a residual far larger than the one the extrapolation started from: undo it
    back, extrapolated = aa.step(out, out + 100.0)
    assert not extrapolated and np.array_equal(back, np.array([1.5, 0.0])) and aa.rejected == 1


def test_non_finite_residual_resets_instead_of_propagating():
    aa = Anderson()
    out, ext = aa.step(np.zeros(3), np.array([np.nan, 0.0, 0.0]))
    assert not ext and aa.accepted == 0
    out, ext = aa.step(np.zeros(3), np.ones(3))
    assert not ext and np.array_equal(out, np.ones(3))
