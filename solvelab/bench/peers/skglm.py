"""skglm as a peer: ``Lasso`` and ``SparseLogisticRegression`` (working sets, Anderson CD).

skglm minimizes ``||y - X w||^2 / (2 n) + alpha ||w||_1`` and
``mean log-loss + alpha ||w||_1``: ``alpha = lam / n`` for both families. Its numba
code compiles on the first fit, so the peer declares a warm-up (a fit on a tiny
problem of the same family and matrix type), timed apart as JIT time.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..peer import Peer, PeerRun, register_peer


def _tiny_like(data, family):
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 8))
    b = np.sign(rng.standard_normal(20)) if family == "logreg_l1" else rng.standard_normal(20)
    b[b == 0] = 1.0
    if sp.issparse(data["A"]):
        A = sp.csc_matrix(A)
    return {"A": A, "b": b, "lam": 0.1 * float(np.max(np.abs(A.T @ b)))}


class _GlmPeer(Peer):
    families = ("lasso", "logreg_l1")
    warmup = True

    def estimator(self, family, data, tol, max_iter):  # pragma: no cover - abstract
        raise NotImplementedError

    def warm_up(self, instance, data, tol):
        tiny = _tiny_like(data, instance.family)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.estimator(instance.family, tiny, tol, None).fit(tiny["A"], tiny["b"])

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        from sklearn.exceptions import ConvergenceWarning
        est = self.estimator(instance.family, data, tol, max_iter)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(data["A"], data["b"])
        conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        iters = getattr(est, "n_iter_", 0)
        iters = int(np.max(iters)) if np.size(iters) else 0
        return PeerRun(x=np.asarray(est.coef_, dtype=float).ravel(),
                       status="max_iter" if conv else "converged", iterations=iters,
                       message=str(conv[0].message)[:200] if conv else "")


@register_peer
class SkglmPeer(_GlmPeer):
    name = "skglm"
    description = "skglm Lasso / SparseLogisticRegression (Anderson CD with working sets)"
    package = "skglm"
    imports = ("skglm",)

    def estimator(self, family, data, tol, max_iter):
        import skglm
        n = data["A"].shape[0]
        if family == "lasso":
            return skglm.Lasso(alpha=data["lam"] / n, fit_intercept=False, tol=tol, max_iter=max_iter or 1000)
        return skglm.SparseLogisticRegression(alpha=data["lam"] / n, fit_intercept=False, tol=tol,
                                              max_iter=max_iter or 1000)
