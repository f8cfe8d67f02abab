"""SparseGLM: a Composite whose smooth part is a GLM datafit of A x and whose penalty is
separable (or block-separable), the form coordinate descent (backend ``cd``) needs.

    minimize  sum_i c * phi(s_i (A x)_i - b_i)  +  sum_j pen_j(x_j)  +  sum_G wG ||x_G||_2

The form is only a view: ``match`` checks structure cheaply (``recognize``); the arrays
are built on first use by ``data()``; ``certify`` and ``evaluate`` are in ``certificate``.
Importing this module registers the form.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ...ir import losses
from ...ir.forms import NoMatch, register_form
from .certificate import GLMCertificate
from .data import GLMData, glm_data
from .recognize import recognize
from .scalars import DATAFIT_NAME, _chunks


@register_form
@dataclass
class SparseGLM(GLMCertificate):
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
        got = recognize(program)
        return got if isinstance(got, NoMatch) else SparseGLM(program, *got)

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
            d[sl] = self.c * s * losses.deriv(self.dkind, s * u[sl] - D.b[sl], self.dpar)
        if self.lin is not None:
            d += self.lin
        return d

    def curvature(self, D: GLMData, u: np.ndarray) -> np.ndarray:
        """h_i = d^2/du_i^2 of c phi(s_i u_i - b_i) (the Newton weights)."""
        if D.m == 0:
            return np.zeros(0)
        return self.c * D.s * D.s * losses.curv(self.dkind, D.s * u - D.b, self.dpar)

    def datafit_value(self, D: GLMData, u: np.ndarray) -> float:
        if D.m == 0:
            return 0.0
        val = self.c * sum(float(np.sum(losses.value(self.dkind, D.s[sl] * u[sl] - D.b[sl], self.dpar)))
                           for sl in _chunks(D.m))
        if self.lin is not None:
            val += float(np.dot(self.lin, u)) + self.lin_const
        return val

    def penalty_value(self, x: np.ndarray) -> float:
        val = float(np.sum(losses.pen_value(self.pkind, x, self.w1, self.r, self.gamma)))
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
