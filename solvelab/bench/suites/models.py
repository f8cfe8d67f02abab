"""The ``models`` suite: the model zoo (``solvelab.bench.zoo``), 31 ordinary CVXPY models.

Portfolio, classification, regression, signal, LP / QP / SOCP, entropy, geometric and
utility models with fixed sizes (n = 20 ... 200) and fixed seeds, each run on every
solvelab backend that accepts it (a backend that refuses it, or a model solvelab cannot
compile, is a skip with the reason) and on CVXPY with Clarabel, SCS and OSQP.

Two things differ from the other suites, both because zoo models are arbitrary CVXPY:

- the peers are ``zoo-clarabel``, ``zoo-scs`` and ``zoo-osqp``: CVXPY peers that take
  models with several variables (a point is the variables stacked in CVXPY's order, each
  in F order -- the layout of solvelab's ``Result.x``) and that offer OSQP the models
  that are LPs or QPs (``meta['qp']``) instead of a list of family names;
- a model written with ``Maximize(f)`` enters as ``Minimize(-f)``, so that objectives,
  references and the harness's (one-sided, minimizing) judging agree for every model.

Peers are judged by ``zoo.infeasibility`` (relative constraint violation) and the
objective evaluated by CVXPY at their point.

    solvelab bench models                         # every model, default backends and peers
    solvelab bench models --instances portfolio   # a subset (names or families as substrings)
"""
from __future__ import annotations

import time
import warnings

from .. import zoo
from ..peer import PeerRun, PeerSkip, register_peer
from ..peers.cvxpy import ClarabelPeer, OsqpPeer, ScsPeer
from ..suite import Instance, Suite, register_suite

SEED = 0


def _data(name):
    def data():
        return {"name": name, "seed": SEED}
    return data


def _minimized(prob):
    """The zoo model as a minimization (Maximize(f) -> Minimize(-f)), same variables."""
    import cvxpy as cp
    if isinstance(prob.objective, cp.Maximize):
        return cp.Problem(cp.Minimize(-prob.objective.args[0]), prob.constraints)
    return prob


def _judge_problem(data):
    """One CVXPY copy of the model per worker, used only to evaluate points."""
    if "_judge" not in data:
        data["_judge"] = _minimized(zoo.build(data["name"], data["seed"])[0])
    return data["_judge"]


def _build(data):
    """The model as a ``solvelab.Problem``, compiled here: a model solvelab cannot compile
    is a skip for the backends (with the compiler's message), not a harness error."""
    import solvelab as sl
    from ...errors import BackendRefusedError, UnsupportedAtomError
    prob = _minimized(zoo.build(data["name"], data["seed"])[0])
    problem = sl.Problem(prob.objective, prob.constraints)
    try:
        problem.compile()
    except UnsupportedAtomError as exc:
        raise BackendRefusedError(f"solvelab cannot compile this model: {exc}") from exc
    return problem


def _objective(data, x):
    prob = _judge_problem(data)
    zoo.set_point(prob, x)
    val = prob.objective.value
    return float("nan") if val is None else float(val)


def _infeasibility(data, x):
    prob = _judge_problem(data)
    zoo.set_point(prob, x)
    return zoo.infeasibility(prob)


class _ZooPeer:
    """Mixin: solve the zoo model itself (any number of variables) with CVXPY."""
    hidden = True   # suite-specific: run by this suite, not listed with the general peers

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        import cvxpy as cp
        prob = _minimized(zoo.build(data["name"], data["seed"])[0])
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prob.solve(solver=self.solver, **self.settings(tol, time_limit, max_iter))
        except cp.error.SolverError as exc:
            msg = str(exc).splitlines()[0][:200]
            if "not" in msg.lower() and ("support" in msg.lower() or "handle" in msg.lower()):
                raise PeerSkip(f"CVXPY/{self.solver} cannot take this model: {msg}") from None
            return PeerRun(x=None, status="error", message=f"CVXPY/{self.solver}: {msg}")
        stats = prob.solver_stats
        status = prob.status
        verdict = {"optimal": "converged", "optimal_inaccurate": "converged",
                   "user_limit": "time_limit" if time_limit else "max_iter"}.get(status, "error")
        x = zoo.get_point(prob)
        return PeerRun(x=x, status=verdict, iterations=int(getattr(stats, "num_iters", 0) or 0),
                       time_compile=float(getattr(prob, "compilation_time", 0.0) or 0.0),
                       message=f"CVXPY status {status} ({time.perf_counter() - t0:.3f} s with canonicalization)",
                       info={"solver_time": getattr(stats, "solve_time", None)})


@register_peer
class ZooClarabelPeer(_ZooPeer, ClarabelPeer):
    name = "zoo-clarabel"
    description = "CVXPY + Clarabel on a zoo model (any number of variables)"

    def supports(self, instance):
        return None


@register_peer
class ZooScsPeer(_ZooPeer, ScsPeer):
    name = "zoo-scs"
    description = "CVXPY + SCS on a zoo model (any number of variables)"

    def supports(self, instance):
        return None


@register_peer
class ZooOsqpPeer(_ZooPeer, OsqpPeer):
    name = "zoo-osqp"
    description = "CVXPY + OSQP on a zoo model that is an LP or a QP"

    def supports(self, instance):
        if not instance.meta.get("qp"):
            return f"OSQP takes LPs and QPs; {instance.name} is {instance.meta.get('cone', '?')}"
        return None


@register_suite
class ModelsSuite(Suite):
    name = "models"
    description = "the model zoo: 31 ordinary CVXPY models (portfolio, SVM, regression, LP/QP/SOCP, entropy ...)"
    default_backends = ("cd", "fista", "admm", "cvxpy")
    default_peers = ("zoo-clarabel", "zoo-scs", "zoo-osqp")
    default_time_limit = 20.0
    default_tol = 1e-6
    default_repeat = 1

    def instances(self):
        out = []
        for name, fn in zoo.ZOO.items():
            meta = dict(fn.meta)
            out.append(Instance(name, family=meta["family"], size=meta["size"], data=_data(name), build=_build,
                                objective=_objective, infeasibility=_infeasibility,
                                meta={"atoms": ", ".join(meta["atoms"]) or "-", "cone": meta["cone"],
                                      "qp": meta["qp"], "seed": SEED}))
        return out

