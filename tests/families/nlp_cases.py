"""Hand-written equality-constrained test problems with their published optima.

Hock, W. and Schittkowski, K., "Test Examples for Nonlinear Programming Codes", Lecture
Notes in Economics and Mathematical Systems 187, Springer 1981 (problems 6, 7, 27, 28,
39, 40, 48, 51, 79: start points, optimal points and values as printed there); the
BT-type problem is Byrd and Tapia's BT1-like rotation (CUTEst BT1: min 100 x1^2 + 100 x2^2
- x1 - 100 s.t. x1^2 + x2^2 - 1 = 0, f* = -1).

Each case: f, grad, Hessian of f, c, J, the Hessians of the c_i, x0, f*; ``arrays(case,
scale)`` returns the NumPy callables with the objective multiplied by ``scale`` and the
Lagrangian Hessian hess(x, lam) = scale Hf + sum lam_i Hc_i.
"""
from __future__ import annotations

import numpy as np

S2 = np.sqrt(2.0)


def _hs6():
    return dict(
        f=lambda x: (1 - x[0]) ** 2, g=lambda x: np.array([-2 * (1 - x[0]), 0.0]),
        H=lambda x: np.array([[2.0, 0], [0, 0]]),
        c=lambda x: np.array([10 * (x[1] - x[0] ** 2)]), J=lambda x: np.array([[-20 * x[0], 10.0]]),
        Hc=lambda x: [np.array([[-20.0, 0], [0, 0]])], x0=[-1.2, 1.0], fstar=0.0)


def _hs7():
    return dict(
        f=lambda x: np.log(1 + x[0] ** 2) - x[1],
        g=lambda x: np.array([2 * x[0] / (1 + x[0] ** 2), -1.0]),
        H=lambda x: np.array([[2 * (1 - x[0] ** 2) / (1 + x[0] ** 2) ** 2, 0], [0, 0]]),
        c=lambda x: np.array([(1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4]),
        J=lambda x: np.array([[4 * x[0] * (1 + x[0] ** 2), 2 * x[1]]]),
        Hc=lambda x: [np.array([[4 + 12 * x[0] ** 2, 0], [0, 2.0]])], x0=[2.0, 2.0], fstar=-np.sqrt(3.0))


def _hs27():
    return dict(
        f=lambda x: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2,
        g=lambda x: np.array([0.02 * (x[0] - 1) - 4 * x[0] * (x[1] - x[0] ** 2), 2 * (x[1] - x[0] ** 2), 0.0]),
        H=lambda x: np.array([[0.02 - 4 * x[1] + 12 * x[0] ** 2, -4 * x[0], 0], [-4 * x[0], 2.0, 0], [0, 0, 0]]),
        c=lambda x: np.array([x[0] + x[2] ** 2 + 1]), J=lambda x: np.array([[1.0, 0.0, 2 * x[2]]]),
        Hc=lambda x: [np.diag([0.0, 0.0, 2.0])], x0=[2.0, 2.0, 2.0], fstar=0.04)


def _hs28():
    return dict(
        f=lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2,
        g=lambda x: np.array([2 * (x[0] + x[1]), 2 * (x[0] + x[1]) + 2 * (x[1] + x[2]), 2 * (x[1] + x[2])]),
        H=lambda x: np.array([[2.0, 2, 0], [2, 4, 2], [0, 2, 2]]),
        c=lambda x: np.array([x[0] + 2 * x[1] + 3 * x[2] - 1]), J=lambda x: np.array([[1.0, 2.0, 3.0]]),
        Hc=lambda x: [np.zeros((3, 3))], x0=[-4.0, 1.0, 1.0], fstar=0.0)


def _hs39():
    return dict(
        f=lambda x: -x[0], g=lambda x: np.array([-1.0, 0, 0, 0]), H=lambda x: np.zeros((4, 4)),
        c=lambda x: np.array([x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2]),
        J=lambda x: np.array([[-3 * x[0] ** 2, 1.0, -2 * x[2], 0], [2 * x[0], -1.0, 0, -2 * x[3]]]),
        Hc=lambda x: [np.diag([-6 * x[0], 0, -2.0, 0]), np.diag([2.0, 0, 0, -2.0])], x0=[2.0] * 4, fstar=-1.0)


def _hs40():
    def H(x):
        a, b, c, d = x
        return -np.array([[0, c * d, b * d, b * c], [c * d, 0, a * d, a * c], [b * d, a * d, 0, a * b],
                          [b * c, a * c, a * b, 0]])
    return dict(
        f=lambda x: -x[0] * x[1] * x[2] * x[3],
        g=lambda x: -np.array([x[1] * x[2] * x[3], x[0] * x[2] * x[3], x[0] * x[1] * x[3], x[0] * x[1] * x[2]]),
        H=H,
        c=lambda x: np.array([x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]]),
        J=lambda x: np.array([[3 * x[0] ** 2, 2 * x[1], 0, 0], [2 * x[0] * x[3], 0, -1.0, x[0] ** 2],
                              [0, -1.0, 0, 2 * x[3]]]),
        Hc=lambda x: [np.diag([6 * x[0], 2.0, 0, 0]),
                      np.array([[2 * x[3], 0, 0, 2 * x[0]], [0, 0, 0, 0], [0, 0, 0, 0], [2 * x[0], 0, 0, 0]]),
                      np.diag([0, 0, 0, 2.0])], x0=[0.8] * 4, fstar=-0.25)


def _hs48():
    A = np.array([[1.0, 1, 1, 1, 1], [0, 0, 1, -2, -2]])
    return dict(
        f=lambda x: (x[0] - 1) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2,
        g=lambda x: np.array([2 * (x[0] - 1), 2 * (x[1] - x[2]), -2 * (x[1] - x[2]), 2 * (x[3] - x[4]),
                              -2 * (x[3] - x[4])]),
        H=lambda x: np.array([[2.0, 0, 0, 0, 0], [0, 2, -2, 0, 0], [0, -2, 2, 0, 0], [0, 0, 0, 2, -2],
                              [0, 0, 0, -2, 2]]),
        c=lambda x: A @ x - np.array([5.0, -3.0]), J=lambda x: A.copy(), Hc=lambda x: [np.zeros((5, 5))] * 2,
        x0=[3.0, 5.0, -3.0, 2.0, -2.0], fstar=0.0)


def _hs51():
    A = np.array([[1.0, 3, 0, 0, 0], [0, 0, 1, 1, -2], [0, 1, 0, 0, -1]])
    return dict(
        f=lambda x: (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2,
        g=lambda x: np.array([2 * (x[0] - x[1]), -2 * (x[0] - x[1]) + 2 * (x[1] + x[2] - 2),
                              2 * (x[1] + x[2] - 2), 2 * (x[3] - 1), 2 * (x[4] - 1)]),
        H=lambda x: np.array([[2.0, -2, 0, 0, 0], [-2, 4, 2, 0, 0], [0, 2, 2, 0, 0], [0, 0, 0, 2, 0],
                              [0, 0, 0, 0, 2]]),
        c=lambda x: A @ x - np.array([4.0, 0.0, 0.0]), J=lambda x: A.copy(), Hc=lambda x: [np.zeros((5, 5))] * 3,
        x0=[2.5, 0.5, 2.0, -1.0, 0.5], fstar=0.0)


def _hs79():
    def g(x):
        a, b, c, d, e = x
        return np.array([2 * (a - 1) + 2 * (a - b), -2 * (a - b) + 2 * (b - c),
                         -2 * (b - c) + 4 * (c - d) ** 3, -4 * (c - d) ** 3 + 4 * (d - e) ** 3, -4 * (d - e) ** 3])

    def H(x):
        a, b, c, d, e = x
        p, q = 12 * (c - d) ** 2, 12 * (d - e) ** 2
        return np.array([[4.0, -2, 0, 0, 0], [-2, 4, -2, 0, 0], [0, -2, 2 + p, -p, 0], [0, 0, -p, p + q, -q],
                         [0, 0, 0, -q, q]])
    return dict(
        f=lambda x: ((x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4
                     + (x[3] - x[4]) ** 4), g=g, H=H,
        c=lambda x: np.array([x[0] + x[1] ** 2 + x[2] ** 3 - 2 - 3 * S2, x[1] - x[2] ** 2 + x[3] + 2 - 2 * S2,
                              x[0] * x[4] - 2]),
        J=lambda x: np.array([[1.0, 2 * x[1], 3 * x[2] ** 2, 0, 0], [0, 1.0, -2 * x[2], 1.0, 0],
                              [x[4], 0, 0, 0, x[0]]]),
        Hc=lambda x: [np.diag([0, 2.0, 6 * x[2], 0, 0]), np.diag([0, 0, -2.0, 0, 0]),
                      np.array([[0, 0, 0, 0, 1.0], [0] * 5, [0] * 5, [0] * 5, [1.0, 0, 0, 0, 0]])],
        x0=[2.0] * 5, fstar=0.0787768209)


def _bt1():
    return dict(
        f=lambda x: 100 * x[0] ** 2 + 100 * x[1] ** 2 - x[0] - 100,
        g=lambda x: np.array([200 * x[0] - 1, 200 * x[1]]), H=lambda x: np.diag([200.0, 200.0]),
        c=lambda x: np.array([x[0] ** 2 + x[1] ** 2 - 1]), J=lambda x: np.array([[2 * x[0], 2 * x[1]]]),
        Hc=lambda x: [np.diag([2.0, 2.0])], x0=[0.08, 0.06], fstar=-1.0)


CASES = {"HS6": _hs6(), "HS7": _hs7(), "HS27": _hs27(), "HS28": _hs28(), "HS39": _hs39(), "HS40": _hs40(),
         "HS48": _hs48(), "HS51": _hs51(), "HS79": _hs79(), "BT1": _bt1()}


def arrays(case, scale: float = 1.0) -> dict:
    """The NumPy callables of a case with the objective multiplied by ``scale``."""
    def hess(x, lam):
        Hs = case["Hc"](x)
        return scale * case["H"](x) + sum(l * Hi for l, Hi in zip(lam, Hs))
    return dict(objective=lambda x: scale * case["f"](x), grad=lambda x: scale * case["g"](x), eq=case["c"],
                jac=case["J"], hess=hess, x0=np.asarray(case["x0"], dtype=float))


def build(name: str, scale: float = 1.0, **kw):
    import solvelab as sl
    from solvelab.problems.nlp import NLP
    a = arrays(CASES[name], scale)
    a.update(kw)
    return getattr(sl, "NLP", NLP)(a.pop("objective"), a.pop("x0"), **a)
