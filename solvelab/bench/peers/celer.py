"""celer as a peer: ``Lasso`` and l1 ``LogisticRegression`` (working sets, dual extrapolation).

celer minimizes ``||y - X w||^2 / (2 n) + alpha ||w||_1`` (``alpha = lam / n``) and
``sum log-loss + ||w||_1 / C`` (``C = 1 / lam``). Skipped with a reason when celer is
not importable (it has no wheels for every Python). First-fit compilation is done in a
declared warm-up, timed apart.
"""
from __future__ import annotations

from ..peer import register_peer
from .skglm import _GlmPeer


@register_peer
class CelerPeer(_GlmPeer):
    name = "celer"
    description = "celer Lasso / LogisticRegression(l1) (working sets, dual extrapolation)"
    package = "celer"
    extra = None          # not in solvelab[peers]: celer lacks wheels for some Pythons
    imports = ("celer",)

    def estimator(self, family, data, tol, max_iter):
        import celer
        n = data["A"].shape[0]
        if family == "lasso":
            return celer.Lasso(alpha=data["lam"] / n, fit_intercept=False, tol=tol, max_iter=max_iter or 100)
        return celer.LogisticRegression(C=1.0 / data["lam"], tol=tol, max_iter=max_iter or 100)
