"""LogisticRegression with an l1 or elastic-net penalty (scikit-learn's objective):

    C sum_i sw_i log(1 + exp(-y_i (x_i w + b))) + l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||^2

solved as that divided by C n (same minimizer): mean loss + lam (...), lam = 1 / (C n).
Labels are mapped to -1 / +1 (classes_[1] is +1). More than two classes: one-vs-rest, one
binary problem per class (scikit-learn's own multiclass fit is multinomial, so its
coefficients differ there). Non-uniform sample weights: the weighted logistic datafit is
not a ``cd`` form, so those fits go to the ``fista`` backend (stored in ``result_``).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from ._base import SolvelabEstimator, check_nonneg, sample_weights

__all__ = ["LogisticRegression"]


class LogisticRegression(ClassifierMixin, SolvelabEstimator):
    """penalty 'l1' or 'elasticnet' (l1_ratio in [0, 1] required), C > 0; see the module
    doc. ``tol`` and ``warm_start`` as for solvelab.sklearn.ElasticNet."""

    _cd_takes_weights = False

    def __init__(self, penalty="l1", C=1.0, l1_ratio=None, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False, backend="cd"):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.backend = backend

    def _ratio(self):
        if self.penalty == "l1":
            return 1.0
        if self.penalty == "elasticnet":
            if self.l1_ratio is None:
                raise ValueError("LogisticRegression: penalty='elasticnet' needs l1_ratio in [0, 1]")
            return check_nonneg(self.l1_ratio, "l1_ratio", "LogisticRegression", upper=1.0)
        raise ValueError(f"LogisticRegression: penalty must be 'l1' or 'elasticnet', got {self.penalty!r} "
                         f"(use sklearn.linear_model.LogisticRegression for 'l2' / None)")

    def fit(self, X, y, sample_weight=None):
        self._check_common()
        ratio = self._ratio()
        if check_nonneg(self.C, "C", "LogisticRegression") <= 0:
            raise ValueError(f"LogisticRegression: C must be > 0, got {self.C!r}")
        X, y = self._validate(X, y, y_numeric=False)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(f"LogisticRegression: needs samples of at least 2 classes; got only one class "
                             f"{self.classes_[0]!r}")
        sw = sample_weights(sample_weight, X, normalize=False)
        self._ratio_value = ratio
        pos = [self.classes_[1]] if self.classes_.size == 2 else list(self.classes_)
        coefs, inters, results, statuses, iters = [], [], [], [], []
        self._sw_scale = 1.0 if sw is None else float(sw.mean())
        swn = None if sw is None else sw / sw.mean()
        for c in pos:
            self._current = c
            yb = np.where(y == c, 1.0, -1.0)
            self._solve(X, yb, swn)
            coefs.append(self.coef_)
            inters.append(self.intercept_)
            results.append(self.result_)
            statuses.append(self.status_)
            iters.append(self.n_iter_)
        self.coef_ = np.array(coefs)
        self.intercept_ = np.array(inters)
        self.results_ = results
        self.result_ = results[0] if len(results) == 1 else results
        self.status_ = statuses[0] if len(statuses) == 1 else statuses
        self.n_iter_ = np.array(iters)
        return self

    def _structure(self):
        return (bool(self.fit_intercept), self._ratio_value < 1.0, repr(getattr(self, "_current", None)))

    def _build(self, X, y, sw):
        import cvxpy as cp
        import solvelab as sl
        w = cp.Variable(X.shape[1], name="coef")
        b = cp.Variable(name="intercept") if self.fit_intercept else None
        z = X @ w if b is None else X @ w + b
        loss = cp.logistic(-cp.multiply(y, z))
        loss = (cp.sum(loss) if sw is None else cp.sum(cp.multiply(sw, loss))) / X.shape[0]
        l1 = cp.Parameter(nonneg=True, name="lam", value=1.0)
        obj = loss + l1 * cp.norm1(w)
        h = {"coef": w, "intercept": b, "lam": l1}
        if self._ratio_value < 1.0:
            l2 = cp.Parameter(nonneg=True, name="lam_l2", value=1.0)
            obj = obj + (l2 / 2) * cp.sum_squares(w)
            h["lam_l2"] = l2
        return sl.Problem(cp.Minimize(obj)), h

    def _set_level(self, h, n, sw):
        lam = 1.0 / (float(self.C) * n * self._sw_scale)
        h["lam"].value = lam * self._ratio_value
        if "lam_l2" in h:
            h["lam_l2"].value = lam * (1.0 - self._ratio_value)

    def decision_function(self, X):
        s = np.asarray(self._validated(X) @ self.coef_.T) + self.intercept_
        return s.ravel() if s.shape[1] == 1 else s

    def _validated(self, X):
        from sklearn.utils.validation import check_is_fitted, validate_data
        check_is_fitted(self, "coef_")
        return validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=np.float64)

    def predict_proba(self, X):
        s = self.decision_function(X)
        if s.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-s))
            return np.column_stack([1 - p1, p1])
        p = 1.0 / (1.0 + np.exp(-s))
        return p / p.sum(axis=1, keepdims=True)   # one-vs-rest normalization, as sklearn's ovr

    def predict(self, X):
        s = self.decision_function(X)
        idx = (s > 0).astype(int) if s.ndim == 1 else np.argmax(s, axis=1)
        return self.classes_[idx]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
