"""Peers for the bilevel suite: the searches a practitioner runs instead of a bilevel solver.

``grid-search``    20 ridge weights log-spaced over [1e-6, 1e2] x the mean squared column
                   norm / n (the weights a user would try), scikit-learn's
                   LogisticRegression (lbfgs, no intercept, C = 1 / (n lam), tol 1e-10)
                   warm-started from one weight to the next, from large to small; the
                   best validation loss wins (single-weight instances only)
``random-search``  50 log-weight vectors drawn uniformly over the same range, one entry per
                   upper variable, each lower level solved by the family's Newton method
                   warm-started from the previous solution; the best validation loss wins
Each returns (u, w) in the instance's layout; the suite scores it by the value function.
"""
from __future__ import annotations

import time

import numpy as np

from ..peer import Peer, PeerRun, PeerSkip, register_peer

LOW, HIGH = 1e-6, 1e2


def _range(p):
    c = np.log(p.train_scale)
    return c + np.log(LOW), c + np.log(HIGH)


@register_peer
class GridSearch(Peer):
    name = "grid-search"
    description = "20-point warm-started grid over one ridge weight (scikit-learn LogisticRegression)"
    package = "sklearn"
    families = ("bilevel",)
    imports = ("sklearn.linear_model",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        from ...kernels.threads import threads
        with threads(blas=1):     # as the backends: no spin-waiting BLAS threads on small products
            return self._solve(instance, data, time_limit, record)

    def _solve(self, instance, data, time_limit, record):
        import warnings

        from sklearn.linear_model import LogisticRegression
        p = instance.make_problem(data).program
        if getattr(p, "weights", None) != "single":
            raise PeerSkip("grid-search: a grid over one weight applies to the single-weight instances only")
        t0 = time.perf_counter()
        lo, hi = _range(p)
        X, y, Xv, yv = p.train.X, p.train.y, p.val.X, p.val.y
        n = X.shape[0]
        clf = LogisticRegression(fit_intercept=False, tol=1e-10, max_iter=10000, warm_start=True)
        best = (np.inf, None, None)
        for k, u in enumerate(np.linspace(hi, lo, 20)):
            if time.perf_counter() - t0 > time_limit:
                break
            clf.set_params(C=1.0 / (n * np.exp(u)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, y)
            w = clf.coef_.ravel().copy()
            val = float(np.mean(np.logaddexp(0.0, -yv * np.asarray(Xv @ w).ravel())))
            if val < best[0]:
                best = (val, u, w)
            record(iteration=k + 1, x=np.r_[best[1], best[2]])
        if best[1] is None:
            return PeerRun(x=None, status="time_limit", iterations=0)
        return PeerRun(x=np.r_[best[1], best[2]], status="converged", iterations=20)


@register_peer
class RandomSearch(Peer):
    name = "random-search"
    description = "50 random log-weight vectors, warm-started Newton lower solves"
    package = "solvelab"
    families = ("bilevel",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        from ...kernels.threads import threads
        with threads(blas=1):
            return self._solve(instance, data, time_limit, record)

    def _solve(self, instance, data, time_limit, record):
        p = instance.make_problem(data).program
        if getattr(p, "weights", None) == "sample":
            raise PeerSkip("random-search: one weight per sample is beyond a random search")
        t0 = time.perf_counter()
        lo, hi = _range(p)
        rng = np.random.default_rng(0)
        best, w = (np.inf, None, None), None
        for k in range(50):
            if time.perf_counter() - t0 > time_limit:
                break
            u = rng.uniform(lo, hi, p.q)
            w, _, _ = p.lower_solve(u, w)
            val = p.upper_value(u, w)
            if val < best[0]:
                best = (val, u, w.copy())
            record(iteration=k + 1, x=np.r_[best[1], best[2]])
        if best[1] is None:
            return PeerRun(x=None, status="time_limit", iterations=0)
        return PeerRun(x=np.r_[best[1], best[2]], status="converged", iterations=50)
