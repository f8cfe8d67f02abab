"""``alpd`` on the DROSaddle form: a primal-dual method for a coupling nonlinear in x.

    min_x max_{p in simplex}  Phi(x, p) - mu/2 |p - u|^2 + lam/2 |x|^2,   Phi = sum_i p_i l_i(x)

Phi is linear in p, so p's step is an exact prox (the projection of a scaled point) at
the extrapolated gradient grad_p Phi = l(x); x's step is linearized (a gradient step on
Phi, the prox of lam/2 |x|^2 exact), the scheme of Hamedani and Aybat's accelerated
primal-dual method (APD) with constant steps:

    s    = (1 + theta) l(x_k) - theta l(x_{k-1})                          (theta = 1)
    p+   = P_simplex((p + sigma (s + mu u)) / (1 + sigma mu))
    x+   = (x - tau (bA)^T (p+ * l'(bA x))) / (1 + tau lam)

Steps from the constants of Phi: |l(x) - l(x')| <= |bA|_2 |x - x'| (|l'| <= 1) and
grad_x Phi is Lipschitz in x with L_xx <= max_i |a_i|^2 / 4 (l'' <= 1/4, sum p = 1):
sigma = w / |bA|_2, tau = 0.99 / (L_xx + w |bA|_2), w = ``primal_weight`` (default
L_xx / |bA|_2: the coupling's share of 1 / tau, sigma |bA|_2^2, equals L_xx's). Two passes
over A per step (bA x+ and the transposed product); every ``check_every`` steps the
family's certificate (the exact P(x) and a strong-convexity lower bound of D(p)),
``CERTIFY_PASSES`` (4) more. Warm start: the last (x, p).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..families.saddle.dro import CERTIFY_PASSES
from ..kernels.saddle import project_simplex
from .base import IterationMonitor, RawSolution, Table

_STEP = 0.99

TABLE = Table(("iteration", "iter", "8d"), ("time", "time", "9.3f"), ("residual", "gap", "10.2e"),
              ("matvecs", "passes", "9d"))


def constants(prog) -> tuple:
    """(|bA|_2, L_xx): the Lipschitz constants the steps are taken from."""
    BA = prog.BA
    if min(BA.shape) < 3:
        dense = BA.toarray() if sp.issparse(BA) else BA
        norm = float(np.linalg.norm(dense, 2))
    else:
        from scipy.sparse.linalg import svds
        v0 = np.random.default_rng(0).standard_normal(min(BA.shape))
        norm = float(svds(sp.csr_matrix(BA) if sp.issparse(BA) else BA, k=1, tol=1e-6, v0=v0,
                          return_singular_vectors=False)[0]) * 1.01
    rows = np.asarray(BA.multiply(BA).sum(axis=1)).ravel() if sp.issparse(BA) else np.einsum("ij,ij->i", BA, BA)
    return norm, 0.25 * float(rows.max(initial=0.0))


def solve_dro(backend, view, options, ws, o) -> RawSolution:
    t0 = time.perf_counter()
    prog = view.program
    n, d = prog.shape
    if "norm" not in ws:
        ws["norm"], ws["lxx"] = constants(prog)
    norm, lxx = ws["norm"], ws["lxx"]
    w = o["primal_weight"] if o.get("primal_weight_given") else (lxx / norm if (norm > 0 and lxx > 0) else 1.0)
    sigma = w / norm if norm > 0 else 1.0 / prog.mu
    tau = _STEP / (lxx + w * norm) if (lxx + w * norm) > 0 else 1.0 / prog.lam
    warm = ws.warm
    start = bool(options.warm_start and warm.get("x") is not None
                 and warm.get("data_version") == prog.data_version and warm["x"].shape == (d,))
    x, p = (warm["x"].copy(), warm["p"].copy()) if start else (np.zeros(d), prog.u.copy())
    mon = IterationMonitor(options, table=TABLE)
    passes = 0
    m = prog.margins(x)
    passes += 1
    loss = prog.losses(m)
    loss_prev = loss.copy()
    pn = np.empty(n)
    mu_u = prog.mu * prog.u
    setup_time = time.perf_counter() - t0
    it = 0
    while True:
        count = min(int(options.check_every), mon.max_iter - it)
        if count <= 0:
            mon.stop("max_iter", f"{mon.max_iter} iterations")
            break
        for _ in range(count):
            s = 2.0 * loss - loss_prev
            project_simplex((p + sigma * (s + mu_u)) / (1.0 + sigma * prog.mu), pn)
            p, pn = pn, p
            g = prog.rmatvec(p * prog.slopes(m))
            x = (x - tau * g) / (1.0 + tau * prog.lam)
            m = prog.margins(x)
            loss_prev, loss = loss, prog.losses(m)
            passes += 2
            it += 1
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(p))):
            mon.stop("numerical_error", f"NaN or Inf in the iterates at iteration {it}")
            break
        cert = prog.certify(np.concatenate([x, p]))
        passes += CERTIFY_PASSES
        val = cert.value
        rec = mon.record(it, val, matvecs=passes, exact=True)
        if val <= options.tol:
            mon.stop("converged")
            break
        if mon.check(rec, None, f"{mon.max_iter} iterations (gap {val:.2e})"):
            break
    info = {"matvecs": passes, "scheme": "apd", "norm": norm, "L_xx": lxx, "tau": tau, "sigma": sigma,
            "warm_start": start, "solve_time": mon.elapsed(), "compile_time": 0.0}
    mon.summary(backend.name, f"{it} iterations (apd), {passes} passes over A", mon.elapsed())
    if mon.status == "numerical_error":
        return RawSolution(x=None, status="numerical_error", iterations=it, history=mon.history,
                           setup_time=setup_time, info=info, message=mon.message)
    ws.warm.update(x=x.copy(), p=p.copy(), data_version=prog.data_version)
    return RawSolution(x=np.concatenate([x, p]), status=mon.status, iterations=it, history=mon.history,
                       setup_time=setup_time, info=info, message=mon.message)


def check_scheme(o) -> None:
    """The DRO form runs 'auto' (forward-backward-forward, ``solve_dro_fbf``) or 'plain'
    (APD with constant steps, ``solve_dro``)."""
    from ..errors import InvalidDataError
    if o["scheme"] not in ("auto", "plain"):
        raise InvalidDataError(f"backend 'alpd': on a distributionally robust program scheme is 'auto' "
                               f"(forward-backward-forward with backtracking) or 'plain' (APD with constant steps), "
                               f"got {o['scheme']!r}")


def coupled_view(prog):
    """The DRO program as a CoupledSaddle view: Phi(x, p) = p^T l(x) (callables over bA), the
    chi-square penalty as y_reg = mu and b = -mu u (its constant mu/2 |u|^2 left out), the
    ridge as x_reg = lam; x free, p in the simplex. No construction checks (the DRO node's
    data is already checked, Phi convex-concave by construction)."""
    from ..families.saddle.coupled import CoupledSaddleProgram
    from ..families.saddle.coupling import Coupling
    from ..families.saddle.forms import CoupledSaddle

    def value(x, p):
        return float(p @ prog.losses(prog.margins(x)))

    def grad(x, p):
        m = prog.margins(x)
        return prog.rmatvec(p * prog.slopes(m)), prog.losses(m)
    n, d = prog.shape
    node = CoupledSaddleProgram(Coupling(value, grad=grad, name="logistic_losses"), d, n, b=-prog.mu * prog.u,
                                x_domain="free", y_domain="simplex", x_reg=prog.lam, y_reg=prog.mu, check=False)
    return CoupledSaddle(node)


def solve_dro_fbf(backend, view, options, ws, o) -> RawSolution:
    """'auto' on the DRO form: ``alpd_coupled``'s forward-backward-forward steps (adaptive
    step and player weight) on the coupled view, stopped by the DRO family's own
    certificate. Measured (BENCHMARKS.md): certified where APD's constant steps were not
    (mushrooms 5.4 s, a9a 136 s at tol 1e-6; APD at its 20000-step budget, gaps 8e-3 / 4e-3)."""
    from .alpd_coupled import solve_coupled
    prog = view.program
    hit = ws["coupled"] if "coupled" in ws else None
    if hit is None or hit[0] != prog.data_version:
        hit = ws["coupled"] = (prog.data_version, coupled_view(prog))
        ws.warm.clear()            # the last (x, p) belongs to other data
    cview = hit[1]

    def measure(x, p, *_):
        return prog.certify(np.concatenate([x, p])).value
    return solve_coupled(backend, cview, options, ws, o, measure=measure)
