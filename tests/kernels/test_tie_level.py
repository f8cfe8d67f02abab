"""kernels.fractional.tie_level (the fractional certificate's best subgradient of an l1 /
top-k denominator on ties) against the linear program it solves, by scipy's HiGHS."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from solvelab.kernels.fractional import tie_level


def _lp_level(sig, Lo, Up, c, signed, hi):
    """min r over (theta, u, r): sig_i theta_i - r <= Up_i, -sig_i theta_i - r <= -Lo_i,
    0 <= r <= hi; unsigned: theta in [0, 1], sum theta = c; signed: theta in [-1, 1],
    |theta_i| <= u_i, sum u <= c. None where even r = hi is infeasible."""
    T = sig.size
    nv = 2 * T + 1                      # theta, u, r
    A, b = [], []
    for i in range(T):
        for sign, bound in ((1.0, Up[i]), (-1.0, -Lo[i])):
            if np.isfinite(bound):
                row = np.zeros(nv)
                row[i], row[-1] = sign * sig[i], -1.0
                A.append(row)
                b.append(bound)
        if signed:
            for s in (1.0, -1.0):
                row = np.zeros(nv)
                row[i], row[T + i] = s, -1.0
                A.append(row)
                b.append(0.0)
    eq = None
    if signed:
        row = np.zeros(nv)
        row[T:2 * T] = 1.0
        A.append(row)
        b.append(c)
    else:
        eq = np.zeros((1, nv))
        eq[0, :T] = 1.0
    bounds = [(-1.0 if signed else 0.0, 1.0)] * T + [(0.0, None)] * T + [(0.0, hi)]
    cost = np.zeros(nv)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=np.array(A) if A else None, b_ub=np.array(b) if b else None,
                  A_eq=eq, b_eq=None if eq is None else [c], bounds=bounds, method="highs")
    return res.x[-1] if res.status == 0 else None


@pytest.mark.parametrize("signed", [False, True])
def test_tie_level_is_the_lp_minimum(signed):
    rng = np.random.default_rng(1 + signed)
    checked = 0
    for _ in range(200):
        T = int(rng.integers(1, 7))
        sig = rng.standard_normal(T)
        Lo = rng.standard_normal(T)
        Up = Lo + np.abs(rng.standard_normal(T))
        if rng.random() < 0.3:
            Up[rng.integers(T)] = np.inf
        c = float(rng.integers(1, T + 1)) if not signed else rng.random() * T
        hi = 5.0
        got = tie_level(sig, Lo, Up, c, signed, hi)
        ref = _lp_level(sig, Lo, Up, c, signed, hi)
        if ref is None:
            assert got == hi            # infeasible up to hi: the kernel reports hi
            continue
        assert got == pytest.approx(ref, abs=1e-9 * hi)
        checked += 1
    assert checked > 100


def test_no_ties_cost_nothing():
    assert tie_level(np.zeros(0), np.zeros(0), np.zeros(0), 0.0, False, 1.0) == 0.0
