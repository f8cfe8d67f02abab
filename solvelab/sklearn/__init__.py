"""scikit-learn estimators backed by solvelab's backends (``cd`` by default).

    from solvelab.sklearn import Lasso      # instead of sklearn.linear_model.Lasso

Each estimator builds one ``solvelab.Problem`` whose regularization strength is a live
CVXPY Parameter, solves it, and keeps it (``problem_``) with the certified ``Result``
(``result_``). A non-optimal result gives a ``ConvergenceWarning`` (status in
``status_``). scikit-learn is needed on use, not on ``import solvelab``. See docs/sklearn.md.
"""
from __future__ import annotations

from ..errors import MissingDependencyError

try:  # the estimators subclass scikit-learn's mixins
    import sklearn as _sklearn  # noqa: F401
except ImportError as _exc:  # report it on use, with the install hint
    _MISSING = _exc
else:
    _MISSING = None

__all__ = ["Lasso", "ElasticNet", "LogisticRegression", "MCPRegression", "GroupLasso",
           "HuberLossRegressor", "HuberRegressor", "lasso_path", "enet_path", "clear_cache"]


def __getattr__(name):
    if name not in __all__:
        raise AttributeError(f"module 'solvelab.sklearn' has no attribute {name!r}")
    if _MISSING is not None:
        raise MissingDependencyError(f"solvelab.sklearn.{name} needs scikit-learn: "
                                     f"pip install scikit-learn (or pip install 'solvelab[sklearn]')") from _MISSING
    from . import _base, huber, linear, logistic
    for module in (linear, logistic, huber, _base):
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(name)
