"""The ``cutest`` suite: CUTEst problems from sif2jax as NLP instances (extra ``solvelab[cutest]``).

Without sif2jax and jax the suite is skipped with a message saying how to install them.
With them, the problem list comes from a cached index and each run loads its problem
from the ``jax.export`` cache (see ``solvelab.bench.cutest``): sif2jax is imported once
per sif2jax version to index, once per batch of new problems to export, and never per
run. Those one-time costs are reported apart in report.md.

Suite options (``--suite-option KEY=VALUE``): ``kinds`` (comma-separated, from
``solvelab.bench.cutest.KINDS``; default: all), ``max_n`` (default 200), ``min_n``.
Instances are named after the problems (``--instances 'HS*,ROSENBR'``). The reference
is sif2jax's expected objective value when it gives one; peers are judged against it.
solvelab backends take these instances once a backend accepts ``solvelab.NLP`` models
(the sketched_newton issue); until then they are skips with that reason.
"""
from __future__ import annotations

import importlib.util

from .. import cutest
from ..suite import Instance, Suite, SuiteError, register_suite


def _data(name):
    def data():
        return {"nlp": cutest.load_nlp(name)}
    return data


def _build(data):
    """A ``solvelab.NLP`` model of the instance, once solvelab has one."""
    import solvelab
    from solvelab.errors import BackendRefusedError
    nlp_cls = getattr(solvelab, "NLP", None)
    if nlp_cls is None:
        raise BackendRefusedError("solvelab has no NLP model class yet (solvelab.NLP, the sketched_newton "
                                  "issue): no backend can take CUTEst instances")
    f = data["nlp"]
    return nlp_cls(objective=f.f, gradient=f.grad, x0=f.x0, lower=f.lo, upper=f.hi, hvp="fd",
                   equality=(f.c_eq, f.jac_eq) if f.m_eq else None,
                   inequality=(f.c_ineq, f.jac_ineq) if f.m_ineq else None)


def _objective(data, x):
    return data["nlp"].f(x)


def _infeasibility(data, x):
    return data["nlp"].infeasibility(x)


def _int(v, what):
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise SuiteError(f"cutest: {what} must be an integer, got {v!r}") from None


@register_suite
class CutestSuite(Suite):
    name = "cutest"
    description = "CUTEst problems from sif2jax (NLP; extra solvelab[cutest])"
    default_backends = ("sketched_newton", "auglag")
    default_peers = ("scipy-nlp",)
    default_time_limit = 60.0
    default_tol = 1e-6
    # jax is imported once per worker (reported as worker start-up, not as a run's data
    # time); never sif2jax: the runs load the jax.export cache
    worker_preload = ("jax",) if importlib.util.find_spec("jax") is not None else ()

    def unavailable(self):
        return cutest.unavailable()

    def _filters(self):
        opts = dict(self.options)
        kinds = opts.get("kinds", opts.get("classes"))  # the issue calls them classes
        if isinstance(kinds, str):
            items = [k.strip() for k in kinds.split(",") if k.strip()]
            # --suite-option kinds=unconstrained,max_n=50 (as the CLI's help shows it)
            for k in [k for k in items if "=" in k]:
                key, _, value = k.partition("=")
                opts.setdefault(key.strip(), value.strip())
            kinds = [k for k in items if "=" not in k]
        bad = set(kinds or ()) - set(cutest.KINDS)
        if bad:
            raise SuiteError(f"cutest: unknown kind(s) {sorted(bad)}; known: {', '.join(cutest.KINDS)}")
        max_n = _int(opts.get("max_n", 200), "max_n")
        return kinds, _int(opts.get("min_n"), "min_n"), max_n

    def instances(self):
        try:
            entries, seconds = cutest.load_index(log=getattr(self, "log", None) or (lambda m: None))
        except cutest.CutestUnavailable as exc:
            raise SuiteError(str(exc)) from None
        self.one_time = {"index (sif2jax import)": seconds} if seconds else {}
        kinds, min_n, max_n = self._filters()
        out = []
        for e in cutest.select([e for e in entries if e["kind"] != "broken"], kinds=kinds, min_n=min_n,
                               max_n=max_n):
            m = f", m={e.get('m_eq') or 0} eq + {e.get('m_ineq') or 0} ineq" if (e.get("m_eq") or e.get("m_ineq")) else ""
            out.append(Instance(
                e["name"], "nlp", f"n={e['n']}{m}", _data(e["name"]), build=_build, objective=_objective,
                infeasibility=_infeasibility, reference=e.get("expected_objective"),
                meta={"kind": e["kind"], "classification": e.get("classification"), "n": e["n"],
                      "m_eq": e.get("m_eq"), "m_ineq": e.get("m_ineq"), "source": "sif2jax"}))
        return out

    def prepare(self, instances, log):
        out = dict(getattr(self, "one_time", {}))
        try:
            seconds = cutest.ensure_exported([i.name for i in instances], log=log)
        except cutest.CutestUnavailable as exc:  # workers fall back on importing sif2jax once each
            log(f"{exc}; the workers will build the problems from sif2jax instead")
            return out
        if seconds:
            out["jax.export of new problems (sif2jax import)"] = seconds
        for inst in instances:  # e.g. an inequality sign that contradicts sif2jax's expected_result
            warnings = cutest.export_warnings(inst.name)
            if warnings:
                inst.meta["warnings"] = warnings
                if not seconds:  # the export child has logged them already
                    for w in warnings:
                        log(f"cutest: warning: {inst.name}: {w}")
        return out
