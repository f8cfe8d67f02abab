"""Peak memory of ``backend='cd'`` against the size of the data (issue 4: no densification
of a sparse A; peak within 1.5x the data size plus O(n_features)).

    .venv/bin/python benchmarks/cd_memory.py [--datasets a9a,a9a-poly2] [--divs 10,100,1000]

Each instance runs in a fresh child process: the data are loaded, every cd kernel is
compiled (on tiny arrays), a tiny Lasso and a tiny logistic problem are solved (so that
the one-off cost of a first solve -- lazily imported modules, code, allocator arenas,
about 3.3 MB measured on housing without this step -- is not counted against the data),
the problem is compiled to the IR, then the resident set size
(RSS, /proc/self/statm) is sampled every 0.5 ms by a thread during the first solve (which
also builds what the problem keeps, such as a least-squares Gram matrix). Reported: the data
size (CSC data + indices + indptr + y), the RSS growth during the solve above the RSS
just before it, and (data + growth) / data. The growth counts every allocation the
solve touches, NumPy and Numba alike, but not memory that the allocator reuses from
earlier frees; Linux only (reads /proc).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import threading
import time

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(name, model, div, queue):
    sys.path.insert(0, HERE)
    import warnings
    warnings.filterwarnings("ignore")
    from cd_vs_peers import load, pm1

    import solvelab as sl
    X, y = load(name)
    n = X.shape[0]
    if model == "lasso":
        lam = np.max(np.abs(X.T @ y)) / n / div
        prob = sl.problems.lasso(X, y, lam)
    else:
        y = pm1(y)
        lam = np.max(np.abs(X.T @ y)) / (2 * n) / div
        prob = sl.problems.sparse_logreg(X, y, lam)
    from solvelab.backends import cd as cdmod
    cdmod.warmup()
    rng = np.random.default_rng(0)
    At = sp.random(30, 8, density=0.5, format="csc", random_state=0)
    sl.problems.lasso(At, rng.standard_normal(30), 0.01).solve(backend="cd")
    sl.problems.sparse_logreg(At, np.sign(rng.standard_normal(30)), 0.01).solve(backend="cd")
    prob.compile()
    data_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes + y.nbytes
    import gc
    gc.collect()
    base = _rss()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.0005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    res = prob.solve(backend="cd", tol=1e-6)
    dt = time.perf_counter() - t0
    done.set()
    th.join()
    peak[0] = max(peak[0], _rss())
    queue.put({"data": name, "model": model, "div": div, "shape": X.shape, "nnz": int(X.nnz),
               "data_mb": data_bytes / 2**20, "growth_mb": (peak[0] - base) / 2**20,
               "ratio": (data_bytes + peak[0] - base) / data_bytes, "status": str(res.status.value),
               "time": dt, "p_mb": X.shape[1] * 8 / 2**20})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="a9a,a9a-poly2")
    ap.add_argument("--models", default="lasso,logreg")
    ap.add_argument("--divs", default="10,100,1000")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    rows = []
    print("| data | n x p (nnz) | model | lam | data [MB] | RSS growth in the solve [MB] | (data + growth) / data | status |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        for model in args.models.split(","):
            for div in [float(d) for d in args.divs.split(",")]:
                q = ctx.Queue()
                p = ctx.Process(target=_child, args=(name, model, div, q))
                p.start()
                row = q.get()
                p.join()
                rows.append(row)
                m, n_ = row["shape"]
                print(f"| {name} | {m} x {n_} ({row['nnz']}) | {model} | lam_max/{div:g} | {row['data_mb']:.1f} | "
                      f"{row['growth_mb']:.2f} | {row['ratio']:.3f} | {row['status']} |", flush=True)
    print(json.dumps(rows), file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
