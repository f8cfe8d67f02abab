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
from ..families.lp import LPProgram, check_cost
from ..model.problem import Problem

__all__ = ["linear_program", "read_mps", "LPProblem"]


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
