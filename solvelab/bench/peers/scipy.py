"""scipy.optimize as a peer: L-BFGS-B on the smooth families and, through the split
x = u - v with u, v >= 0, on the l1 families (lasso, logreg_l1); bounds for nnls and
boxqp. Equality-constrained least squares is skipped (L-BFGS-B takes bounds only).

The history comes from L-BFGS-B's callback (one point per iteration, its objective
evaluated by the harness with the clock paused); the callback stops the run at the
time limit. ``ftol`` and ``gtol`` are set to ``tol / 100``.
"""
from __future__ import annotations

import time

import numpy as np
from ..peer import Peer, PeerRun, register_peer


def _smooth(family, d):
    """(value, gradient) of the smooth part of a family, and whether to split for l1."""
    A, b = d.get("A"), d.get("b")
    if family in ("lasso", "nnls"):
        def f(x):
            r = A @ x - b
            return 0.5 * float(r @ r), A.T @ r
    elif family == "logreg_l1":
        from scipy.special import expit

        def f(x):
            z = b * (A @ x)
            return float(np.logaddexp(0.0, -z).sum()), A.T @ (-b * expit(-z))
    elif family == "huber":
        M = d["M"]

        def f(x):
            r = A @ x - b
            a = np.abs(r)
            inside = a <= M
            val = float(np.where(inside, r * r, 2 * M * a - M * M).sum())
            return val, A.T @ np.where(inside, 2 * r, 2 * M * np.sign(r))
    elif family == "boxqp":
        L, q = d["L"], d["q"]

        def f(x):
            Lx = L @ x
            return 0.5 * float(Lx @ Lx) + float(q @ x), L.T @ Lx + q
    else:
        raise ValueError(family)
    return f


@register_peer
class ScipyLbfgsbPeer(Peer):
    name = "scipy-lbfgsb"
    description = "scipy.optimize L-BFGS-B (l1 through a split into nonnegative parts)"
    package = "scipy"
    imports = ("scipy.optimize", "scipy.special")
    families = ("lasso", "logreg_l1", "nnls", "huber", "boxqp")

    def supports(self, instance):
        if instance.family == "eqls":
            return "L-BFGS-B takes bounds only; equality constraints are not wrapped (SLSQP/trust-constr)"
        return super().supports(instance)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        from scipy.optimize import minimize
        fam = instance.family
        f = _smooth(fam, data)
        n = (data["L"] if fam == "boxqp" else data["A"]).shape[1]
        split = fam in ("lasso", "logreg_l1")
        if split:
            lam = float(data["lam"])

            def fun(z):
                x = z[:n] - z[n:]
                v, g = f(x)
                return v + lam * float(z.sum()), np.concatenate([g + lam, -g + lam])
            to_x = lambda z: z[:n] - z[n:]   # noqa: E731
            z0 = np.zeros(2 * n)
            bounds = [(0.0, None)] * (2 * n)
        else:
            fun, to_x, z0 = f, (lambda z: z), np.zeros(n)
            bounds = None
            if fam == "nnls":
                bounds = [(0.0, None)] * n
            elif fam == "boxqp":
                lo = np.broadcast_to(data["lo"], (n,))
                hi = np.broadcast_to(data["hi"], (n,))
                bounds = list(zip(lo, hi))
                z0 = np.clip(z0, lo, hi)
        t0 = time.perf_counter()
        state = {"k": 0, "stopped": False}

        def callback(intermediate_result):
            state["k"] += 1
            record(iteration=state["k"], x=to_x(intermediate_result.x))
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                state["stopped"] = True
                raise StopIteration

        res = minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
                       options={"maxiter": int(max_iter or 100000), "maxfun": 10**7,
                                "ftol": tol * 1e-2, "gtol": tol * 1e-2, "maxcor": 20})
        if state["stopped"]:
            status = "time_limit"
        elif res.success:
            status = "converged"
        elif "ITERATION" in str(res.message).upper() or res.status == 1:
            status = "max_iter"
        else:
            status = "converged"  # e.g. ABNORMAL line search near the optimum: judged by the objective
        return PeerRun(x=to_x(res.x), status=status, iterations=int(res.nit), message=str(res.message)[:200])


@register_peer
class ScipyNlpPeer(Peer):
    """General NLPs (family ``nlp``, e.g. the CUTEst suite): L-BFGS-B without general
    constraints, SLSQP with them (trust-constr beyond ``SLSQP_MAX_N`` variables). The
    instance's data carry ``nlp`` (``solvelab.bench.cutest.NLPFunctions``). L-BFGS-B runs
    with ``ftol=0`` and ``gtol=tol/1e4`` (the harness judges the point, not the stop);
    more equality constraints than variables (over-determined nonlinear equations) is a
    skip. Statuses: converged (also for SLSQP/L-BFGS-B's other stops: the point is judged),
    max_iter, time_limit."""
    name = "scipy-nlp"
    description = "scipy.optimize L-BFGS-B / SLSQP / trust-constr on NLPs (CUTEst)"
    package = "scipy"
    imports = ("scipy.optimize",)
    families = ("nlp",)
    SLSQP_MAX_N = 500

    @staticmethod
    def _too_many_equalities(n, m_eq):
        if n is not None and m_eq and m_eq > n:
            return (f"{m_eq} equality constraints on {n} variables: SLSQP and trust-constr need at most "
                    f"as many as variables (an over-determined system, e.g. nonlinear equations)")
        return None

    def supports(self, instance):
        meta = instance.meta or {}
        return super().supports(instance) or self._too_many_equalities(meta.get("n"), meta.get("m_eq"))

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        from scipy.optimize import Bounds, minimize

        from ..peer import PeerSkip
        nlp = data["nlp"]
        n = nlp.x0.size
        why = self._too_many_equalities(n, nlp.m_eq)
        if why:
            raise PeerSkip(why)
        bounds = Bounds(nlp.lo, nlp.hi) if np.isfinite(nlp.lo).any() or np.isfinite(nlp.hi).any() else None
        cons = []
        if nlp.m_eq:
            cons.append({"type": "eq", "fun": nlp.c_eq, "jac": nlp.jac_eq})
        if nlp.m_ineq:
            cons.append({"type": "ineq", "fun": nlp.c_ineq, "jac": nlp.jac_ineq})
        method = "L-BFGS-B" if not cons else ("SLSQP" if n <= self.SLSQP_MAX_N else "trust-constr")
        options = {"maxiter": int(max_iter or 10000)}
        if method == "L-BFGS-B":
            # no relative-reduction stop (ftol): on CUTEst's badly scaled problems (PALMER*,
            # HEART6LS, COOLHANSLS, KOEBHELB ...) it stops L-BFGS-B far from the optimum;
            # the projected gradient, the line search, the budget or the clock stop it
            options.update(ftol=0.0, gtol=tol * 1e-4, maxfun=10**7)
        elif method == "SLSQP":
            options.update(ftol=tol * 1e-2)
        else:
            options.update(gtol=tol, xtol=tol * 1e-2)
        t0 = time.perf_counter()
        state = {"k": 0, "stopped": False}

        def callback(intermediate_result):
            state["k"] += 1
            record(iteration=state["k"], x=np.asarray(intermediate_result.x))
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                state["stopped"] = True
                raise StopIteration

        x0 = np.clip(nlp.x0, nlp.lo, nlp.hi)
        res = minimize(lambda x: (nlp.f(x), nlp.grad(x)), x0, jac=True, method=method, bounds=bounds,
                       constraints=cons or (), callback=callback, options=options)
        status = "time_limit" if state["stopped"] else ("converged" if res.success else "max_iter"
                                                        if "iter" in str(res.message).lower() else "converged")
        return PeerRun(x=np.asarray(res.x), status=status, iterations=int(getattr(res, "nit", 0) or 0),
                       message=f"{method}: {str(res.message)[:160]}")
