"""Log-domain Sinkhorn with the whole iteration loop on a GPU (Numba-CUDA kernels).

``run_sinkhorn_cuda(a, b, C, eps, tol, max_iter, deadline, check_every)`` is the device
counterpart of ``sinkhorn.run_sinkhorn`` in its ``stabilize='lse'`` mode, for the balanced
problem on the support of a and b (every a_i, b_j > 0, as ``sinkhorn.Reduced`` provides).
It is a helper of the sinkhorn backend (``device='cuda'``), not a backend of its own.

    setup       C, a, b, log a, log b and the potentials go to the device once (a device
                array, CuPy or Numba, is used in place)
    iteration   ``kernels.cuda.ot``: a row update (one block per row, shared-memory
                max / sum), then a column update (column threads over row chunks, merged),
                both exact log-sum-exp passes: nothing under- or overflows at small eps
    checks      every ``check_every`` iterations (and at the budget) two block
                reductions read back four scalars: the L1 row-marginal violation
                |P 1 - a|_1 / sum(a) and the relative gap estimate |<f, P 1 - a>| /
                |<f, P 1> + <g, b>| of the plan (f, g) the last row update started from
                (its columns are exact); the run stops when the violation <= tol and the
                gap <= tol / 2 (as the CPU loop does, so the engine's measure lands below tol)
    stages      ``eps_schedule`` (e.g. ``sinkhorn.eps_schedule``'s list): each stage
                stops at max(stage_tol, tol), the last at tol; iterations of all count
    end         f and g come back to the host (NumPy), unless ``return_device``

The engine recomputes the certificate from the plan the caller builds from f and g on the
host; the numbers here only decide when to stop. Returns ``(f, g, iterations,
marginal_violation, status)``, status one of 'converged', 'max_iter', 'time_limit',
'stopped' (the monitor's callback), 'numerical_error'; ``info`` (a dict, when given) gets
the gap estimate, the message, the threads per block, the row chunks, the checks, the
times of the transfers and of the loop.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..errors import InvalidDataError
from ..kernels.cuda.device import require_cuda, threads_per_block, multiprocessors, to_device, to_host, \
    is_device_array

_TINY = float(np.finfo(np.float64).tiny)


def _host_vector(v, name):
    return np.asarray(to_host(v) if is_device_array(v) else v, dtype=np.float64)


def run_sinkhorn_cuda(a, b, C, eps, tol, max_iter, deadline=None, check_every=10, *, f0=None, g0=None,
                      eps_schedule=None, stage_tol=1e-3, check_gap=True, monitor=None, info=None,
                      return_device=False, backend="sinkhorn"):
    """Balanced log-domain Sinkhorn on the device; see the module docstring. ``deadline``
    is a ``time.perf_counter()`` value (None: none); ``monitor`` an optional
    ``IterationMonitor`` for the history, the verbose table and the callback."""
    cuda = require_cuda(backend)
    from ..kernels.cuda import ot as KO
    from ..kernels.cuda.reduce import SUM, Reducer

    t0 = time.perf_counter()
    ah, bh = _host_vector(a, "a"), _host_vector(b, "b")
    if ah.ndim != 1 or bh.ndim != 1 or C.shape != (ah.size, bh.size):
        raise InvalidDataError(f"{backend} (device='cuda'): need a (n,), b (m,) and C (n, m); got "
                               f"{ah.shape}, {bh.shape}, {tuple(C.shape)}")
    if not (np.all(ah > 0) and np.all(bh > 0)):
        raise InvalidDataError(f"{backend} (device='cuda'): a and b must be positive (pass the problem on "
                               f"the support of the marginals)")
    if not (isinstance(eps, (int, float, np.floating)) and eps > 0 and math.isfinite(eps)):
        raise InvalidDataError(f"{backend} (device='cuda'): eps must be a positive number, got {eps!r}")
    ce = int(check_every)
    if ce < 1:
        raise InvalidDataError(f"{backend} (device='cuda'): check_every must be a positive integer, got {check_every!r}")
    schedule = [float(e) for e in (eps_schedule or [eps])]
    if abs(schedule[-1] - float(eps)) > 1e-15 * float(eps):
        raise InvalidDataError(f"{backend} (device='cuda'): eps_schedule must end with eps={eps!r}")
    n, m = ah.size, bh.size
    mass = float(ah.sum())

    tpb = threads_per_block()
    row_update, col_partial, col_finish = KO.kernels(tpb)
    dC = to_device(C)
    da, db = cuda.to_device(ah), cuda.to_device(bh)
    dla, dlb = cuda.to_device(np.log(ah)), cuda.to_device(np.log(bh))
    df = cuda.to_device(np.zeros(n) if f0 is None else _host_vector(f0, "f0").copy())
    dg = cuda.to_device(np.zeros(m) if g0 is None else _host_vector(g0, "g0").copy())
    Qr = cuda.device_array((3, n))
    Qc = cuda.device_array((1, m))
    red_r = Reducer(3, n, (SUM, SUM, SUM))
    red_c = Reducer(1, m, (SUM,))
    col_blocks = -(-m // tpb)
    chunks = KO.row_chunks(n, col_blocks, multiprocessors())
    pmx = cuda.device_array((chunks, m))
    ps = cuda.device_array((chunks, m))
    cuda.synchronize()
    t_loop = time.perf_counter()

    it = 0
    err = gap = math.inf
    status, message = "max_iter", f"{max_iter} iterations"
    checks = 0
    done = False
    for si, e in enumerate(schedule):
        last = si == len(schedule) - 1
        target = tol if last else max(stage_tol, tol)
        inv = 1.0 / e
        while True:
            if it >= max_iter:
                status, message = "max_iter", f"{max_iter} iterations (eps={e:g}, marginal violation {err:.2e})"
                done = True
                break
            row_update[n, tpb](dC, dg, dla, da, df, inv, e, 1.0, Qr)
            col_partial[(col_blocks, chunks), tpb](dC, df, inv, pmx, ps)
            col_finish[col_blocks, tpb](pmx, ps, dlb, db, dg, e, 1.0, Qc)
            it += 1
            if it % ce and it < max_iter:
                continue
            s = red_r(Qr)
            gb = float(red_c(Qc)[0])
            checks += 1
            err = float(s[0]) / mass
            gap = abs(float(s[1])) / max(abs(float(s[2]) + gb), _TINY)
            if not (math.isfinite(err) and math.isfinite(float(s[1]) + float(s[2]) + gb)):
                status, message = "numerical_error", f"non-finite potentials at iteration {it} (eps={e:g})"
                done = True
                break
            conv = err <= target and (not (last and check_gap) or gap <= 0.5 * tol)
            if monitor is not None:
                rec = monitor.record(it, err, eps=e, marginal_violation=err, device="cuda")
                if monitor.stopped(rec):
                    status, message = monitor.status, monitor.message
                    done = True
                    break
            if conv:
                break
            if it >= max_iter:
                status, message = "max_iter", f"{max_iter} iterations (eps={e:g}, marginal violation {err:.2e})"
                done = True
                break
            if deadline is not None and time.perf_counter() >= deadline:
                status, message = "time_limit", f"time limit reached at iteration {it}"
                done = True
                break
        if done:
            break
    else:
        status, message = "converged", ""
    cuda.synchronize()
    t_end = time.perf_counter()
    f = df if return_device else df.copy_to_host()
    g = dg if return_device else dg.copy_to_host()
    if info is not None:
        info.update(device="cuda", gap_estimate=gap, message=message, threads_per_block=tpb, row_chunks=chunks,
                    checks=checks, transfer_time=(t_loop - t0) + (time.perf_counter() - t_end),
                    loop_time=t_end - t_loop)
    if monitor is not None and status not in ("stopped",):
        monitor.stop(status, message)
    return f, g, it, err, status
