"""Entropic OT: solvelab's ``sinkhorn_newton`` and log-domain ``sinkhorn`` against POT.

Three tables, printed as markdown:

1. Iterations and wall time to an L1 marginal violation of 1e-9 (relative to sum(a)),
   on DOTmark pairs (ClassicImages data<R>_1001 -> 1002, squared grid distance) and a
   Gaussian-mixture point cloud, at eps in {1e-1, 1e-2, 1e-3} x max(C):
   solvelab ``sinkhorn_newton`` and ``sinkhorn`` (tol=1e-9, certificate recomputed by the
   engine), POT ``ot.sinkhorn`` with method 'sinkhorn', 'sinkhorn_log',
   'sinkhorn_stabilized' (stopThr = 1e-9 / sqrt(m): POT tests the L2 norm of the column
   error; rows are exact after its last update, so this bounds the L1 violation by 1e-9),
   and ``ot.emd``. Every plan is rechecked here: L1 marginal violation, NaN, mass.
   BLAS runs on one thread for everyone (solvelab's default; POT's children are limited
   the same way), which on a shared machine is 10x faster than spin-waiting threads.
   POT runs in a forked child killed at the time limit (POT has no time limit).
   Times: solvelab's are setup + solve (Numba compile/cache load excluded, done once
   before); POT's are the call. "solved" means a finite plan with violation <= 1e-9.
2. Per-iteration cost of our ``sinkhorn`` (fixed eps, no eps scaling; 100 iterations with
   the one-off passes amortized, and the steady state from 300 minus 100 iterations)
   against one dense kernel mat-vec pass, i.e. ``K @ v`` plus ``K.T @ u`` with NumPy/BLAS
   (the two products of one Sinkhorn iteration: the memory-bound floor), and POT's own
   per-iteration time of ``method='sinkhorn'``.
3. Entropic transport cost <C, P_eps> at eps = 1e-3 and 1e-4 x max(C) against ``ot.emd``'s
   exact cost on one DOTmark pair per class, with both wall times. (The entropic blur
   adds about eps to the cost, so at 1e-3 max(C) the difference is ~eps / cost, the same
   at every resolution; 1e-4 shows where it falls below 1%.)

    .venv/bin/python benchmarks/ot_vs_pot.py            # 32x32 and 64x64, ~10 min on 2 cores
    .venv/bin/python benchmarks/ot_vs_pot.py --quick    # 32x32 only, ~1 min
    .venv/bin/python benchmarks/ot_vs_pot.py --tables 1 --dotmark none --clouds 3000,5000
                                                        # the large point clouds (slow: POT hits the limit)

DOTmark files are found through --data-dir, SOLVELAB_DATA or ../shared/data; when they
are absent the DOTmark rows are skipped with the reason. On a shared machine the times
are noisy; the iteration counts are not.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import time
import warnings

import numpy as np
from scipy.special import xlogy

from solvelab.bench.suites.ot import CLASSES, find_dotmark, gaussian_mixtures, load_image
from solvelab.problems import entropic_ot, grid_cost, point_cloud_cost

TOL = 1e-9


def l1_violation(P, a, b) -> float:
    return float((np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()) / a.sum())


def summary(P, a, b, C, eps) -> dict:
    P = np.asarray(P, dtype=np.float64)
    if not np.all(np.isfinite(P)):
        return {"nan": True, "viol": float("nan"), "mass": float("nan"), "cost": float("nan")}
    return {"nan": False, "viol": l1_violation(P, a, b), "mass": float(P.sum()),
            "cost": float(np.sum(C * P)), "entropic": float(np.sum(C * P) + eps * np.sum(xlogy(P, P)))}


# --- POT in a child process with a hard time limit -----------------------------------------

def _one_blas_thread():
    """POT gets the same single BLAS thread as solvelab's backends (see kernels.ot.threads):
    on a shared 2-core machine, spin-waiting OpenBLAS threads slow either by 10x or more."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1, user_api="blas")


def _pot_child(conn, method, a, b, C, eps):
    import ot
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    _one_blas_thread()
    t = time.perf_counter()
    if method == "emd":
        P, log = ot.emd(a, b * (a.sum() / b.sum()), C, numItermax=10**8, log=True)
        el = time.perf_counter() - t
        out = summary(P, a, b, C, eps)
        out.update(time=el, iterations=0, exact=float(log["cost"]))
    else:
        P, log = ot.sinkhorn(a, b, C, eps, method=method, stopThr=TOL / math.sqrt(b.size),
                             numItermax=10**7, log=True)
        el = time.perf_counter() - t
        out = summary(P, a, b, C, eps)
        out.update(time=el, iterations=int(log.get("niter", log.get("n_iter", 0)) or 0))
    conn.send(out)
    conn.close()


def run_pot(method, a, b, C, eps, limit):
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_pot_child, args=(child, method, a, b, C, eps))
    t = time.perf_counter()
    p.start()
    child.close()
    out = None
    if parent.poll(limit):
        try:
            out = parent.recv()
        except EOFError:
            out = None
    p.join(5)
    if p.is_alive():
        p.kill()
        p.join()
    if out is None:
        return {"timeout": time.perf_counter() - t >= limit, "time": time.perf_counter() - t,
                "iterations": None, "viol": float("nan"), "nan": False}
    return out


def run_ours(backend, a, b, C, eps, limit, **opts):
    res = entropic_ot(a, b, C, eps).solve(backend=backend, tol=TOL, time_limit=limit, **opts)
    P = res.values["P"]
    out = summary(P, a, b, C, eps)
    out.update(time=res.timings["setup"] + res.timings["solve"], iterations=res.iterations,
               status=res.status.value, info=res.info)
    return out


# --- instances -----------------------------------------------------------------------------

def dotmark_pair(cls, R, data_dir=None):
    pa, err = find_dotmark(cls, R, 1001, data_dir)
    pb, err2 = find_dotmark(cls, R, 1002, data_dir)
    if pa is None or pb is None:
        return None, err or err2
    a = load_image(pa).ravel()
    b = load_image(pb).ravel()
    return (a / a.sum(), b / b.sum(), grid_cost(R)), None


def cloud(n, seed=100):
    x, y = gaussian_mixtures(n, seed)
    return np.full(n, 1 / n), np.full(n, 1 / n), point_cloud_cost(x, y)()


def fmt_t(r):
    if r is None:
        return "–"
    if r.get("timeout"):
        return f">{r['time']:.0f} (killed)"
    return f"{r['time']:.2f}"


def solved(r) -> bool:
    return r is not None and not r.get("timeout") and not r.get("nan") and r.get("viol", np.inf) <= TOL


def cell(r):
    if r is None:
        return "–"
    if r.get("timeout"):
        return f"killed at {r['time']:.0f} s"
    it = r.get("iterations")
    tag = "" if solved(r) else (" NaN" if r.get("nan") else f" (viol {r['viol']:.1e})")
    return f"{it} it, {r['time']:.2f} s{tag}"


def table1(instances, limit, log):
    methods = ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"]
    print("\n## 1. To L1 marginal violation 1e-9\n")
    print("| instance | eps / max C | sinkhorn_newton | sinkhorn (ours, log) | POT sinkhorn | POT sinkhorn_log "
          "| POT sinkhorn_stabilized | ot.emd | iter ratio sinkhorn/SNS | time ratio best POT/SNS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, (a, b, C) in instances:
        emd = run_pot("emd", a, b, C, 1.0, limit)
        for rel in (1e-1, 1e-2, 1e-3):
            eps = rel * float(C.max())
            log(f"  {name} eps={rel:g}")
            sns = run_ours("sinkhorn_newton", a, b, C, eps, limit)
            snk = run_ours("sinkhorn", a, b, C, eps, limit)
            pots = {m: run_pot(m, a, b, C, eps, limit) for m in methods}
            ok = [r["time"] for r in pots.values() if solved(r)]
            best = min(ok) if ok else None
            itr = (snk["iterations"] / sns["iterations"]) if solved(sns) and solved(snk) else float("nan")
            tr = (f"{best / sns['time']:.1f}x" if best is not None and solved(sns)
                  else ("no POT method converged" if solved(sns) else "–"))
            print(f"| {name} | {rel:g} | {cell(sns)} | {cell(snk)} | {cell(pots['sinkhorn'])} | "
                  f"{cell(pots['sinkhorn_log'])} | {cell(pots['sinkhorn_stabilized'])} | "
                  f"{fmt_t(emd)} s | {itr:.1f} | {tr} |")
            sys.stdout.flush()
            rows.append((name, rel, sns, snk, pots, emd))
    nan_rows = [(n, rel, m) for n, rel, _, snk, pots, _ in rows for m, r in pots.items() if r.get("nan")]
    near_zero = [(n, rel, m, r["mass"]) for n, rel, _, _, pots, _ in rows for m, r in pots.items()
                 if not r.get("nan") and not r.get("timeout") and r.get("mass", 1) < 0.5]
    print("\nPOT returned NaN on: " + (", ".join(f"{n} eps={rel:g} ({m})" for n, rel, m in nan_rows) or "none")
          + "; solvelab's sinkhorn returned a finite plan on every instance: "
          + str(all(np.isfinite(snk["viol"]) for _, _, _, snk, _, _ in rows)))
    if near_zero:
        print("POT returned a plan of mass < 0.5 (no error raised) on: "
              + ", ".join(f"{n} eps={rel:g} ({m}, mass {mass:.2e})" for n, rel, m, mass in near_zero))
    return rows


def table2(a, b, C, name, log, iters=100, rounds=5):
    """Interleaved rounds (floor, ours, ours-lse), medians: the machine's load drifts."""
    from solvelab.kernels import ot as K
    print(f"\n## 2. Per-iteration cost on {name} (n = {C.shape[0]}, eps = 1e-2 max C, no eps scaling)\n")
    eps = 1e-2 * float(C.max())
    Kmat = np.empty_like(C)
    K.gibbs(C, np.zeros(C.shape[0]), np.zeros(C.shape[1]), 1.0 / eps, Kmat)
    u = np.ones(C.shape[0])
    v = np.ones(C.shape[1])
    floors, ours, lses, steady, absorptions = [], [], [], [], 0
    for _ in range(rounds):
        reps = []
        with K.threads(blas=1):  # the same single BLAS thread as the backend
            for _ in range(20):
                t = time.perf_counter()
                Kmat @ v
                Kmat.T @ u
                reps.append(time.perf_counter() - t)
        floors.append(float(np.median(reps)))
        res = entropic_ot(a, b, C, eps).solve(backend="sinkhorn", tol=1e-300, max_iter=iters, eps_scaling=False)
        ours.append(res.timings["solve"] / res.iterations)
        absorptions = res.info["absorptions"]
        long = entropic_ot(a, b, C, eps).solve(backend="sinkhorn", tol=1e-300, max_iter=3 * iters,
                                               eps_scaling=False)
        steady.append((long.timings["solve"] - res.timings["solve"]) / (long.iterations - res.iterations))
        res = entropic_ot(a, b, C, eps).solve(backend="sinkhorn", tol=1e-300, max_iter=max(1, iters // 10),
                                              eps_scaling=False, stabilize="lse")
        lses.append(res.timings["solve"] / res.iterations)
    floor, per, per_lse, per_steady = (float(np.median(x)) for x in (floors, ours, lses, steady))
    pot = run_pot_fixed(a, b, C, eps, iters)
    print("| what | time per iteration | ratio to the mat-vec pass |")
    print("|---|---:|---:|")
    print(f"| one dense kernel mat-vec pass (K v and K^T u, BLAS; median) | {floor * 1e3:.3f} ms | 1.00 |")
    print(f"| solvelab sinkhorn (log-domain, absorption; {absorptions} absorption(s) per {iters} it, "
          f"final plan and cost included) | {per * 1e3:.3f} ms | {per / floor:.2f} |")
    print(f"| solvelab sinkhorn, steady state ((time of {3 * iters} it - time of {iters} it) / {2 * iters}) | "
          f"{per_steady * 1e3:.3f} ms | {per_steady / floor:.2f} |")
    print(f"| solvelab sinkhorn stabilize='lse' (fused log-sum-exp passes every iteration) | "
          f"{per_lse * 1e3:.3f} ms | {per_lse / floor:.2f} |")
    print(f"| POT ot.sinkhorn method='sinkhorn' ({iters} it) | {pot * 1e3:.3f} ms | {pot / floor:.2f} |")
    print(f"\n(medians of {rounds} interleaved rounds; per-round floors {', '.join(f'{x * 1e3:.3f}' for x in floors)} ms, "
          f"ours {', '.join(f'{x * 1e3:.3f}' for x in ours)} ms)")


def _pot_fixed_child(conn, a, b, C, eps, iters):
    import ot
    warnings.simplefilter("ignore")
    _one_blas_thread()
    t = time.perf_counter()
    ot.sinkhorn(a, b, C, eps, method="sinkhorn", stopThr=0.0, numItermax=iters)
    conn.send((time.perf_counter() - t) / iters)


def run_pot_fixed(a, b, C, eps, iters):
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_pot_fixed_child, args=(child, a, b, C, eps, iters))
    p.start()
    out = parent.recv() if parent.poll(120) else float("nan")
    p.join(5)
    if p.is_alive():
        p.kill()
    return out


def table3(R, limit, data_dir, log, rels=(1e-3, 1e-4)):
    print(f"\n## 3. Entropic transport cost vs ot.emd (DOTmark {R}x{R}, pair 1001 -> 1002)\n")
    head = " | ".join(f"<C, P> at {r:g} max C (rel. diff, SNS time)" for r in rels)
    print(f"| class | exact cost (ot.emd) | ot.emd time (s) | {head} |")
    print("|---|---:|---:|" + "---|" * len(rels))
    worst = {r: 0.0 for r in rels}
    faster = {r: 0 for r in rels}
    count = 0
    for cls in CLASSES:
        inst, err = dotmark_pair(cls, R, data_dir)
        if inst is None:
            print(f"| {cls} | skipped: {err} |" + " |" * (len(rels) + 1))
            continue
        a, b, C = inst
        log(f"  {cls} {R}")
        emd = run_pot("emd", a, b, C, 1.0, limit)
        ex = emd.get("exact", float("nan"))
        cells = []
        count += 1
        for r in rels:
            sns = run_ours("sinkhorn_newton", a, b, C, r * float(C.max()), limit)
            rel = abs(sns["cost"] - ex) / ex
            worst[r] = max(worst[r], rel)
            faster[r] += int(sns["status"] == "optimal" and not emd.get("timeout") and sns["time"] < emd["time"])
            cells.append(f"{sns['cost']:.6g} ({rel:.2%}, {sns['time']:.2f} s{'' if sns['status'] == 'optimal' else ', ' + sns['status']})")
        print(f"| {cls} | {ex:.6g} | {fmt_t(emd)} | " + " | ".join(cells) + " |")
        sys.stdout.flush()
    for r in rels:
        print(f"\neps = {r:g} max C: largest relative difference {worst[r]:.2%}; sinkhorn_newton (certified "
              f"to 1e-9) faster than ot.emd on {faster[r]} of {count} pairs")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="32x32 DOTmark and n=1000 clouds only")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per run (default 60)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tables", default="1,2,3", help="which tables (default 1,2,3)")
    ap.add_argument("--dotmark", default=None,
                    help="DOTmark resolutions for tables 1 and 3, e.g. '32,64' (default: 32 with --quick, "
                         "else 32,64; 'none' for no DOTmark rows)")
    ap.add_argument("--clouds", default="1000",
                    help="point-cloud sizes for table 1, e.g. '3000,5000' (default 1000; 'none' for no "
                         "clouds; the bench suite has 1000, 3000, 5000)")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    from solvelab.kernels import ot as K
    t = time.perf_counter()
    K.warm_up()
    tiny = np.array([0.5, 0.5])
    entropic_ot(tiny, tiny, np.array([[0.0, 1.0], [1.0, 0.0]]), 0.1).solve(backend="sinkhorn_newton")
    print(f"solvelab kernels compiled / loaded from cache in {time.perf_counter() - t:.2f} s (not in any time below)")
    import platform
    import os
    import ot
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs (shared with other jobs: times are noisy); "
          f"POT {ot.__version__}, numpy {np.__version__}")
    if args.dotmark is None:
        resolutions = (32,) if args.quick else (32, 64)
    elif args.dotmark.strip().lower() in ("", "none"):
        resolutions = ()
    else:
        resolutions = tuple(int(r) for r in args.dotmark.split(","))
    tables = set(args.tables.split(","))
    instances = []
    for R in resolutions:
        inst, err = dotmark_pair("ClassicImages", R, args.data_dir)
        if inst is None:
            print(f"DOTmark {R}x{R} skipped: {err}")
        else:
            instances.append((f"DOTmark ClassicImages {R}x{R}", inst))
    sizes = "" if args.clouds.strip().lower() == "none" else args.clouds
    for n in (int(s) for s in sizes.split(",") if s.strip()):
        instances.append((f"clouds n={n}", cloud(n)))
    if "1" in tables:
        table1(instances, args.time_limit, log)
    if "2" in tables:
        name, (a, b, C) = instances[-2] if len(instances) > 1 else instances[-1]
        table2(a, b, C, name, log)
    if "3" in tables:
        for R in resolutions:
            table3(R, args.time_limit, args.data_dir, log)


if __name__ == "__main__":
    main()
