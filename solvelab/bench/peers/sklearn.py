"""scikit-learn as a peer: ``Lasso`` (coordinate descent), ``LogisticRegression`` with an
l1 penalty (liblinear; ``sklearn-saga`` uses saga) and ``LinearRegression(positive=True)``
(SciPy's NNLS active set), all without intercept.

Parameter mapping onto the families of ``solvelab.bench.models``: scikit-learn's Lasso
minimizes ``||y - X w||^2 / (2 n) + alpha ||w||_1``, so ``alpha = lam / n``; its
LogisticRegression minimizes ``C sum log-loss + ||w||_1``, so ``C = 1 / lam``. ``tol`` is
passed through as scikit-learn's own ``tol`` (a different measure; the harness judges
the returned point by its objective). A ConvergenceWarning gives status max_iter.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..peer import Peer, PeerRun, register_peer


@register_peer
class SklearnPeer(Peer):
    name = "sklearn"
    description = "scikit-learn Lasso / LogisticRegression(l1, liblinear) / LinearRegression(positive)"
    package = "sklearn"
    imports = ("sklearn.linear_model",)
    distribution = "scikit-learn"
    families = ("lasso", "logreg_l1", "nnls")
    logreg_solver = "liblinear"

    def _model(self, family, data, tol, max_iter):
        from sklearn import linear_model as lm
        n = data["A"].shape[0]
        if family == "lasso":
            return lm.Lasso(alpha=data["lam"] / n, fit_intercept=False, tol=tol, max_iter=max_iter or 100000)
        if family == "logreg_l1":
            kw = dict(C=1.0 / data["lam"], solver=self.logreg_solver, fit_intercept=False, tol=tol,
                      max_iter=max_iter or 100000)
            try:
                return lm.LogisticRegression(l1_ratio=1.0, **kw)      # scikit-learn >= 1.8
            except TypeError:
                return lm.LogisticRegression(penalty="l1", **kw)
        return lm.LinearRegression(positive=True, fit_intercept=False)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        from sklearn.exceptions import ConvergenceWarning
        model = self._model(instance.family, data, tol, max_iter)
        A, b = data["A"], data["b"]
        if instance.family == "nnls" and hasattr(A, "toarray"):
            A = A.toarray()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(A, b)
        conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        coef = np.asarray(model.coef_, dtype=float).ravel()
        iters = getattr(model, "n_iter_", 0)
        iters = int(np.max(iters)) if np.size(iters) else 0
        return PeerRun(x=coef, status="max_iter" if conv else "converged", iterations=iters,
                       message=str(conv[0].message)[:200] if conv else "")


@register_peer
class SklearnSagaPeer(SklearnPeer):
    name = "sklearn-saga"
    description = "scikit-learn LogisticRegression(l1, saga)"
    families = ("logreg_l1",)
    logreg_solver = "saga"
