"""SparseGLM: a Composite whose smooth part is a GLM datafit of A x and whose penalty is
separable (or block-separable), the form coordinate descent (backend ``cd``) needs.

    minimize  sum_i c * phi(s_i (A x)_i - b_i)  +  sum_j pen_j(x_j)  +  sum_G wG ||x_G||_2

* datafit ``phi``: least squares (CVXPY ``sum_squares(A @ x - b)``), logistic
  (``sum(logistic(-multiply(y, A @ x)))``), Huber (``sum(huber(A @ x - b, M))``),
  squared hinge (``sum_squares(pos(1 - multiply(y, A @ x)))`` or
  ``sum(square(pos(...)))``), Poisson (``sum(exp(A @ x) - multiply(y, A @ x))``); one
  such term, whose operator is a matrix possibly scaled and row-scaled (``multiply(y, .)``).
  Poisson is the ``exp`` term plus linear terms reading the same matrix: they are kept
  as a per-sample linear part ``lin_i u_i`` of the datafit (u = A x), so that
  h_i(u) = c exp(s_i u - b_i) + lin_i u; exp has no global Lipschitz constant, so the
  backend runs proximal Newton with a line search on it (never fixed-step sweeps), and
  gap-safe screening is off.
* per-coordinate penalty: l1 and weighted l1 (``norm1``, ``w @ abs(x)``), ridge
  (``sum_squares(x)``, elastic net), bounds (``x >= 0``, ``lo <= x <= hi``), and the
  nonconvex ``MCP`` / ``SCAD`` functions defined here (used by ``solvelab.problems``);
* block penalty: group l2 (``norm2(x[G])`` for disjoint groups G).

The form is only a view: ``match`` checks structure cheaply; the arrays (the matrix as
Fortran-ordered dense or CSC, penalty vectors) are built on first use by ``data()`` and
cached per operator version.

``certify(x, duals)`` recomputes from x alone, on the original data:
  * for convex penalties without unpenalized unbounded coordinates: the duality gap at
    the rescaled dual point nu = scale * grad h(A x) (Fercoq et al. 2015, Massias et al.
    2018), relative to max(|P|, |D|) like the engine's generic certificate (and, for a
    tiny optimal value, sqrt(gap / datafit(0))), together with the KKT residual below
    (both must meet tol);
  * otherwise (MCP/SCAD, unpenalized coordinates): the KKT residual, the largest
    distance of -grad_j to the subdifferential of pen_j at x_j (Frechet for the
    nonconvex penalties), relative to the largest of ||grad||_inf, the gradient at x = 0
    and the penalty weights (no absolute floor: scaling the objective changes nothing).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy import special

from ..errors import InvalidDataError
from ..result import Certificate
from . import functions as F
from .forms import Composite, NoMatch, register_form
from .linop import (BlockRowOperator, ComposedOperator, DiagonalOperator, IdentityOperator,
                    MatrixOperator, ScaledOperator)

DATAFIT_KIND = {"sum_squares": 0, "logistic": 1, "huber": 2, "squared_hinge": 3, "exp": 4}
DATAFIT_NAME = {0: "least squares", 1: "logistic", 2: "huber", 3: "squared hinge", 4: "poisson"}
L_PHI = {0: 2.0, 1: 0.25, 2: 2.0, 3: 2.0, 4: float("inf")}   # exp: no global constant


# ---------------------------------------------------------------------------------------
# nonconvex penalties (functions of the IR, prox-friendly, separable)
# ---------------------------------------------------------------------------------------

def _penalty_level(lam, who):
    """A penalty level: a number, an array, or a cvxpy Parameter (kept, read at each use,
    so that ``sl.path`` can move it)."""
    if hasattr(lam, "value") and hasattr(lam, "is_constant") and hasattr(lam, "name"):
        if lam.value is not None:
            _level_value(lam, who)
        return lam
    val = float(lam) if np.isscalar(lam) else np.asarray(lam, dtype=np.float64)
    if not np.all(np.isfinite(val)) or np.any(np.asarray(val) < 0):
        raise InvalidDataError(f"{who} needs a finite lam >= 0 (got lam={lam!r})")
    return val


def _level_value(lam, who):
    if not (hasattr(lam, "value") and hasattr(lam, "name")):
        return lam
    v = lam.value
    if v is None:
        raise InvalidDataError(f"{who}: the Parameter {lam.name()!r} has no value; set .value before solving")
    v = float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(np.asarray(v) < 0):
        raise InvalidDataError(f"{who} needs a finite lam >= 0 (Parameter {lam.name()!r} is {v!r})")
    return v


class MCP(F.Function):
    """Minimax concave penalty sum_i MCP(z_i; lam, gamma), gamma > 1 (not convex)."""
    name = "mcp"
    separable = True

    def __init__(self, lam, gamma=3.0, dim=None):
        super().__init__(dim)
        self.gamma = float(gamma)
        self._lam = _penalty_level(lam, "MCP")
        if not self.gamma > 1:
            raise InvalidDataError(f"MCP needs gamma > 1 (got gamma={gamma!r})")

    lam = property(lambda self: _level_value(self._lam, "MCP"),
                   doc="lam (read from its cvxpy Parameter, when it is one, at each use)")

    def value(self, z):
        return float(np.sum(_pen_value(1, np.asarray(z, dtype=np.float64), self.lam, 0.0, self.gamma)))

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        if t >= self.gamma:
            # the 1-D problem is then not strongly convex; hard threshold at the global minimum
            return np.where(np.abs(v) > np.sqrt(t * self.gamma) * self.lam, v, 0.0)
        return _prox_vec(1, v, t, self.lam, self.gamma)

    def params(self):
        return {"lam": self.lam, "gamma": self.gamma}


class SCAD(F.Function):
    """Smoothly clipped absolute deviation sum_i SCAD(z_i; lam, a), a > 2 (not convex)."""
    name = "scad"
    separable = True

    def __init__(self, lam, gamma=3.7, dim=None):
        super().__init__(dim)
        self.gamma = float(gamma)
        self._lam = _penalty_level(lam, "SCAD")
        if not self.gamma > 2:
            raise InvalidDataError(f"SCAD needs a > 2 (got a={gamma!r})")

    lam = property(lambda self: _level_value(self._lam, "SCAD"),
                   doc="lam (read from its cvxpy Parameter, when it is one, at each use)")

    def value(self, z):
        return float(np.sum(_pen_value(2, np.asarray(z, dtype=np.float64), self.lam, 0.0, self.gamma)))

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        if t >= self.gamma - 1:
            raise NotImplementedError("SCAD prox with a step >= a - 1 is not implemented")
        return _prox_vec(2, v, t, self.lam, self.gamma)

    def params(self):
        return {"lam": self.lam, "a": self.gamma}


def _prox_vec(kind, v, t, lam, gamma):
    av = np.abs(v)
    sg = np.sign(v)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), v.shape)
    if kind == 1:
        mid = sg * (av - t * lam) / (1.0 - t / gamma)
        return np.where(av <= t * lam, 0.0, np.where(av <= gamma * lam, mid, v))
    low = sg * np.maximum(av - t * lam, 0.0)
    mid = sg * ((gamma - 1.0) * av - t * gamma * lam) / (gamma - 1.0 - t)
    return np.where(av <= lam * (1 + t), low, np.where(av <= gamma * lam, mid, v))


# ---------------------------------------------------------------------------------------
# NumPy twins of the kernel scalars (the certificate does not depend on Numba)
# ---------------------------------------------------------------------------------------

# The per-sample sums run over blocks of this many samples: their NumPy temporaries (half
# a dozen per formula) then take O(CHUNK) memory instead of O(m) -- on a9a, with rows of 14
# nonzeros, m-sized temporaries weighed as much as the data -- and stay in cache.
CHUNK = 8192


def _chunks(m):
    """Slices covering range(m) in blocks of CHUNK (one empty slice when m == 0)."""
    return [slice(lo, min(lo + CHUNK, m)) for lo in range(0, max(m, 1), CHUNK)]


def _phi(kind, z, M):
    if kind == 4:
        with np.errstate(over="ignore"):
            return np.exp(z)
    if kind == 0:
        return z * z
    if kind == 1:
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): SIMD exp / log1p, 5x np.logaddexp's speed
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    if kind == 2:
        a = np.abs(z)
        return np.where(a <= M, z * z, 2 * M * a - M * M)
    return np.maximum(z, 0.0) ** 2


def _dphi(kind, z, M):
    if kind == 4:
        with np.errstate(over="ignore"):
            return np.exp(z)
    if kind == 0:
        return 2.0 * z
    if kind == 1:
        e = np.exp(-np.abs(z))                  # sigma(z) without overflow, SIMD exp
        return np.where(z > 0, 1.0, e) / (1.0 + e)
    if kind == 2:
        return np.clip(2.0 * z, -2 * M, 2 * M)
    return 2.0 * np.maximum(z, 0.0)


def _d2phi(kind, z, M):
    """Second derivative of phi (a generalized one where phi' has a kink)."""
    if kind == 4:
        with np.errstate(over="ignore"):
            return np.exp(z)
    if kind == 0:
        return np.full_like(z, 2.0)
    if kind == 1:
        e = special.expit(z)
        return e * (1.0 - e)
    if kind == 2:
        return np.where(np.abs(z) <= M, 2.0, 0.0)
    return np.where(z > 0, 2.0, 0.0)


def _xlogx_sum(y) -> float:
    """sum_i y_i log y_i (0 log 0 = 0) for y >= 0: NumPy's SIMD log, about 3x faster than
    scipy.special.xlogy's scalar loop (the logistic conjugate is most of a certificate)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(y)
        t *= y
    return float(np.where(y > 0, t, 0.0).sum())


def _phi_conj(kind, y, M):
    if kind == 1:
        if np.any(y < -1e-12) or np.any(y > 1 + 1e-12):
            return np.inf
        y = np.clip(y, 0.0, 1.0)
        return _xlogx_sum(y) + _xlogx_sum(1.0 - y)
    if kind == 2 and np.any(np.abs(y) > 2 * M * (1 + 1e-12)):
        return np.inf
    if kind == 3 and np.any(y < -1e-12):
        return np.inf
    if kind == 4:
        if np.any(y < -1e-12):
            return np.inf
        y = np.maximum(y, 0.0)
        return _xlogx_sum(y) - float(np.sum(y))
    return 0.25 * float(np.sum(y * y))   # (no BLAS call: its threads wake slowly on a busy machine)


def _pen_value(kind, x, w1, r, gamma):
    a = np.abs(x)
    if kind == 0:
        return w1 * a + r * x * x
    if kind == 1:
        return np.where(a <= gamma * w1, w1 * a - a * a / (2 * gamma), 0.5 * gamma * w1 * w1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = (2 * gamma * w1 * a - a * a - w1 * w1) / (2 * (gamma - 1))
    return np.where(a <= w1, w1 * a, np.where(a <= gamma * w1, mid, 0.5 * w1 * w1 * (gamma + 1)))


def _pen_slope(kind, x, w1, r, gamma):
    """Derivative of pen at x != 0 (where it exists)."""
    sg = np.sign(x)
    a = np.abs(x)
    if kind == 0:
        return w1 * sg + 2 * r * x
    if kind == 1:
        return np.where(a <= gamma * w1, sg * (w1 - a / gamma), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = sg * (gamma * w1 - a) / (gamma - 1)
    return np.where(a <= w1, sg * w1, np.where(a <= gamma * w1, mid, 0.0))


def kkt_distances(kind, x, g, w1, r, lo, hi, gamma):
    """dist(-g_j, ∂pen_j(x_j) + N_[lo_j, hi_j](x_j)) for every coordinate."""
    nz = x != 0
    slope = _pen_slope(kind, x, w1, r, gamma)
    a = np.where(nz, slope, -w1)
    b = np.where(nz, slope, w1)
    a = np.where(x <= lo, -np.inf, a)
    b = np.where(x >= hi, np.inf, b)
    v = -g
    return np.maximum(np.maximum(a - v, v - b), 0.0)


def _pen_conj(v, w1, r, lo, hi):
    """Conjugate of w1|x| + r x^2 + box at v, entrywise (convex kind); inf when unbounded."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.maximum(np.abs(v) - w1, 0.0)
        zr = np.sign(v) * a / np.where(r > 0, 2 * r, 1.0)
    z0 = np.where(v > w1 * (1 + 1e-12), hi, np.where(v < -w1 * (1 + 1e-12), lo, 0.0))
    z = np.clip(np.where(r > 0, zr, z0), lo, hi)
    if not np.all(np.isfinite(z)):
        return np.inf
    return float(np.sum(v * z - w1 * np.abs(z) - r * z * z))


# ---------------------------------------------------------------------------------------
# Poisson: the exp term is smooth without a Lipschitz constant, which Composite refuses
# ---------------------------------------------------------------------------------------

def _composite_with_exp(program):
    """Composite.match, with objective ``exp`` terms set aside and added back as smooth
    terms (coordinate descent handles them by proximal Newton with a line search)."""
    comp = Composite.match(program)
    if comp:
        return comp
    exp_terms = [t for t in program.terms if t.f.name == "exp" and t.role == "objective"]
    if not exp_terms:
        return comp
    import copy
    rest = copy.copy(program)
    rest.terms = [t for t in program.terms if not any(t is e for e in exp_terms)]
    sub = Composite.match(rest)
    if not sub:
        return sub
    return Composite(program, sub.smooth + exp_terms, sub.pieces, sub.clips)


def _single_block(op, n):
    if isinstance(op, BlockRowOperator):
        if len(op.blocks) != 1 or op.blocks[0][0] != 0 or op.blocks[0][1].shape[1] != n:
            return None
        op = op.blocks[0][1]
    return _extract(op)


def _same_matrix(M1, M2) -> bool:
    if M1 is M2:
        return True
    if M1.shape != M2.shape or sp.issparse(M1) != sp.issparse(M2):
        return False
    if sp.issparse(M1):
        return (M1 != M2).nnz == 0
    return bool(np.array_equal(np.asarray(M1), np.asarray(M2)))


def _poisson_linear(datafit, linear, n):
    """(lin, lin_const): the linear terms  sum_t w_t c_t^T (A_t x - b_t)  written as
    lin^T u + lin_const with u = M x, M the exp term's matrix; or a reason (str)."""
    got = _single_block(datafit.A, n)
    if got is None:
        return "a Poisson datafit over several variables (or a slice of one) is not supported by cd"
    M, _ = got
    m = M.shape[0]
    lin, const = np.zeros(m), 0.0
    for t in linear:
        g = _single_block(t.A, n)
        if g is None or not _same_matrix(g[0], M):
            return (f"the linear term {t.label or t.f!r} does not read the same A x as the exp term: a "
                    f"Poisson datafit is sum(exp(A @ x) - multiply(y, A @ x)) with one matrix A")
        Mt, st = g
        cvec = np.broadcast_to(np.asarray(t.f.c, dtype=np.float64), (Mt.shape[0],))
        st = np.ones(Mt.shape[0]) if st is None else np.asarray(st, dtype=np.float64)
        lin += t.weight * cvec * st
        const -= t.weight * float(np.sum(cvec * np.asarray(t.b, dtype=np.float64)))
    if not np.all(np.isfinite(lin)):
        return "the linear part of the Poisson datafit has NaN or Inf entries"
    return lin, const


# ---------------------------------------------------------------------------------------
# data extraction
# ---------------------------------------------------------------------------------------

def _extract(op):
    """(matrix, row scale or None) with op = diag(s) @ matrix; matrix not copied."""
    if isinstance(op, MatrixOperator):
        return op.M, None
    if isinstance(op, ScaledOperator):
        M, s = _extract(op.A)
        return M, op.alpha * (np.ones(M.shape[0]) if s is None else s)
    if isinstance(op, ComposedOperator) and isinstance(op.A, DiagonalOperator):
        M, s = _extract(op.B)
        d = np.asarray(op.A.d, dtype=np.float64)
        return M, d * (1.0 if s is None else s)
    if isinstance(op, IdentityOperator):
        return sp.identity(op.shape[0], format="csc"), None
    return op.to_sparse(), None


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass
class GLMData:
    """Arrays the kernels read. ``dense`` is a Fortran-ordered ndarray or None; ``csc`` a
    CSC matrix or None (exactly one is set)."""
    dense: np.ndarray | None
    csc: sp.csc_matrix | None
    s: np.ndarray
    b: np.ndarray
    m: int
    p: int

    @property
    def matrix(self):
        return self.dense if self.dense is not None else self.csc

    def matvec(self, x):
        return np.asarray(self.matrix @ x).ravel()

    def rmatvec(self, d):
        if self.dense is not None:
            return np.asarray(d @ self.dense).ravel()
        T = self.__dict__.get("_csr_T")        # CSR view of the same arrays, built once
        if T is None:
            T = self.__dict__["_csr_T"] = self.csc.T
        return np.asarray(T @ d).ravel()

    @property
    def nnz(self) -> int:
        return int(self.dense.size if self.dense is not None else self.csc.nnz)


def _build_data(term, n, label) -> GLMData:
    A = term.A
    blocks = A.blocks if isinstance(A, BlockRowOperator) else [(0, A)]
    mats = []
    for off, op in blocks:
        M, s = _extract(op)
        mats.append((off, M, s))
    m = A.shape[0]
    if len(mats) == 1 and mats[0][0] == 0 and mats[0][1].shape[1] == n:
        _, M, s = mats[0]
        s = np.ones(m) if s is None else np.asarray(s, dtype=np.float64).ravel()
    else:
        # several blocks (e.g. an intercept variable): fold the row scales in, stack as CSC
        cols = []
        for off, M, s in mats:
            Ms = sp.csc_matrix(M)
            if s is not None:
                Ms = sp.diags(s) @ Ms
            cols.append((off, sp.csc_matrix(Ms)))
        M = sp.lil_matrix((m, n)).tocsc()
        for off, Ms in cols:
            Ms = Ms.tocoo()
            M = M + sp.csc_matrix((Ms.data, (Ms.row, Ms.col + off)), shape=(m, n))
        M = M.tocsc()
        s = np.ones(m)
    if sp.issparse(M):
        csc = M.tocsc() if M.format != "csc" else M
        if csc.dtype != np.float64:
            csc = csc.astype(np.float64)
        if not csc.has_sorted_indices:
            csc = csc.sorted_indices()
        data_ok = np.all(np.isfinite(csc.data))
        dense = None
        csc = sp.csc_matrix((csc.data, csc.indices.astype(np.int32, copy=False), csc.indptr.astype(np.int32, copy=False)),
                            shape=csc.shape) if csc.nnz < 2 ** 31 else csc
    else:
        dense = np.asfortranarray(M, dtype=np.float64)
        data_ok = np.all(np.isfinite(dense))
        csc = None
    if not data_ok:
        raise InvalidDataError(f"SparseGLM: the data matrix of the datafit '{label}' has NaN or Inf entries")
    b = np.asarray(term.b, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(s))):
        raise InvalidDataError(f"SparseGLM: the datafit '{label}' has NaN or Inf in its offset or labels")
    return GLMData(dense, csc, s, _offsets(term), m, n)


def _offsets(term) -> np.ndarray:
    """A private copy of the datafit's offsets b. All zero (logistic, squared hinge):
    a fresh np.zeros, whose pages the kernels only read -- the OS maps them lazily, so an
    m-vector of zeros costs no resident memory (seen on a9a: 0.25 MB of the peak)."""
    b = np.asarray(term.b, dtype=np.float64).ravel()
    return b.copy() if np.any(b) else np.zeros(b.shape[0])


def glm_data(term, n) -> GLMData:
    """The cached arrays for a datafit term (re-built when its operator's numbers change)."""
    key = term.A
    ver = (key.version, n)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == ver:
        data = hit[1]
        data.b = _offsets(term)                  # vector data may change freely
        return data
    data = _build_data(term, n, term.label or repr(term.f))
    _CACHE[key] = (ver, data)
    return data


# ---------------------------------------------------------------------------------------
# the form
# ---------------------------------------------------------------------------------------

@dataclass
class Evaluation:
    """Everything measured at one point x (see ``SparseGLM.evaluate``)."""
    primal: float
    grad: np.ndarray
    deriv: np.ndarray
    kkt_scores: np.ndarray
    kkt: float
    gap_abs: float | None
    dual: float | None
    scale: float | None
    rel_gap: float | None
    violation: float = 0.0
    #: what the KKT scores are relative to (|grad|, the gradient at 0, penalty weights)
    grad_scale: float = 1.0

    @property
    def value(self) -> float:
        """The stopping measure: max(relative gap, relative KKT residual), or the KKT alone."""
        return max(self.rel_gap, self.kkt) if self.rel_gap is not None else self.kkt


@register_form
@dataclass
class SparseGLM:
    program: object
    data_term: object                 # the datafit Term (None: no datafit)
    dkind: int
    dpar: float
    c: float
    pkind: int
    gamma: float
    w1: np.ndarray
    r: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    groups: list = field(default_factory=list)   # list of (idx array, weight)
    composite: object = None                     # the Composite view it refines
    lin: object = None                           # Poisson: per-sample linear part of the datafit in u = A x
    lin_const: float = 0.0                       # ... and its constant
    name = "SparseGLM"

    # -- matching --------------------------------------------------------------------
    @staticmethod
    def match(program):
        comp = _composite_with_exp(program)
        if not comp:
            return NoMatch("SparseGLM", comp.reason)
        n = program.n
        w1, r = np.zeros(n), np.zeros(n)
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        datafit, dkind, dpar, c = None, 0, 0.0, 0.0
        linear = []
        for t in comp.smooth:
            name = t.f.name
            idx = t.A.selection() if isinstance(t.A, BlockRowOperator) else None
            if name == "zero" or t.weight == 0.0:
                continue
            if name == "linear":
                linear.append(t)
                continue
            if name == "sum_squares" and idx is not None and not np.any(t.b) and t.role == "objective":
                r[idx] += t.weight          # ridge: w ||x_idx||^2
                continue
            if name not in DATAFIT_KIND:
                return NoMatch("SparseGLM", f"smooth term {t.f!r} is not a GLM datafit "
                                            f"(least squares, logistic, huber, squared hinge, poisson)")
            if datafit is not None:
                return NoMatch("SparseGLM", "more than one datafit term (one GLM loss of A x is supported)")
            datafit, dkind, c = t, DATAFIT_KIND[name], float(t.weight)
            dpar = float(getattr(t.f, "M", 0.0))
        lin, lin_const = None, 0.0
        if linear:
            if dkind != 4 or datafit is None:
                return NoMatch("SparseGLM", "a linear objective term is supported only as the linear part "
                                            "of a Poisson datafit (sum(exp(A @ x) - multiply(y, A @ x)))")
            got = _poisson_linear(datafit, linear, n)
            if isinstance(got, str):
                return NoMatch("SparseGLM", got)
            lin, lin_const = got
        pkind, gamma = 0, 0.0
        groups = []
        for pc in comp.pieces:
            t, idx = pc.term, pc.idx
            name = t.f.name
            if np.any(t.b):
                return NoMatch("SparseGLM", f"penalty {t.f!r} is applied to a shifted variable")
            if name == "l1":
                w1[idx] += t.weight * np.broadcast_to(np.asarray(t.f.w, dtype=np.float64), idx.shape)
            elif name in ("mcp", "scad"):
                k = 1 if name == "mcp" else 2
                if pkind not in (0, k) or (pkind == k and gamma != t.f.gamma):
                    return NoMatch("SparseGLM", "different nonconvex penalties on different coordinates")
                pkind, gamma = k, float(t.f.gamma)
                w1[idx] += t.weight * np.broadcast_to(np.asarray(t.f.lam, dtype=np.float64), idx.shape)
            elif name == "l2":
                groups.append((np.asarray(idx, dtype=np.int64), float(t.weight)))
            else:
                return NoMatch("SparseGLM", f"penalty {t.f!r} is not l1, weighted l1, group l2, MCP or SCAD")
        if pkind:
            penalized = np.zeros(n, dtype=bool)
            for pc in comp.pieces:
                if pc.term.f.name in ("mcp", "scad"):
                    penalized[pc.idx] = True
            if np.any(w1[~penalized] > 0) or np.any(r > 0):
                return NoMatch("SparseGLM", "a nonconvex penalty mixed with l1 or ridge terms")
        for cl in comp.clips:
            t, idx = cl.term, cl.idx
            shift = np.asarray(t.b, dtype=np.float64)
            if t.f.name == "nonneg":
                lo[idx] = np.maximum(lo[idx], shift)
            elif t.f.name == "nonpos":
                hi[idx] = np.minimum(hi[idx], shift)
            else:
                lo[idx] = np.maximum(lo[idx], np.asarray(t.f.lo) + shift)
                hi[idx] = np.minimum(hi[idx], np.asarray(t.f.hi) + shift)
        if groups:
            ing = np.zeros(n, dtype=bool)
            for idx, _ in groups:
                ing[idx] = True
            if np.any(w1[ing] != 0) or np.any(r[ing] != 0) or np.any(np.isfinite(lo[ing])) \
                    or np.any(np.isfinite(hi[ing])):
                return NoMatch("SparseGLM", "a group l2 penalty shares coordinates with another penalty or bound")
        if np.any(lo > hi):
            return NoMatch("SparseGLM", "the bounds on the variables are empty (lo > hi)")
        if dkind == 4 and groups:
            return NoMatch("SparseGLM", "a Poisson (exp) datafit with group penalties: block CD needs a "
                                        "global Lipschitz constant, which exp has not")
        return SparseGLM(program, datafit, dkind, dpar, c, pkind, gamma, w1, r, lo, hi, groups, comp,
                         lin, lin_const)

    # -- data -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.program.n

    @property
    def datafit_name(self) -> str:
        return DATAFIT_NAME[self.dkind] if self.data_term is not None else "none"

    def describe(self) -> str:
        pen = {0: "l1/ridge/bounds", 1: f"MCP(gamma={self.gamma:g})", 2: f"SCAD(a={self.gamma:g})"}[self.pkind]
        if self.groups:
            pen = f"group l2 ({len(self.groups)} groups)"
        return f"SparseGLM({self.datafit_name}, {pen})"

    def data(self) -> GLMData:
        if self.data_term is None:
            return GLMData(None, sp.csc_matrix((0, self.n)), np.zeros(0), np.zeros(0), 0, self.n)
        return glm_data(self.data_term, self.n)

    def group_arrays(self):
        """(gptr, gidx, gw): every coordinate in one block; ungrouped ones are singletons."""
        n = self.n
        ing = np.zeros(n, dtype=bool)
        parts, ws = [], []
        for idx, w in self.groups:
            parts.append(idx)
            ws.append(w)
            ing[idx] = True
        for j in np.nonzero(~ing)[0]:
            parts.append(np.array([j], dtype=np.int64))
            ws.append(0.0)
        gptr = np.zeros(len(parts) + 1, dtype=np.int64)
        gptr[1:] = np.cumsum([len(p_) for p_ in parts])
        gidx = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        return gptr, gidx, np.asarray(ws, dtype=np.float64)

    def lambda_max(self) -> float:
        """Smallest scalar multiple t of the l1 weights with x = 0 optimal (l1 problems)."""
        D = self.data()
        d = self.deriv(D, np.zeros(D.m))
        g = D.rmatvec(d)
        w = self.w1
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(w > 0, np.abs(g) / w, np.where(g != 0, np.inf, 0.0))
        return float(np.max(ratio, initial=0.0))

    # -- evaluation ---------------------------------------------------------------------
    def deriv(self, D: GLMData, u: np.ndarray) -> np.ndarray:
        if D.m == 0:
            return np.zeros(0)
        d = np.empty(D.m)
        for sl in _chunks(D.m):
            s = D.s[sl]
            d[sl] = self.c * s * _dphi(self.dkind, s * u[sl] - D.b[sl], self.dpar)
        if self.lin is not None:
            d += self.lin
        return d

    def curvature(self, D: GLMData, u: np.ndarray) -> np.ndarray:
        """h_i = d^2/du_i^2 of c phi(s_i u_i - b_i) (the Newton weights)."""
        if D.m == 0:
            return np.zeros(0)
        return self.c * D.s * D.s * _d2phi(self.dkind, D.s * u - D.b, self.dpar)

    def datafit_value(self, D: GLMData, u: np.ndarray) -> float:
        if D.m == 0:
            return 0.0
        val = self.c * sum(float(np.sum(_phi(self.dkind, D.s[sl] * u[sl] - D.b[sl], self.dpar)))
                           for sl in _chunks(D.m))
        if self.lin is not None:
            val += float(np.dot(self.lin, u)) + self.lin_const
        return val

    def penalty_value(self, x: np.ndarray) -> float:
        val = float(np.sum(_pen_value(self.pkind, x, self.w1, self.r, self.gamma)))
        if self.groups:
            gi, gp, gw, _ = self.group_index()
            val += float(np.dot(gw, np.sqrt(np.add.reduceat(x[gi] ** 2, gp[:-1]))))
        return val

    def group_index(self):
        """(gi, gp, gw, sizes): the grouped coordinates group after group, the group
        pointers into gi, the weights and sizes -- so that per-group sums are one
        ``np.add.reduceat`` instead of a Python loop over (possibly thousands of) groups."""
        hit = self.__dict__.get("_group_index")
        if hit is None:
            sizes = np.array([len(idx) for idx, _ in self.groups], dtype=np.int64)
            gi = (np.concatenate([np.asarray(idx, dtype=np.int64) for idx, _ in self.groups])
                  if self.groups else np.zeros(0, dtype=np.int64))
            gp = np.zeros(sizes.size + 1, dtype=np.int64)
            np.cumsum(sizes, out=gp[1:])
            gw = np.array([w for _, w in self.groups], dtype=np.float64)
            hit = self.__dict__["_group_index"] = (gi, gp, gw, sizes)
        return hit

    def objective(self, x: np.ndarray, u: np.ndarray | None = None) -> float:
        D = self.data()
        if u is None:
            u = D.matvec(x) if D.m else np.zeros(0)
        return self.datafit_value(D, u) + self.penalty_value(x) + float(self.program.constant)

    def _plain_l1(self) -> bool:
        """No ridge and no bounds on any ungrouped coordinate (cached)."""
        hit = self.__dict__.get("_plain_l1_flag")
        if hit is None:
            hit = self.__dict__["_plain_l1_flag"] = bool(np.all(self.r == 0) and np.all(np.isinf(self.lo))
                                                          and np.all(np.isinf(self.hi)))
        return hit

    def gap_available(self) -> bool:
        """The rescaled-dual gap applies: convex penalty, and every coordinate that needs
        rescaling (no ridge, an unbounded side) carries a positive l1 (or group) weight.
        (Cached: a view's arrays do not change after it is built.)"""
        hit = self.__dict__.get("_gap_available")
        if hit is None:
            hit = self.__dict__["_gap_available"] = self._gap_available()
        return hit

    def _gap_available(self) -> bool:
        if self.pkind != 0 or self.data_term is None:
            return self.pkind == 0 and self.data_term is None
        ing = np.zeros(self.n, dtype=bool)
        if self.groups:
            gi, _, gw, _ = self.group_index()
            if np.any(gw <= 0):
                return False
            ing[gi] = True
        free = (~ing) & (self.r == 0) & (self.w1 == 0) & ~(np.isfinite(self.lo) & np.isfinite(self.hi))
        return not np.any(free)

    def evaluate(self, x: np.ndarray, u: np.ndarray | None = None, D: GLMData | None = None,
                 want_gap: bool = True, fast=None) -> Evaluation:
        """Objective, gradient, KKT scores and (where available) the rescaled-dual gap.

        ``fast``: optional pair of callables (value_and_deriv(u) -> (value, d),
        conj_sum(d, scale) -> float, or None for the NumPy sum) a backend may pass to
        compute the per-sample sums in compiled code; the certificate itself always uses
        the NumPy formulas here."""
        D = self.data() if D is None else D
        x = np.asarray(x, dtype=np.float64)
        if u is None:
            u = D.matvec(x) if D.m else np.zeros(0)
        if fast is not None and D.m:
            fval, d = fast[0](u)
        else:
            fval, d = self.datafit_value(D, u), self.deriv(D, u)
        g = D.rmatvec(d) if D.m else np.zeros(self.n)
        P = fval + self.penalty_value(x)
        scores = kkt_distances(self.pkind, x, g, self.w1, self.r, self.lo, self.hi, self.gamma)
        ng = None
        if self.groups:
            # dist(-g_G, w_G d||x_G||) / sqrt(|G|) for every group at once
            gi, gp, gw, sizes = self.group_index()
            xg, gg = x[gi], g[gi]
            nx = np.sqrt(np.add.reduceat(xg * xg, gp[:-1]))
            ng = np.sqrt(np.add.reduceat(gg * gg, gp[:-1]))
            inv = np.where(nx > 0, gw / np.where(nx > 0, nx, 1.0), 0.0)
            dist_nz = np.sqrt(np.add.reduceat((gg + np.repeat(inv, sizes) * xg) ** 2, gp[:-1]))
            dist = np.where(nx > 0, dist_nz, np.maximum(ng - gw, 0.0))
            scores[gi] = np.repeat(dist / np.sqrt(sizes), sizes)
        # (ndarray methods rather than np.max: the wrappers cost a microsecond each, which
        # adds up on small problems solved in a fraction of a millisecond)
        gscale = max(float(np.abs(g).max(initial=0.0)), self._origin_scale(D))
        kkt = relative(float(scores.max(initial=0.0)), gscale)
        violation = float(np.maximum(self.lo - x, 0.0).max(initial=0.0)
                          + np.maximum(x - self.hi, 0.0).max(initial=0.0))
        gap_abs = dual = scale = rel = None
        if want_gap and self.gap_available():
            scale = 1.0
            w1, r, lo, hi = self.w1, self.r, self.lo, self.hi
            if self.groups:
                gi, _, gw, _ = self.group_index()
                over = ng > gw
                if np.any(over):
                    scale = min(scale, float(np.min(gw[over] / ng[over])))
                out = np.ones(self.n, dtype=bool)
                out[gi] = False
                gg, w1, r, lo, hi = g[out], w1[out], r[out], lo[out], hi[out]
            else:
                gg = g
            # coordinates whose dual constraint |g_j| <= w1_j binds (no ridge, unbounded side)
            ratio = np.abs(gg)
            side = np.where(gg < 0, hi, lo)          # -g > w1 needs hi = inf; -g < -w1, lo = -inf
            bind = (r == 0) & (ratio > w1) & ~np.isfinite(side)
            if bind.any():
                scale = min(scale, float((w1[bind] / ratio[bind]).min()))
            conj = fast[1] if fast is not None and D.m else None
            dual = -(conj(d, scale) if conj is not None else self._conj_datafit(D, d, scale))
            if self._plain_l1():
                # conjugate of sum w1 |x|: 0 inside the box |v| <= w1, +inf outside
                ok = bool((np.abs(scale * gg) <= w1 * (1 + 1e-12)).all())
                dual = dual if ok else -np.inf
            else:
                dual -= _pen_conj(-scale * gg, w1, r, lo, hi)
            if np.isfinite(dual):
                gap_abs = max(P - dual, 0.0)
                Pc = P + float(self.program.constant)
                Dc = dual + float(self.program.constant)
                rel = relative(gap_abs, max(abs(Pc), abs(Dc)))
                f0 = self._origin_value(D)
                if f0 > 0.0:  # a tiny optimal value (an exact fit): the residual's accuracy
                    rel = min(rel, float(np.sqrt(gap_abs / f0)))
            else:
                dual = None
        return Evaluation(P + float(self.program.constant), g, d, scores, kkt, gap_abs,
                          None if dual is None else dual + float(self.program.constant), scale, rel, violation,
                          gscale)

    def _origin_scale(self, D) -> float:
        """The size the KKT scores are relative to, besides |grad|: the gradient of the
        datafit at x = 0 (OSQP's |q|) and the largest penalty weight. Cached per view."""
        hit = self.__dict__.get("_origin")
        if hit is None:
            hit = self.__dict__["_origin"] = self._origin(D)
        return hit[0]

    def _origin_value(self, D) -> float:
        self._origin_scale(D)
        return self.__dict__["_origin"][1]

    def _origin(self, D):
        """(scale of the gradient at x = 0 and of the penalty weights, |datafit(0)|)."""
        if not D.m:
            return float(np.abs(self.w1).max(initial=0.0)), 0.0
        u0 = np.zeros(D.m)
        g0 = D.rmatvec(self.deriv(D, u0))
        f0 = abs(float(self.datafit_value(D, u0)))
        scale = max(float(np.abs(g0).max(initial=0.0)), float(np.abs(self.w1).max(initial=0.0)))
        return scale, f0 if np.isfinite(f0) else 0.0

    def _conj_datafit(self, D, d, scale):
        """sum_i h_i^*(scale d_i); with a linear part, h_i = g_i + lin_i u + const and
        h_i^*(v) = g_i^*(v - lin_i) - const."""
        if D.m == 0:
            return 0.0
        if self.lin is not None:
            return self._conj_plain(D, scale * d - self.lin, 1.0) - self.lin_const
        return self._conj_plain(D, d, scale)

    def _conj_plain(self, D, d, scale):
        s, b, c = D.s, D.b, self.c
        if D.__dict__.get("_unit_s") is None:
            D.__dict__["_unit_s"] = bool(np.all(s == 1.0))
        out = 0.0
        for sl in _chunks(D.m):
            out += self._conj_chunk(d[sl], scale, s[sl], b[sl], D._unit_s)
            if out == np.inf:
                break
        return out

    def _conj_chunk(self, d, scale, s, b, unit_s):
        c = self.c
        if unit_s:                             # the common case, without the masks below
            v = scale * d
            return float(np.dot(v, b)) + c * _phi_conj(self.dkind, v / c, self.dpar)
        zero = s == 0
        if np.any(zero & (d != 0)):
            return np.inf
        out = -c * float(np.sum(_phi(self.dkind, -b[zero], self.dpar)))
        nz = ~zero
        v = scale * d[nz]
        out += float(np.sum(v * b[nz] / s[nz])) + c * _phi_conj(self.dkind, v / (c * s[nz]), self.dpar)
        return out

    def duals(self, x) -> list:
        """One dual vector per program term at x, with sum_i A_i^T y_i = 0 exactly: the
        smooth terms get their gradients, penalties and bounds share -grad (a bound
        overlapping a penalty takes what the penalty's subdifferential leaves)."""
        comp, prog = self.composite, self.program
        x = np.asarray(x, dtype=np.float64)
        index = {id(t): i for i, t in enumerate(prog.terms)}
        out = [None] * len(prog.terms)
        g = np.zeros(self.n)
        for t in comp.smooth:
            y = t.grad(t.residual(x))
            out[index[id(t)]] = y
            g += t.A.rmatvec(y)
        owner = np.full(self.n, -1, dtype=np.int64)
        pos = np.full(self.n, -1, dtype=np.int64)
        piece_y = []
        for k, pc in enumerate(comp.pieces):
            owner[pc.idx] = k
            pos[pc.idx] = np.arange(pc.idx.size)
            piece_y.append(-g[pc.idx])
        for cl in comp.clips:
            yc = -g[cl.idx]
            ow = owner[cl.idx]
            for k in np.unique(ow[ow >= 0]):
                pc = comp.pieces[k]
                kpos = np.nonzero(ow == k)[0]
                try:
                    proj = pc.term.project_subdifferential(x[pc.idx] - pc.term.b, -g[pc.idx])
                except NotImplementedError:
                    continue
                ppos = pos[cl.idx[kpos]]
                piece_y[k][ppos] = proj[ppos]
                yc[kpos] = -g[cl.idx[kpos]] - proj[ppos]
            out[index[id(cl.term)]] = yc
        for pc, y in zip(comp.pieces, piece_y):
            out[index[id(pc.term)]] = y
        return [np.zeros(t.m) if y is None else y for t, y in zip(prog.terms, out)]

    def certify(self, x, duals=None) -> Certificate:
        """Certificate recomputed from x on the original data (see the module doc)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n,) or not np.isfinite(x).all():
            return Certificate(float("inf"), float("inf"), float("inf"), None, None, "kkt")
        ev = self.evaluate(x)
        bounds = np.concatenate([self.lo[np.isfinite(self.lo)], self.hi[np.isfinite(self.hi)]])
        scale = max(float(np.abs(x).max(initial=0.0)), float(np.abs(bounds).max(initial=0.0)))
        rp = relative(ev.violation, scale)
        if ev.rel_gap is not None:
            # the dual point is built exactly (rescaled gradient), so the dual residual is
            # zero by construction; the gap and the KKT residual are both required
            return Certificate(primal_residual=rp, dual_residual=0.0, subgradient_residual=ev.kkt,
                               gap=ev.rel_gap, dual_objective=self.program.sign * ev.dual, kind="kkt+gap",
                               primal_objective=ev.primal)
        return Certificate(primal_residual=rp, dual_residual=0.0, subgradient_residual=ev.kkt,
                           gap=None, dual_objective=None, kind="kkt", primal_objective=ev.primal)


def relative(num: float, den: float) -> float:
    """num / den with 0 / 0 read as 0: relative measures without absolute floors."""
    return 0.0 if num == 0.0 else num / max(den, np.finfo(np.float64).tiny)
