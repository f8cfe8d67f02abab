"""The quasi-definite KKT systems of an active-set Newton method, factored once and updated
for the rows that change.

Semismooth Newton on a piecewise quadratic (admm_polish) solves, at each step,

    [[H, A_J^T], [A_J, -I/rho]] [dx; w] = [g; 0]

for the rows J currently active. On LPs consecutive J differ by one to three rows (a step
moves until the line search meets the next row's kink), so a fresh sparse LU per step
spends nearly all of its work refactoring what did not change. Here every row has a slot:
an inactive row j is the decoupled equation w_j = 0, an active one couples through a_j.
Switching row j's status changes the matrix by a symmetric rank-two term in the columns
[a_j; 0] and e_j, so K(J) = K0 + U C U^T relative to the factored K0, and

    K(J)^-1 b = K0^-1 b - W (C^-1 + U^T W)^-1 U^T K0^-1 b,   W = K0^-1 U

(Woodbury; W's columns are solved once, when a row first differs from K0). K0 is
refactored when more than MAX_CHANGED rows differ or when a refined solution's residual,
checked against K(J) itself, is not small. Each solve is refined against K(J) (the
matrices are ill-conditioned: sigma is tiny next to rho |A|^2).
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.linalg as sla
import scipy.sparse.linalg as spla

#: rows that may differ from the factored matrix before it is refactored
MAX_CHANGED = 40
REFINE_STEPS = 3
#: a refined solution whose residual exceeds this (relative to the right-hand side) refactors
RESIDUAL_OK = 1e-8


class ActiveKKT:
    """Solves with K(J) = [[H, A_J^T], [A_J, -I/rho]] (inactive rows: w_j = 0) for changing J.

    ``factorizations`` counts sparse LUs, ``solves`` the solves with a factor; ``solve(mask,
    top)`` returns (dx, w) for the right-hand side [top; 0], or None if a factorization
    fails or the answer is not finite."""

    def __init__(self, H, A, rho: float):
        self.H, self.A, self.AT = H.tocsr(), A.tocsr(), A.T.tocsr()
        self.n, self.m = A.shape[1], A.shape[0]
        self.rho = float(rho)
        self.base = None          # the active mask K0 was factored with
        self.lu = None
        self.changed: list[int] = []     # rows whose status differs from base, in order
        self.W = np.zeros((self.n + self.m, 0))     # K0^-1 U, two columns per changed row
        self.G = None                    # LU of the capacitance matrix C^-1 + U^T W
        self.rows = np.zeros(0, dtype=np.int64)     # ``changed`` as an array
        self.A_changed = None            # the changed rows of A (CSR)
        self.factorizations = 0
        self.solves = 0

    # ---- the matrix K(J) itself (for refinement) ----
    def _apply(self, mask, sol):
        dx, w = sol[:self.n], sol[self.n:]
        wa = np.where(mask, w, 0.0)
        top = self.H @ dx + self.AT @ wa
        bottom = np.where(mask, self.A @ dx - w / self.rho, w)
        return np.concatenate([top, bottom])

    def _factor(self, mask) -> bool:
        AJ = sp.diags(mask.astype(np.float64)) @ self.A
        D = sp.diags(np.where(mask, -1.0 / self.rho, 1.0))
        K = sp.bmat([[self.H, AJ.T], [AJ, D]], format="csc")
        self.factorizations += 1
        try:
            self.lu = spla.splu(K)
        except (RuntimeError, ValueError):     # a singular factor
            self.lu = None
            return False
        self.base = mask.copy()
        self.changed = []
        self.rows = np.zeros(0, dtype=np.int64)
        self.W = np.zeros((self.n + self.m, 0))
        self.G = None
        return True

    def _k0(self, b):
        self.solves += 1
        return self.lu.solve(b)

    def _columns(self, rows):
        """U's two columns for each row j in rows: [a_j; 0] and e_{n+j}."""
        U = np.zeros((self.n + self.m, 2 * len(rows)))
        ip, ix, dv = self.A.indptr, self.A.indices, self.A.data
        for k, j in enumerate(rows):
            U[ix[ip[j]:ip[j + 1]], 2 * k] = dv[ip[j]:ip[j + 1]]
            U[self.n + j, 2 * k + 1] = 1.0
        return U

    def _ut(self, V):
        """U^T V without forming U: row 2i is a_j^T V[:n], row 2i + 1 is V[n + j]."""
        out = np.empty((2 * self.rows.size,) + V.shape[1:])
        out[0::2] = self.A_changed @ V[:self.n]
        out[1::2] = V[self.n + self.rows]
        return out

    def _sync(self, mask, differ: list) -> None:
        """Bring ``changed``, W = K0^-1 U and the capacitance matrix's LU to the rows where
        mask differs from base (``differ``, ascending)."""
        if len(differ) == len(self.changed) and set(differ) == set(self.changed):
            return
        have = {j: k for k, j in enumerate(self.changed)}
        keep = [have[j] for j in differ if j in have]
        new = [j for j in differ if j not in have]
        cols = np.array([2 * k + i for k in keep for i in (0, 1)], dtype=np.int64)
        W = self.W[:, cols]
        if new:
            self.solves += 2 * len(new)      # one solve per column of U
            W = np.hstack([W, self.lu.solve(self._columns(new))])
        self.changed = [self.changed[k] for k in keep] + new
        self.W = W
        k = len(self.changed)
        self.rows = np.asarray(self.changed, dtype=np.int64)
        self.A_changed = self.A[self.rows]
        # activation: C_j = [[0, 1], [1, -c]], inverse [[c, 1], [1, 0]];
        # deactivation: C_j = [[0, -1], [-1, c]], inverse [[-c, -1], [-1, 0]]
        c = 1.0 + 1.0 / self.rho
        sign = np.where(mask[self.rows], 1.0, -1.0)
        Cinv = np.kron(np.diag(sign), np.array([[c, 1.0], [1.0, 0.0]]))
        try:
            with warnings.catch_warnings():
                # a singular capacitance matrix shows as a non-finite solution, which refactors
                warnings.simplefilter("ignore", sla.LinAlgWarning)
                self.G = sla.lu_factor(Cinv + self._ut(W), check_finite=True) if k else None
        except (ValueError, np.linalg.LinAlgError):
            self.G = False

    def _woodbury(self, mask, b):
        y = self._k0(b)
        if not self.changed:
            return y
        if self.G is False:
            return None
        return y - self.W @ sla.lu_solve(self.G, self._ut(y))

    def _refined(self, mask, b, ok):
        """The solution refined against K(J) until its residual is <= ok (at most
        REFINE_STEPS corrections), and that residual."""
        sol = self._woodbury(mask, b)
        if sol is None or not np.all(np.isfinite(sol)):
            return None, np.inf
        res = b - self._apply(mask, sol)
        for _ in range(REFINE_STEPS):
            if float(np.max(np.abs(res), initial=0.0)) <= ok:
                break
            corr = self._woodbury(mask, res)
            if corr is None or not np.all(np.isfinite(corr)):
                break
            sol = sol + corr
            res = b - self._apply(mask, sol)
        return sol, float(np.max(np.abs(res), initial=0.0))

    def solve(self, mask, top):
        b = np.concatenate([top, np.zeros(self.m)])
        ok = RESIDUAL_OK * (float(np.max(np.abs(b), initial=0.0)) or 1.0)
        differ = [] if self.lu is None else np.flatnonzero(mask != self.base).tolist()
        fresh = self.lu is None or len(differ) > MAX_CHANGED
        if fresh and not self._factor(mask):
            return None
        if not fresh:
            self._sync(mask, differ)
            fresh = not self.changed
        sol, res = self._refined(mask, b, ok)
        if not fresh and not res <= ok:
            if not self._factor(mask):
                return None
            sol, res = self._refined(mask, b, ok)
        return None if sol is None else (sol[:self.n], sol[self.n:])
