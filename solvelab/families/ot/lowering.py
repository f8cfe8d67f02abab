"""The lowering of an OT node to generic IR terms, so admm and cvxpy see exactly the
problem a CVXPY declaration would give (+inf costs have none: a clear refusal)."""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError
from ...ir import functions as F
from ...ir.linop import BlockRowOperator, IdentityOperator, ReduceSumOperator
from ...ir.program import Term


def build_terms(p) -> list:
    """The generic terms of the OT node ``p`` (N-sized data, built only when asked for)."""
    n, m = p.shape
    N = n * m
    ident = BlockRowOperator([(0, IdentityOperator(N))], N)
    C = p.C.ravel(order="F")
    if not np.all(np.isfinite(C)):
        raise InvalidDataError("this OT problem has +inf costs (forbidden pairs), which the generic IR "
                               "cannot express; use backend='sinkhorn' or 'sinkhorn_newton'")
    terms = [Term(F.Linear(C), ident, np.zeros(N), 1.0, "<C, P>", "objective")]
    rows = BlockRowOperator([(0, ReduceSumOperator(n, m, 1))], N)
    cols = BlockRowOperator([(0, ReduceSumOperator(n, m, 0))], N)
    if p.kind == "balanced":
        terms.append(Term(F.NegEntropy(), ident, np.zeros(N), p.eps, "sum P log P", "objective"))
        terms.append(Term(F.ZeroSet(), rows, p.a.copy(), 1.0, "P 1 == a", "constraint"))
        terms.append(Term(F.ZeroSet(), cols, p.b.copy(), 1.0, "P^T 1 == b", "constraint"))
    else:
        ref = np.outer(p.a, p.b).ravel(order="F")
        terms.append(Term(F.KLDiv(ref), ident, np.zeros(N), p.eps, "KL(P | a b^T)", "objective"))
        terms.append(Term(F.KLDiv(p.a), rows, np.zeros(n), p.rho, "KL(P 1 | a)", "objective"))
        terms.append(Term(F.KLDiv(p.b), cols, np.zeros(m), p.rho, "KL(P^T 1 | b)", "objective"))
    terms.append(Term(F.NonNeg(), ident, np.zeros(N), 1.0, "P >= 0", "constraint"))
    return terms
