"""The least-squares estimators' programs built straight from (X, y), without CVXPY.

A cold ``fit`` used to declare ``sum_squares(X @ w + b - y) / (2 n) + lam * norm1(w)`` in
CVXPY and compile it. On tall data that was most of the fit: CVXPY copies X into a
Constant (3.4 ms of a 17 ms fit on ijcnn1, 650k entries), and compiling the tree took
another 1.8 ms. The terms below are the ones the compiler produces for that expression
(the same functions, operators, offsets and weights; ``tests/test_sklearn_program.py``
compares the two), so every backend, form and certificate sees the same program.

X is referenced, not copied (as scikit-learn's own estimators do); y is copied.
"""
from __future__ import annotations

import numpy as np

from ..ir.functions import L1Norm, NonNeg, SumSquares
from ..ir.linop import (BlockRowOperator, ComposedOperator, DiagonalOperator, GatherOperator,
                        IdentityOperator, MatrixOperator)
from ..ir.program import Program, Term, VariableInfo


def least_squares_program(X, y, sw, fit_intercept, positive, levels):
    """(Program, coef Variable, intercept Variable or None) for

        sum_i sw_i (X w + b - y)_i^2 / (2 n)  +  sum_k level_k pen_k(w)   [w >= 0 if positive]

    ``levels``: (Parameter, penalty) pairs with penalty 'l1' (|w|_1) or 'ridge'
    (|w|^2 / 2); each term's weight follows its Parameter on every solve."""
    import cvxpy as cp
    n, p = X.shape
    w = cp.Variable(p, name="coef", nonneg=bool(positive))
    b = cp.Variable(name="intercept") if fit_intercept else None
    size = p + (1 if b is not None else 0)
    infos = [VariableInfo("coef", (p,), 0, p, key=w.id)]
    blocks = [(0, MatrixOperator(X))]
    if b is not None:
        infos.append(VariableInfo("intercept", (), p, 1, key=b.id))
        blocks.append((p, GatherOperator(np.zeros(n, dtype=np.int64), 1)))
    target = np.array(y, dtype=np.float64).ravel()
    if sw is not None:
        root = np.sqrt(np.asarray(sw, dtype=np.float64).ravel())
        blocks = [(off, ComposedOperator(DiagonalOperator(root), op)) for off, op in blocks]
        target = root * target
    fit_label = "sum_squares(X @ coef" + (" + intercept" if b is not None else "") + " - y) / (2 n)"
    terms = [Term(SumSquares(), BlockRowOperator(blocks, size, n), target, weight=1.0 / (2 * n), label=fit_label)]
    on_coef = BlockRowOperator([(0, IdentityOperator(p))], size)
    for level, penalty in levels:
        if penalty == "l1":
            f, scale, label = L1Norm(), 1.0, f"{level.name()} * norm1(coef)"
        elif penalty == "ridge":
            f, scale, label = SumSquares(), 0.5, f"{level.name()} / 2 * sum_squares(coef)"
        else:
            raise ValueError(f"least_squares_program: unknown penalty {penalty!r} (use 'l1' or 'ridge')")
        terms.append(Term(f, on_coef, np.zeros(p), weight=scale * _value(level), label=label,
                          weight_source=lambda level=level, scale=scale: scale * _value(level)))
    if positive:
        terms.append(Term(NonNeg(), on_coef, np.zeros(p), label="coef >= 0", role="constraint"))
    program = Program(infos, terms, parameters=[level for level, _ in levels])
    return program, w, b


def _value(level) -> float:
    """A level Parameter's value (the estimator sets it before every solve)."""
    if level.value is None:
        raise ValueError(f"the Parameter {level.name()!r} has no value")
    return float(level.value)
