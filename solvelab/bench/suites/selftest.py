"""``selftest``: tiny instances and misbehaving peers that exercise the harness itself
(time-limit kills, crashes, exceptions, resume). Used by tests/bench; hidden peers
(``_sleep``, ``_crash``, ``_raise``, ``_exact``) are run only when named.
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..peer import Peer, PeerRun, register_peer
from ..suite import Instance, Suite, register_suite


def _tiny_lasso():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 10))
    b = rng.standard_normal(30)
    return {"A": A, "b": b, "lam": 0.1 * float(np.max(np.abs(A.T @ b)))}


@register_suite
class SelfTestSuite(Suite):
    name = "selftest"
    description = "harness self-test (tiny Lasso; sleeping, crashing and raising peers)"
    default_backends = ("fista", "_unregistered")   # the second one is never registered: a skip
    default_peers = ()
    default_time_limit = 5.0

    def instances(self):
        return [Instance("tiny-lasso", "lasso", "30x10", _tiny_lasso),
                Instance("tiny-lasso-2", "lasso", "30x10", _tiny_lasso),
                Instance("missing-data", "lasso", "?", _tiny_lasso, skip="data file not found (test)")]


class _Hidden(Peer):
    hidden = True
    families = ("lasso",)


@register_peer
class SleepPeer(_Hidden):
    name = "_sleep"
    description = "sleeps for an hour, ignoring the time limit"

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        for k in range(3600 * 10):
            if k < 3:
                record(iteration=k, objective=1.0 / (k + 1))
            time.sleep(0.1)
        return PeerRun(x=None, status="converged")


@register_peer
class CrashPeer(_Hidden):
    name = "_crash"
    description = "kills its own process (a segfault stand-in)"

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        os._exit(11)


@register_peer
class RaisePeer(_Hidden):
    name = "_raise"
    description = "raises an exception"

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        raise RuntimeError("boom (selftest)")


@register_peer
class ExactPeer(_Hidden):
    name = "_exact"
    description = "solves the tiny Lasso with CVXPY + Clarabel (a well-behaved peer)"

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        import cvxpy as cp
        prob = instance.make_problem(data)
        cvx = cp.Problem(prob.objective, prob.constraints)
        cvx.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        x = np.asarray(cvx.variables()[0].value).ravel()
        record(iteration=1, x=x)
        return PeerRun(x=x, status="converged", iterations=1)
