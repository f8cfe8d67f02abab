"""Consensus ADMM over row blocks of a sparse GLM, in this process or on a Dask cluster.

    minimize  sum_k F_k(x_k) + P(z)   subject to  x_k = z   (k = 1..N row blocks)

F_k is the datafit of the k-th block of rows of A (least squares, logistic, Huber,
squared hinge), P the separable convex penalty (l1, ridge, bounds). Scaled ADMM (Boyd
et al. 2011, section 7.1):

    x_k <- argmin F_k(x) + rho/2 ||x - z + u_k||^2          (on the worker holding block k)
    z   <- prox_{P / (N rho)}(mean_k(x_k + u_k))              (on the client)
    u_k <- u_k + x_k - z                                      (on the worker, next call)

Each block (``block.ConsensusBlock``) keeps its rows and the eigendecomposition of its
curvature bound between iterations, so an iteration sends z (n numbers) to every block
and gets x_k + u_k back; nothing of size m crosses the network. rho starts at the
blocks' mean curvature and is balanced against the residuals (r vs s, factor 10, at most
``max_rho_updates`` times; free, thanks to the eigendecomposition).

Stopping: every ``check_every`` iterations, or when the primal and dual residuals are
below tol relative to ||z|| and ||rho u||, the form's own certificate
(``SparseGLM.certify``: the relative duality gap at a rescaled dual point) is computed
at z on the client -- one pass over the whole A here; its seconds are reported apart in
``info['certify_seconds']`` -- and the solve stops when it meets tol. z is a prox
output, so it has exact zeros and satisfies the bounds; the engine rechecks it.

Options (``options.extra``): ``distributed`` (a ``distributed.Client``; None runs the
blocks one after another in this process, the same arithmetic), ``blocks`` (number of
row blocks; default the client's worker count, else 1), ``rho`` (initial rho; default
automatic), ``adaptive_rho`` (True), ``max_rho_updates`` (20), ``inner_max`` (local
majorization steps per iteration, 20), ``max_features`` (5000: each block holds an
n x n factor). ``sl.solve(prob, backend="admm", distributed=client)`` comes here too.
Statuses: converged, max_iter, time_limit, stopped, numerical_error.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ...errors import InvalidDataError
from ...ir.losses import DATAFIT_LIPSCHITZ
from .. import registry
from ..base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace
from ..dask_info import scheduler_info
from .block import ConsensusBlock

_EXTRA = ("distributed", "blocks", "rho", "adaptive_rho", "max_rho_updates", "inner_max", "max_features")

_TABLE = Table(("iteration", "iter", "7d"), ("time", "time", "9.3f"), ("primal", "primal res", "11.3e"),
               ("dual", "dual res", "11.3e"), ("rho", "rho", "10.3e"), ("certificate", "cert", "10.2e"))


def _client_workers(client) -> list:
    return sorted(scheduler_info(client).get("workers", {}))


def _is_client(obj) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(obj, Client)


class _Local:
    """Blocks in this process: ``step`` runs them one after another."""

    def __init__(self, blocks):
        self.blocks = blocks

    def step(self, z, rho, inner_tol, inner_max):
        return [b.step(z, rho, inner_tol, inner_max) for b in self.blocks]

    def call(self, method, *args):
        return [getattr(b, method)(*args) for b in self.blocks]


class _Dask:
    """Blocks as Dask actors, one or more per worker; ``step`` calls them all at once."""

    def __init__(self, client, actors):
        self.client, self.actors = client, actors

    def step(self, z, rho, inner_tol, inner_max):
        futs = [a.step(z, rho, inner_tol, inner_max) for a in self.actors]
        return [f.result() for f in futs]

    def call(self, method, *args):
        futs = [getattr(a, method)(*args) for a in self.actors]
        return [f.result() for f in futs]


def _prox_penalty(v, t, w1, r, lo, hi):
    """argmin_z sum_j w1_j |z_j| + r_j z_j^2 + box + ||z - v||^2 / (2 t) (separable, exact)."""
    z = np.sign(v) * np.maximum(np.abs(v) - t * w1, 0.0) / (1.0 + 2.0 * t * r)
    return np.clip(z, lo, hi)


class ConsensusAdmmBackend(Backend):
    name = "consensus_admm"
    description = ("consensus ADMM over row blocks of a sparse GLM (least squares, logistic, Huber, "
                   "squared hinge; l1/ridge/bounds), in-process or on Dask workers")
    forms = ("SparseGLM",)
    default_max_iter = 5000
    priority = 85        # never the automatic choice: a user asks for it (or for admm with a client)

    def accepts_extra(self):
        return _EXTRA

    def cannot_take(self, view):
        if view.data_term is None:
            return "there is no datafit to split over row blocks"
        if view.pkind != 0:
            return "consensus ADMM needs a convex separable penalty (l1, ridge, bounds), not MCP/SCAD"
        if view.groups:
            return "group penalties are not split by consensus ADMM (use cd)"
        if view.lin is not None or not math.isfinite(DATAFIT_LIPSCHITZ[view.dkind]):
            return f"the {view.datafit_name} datafit has no global curvature bound (use cd)"
        return None

    def auto_declines(self, view):
        return "consensus ADMM is for data split over workers; name it (or pass distributed=client to admm)"

    # ------------------------------------------------------------------------------
    def _options(self, options: SolveOptions) -> dict:
        extra = self.checked_extra(options)
        client = extra.get("distributed")
        if client is not None and not _is_client(client):
            raise InvalidDataError(f"{self.name}: distributed must be a distributed.Client (pip install "
                                   f"'solvelab[dask]'), got {type(client).__name__}")
        o = {"client": client}
        default_blocks = len(_client_workers(client)) if client is not None else 1
        o["blocks"] = _count(extra, "blocks", default_blocks, self.name, low=1)
        rho = extra.get("rho")
        if rho is not None and not (_real(rho) and math.isfinite(rho) and rho > 0):
            raise InvalidDataError(f"{self.name}: rho must be a positive finite number, got {rho!r}")
        o["rho"] = None if rho is None else float(rho)
        ad = extra.get("adaptive_rho", True)
        if not isinstance(ad, (bool, np.bool_)):
            raise InvalidDataError(f"{self.name}: adaptive_rho must be True or False, got {ad!r}")
        o["adaptive_rho"] = bool(ad)
        o["max_rho_updates"] = _count(extra, "max_rho_updates", 20, self.name, low=0)
        o["inner_max"] = _count(extra, "inner_max", 20, self.name, low=1)
        o["max_features"] = _count(extra, "max_features", 5000, self.name, low=1)
        return o

    def setup(self, view, options: SolveOptions) -> Workspace:
        return Workspace()

    def _blocks(self, view, o, ws):
        """The row blocks (cached in the workspace per client and block count)."""
        key = (id(o["client"]), o["blocks"])
        if ws.get("key") == key and ws.get("runner") is not None:
            return ws["runner"], ws["factor_seconds"]
        D = view.data()
        m, n = D.m, D.p
        if n > o["max_features"]:
            raise InvalidDataError(
                f"{self.name}: {n} features; each row block holds an n x n factorization, which is "
                f"limited to max_features={o['max_features']} (raise it, or use cd / admm)")
        nb = min(o["blocks"], max(1, m))
        A = D.matrix
        A = A.tocsr() if hasattr(A, "tocsr") else np.ascontiguousarray(A)
        edges = np.linspace(0, m, nb + 1).astype(np.int64)
        parts = [(A[edges[k]:edges[k + 1]], D.s[edges[k]:edges[k + 1]], D.b[edges[k]:edges[k + 1]])
                 for k in range(nb)]
        args = (float(view.c), int(view.dkind), float(view.dpar), float(DATAFIT_LIPSCHITZ[view.dkind]))
        t = time.perf_counter()
        client = o["client"]
        if client is None:
            runner = _Local([ConsensusBlock(Ak, sk, bk, *args) for Ak, sk, bk in parts])
        else:
            workers = _client_workers(client)
            if not workers:
                raise InvalidDataError(f"{self.name}: the Dask client has no workers")
            futs = []
            for k, part in enumerate(parts):
                where = [workers[k % len(workers)]]
                data = client.scatter(list(part), workers=where, direct=True)   # rows go to their worker once
                futs.append(client.submit(ConsensusBlock, *data, *args, actor=True, workers=where,
                                          allow_other_workers=False, pure=False))
            runner = _Dask(client, [f.result() for f in futs])
        factor_seconds = time.perf_counter() - t
        ws.update(key=key, runner=runner, factor_seconds=factor_seconds, nblocks=nb)
        return runner, factor_seconds

    # ------------------------------------------------------------------------------
    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        o = self._options(options)
        runner, factor_seconds = self._blocks(view, o, ws)
        nb = ws["nblocks"]
        n = view.n
        w1, r, lo, hi = (np.asarray(a, dtype=np.float64) for a in (view.w1, view.r, view.lo, view.hi))
        warm = ws.warm if options.warm_start else {}
        if not warm:       # the blocks forget their x_k, u_k (a cold start)
            runner.call("warm", None, None, None)
        if warm.get("z") is not None and warm["z"].shape == (n,):
            z = warm["z"].copy()
        else:
            z = np.clip(np.zeros(n), lo, hi)
        rho = o["rho"]
        if rho is None:
            # the blocks' mean curvature: trace(H_k) / n averaged (each block knows its lam)
            traces = runner.call("curvature_scale")
            rho = float(np.mean(traces))
            if not (math.isfinite(rho) and rho > 0):
                rho = 1.0
        setup_time = time.perf_counter() - t0
        mon = IterationMonitor(options, table=_TABLE)
        tol = float(options.tol)
        inner_tol = math.inf
        rho_updates, it = 0, 0
        step_seconds, certify_seconds = 0.0, 0.0
        r_norm = s_norm = math.inf
        cert = None
        checks = 0
        while True:
            t_step = time.perf_counter()
            outs = runner.step(z, rho, inner_tol, o["inner_max"])
            it += 1
            avg = np.mean([out[0] for out in outs], axis=0)
            z_old = z
            z = _prox_penalty(avg, 1.0 / (nb * rho), w1, r, lo, hi)
            step_seconds += time.perf_counter() - t_step
            if it > 1:
                r_norm = math.sqrt(sum(out[1] for out in outs))   # ||x_k - z|| of the previous iterate
            u_norm = rho * math.sqrt(sum(out[3] for out in outs))      # ||rho u||: the dual's scale
            s_norm = rho * math.sqrt(nb) * float(np.linalg.norm(z - z_old))
            if not (np.all(np.isfinite(z)) and math.isfinite(s_norm)):
                mon.stop("numerical_error", f"non-finite iterate at iteration {it}")
                break
            zn = float(np.linalg.norm(z))
            scale_p = math.sqrt(nb) * zn
            # next iteration's local accuracy: a tenth of the current residuals (inexact ADMM
            # with summable errors in practice; the certificate decides, not this)
            inner_tol = 0.1 * (rho * r_norm + s_norm) / math.sqrt(nb) if math.isfinite(r_norm) else math.inf
            small = (math.isfinite(r_norm) and r_norm <= tol * max(scale_p, np.finfo(float).tiny)
                     and s_norm <= tol * max(u_norm, np.finfo(float).tiny))
            if small or mon.due(it):
                checks += 1
                tc = time.perf_counter()
                cert = float(view.certify(z).value)
                certify_seconds += time.perf_counter() - tc
                rec = mon.record(it, cert, primal=r_norm, dual=s_norm, rho=rho, certificate=cert)
                if cert <= 0.1 * tol:    # a margin: the point's other certificates (the engine's
                    mon.stop("converged")  # generic KKT one) must land below tol too
                    break
                if mon.check(rec, z, f"{mon.max_iter} iterations (certificate {cert:.2e})"):
                    break
            elif mon.limits(it):
                break
            if o["adaptive_rho"] and rho_updates < o["max_rho_updates"] and it > 1 and math.isfinite(r_norm):
                with np.errstate(over="ignore"):   # a zero dual scale makes rd inf: rho halves, as meant
                    rp = np.float64(r_norm) / max(scale_p, np.finfo(float).tiny)
                    rd = np.float64(s_norm) / max(u_norm, np.finfo(float).tiny)
                    unbalanced = rp > 10 * rd or rd > 10 * rp
                if unbalanced:
                    rho = rho * (2.0 if rp > rd else 0.5)
                    rho_updates += 1
        states = runner.call("state")
        passes = int(sum(p for *_, p in states))
        ws.warm = {"z": z.copy()}
        mon.summary(self.name, f"{it} iterations", mon.elapsed())
        info = {"blocks": nb, "distributed": o["client"] is not None, "rho": rho, "rho_updates": rho_updates,
                "seconds_per_iteration": step_seconds / max(it, 1), "certify_seconds": certify_seconds,
                "factor_seconds": factor_seconds, "passes_over_data": passes, "checks": checks}
        return RawSolution(x=z, status=mon.status, iterations=it, history=mon.history, setup_time=setup_time,
                           info=info, message=mon.message)


def _real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _count(extra, name, default, backend, low=0) -> int:
    v = extra.get(name, default)
    if _real(v) and math.isfinite(v) and float(v).is_integer() and v >= low:
        return int(v)
    raise InvalidDataError(f"{backend}: option {name} must be an integer >= {low}, got {v!r}")


registry.register(ConsensusAdmmBackend())
