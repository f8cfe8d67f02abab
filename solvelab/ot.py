"""POT's entropic OT calls, on solvelab's backends: replace ``ot.`` by ``solvelab.ot.``.

    P = solvelab.ot.sinkhorn(a, b, M, reg)                 # as ot.sinkhorn (POT's order)
    W = solvelab.ot.sinkhorn2(a, b, M, reg)                # <M, P>, as ot.sinkhorn2
    res = solvelab.ot.solve(M, a, b, reg=reg)              # as ot.solve: an OTResult
    res = solvelab.ot.solve(M, a, b, reg=reg, unbalanced=rho)   # KL-relaxed marginals

The solves run through solvelab's engine (``sinkhorn`` in the log domain with epsilon
scaling, or ``sinkhorn_newton``), so the plan is judged by the OT family's certificate
(marginal violation and relative primal-dual gap), not by the iterations: where POT's
plain Sinkhorn underflows to NaN or a zero plan at a small ``reg``, these return a valid
plan, or say why not. What differs from POT, on purpose:

- ``stopThr`` / ``tol`` is solvelab's relative certificate target (marginal violation
  relative to sum(a), and the relative gap), not POT's absolute marginal error;
- ``method`` picks the backend: 'sinkhorn', 'sinkhorn_log' and 'sinkhorn_stabilized'
  all run solvelab's log-domain ``sinkhorn`` (it is stable at any reg); 'sinkhorn_newton'
  (or 'newton') the Sinkhorn-Newton-Sparse backend; 'auto' lets solvelab choose;
- exact OT (``reg=None`` or 0) and other regularizers are refused with the POT call to use;
- the arrays are NumPy (POT's other backends -- torch, jax -- are not taken).
Masses given as empty lists mean uniform, as in POT.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidDataError
from .result import Result, Status

__all__ = ["sinkhorn", "sinkhorn2", "solve", "OTResult"]

_METHODS = {"sinkhorn": "sinkhorn", "sinkhorn_log": "sinkhorn", "sinkhorn_stabilized": "sinkhorn",
            "sinkhorn_newton": "sinkhorn_newton", "newton": "sinkhorn_newton", "auto": "auto", None: "auto"}


@dataclass
class OTResult:
    """What ``solvelab.ot.solve`` returns, with POT's ``OTResult`` names.

    plan           the transport plan (n x m)
    value          the regularized objective, as POT's (KL: <M,P> + reg KL(P | a b^T) [+ the
                   marginal terms]; entropy: <M,P> + reg sum P log P)
    value_linear   <M, P>
    potentials     (log_u, log_v) of P = diag(e^log_u) K diag(e^log_v), K = e^{-M/reg} (balanced),
                   K = a b^T e^{-M/reg} (unbalanced), as POT's
    status         solvelab's status ('optimal', 'max_iter', ...)
    result         the solvelab Result (its certificate, history, timings)
    """
    plan: np.ndarray
    value: float
    value_linear: float
    potentials: tuple
    status: str
    result: Result
    log: dict = field(default_factory=dict)

    @property
    def potential_a(self) -> np.ndarray:
        return self.potentials[0]

    @property
    def potential_b(self) -> np.ndarray:
        return self.potentials[1]


def _masses(a, b, M):
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2:
        raise InvalidDataError(f"M must be a 2-D cost matrix, got shape {M.shape}")
    n, m = M.shape
    a = np.full(n, 1.0 / n) if a is None or np.size(a) == 0 else np.asarray(a, dtype=np.float64)
    b = np.full(m, 1.0 / m) if b is None or np.size(b) == 0 else np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise InvalidDataError(f"a and b must be 1-D mass vectors (POT's several-b form is not taken), "
                               f"got shapes {a.shape} and {b.shape}")
    return a, b, M


def _backend(method) -> str:
    if method not in _METHODS:
        raise InvalidDataError(f"method {method!r} is not one of {sorted(k for k in _METHODS if k)}")
    return _METHODS[method]


def _reg(reg) -> float:
    if reg is None or (np.isscalar(reg) and float(reg) == 0.0):
        raise InvalidDataError("solvelab.ot solves entropic OT (reg > 0); for exact OT use POT's ot.emd / "
                               "ot.solve(M, a, b) or solvelab.problems with an LP backend")
    return float(reg)


def _run(a, b, M, reg, rho, backend, tol, max_iter, verbose):
    from .problems import entropic_ot, unbalanced_ot
    if rho is None:
        prob = entropic_ot(a, b, M, reg)
    else:
        prob = unbalanced_ot(a, b, M, reg, float(rho))
    return prob.solve(backend=backend, tol=tol, max_iter=max_iter, verbose=verbose)


def _potentials(res: Result, a, b, reg, rho):
    f, g = (np.asarray(d, dtype=np.float64) for d in res.duals)
    if rho is not None:    # P = a_i b_j exp((f + g - C) / reg): log u = log a + f / reg
        with np.errstate(divide="ignore"):
            return np.log(a) + f / reg, np.log(b) + g / reg
    return f / reg, g / reg


def _kl(p, q) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.where(p > 0, p * np.log(p / q), 0.0).sum() - p.sum() + q.sum())


def _not_converged(res: Result, warn: bool) -> None:
    if warn and res.status is not Status.OPTIMAL:
        warnings.warn(f"solvelab.ot: {res.status.value}: {res.message or res.certificate}; increase "
                      f"numItermax / max_iter, or loosen stopThr / tol", UserWarning, stacklevel=3)


def sinkhorn(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False, log=False,
             warn=True, **kwargs):
    """The entropic plan argmin <M, P> - reg H(P), P 1 = a, P^T 1 = b (POT's ``ot.sinkhorn``,
    argument order included). ``log=True`` also returns a dict: 'niter', 'err' (the
    residual history), 'log_u', 'log_v', 'u', 'v', and 'result' (the solvelab Result)."""
    if kwargs:
        raise InvalidDataError(f"solvelab.ot.sinkhorn: unsupported option(s) {sorted(kwargs)} "
                               "(taken: method, numItermax, stopThr, verbose, log, warn)")
    a, b, M = _masses(a, b, M)
    reg = _reg(reg)
    res = _run(a, b, M, reg, None, _backend(method), float(stopThr), int(numItermax), verbose)
    _not_converged(res, warn)
    plan = res.values["P"] if res.x is not None else np.full(M.shape, np.nan)
    if not log:
        return plan
    lu, lv = _potentials(res, a, b, reg, None) if res.x is not None else (None, None)
    with np.errstate(over="ignore"):     # at a small reg the scalings themselves overflow (as in POT)
        u, v = (None, None) if lu is None else (np.exp(lu), np.exp(lv))
    info = {"niter": res.iterations, "err": [h.get("residual") for h in res.history], "log_u": lu, "log_v": lv,
            "u": u, "v": v, "result": res}
    return plan, info


def sinkhorn2(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False, log=False,
              warn=True, **kwargs):
    """<M, P> at the entropic plan (POT's ``ot.sinkhorn2``: the transport cost without the
    entropy term)."""
    out = sinkhorn(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, **kwargs)
    plan, info = out if log else (out, None)
    loss = float(np.sum(np.asarray(M, dtype=np.float64) * plan))
    return (loss, info) if log else loss


def solve(M, a=None, b=None, reg=None, c=None, reg_type="KL", unbalanced=None, unbalanced_type="KL",
          method=None, n_threads=1, max_iter=None, plan_init=None, potentials_init=None, tol=None,
          verbose=False, grad=None) -> OTResult:
    """POT's ``ot.solve`` for entropic OT (``reg`` > 0; ``reg_type`` 'KL' or 'entropy'),
    balanced or with KL-relaxed marginals (``unbalanced`` = their weight). Defaults as
    POT's: ``max_iter`` 1000, ``tol`` 1e-9. Refused (with the POT call that does it):
    exact OT, a reference plan ``c``, other regularizers and marginal penalties, initial
    plans or potentials, gradients through the solve."""
    a, b, M = _masses(a, b, M)
    reg = _reg(reg)
    for name, val, ok in (("c", c, c is None), ("plan_init", plan_init, plan_init is None),
                          ("potentials_init", potentials_init, potentials_init is None),
                          ("grad", grad, grad in (None, "autodiff", "detach"))):
        if not ok:
            raise InvalidDataError(f"solvelab.ot.solve does not take {name}={val!r}; use POT's ot.solve for it")
    if not isinstance(reg_type, str) or reg_type.lower() not in ("kl", "entropy"):
        raise InvalidDataError(f"reg_type {reg_type!r}: solvelab.ot.solve takes 'KL' or 'entropy' "
                               f"(POT's ot.solve has the others)")
    if unbalanced is not None and str(unbalanced_type).lower() != "kl":
        raise InvalidDataError(f"unbalanced_type {unbalanced_type!r}: solvelab.ot.solve relaxes the marginals "
                               f"with KL only (POT's ot.solve has 'L2' and 'TV')")
    if unbalanced is not None and reg_type.lower() != "kl":
        raise InvalidDataError("unbalanced OT is solved with reg_type='KL' (the reference plan a b^T)")
    rho = None if unbalanced is None else float(unbalanced)
    res = _run(a, b, M, reg, rho, _backend(method), 1e-9 if tol is None else float(tol),
               1000 if max_iter is None else int(max_iter), verbose)
    _not_converged(res, True)
    if res.x is None:
        nan = np.full(M.shape, np.nan)
        return OTResult(nan, float("nan"), float("nan"), (None, None), res.status.value, res)
    P = res.values["P"]
    linear = float(np.sum(M * P))
    ab = np.outer(a, b)
    if rho is not None:
        value = linear + reg * _kl(P.ravel(), ab.ravel()) + rho * (_kl(P.sum(1), a) + _kl(P.sum(0), b))
    elif reg_type.lower() == "entropy":
        value = linear + reg * float(np.sum(np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)))
    else:
        value = linear + reg * _kl(P.ravel(), ab.ravel())
    return OTResult(P, value, linear, _potentials(res, a, b, reg, rho), res.status.value, res,
                    log={"niter": res.iterations})
