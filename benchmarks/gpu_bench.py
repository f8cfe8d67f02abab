"""GPU against CPU, per backend, and the memory bandwidth one iteration achieves.

    python benchmarks/gpu_bench.py [--quick] [--data-dir DIR] [--budget SECONDS]

On a machine with an NVIDIA GPU (``pip install 'solvelab[gpu]'``):

  sinkhorn  a dense n x n point-cloud OT problem (n = 20000; --quick 5000), eps = 0.05
            (no eps scaling): the CPU backend (its default stabilized scheme) against
            ``sinkhorn_device.run_sinkhorn_cuda`` (log-sum-exp passes), each to tol 1e-6
            within a time limit; then one device iteration alone (the two fused
            log-sum-exp passes) timed over repeats, and one CPU log-sum-exp pass
  pdhg      the Netlib LPs of the shared data (--quick: four small ones): the CPU
            backend (adaptive and halpern schemes) against device='cuda', tol 1e-6,
            each within a time limit; then one device Halpern step on the largest LP and
            on a synthetic sparse LP large enough to load the GPU

Bandwidth: the bytes one iteration must move at least (every array it reads or writes
once; gathers x[A_j] counted once per vector, i.e. perfect caching) over its time,
against the device's peak from its attributes (2 x memory clock x bus width). Sinkhorn:
2 n m 8 bytes (C read by both passes; the row pass's second sweep of a row hits the
cache); PDHG: 2 x (8 + 8) nnz (values and int64 indices of A and A^T) + the vectors.

Without a GPU (or under the simulator) it prints why and exits with status 0. A hard
wall-clock budget (default 420 s; --quick 180 s) ends the run (SIGALRM) with what it has.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUICK_LPS = ("afiro", "adlittle", "blending", "sctest")
FULL_LPS = ("afiro", "adlittle", "blending", "sctest", "israel", "e226", "scrs8", "25fv47")


class OutOfTime(Exception):
    pass


def _alarm(signum, frame):
    raise OutOfTime()


def line(*cols, widths=(24, 10, 8, 11, 16, 10)):
    print(" ".join(f"{str(c):>{w}}" if i else f"{str(c):<{w}}" for i, (c, w) in enumerate(zip(cols, widths))),
          flush=True)


def references(data_dir: Path) -> dict:
    """HiGHS objectives from the data's MANIFEST.md (lp/NAME.mps.xz rows)."""
    out = {}
    man = data_dir / "MANIFEST.md"
    if man.is_file():
        for m in re.finditer(r"\|\s*lp/(\w+)\.mps\.xz\s*\|[^\n]*\|\s*Optimal\s*\|\s*([-+0-9.eE]+)\s*\|",
                             man.read_text()):
            out[m.group(1)] = float(m.group(2))
    return out


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


# ---- sinkhorn ---------------------------------------------------------------------------

def bench_sinkhorn(n: int, time_limit: float, peak):
    from numba import cuda
    import solvelab  # noqa: F401
    from solvelab.backends.sinkhorn_device import run_sinkhorn_cuda
    from solvelab.kernels.cuda import ot as KO
    from solvelab.kernels.cuda.device import multiprocessors, threads_per_block
    from solvelab.problems import entropic_ot

    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    C = np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None] - 2.0 * x @ y.T, 0.0)
    a = np.full(n, 1.0 / n)
    b = np.full(n, 1.0 / n)
    eps, tol = 0.05, 1e-6
    print(f"\nsinkhorn: dense {n} x {n} ({C.nbytes / 1e9:.1f} GB cost), eps={eps}, tol={tol:g}, "
          f"time limit {time_limit:.0f} s each", flush=True)
    run_sinkhorn_cuda(a[:64] / a[:64].sum(), b[:64] / b[:64].sum(), C[:64, :64], eps, 1e-3, 20)   # compile
    line("run", "status", "iters", "seconds", "s / iteration", "viol")
    info = {}
    (f, g, it, err, status), t = timed(run_sinkhorn_cuda, a, b, C, eps, tol, 10 ** 6,
                                       time.perf_counter() + time_limit, 10, info=info)
    line("gpu run_sinkhorn_cuda", status, it, f"{t:.2f}", f"{info['loop_time'] / max(it, 1):.3e}", f"{err:.1e}")
    for stab in ("absorb",):
        try:
            res, t = timed(entropic_ot(a, b, C, eps).solve, backend="sinkhorn", tol=tol, eps_scaling=False,
                           stabilize=stab, time_limit=time_limit)
            line(f"cpu sinkhorn ({stab})", res.status, res.iterations, f"{t:.2f}",
                 f"{res.timings['solve'] / max(res.iterations, 1):.3e}",
                 f"{getattr(res.certificate, 'marginal_violation', float('nan')):.1e}")
        except OutOfTime:
            raise
        except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
            line(f"cpu sinkhorn ({stab})", "error", "", "", str(exc)[:60])
    # one iteration alone on the device
    tpb = threads_per_block()
    row_update, col_partial, col_finish = KO.kernels(tpb)
    dC, dg, df = cuda.to_device(C), cuda.to_device(g), cuda.to_device(f)
    dla, da = cuda.to_device(np.log(a)), cuda.to_device(a)
    dlb, db = cuda.to_device(np.log(b)), cuda.to_device(b)
    Qr, Qc = cuda.device_array((3, n)), cuda.device_array((1, n))
    cb = -(-n // tpb)
    chunks = KO.row_chunks(n, cb, multiprocessors())
    pmx, ps = cuda.device_array((chunks, n)), cuda.device_array((chunks, n))

    def one():
        row_update[n, tpb](dC, dg, dla, da, df, 1 / eps, eps, 1.0, Qr)
        col_partial[(cb, chunks), tpb](dC, df, 1 / eps, pmx, ps)
        col_finish[cb, tpb](pmx, ps, dlb, db, dg, eps, 1.0, Qc)

    one()
    cuda.synchronize()
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        one()
    cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps
    nbytes = 2.0 * n * n * 8
    bw = nbytes / dt
    print(f"one device iteration: {dt * 1e3:.2f} ms, {nbytes / 1e9:.2f} GB moved at least -> {bw / 1e9:.0f} GB/s"
          + (f" = {100 * bw / peak:.0f} % of the peak {peak / 1e9:.0f} GB/s" if peak else ""), flush=True)
    from solvelab.kernels import ot as K
    out = np.empty(n)
    t0 = time.perf_counter()
    K.lse_rows_shift(C, g, 1 / eps, out)
    dtr = time.perf_counter() - t0
    print(f"one CPU log-sum-exp row pass (Numba, {os.cpu_count()} cores): {dtr * 1e3:.1f} ms "
          f"({n * n * 8 / dtr / 1e9:.1f} GB/s); an lse iteration is two such passes", flush=True)


# ---- pdhg -------------------------------------------------------------------------------

def step_bandwidth(S, lp, peak, label, reps=200):
    from numba import cuda
    from solvelab.backends.pdhg import _DeviceHalpernRun
    run = _DeviceHalpernRun(lp, S)
    run.steps(4)
    cuda.synchronize()
    t0 = time.perf_counter()
    run.dev.steps(reps, 0, run.eta, run.w, 1.0)
    cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps
    m, n = lp.shape
    nnz = S.A.nnz
    nbytes = 2 * 16.0 * nnz + 8.0 * (2 * (n + m + 2)) + 8.0 * (13 * n + 11 * m)
    bw = nbytes / dt
    print(f"one device Halpern step on {label} ({m} x {n}, nnz {nnz}): {dt * 1e6:.1f} us, "
          f"{nbytes / 1e6:.2f} MB at least -> {bw / 1e9:.1f} GB/s"
          + (f" = {100 * bw / peak:.1f} % of the peak" if peak else ""), flush=True)


def synthetic_lp(m: int, n: int, per_row: int, seed: int = 0):
    """A feasible, bounded LP min c x, A x = A x0, 0 <= x <= 10 with per_row nonzeros a row."""
    import scipy.sparse as sp
    from solvelab.problems import linear_program
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(m), per_row)
    cols = rng.integers(0, n, m * per_row)
    A = sp.csr_matrix((rng.standard_normal(m * per_row), (rows, cols)), shape=(m, n))
    A.sum_duplicates()
    x0 = rng.uniform(1.0, 2.0, n)
    bnd = A @ x0
    c = rng.uniform(0.0, 1.0, n)
    return linear_program(c, A, rl=bnd, ru=bnd, l=0.0, u=10.0)


def bench_pdhg(names, data_dir: Path, time_limit: float, peak, quick: bool):
    from solvelab.backends.pdhg import Scaled
    from solvelab.problems import read_mps
    refs = references(data_dir)
    print(f"\npdhg: Netlib LPs from {data_dir / 'lp'}, tol 1e-6, time limit {time_limit:.0f} s each", flush=True)
    synthetic_lp(50, 60, 3).solve(backend="pdhg", device="cuda", max_iter=64)   # compile the kernels
    line("lp / run", "status", "iters", "seconds", "objective", "rel. err")
    largest = None
    for name in names:
        p = data_dir / "lp" / f"{name}.mps.xz"
        if not p.is_file():
            line(name, "missing")
            continue
        for label, opts in (("cpu adaptive", {}), ("cpu halpern", {"scheme": "halpern"}),
                            ("gpu halpern", {"device": "cuda"})):
            prob = read_mps(p)
            try:
                res, t = timed(prob.solve, backend="pdhg", tol=1e-6, time_limit=time_limit, warm_start=False,
                               **opts)
            except OutOfTime:
                raise
            except Exception as exc:  # noqa: BLE001
                line(f"{name} {label}", "error", "", "", str(exc)[:60])
                continue
            ref = refs.get(name)
            rel = abs(res.objective - ref) / max(1.0, abs(ref)) if ref is not None and res.objective is not None \
                else float("nan")
            line(f"{name} {label}", res.status, res.iterations, f"{t:.2f}", f"{res.objective:.6g}"
                 if res.objective is not None else "-", f"{rel:.1e}")
        lp = read_mps(p).program
        if largest is None or lp.A.nnz > largest[1].A.nnz:
            largest = (name, lp)
    if largest is not None:
        step_bandwidth(Scaled(largest[1]), largest[1], peak, largest[0])
    m = 200_000 if quick else 1_000_000
    big = synthetic_lp(m, int(1.5 * m), 8).program
    step_bandwidth(Scaled(big), big, peak, f"a synthetic LP", reps=50 if quick else 100)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, four LPs, a 180 s budget")
    ap.add_argument("--data-dir", default=None, help="the shared data directory (default: SOLVELAB_DATA, ../shared/data)")
    ap.add_argument("--budget", type=float, default=None, help="hard wall-clock limit in seconds")
    args = ap.parse_args(argv)

    from solvelab.kernels.cuda.device import cuda_status, peak_bandwidth, simulator
    ok, why = cuda_status()
    if not ok or simulator():
        print(f"gpu_bench: no GPU here, nothing measured ({why or 'the CUDA simulator is on'})")
        return 0
    budget = args.budget if args.budget is not None else (180.0 if args.quick else 420.0)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(math.ceil(budget)))
    t0 = time.perf_counter()
    from numba import cuda
    dev = cuda.get_current_device()
    peak = peak_bandwidth()
    print(f"gpu_bench: {dev.name.decode() if isinstance(dev.name, bytes) else dev.name}, "
          f"{dev.MULTIPROCESSOR_COUNT} SMs, peak memory bandwidth "
          f"{peak / 1e9:.0f} GB/s (from its attributes); budget {budget:.0f} s" if peak else
          "gpu_bench: peak bandwidth unknown", flush=True)
    if args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        from solvelab.bench.data import search_dirs
        data_dir = next((Path(d) for d in search_dirs() if (Path(d) / "lp").is_dir()), ROOT.parent / "shared" / "data")
    try:
        bench_sinkhorn(5000 if args.quick else 20000, 20.0 if args.quick else 45.0, peak)
        bench_pdhg(QUICK_LPS if args.quick else FULL_LPS, data_dir, 5.0 if args.quick else 8.0, peak, args.quick)
    except OutOfTime:
        print(f"\ngpu_bench: the {budget:.0f} s budget ran out; the results above are complete, the rest was not run",
              flush=True)
        return 1
    finally:
        signal.alarm(0)
    print(f"\ngpu_bench: done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
