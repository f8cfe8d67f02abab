"""Block coordinate descent for group penalties (group lasso, sparse group lasso) on the
SparseGLM form: the ``cd`` backend hands programs with groups here."""
from __future__ import annotations

import math
import time

import numpy as np

from ..ir.glm_form import L_PHI
from .base import RawSolution, callback_stops


def _group_lipschitz(KD, view, gptr, gidx, colsq):
    """Block constants c L_phi ||diag(s) A_G||_2^2 (exact for blocks up to 64 columns)."""
    c_l = view.c * L_PHI[view.dkind]
    D = KD.D
    out = np.zeros(gptr.size - 1)
    for k in range(gptr.size - 1):
        idx = gidx[gptr[k]:gptr[k + 1]]
        if idx.size == 1:
            out[k] = c_l * colsq[idx[0]]
            continue
        if idx.size <= 64 and D.m:
            cols = D.matrix[:, idx]
            cols = cols.toarray() if hasattr(cols, "toarray") else np.asarray(cols)
            cols = cols * D.s[:, None]
            out[k] = c_l * float(np.linalg.norm(cols, 2) ** 2) * (1 + 1e-12)
        else:
            out[k] = c_l * float(np.sum(colsq[idx]))
    return out


def solve_blocks(view, options, state, opt, KD, D, L, colsq, x, u, tol, setup_time, jit_time, warm):
    gptr, gidx, gw = view.group_arrays()
    LG = _group_lipschitz(KD, view, gptr, gidx, colsq)
    blocks = np.arange(gptr.size - 1, dtype=np.int64)
    t0 = time.perf_counter()
    deadline = None if options.time_limit is None else t0 + float(options.time_limit)
    max_epochs = int(options.max_iter)
    history = []
    epochs = 0
    status, message = "max_iter", ""
    check = max(1, min(int(options.check_every), 10))
    cert = None
    if options.verbose:
        print(f"cd: {view.describe()} (block CD), m={D.m}, p={view.n}, {blocks.size} blocks, tol={tol:g}")
        print(f"{'epochs':>7} {'time':>9} {'objective':>16} {'gap':>10} {'kkt':>10}")
    while True:
        ev = view.evaluate(x, u, D)
        if not (math.isfinite(ev.primal) and np.all(np.isfinite(ev.grad))):
            status, message = "numerical_error", f"NaN or Inf after {epochs} epochs"
            break
        cert = ev.value
        elapsed = time.perf_counter() - t0
        rec = {"iteration": epochs, "time": elapsed, "objective": view.program.sign * ev.primal,
               "certificate": cert, "kkt": ev.kkt, "gap": ev.rel_gap}
        history.append(rec)
        if options.verbose:
            gs = f"{ev.rel_gap:10.2e}" if ev.rel_gap is not None else f"{'n/a':>10}"
            print(f"{epochs:7d} {elapsed:9.4f} {rec['objective']:16.9e} {gs} {ev.kkt:10.2e}")
        if cert <= tol:
            status = "converged"
            break
        if callback_stops(options, rec, x):
            status, message = "stopped", f"stopped by the callback after {epochs} epochs"
            break
        if epochs >= max_epochs:
            break
        if deadline is not None and time.perf_counter() >= deadline:
            status, message = "time_limit", f"time limit of {options.time_limit:g} s reached after {epochs} epochs"
            break
        k = min(check, max_epochs - epochs)
        KD.block_epochs(view, u, x, gptr, gidx, gw, LG, blocks, k)
        epochs += k
    if np.all(np.isfinite(x)):
        state["x"] = x.copy()
    info = {"epochs": epochs, "jit_time": jit_time, "warm_start": warm, "certificate": cert,
            "solve_time": time.perf_counter() - t0, "form": view.describe(),
            "storage": "dense" if KD.dense else "csc"}
    ok = bool(np.all(np.isfinite(x)))
    return RawSolution(x=x.copy() if ok else None, status=status, iterations=epochs,
                       duals=view.duals(x) if ok else None, history=history, setup_time=setup_time, info=info, message=message)
