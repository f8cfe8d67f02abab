"""Linear programs: ``linear_program`` from arrays, ``read_mps`` from an MPS file.

Each validates its data, builds the LP family's node (``solvelab.families.lp.LPProgram``)
and returns it as an ``LPProblem``, solved through the engine like any model::

    prob = sl.problems.read_mps("afiro.mps.xz")
    res = prob.solve(backend="pdhg", tol=1e-6)
    res.objective, res.certificate, res.info["matvecs"]

``prob.to_cvxpy()`` gives the same LP as a plain CVXPY declaration.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..families.lp import LPProgram, check_cost, duals_to_multipliers
from ..model.problem import Problem

__all__ = ["linear_program", "read_mps", "matrix_game_lp", "game_solution", "LPProblem"]


class LPProblem(Problem):
    """An LP with the one variable ``x`` (length n); built by ``LPProblem.from_program``."""

    @property
    def program(self) -> LPProgram:
        return self.compile()

    def to_cvxpy(self):
        """(cvxpy.Problem, x) declaring the same LP in plain CVXPY (the user's sense)."""
        import cvxpy as cp
        p = self.program
        m, n = p.shape
        x = cp.Variable(n, name="x")
        cons = []
        eq = np.flatnonzero(p.rl == p.ru)
        lo = np.flatnonzero(np.isfinite(p.rl) & (p.rl != p.ru))
        hi = np.flatnonzero(np.isfinite(p.ru) & (p.rl != p.ru))
        if eq.size:
            cons.append(p.A[eq] @ x == p.rl[eq])
        if lo.size:
            cons.append(p.A[lo] @ x >= p.rl[lo])
        if hi.size:
            cons.append(p.A[hi] @ x <= p.ru[hi])
        fl, fu = np.flatnonzero(np.isfinite(p.l)), np.flatnonzero(np.isfinite(p.u))
        if fl.size:
            cons.append(x[fl] >= p.l[fl])
        if fu.size:
            cons.append(x[fu] <= p.u[fu])
        obj = p.c @ x + p.constant
        goal = cp.Maximize(-obj) if p.sign < 0 else cp.Minimize(obj)
        return cp.Problem(goal, cons), x

    def __repr__(self) -> str:
        return f"solvelab.problems.LPProblem({self.program!r})"


def linear_program(c, A=None, rl=None, ru=None, l=None, u=None, constant: float = 0.0,
                   maximize: bool = False) -> LPProblem:
    """min (or max) c^T x + constant  s.t.  rl <= A x <= ru,  l <= x <= u.

    ``A``: dense or SciPy sparse (m, n), or None for bounds only; ``rl`` / ``ru``: row
    bounds (default -inf / +inf; rl = ru makes an equality); ``l`` / ``u``: column bounds
    (default 0 / +inf, as in MPS; pass ``l=-np.inf`` for free variables). NaN, +inf
    lower or -inf upper bounds, rl > ru, l > u, non-real data and shapes that do not fit
    are errors naming the culprit.
    """
    c = check_cost(c)
    p = LPProgram(-c if maximize else c, A, rl, ru, l, u, constant=-constant if maximize else constant)
    if maximize:
        p.sign = -1.0
    return LPProblem.from_program(p)


def matrix_game_lp(A) -> LPProblem:
    """The zero-sum matrix game min_{x in simplex} max_{y in simplex} x^T A y (A: m x k;
    the row player x pays x^T A y), as the LP over z = (x, v):

        min s v  s.t.  (A / s)^T x - v 1 <= 0,  1^T x = 1,  x >= 0,  v free  (s = max |A|).

    ``game_solution(prob, res)`` reads both strategies and the value off the result: x
    from the point, y from the multipliers of the k rows A^T x <= v (the LP's duality is
    the minimax theorem)."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.size == 0:
        raise InvalidDataError(f"matrix_game_lp: A must be a non-empty 2-D payoff matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise InvalidDataError("matrix_game_lp: the payoff matrix has NaN or Inf entries")
    m, k = A.shape
    # the LP mixes A's rows with the O(1) simplex row 1^T x = 1, so payoffs of 1e-6 or 1e6
    # would give one LP two scales (pdhg and admm then stall): it is posed for A / s, whose
    # value is v / s, and the objective s v' is the game's value in A's units
    s = float(np.max(np.abs(A)))
    s = s if s > 0 else 1.0
    rows = sp.csr_matrix(np.block([[A.T / s, -np.ones((k, 1))], [np.ones((1, m)), np.zeros((1, 1))]]))
    c = np.r_[np.zeros(m), s]
    l = np.r_[np.zeros(m), -np.inf]
    return linear_program(c, rows, rl=np.r_[np.full(k, -np.inf), 1.0], ru=np.r_[np.zeros(k), 1.0], l=l)


def game_solution(prob: LPProblem, res):
    """(x, y, value) of a solved ``matrix_game_lp``: the row player's strategy, the column
    player's (the multipliers of A^T x <= v, normalized onto the simplex) and the value."""
    if res.x is None:
        raise InvalidDataError(f"game_solution: the solve ended {res.status.value} without a point")
    program = prob.compile()
    k = program.shape[0] - 1
    y = duals_to_multipliers(program, res.duals)
    if y is None:
        raise InvalidDataError(f"game_solution: backend {res.backend!r} returned no row multipliers")
    y = np.maximum(-y[:k], 0.0)      # an upper row bound held: y_i <= 0 in the LP's convention
    total = y.sum()
    return np.asarray(res.x[:-1]), (y / total if total > 0 else y), float(res.objective)


_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}


def read_mps(path, relax_integrality: bool = False) -> LPProblem:
    """The LP in an MPS file (free or fixed format; ``.xz``, ``.gz``, ``.bz2`` read
    transparently), read by HiGHS (highspy). A file with integer columns is refused
    unless ``relax_integrality=True`` (then their integrality is dropped: the LP
    relaxation, as the reference values of ../shared/data/lp/MANIFEST.md)."""
    try:
        import highspy
    except ImportError as exc:
        from ..errors import MissingDependencyError
        raise MissingDependencyError("read_mps needs highspy (pip install highspy)") from exc
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MPS file {str(path)!r} not found")
    opener = _OPENERS.get(path.suffix)
    tmpdir = None
    try:
        if opener is not None:
            tmpdir = tempfile.mkdtemp(prefix="solvelab-mps-")
            plain = Path(tmpdir) / path.stem
            if plain.suffix.lower() != ".mps":
                plain = plain.with_name(plain.name + ".mps")
            try:
                with opener(path, "rb") as src, open(plain, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise InvalidDataError(f"cannot decompress {str(path)!r}: {exc}") from None
        else:
            plain = path
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        if h.readModel(str(plain)) == highspy.HighsStatus.kError:
            raise InvalidDataError(f"{str(path)!r} does not parse as an MPS file (HiGHS readModel failed)")
        lp = h.getLp()
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    n, m = lp.num_col_, lp.num_row_
    if n == 0:
        raise InvalidDataError(f"{str(path)!r} has no columns")
    integ = np.asarray([int(v) for v in lp.integrality_], dtype=np.int64) if len(lp.integrality_) else np.zeros(0)
    n_int = int(np.count_nonzero(integ))
    if n_int and not relax_integrality:
        raise InvalidDataError(f"{str(path)!r} has {n_int} integer columns; solvelab solves LPs only: pass "
                               f"relax_integrality=True for the LP relaxation")
    am = lp.a_matrix_
    start, index, value = (np.asarray(v) for v in (am.start_, am.index_, am.value_))
    if str(am.format_).endswith("kColwise"):
        A = sp.csc_matrix((value, index, start), shape=(m, n)).tocsr()
    else:
        A = sp.csr_matrix((value, index, start), shape=(m, n))
    c = np.asarray(lp.col_cost_, dtype=np.float64)
    maximize = lp.sense_ == highspy.ObjSense.kMaximize
    inf = h.getInfinity()

    def bound(v):
        v = np.asarray(v, dtype=np.float64)
        return np.where(v >= inf, np.inf, np.where(v <= -inf, -np.inf, v))
    names = (list(lp.row_names_), list(lp.col_names_))
    offset = float(lp.offset_)
    p = LPProgram(-c if maximize else c, A, bound(lp.row_lower_), bound(lp.row_upper_),
                  bound(lp.col_lower_), bound(lp.col_upper_), constant=-offset if maximize else offset,
                  names=names)
    if maximize:
        p.sign = -1.0
    p.path = str(path)
    return LPProblem.from_program(p)
