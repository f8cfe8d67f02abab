"""OT at scale and exact OT from the entropic solvers (issue 17), against POT.

Two tables, printed as markdown. Every solver runs in its own spawned child process (a
clean interpreter), which reports its peak resident memory (``ru_maxrss``); BLAS is held
to one thread in every child (as in ``ot_vs_pot.py``). Times are wall seconds measured in
the child; on a shared machine compare them only as ratios within one run.

1. ``--scale``: lazy entropic OT between Gaussian-mixture clouds of n points each in 2-D
   (``solvelab.bench.suites.ot.gaussian_mixtures``), eps = 1e-2 max C, stopping at an L1
   marginal violation of 1e-6 (relative to sum(a) = 1):
   solvelab ``point_cloud_ot(..., lazy=True)`` on backend ``sinkhorn`` (tol=1e-6; the engine
   recomputes the certificate from the returned potentials), at ``--threads`` Numba
   threads, against POT's ``ot.bregman.empirical_sinkhorn(isLazy=True)`` with the same reg
   and stopThr=1e-6 (POT tests sum |P 1 - a| every 10 iterations, right after its column
   update, so its test is the same L1 violation). POT is run in chunks of 10 iterations
   through its ``warmstart`` (exactly its own loop and test cadence) so that its progress
   is known when the time limit (``--pot-limit``) kills it; a killed POT run gives a lower
   bound on the speed ratio. Both final violations are then recomputed with one formula,
   (|P 1 - a|_1 + |P^T 1 - b|_1) / sum(a), by solvelab's lazy kernels from the potentials.
   With ``--dense-upto`` the dense ``sinkhorn`` (n x m cost in memory) runs too.
   The Numba compile time is reported apart: ``jit`` is the kernels' load from the on-disk
   cache in a fresh process (included in nothing else), ``cold compile`` the same with an
   empty cache.
2. ``--exact``: rounded entropic plans against ``ot.emd`` at eps = ``--rel-eps`` x max C
   (epsilon scaling on): DOTmark 64x64 pairs (data64_1001 -> 1002 of each ``--classes``)
   and Gaussian-mixture clouds of ``--exact-clouds`` points. Ours: ``sinkhorn_newton``
   (tol 1e-5) then ``families.ot.round_plan`` (Altschuler-Weed-Rigollet), and ``sinkhorn``
   with ``round=True``; the rounded plan's marginal violation and <C, R> are recomputed
   here, and compared with ot.emd's exact cost and time.

    .venv/bin/python benchmarks/ot_scale.py --scale                 # n = 5000, 20000 (~25 min)
    .venv/bin/python benchmarks/ot_scale.py --scale --sizes 2000 --pot-limit 120     # quick
    .venv/bin/python benchmarks/ot_scale.py --exact                 # DOTmark 64 + clouds 5000
    .venv/bin/python benchmarks/ot_scale.py --exact --exact-plan --exact-backends sinkhorn_newton --exact-clouds ''
                                                                    # + the exact LP polish, DOTmark only
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import time
import warnings

import numpy as np

SCALE_TOL = 1e-6


# --- children ------------------------------------------------------------------------------

def _setup_child():
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1, user_api="blas")


def _rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _clouds(n, seed):
    from solvelab.bench.suites.ot import gaussian_mixtures
    return gaussian_mixtures(n, seed)


def _violation_lazy(x, y, eps, f, g):
    """(|P 1 - a|_1 + |P^T 1 - b|_1) / sum(a) for P = exp((f + g - C) / eps), lazily."""
    from solvelab.families.ot import LazyOTProgram
    p = LazyOTProgram(x, y, eps=eps)
    st = p.stats_support(np.asarray(f, dtype=np.float64), np.asarray(g, dtype=np.float64))
    return float((np.abs(st["rows"] - p.a_s).sum() + np.abs(st["cols"] - p.b_s).sum()) / p.a.sum())


def child_jit(q, cache_dir):
    if cache_dir:
        os.environ["NUMBA_CACHE_DIR"] = cache_dir
    _setup_child()
    t = time.perf_counter()
    from solvelab.kernels import ot_lazy as KL
    t_import = time.perf_counter() - t
    q.put({"compile": KL.warm_up(), "import": t_import, "rss": _rss_mb()})


def child_ours_lazy(q, n, seed, rel, threads):
    _setup_child()
    import solvelab as sl
    x, y = _clouds(n, seed)
    t = time.perf_counter()
    prob = sl.problems.point_cloud_ot(x, y, rel_eps=rel, lazy=True)
    t_build = time.perf_counter() - t
    opts = {} if threads is None else {"threads": threads}
    res = prob.solve(backend="sinkhorn", tol=SCALE_TOL, **opts)
    f, g = res.values["f"], res.values["g"]
    q.put({"status": res.status.value, "iterations": res.iterations, "build": t_build,
           "solve": res.timings["setup"] + res.timings["solve"] - res.info["jit_time"],
           "jit": res.info["jit_time"], "certify": res.timings["certify"],
           "viol_cert": res.certificate.marginal_violation, "gap": res.certificate.gap,
           "viol": _violation_lazy(x, y, prob.program.eps, f, g), "cost": res.info["transport_cost"],
           "eps": prob.program.eps, "rss": _rss_mb()})


def child_ours_dense(q, n, seed, rel):
    _setup_child()
    import solvelab as sl
    x, y = _clouds(n, seed)
    t = time.perf_counter()
    prob = sl.problems.point_cloud_ot(x, y, rel_eps=rel, lazy=False)
    t_build = time.perf_counter() - t
    res = prob.solve(backend="sinkhorn", tol=SCALE_TOL)
    P = res.values["P"]
    viol = float((np.abs(P.sum(1) - prob.program.a).sum() + np.abs(P.sum(0) - prob.program.b).sum()))
    q.put({"status": res.status.value, "iterations": res.iterations, "build": t_build,
           "solve": res.timings["setup"] + res.timings["solve"] - res.info["jit_time"],
           "jit": res.info["jit_time"], "certify": res.timings["certify"],
           "viol_cert": res.certificate.marginal_violation, "gap": res.certificate.gap, "viol": viol,
           "cost": res.info["transport_cost"], "rss": _rss_mb()})


def child_pot_lazy(q, n, seed, eps, batch):
    """POT's lazy empirical_sinkhorn in chunks of 10 iterations (its own test cadence),
    reporting progress after each chunk."""
    _setup_child()
    import ot
    x, y = _clouds(n, seed)
    f = g = None
    it = 0
    t0 = time.perf_counter()
    while True:
        warm = None if f is None else (f, g)
        f, g, log = ot.bregman.empirical_sinkhorn(x, y, eps, isLazy=True, numIterMax=10, stopThr=SCALE_TOL,
                                                  batchSize=batch, log=True, warn=False, warmstart=warm)
        it += 10
        err = float(log["err"][-1]) if log["err"] else float("nan")
        done = err <= SCALE_TOL
        q.put({"progress": True, "iterations": it, "time": time.perf_counter() - t0, "err": err,
               "rss": _rss_mb(), "done": done})
        if done or it >= 100000:
            break
    el = time.perf_counter() - t0
    viol = _violation_lazy(x, y, eps, eps * np.asarray(f), eps * np.asarray(g))
    q.put({"status": "converged" if done else "max_iter", "iterations": it, "solve": el, "err": err,
           "viol": viol, "rss": _rss_mb()})


def child_emd(q, key, rel):
    _setup_child()
    import ot
    a, b, C = _exact_instance(key)
    t = time.perf_counter()
    P, log = ot.emd(a, b, C, numItermax=10 ** 9, log=True)
    el = time.perf_counter() - t
    q.put({"time": el, "cost": float(log["cost"]), "warning": log.get("warning"), "rss": _rss_mb()})


def child_ours_exact(q, key, rel, backend, polish=False):
    _setup_child()
    import solvelab as sl
    from solvelab.families.ot import round_plan
    a, b, C = _exact_instance(key)
    eps = rel * float(C.max())
    t = time.perf_counter()
    prob = sl.problems.entropic_ot(a, b, C, eps)
    if backend == "sinkhorn":
        res = prob.solve(backend="sinkhorn", tol=1e-5, round=True)
        R = res.info["plan_rounded"]
    else:
        res = prob.solve(backend=backend, tol=1e-5)
        R = round_plan(res.values["P"], a, b)
    el = time.perf_counter() - t - res.info.get("jit_time", 0.0)
    viol = float((np.abs(R.sum(1) - a).sum() + np.abs(R.sum(0) - b).sum()) / a.sum())
    exact = None
    if polish:
        from solvelab.families.ot import exact_plan
        t2 = time.perf_counter()
        e = exact_plan(C, a, b, res.values["P"])
        exact = {"time": time.perf_counter() - t2, "status": e.status, "rounds": e.rounds, "columns": e.columns,
                 "cost": e.cost, "cert": max(e.marginal_violation, e.dual_infeasibility, e.gap)}
    q.put({"exact": exact, "status": res.status.value, "iterations": res.iterations, "time": el, "jit": res.info.get("jit_time"),
           "rounded_cost": float((C * R).sum()), "entropic_plan_cost": res.info["transport_cost"],
           "rounded_viol": viol, "min_entry": float(R.min()), "rss": _rss_mb()})


def _exact_instance(key):
    from solvelab.problems import grid_cost, point_cloud_cost
    kind, spec = key
    if kind == "dotmark":
        from solvelab.bench.suites.ot import find_dotmark, load_image
        cls, R = spec
        a = load_image(find_dotmark(cls, R, 1001)[0]).ravel()
        b = load_image(find_dotmark(cls, R, 1002)[0]).ravel()
        return a / a.sum(), b / b.sum(), grid_cost(R)
    n, seed = spec
    x, y = _clouds(n, seed)
    return np.full(n, 1 / n), np.full(n, 1 / n), point_cloud_cost(x, y)()


def run_child(target, args, limit, env=None):
    """Run ``target(q, *args)`` in a spawned process; (final message, last progress, wall,
    killed)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(q,) + tuple(args))
    t = time.perf_counter()
    p.start()
    final, progress = None, None
    while True:
        left = limit - (time.perf_counter() - t)
        if left <= 0:
            break
        try:
            msg = q.get(timeout=min(left, 5.0))
        except queue.Empty:
            if not p.is_alive():
                break
            continue
        if msg.get("progress"):
            progress = msg
            if msg.get("done"):          # converged in time: its final check is not timed
                limit = max(limit, time.perf_counter() - t + 300.0)
        else:
            final = msg
            break
    wall = time.perf_counter() - t
    killed = final is None and p.is_alive()
    if p.is_alive():
        p.join(5 if final is not None else 0)
    if p.is_alive():
        p.kill()
    p.join()
    return final, progress, wall, killed


# --- tables -------------------------------------------------------------------------------

def table_scale(args):
    print("\n## 1. Lazy entropic OT between point clouds, eps = 1e-2 max C, L1 marginal violation 1e-6\n")
    cold, _, _, _ = run_child(child_jit, (tempfile.mkdtemp(prefix="numba-cold-"),), 600)
    warm, _, _, _ = run_child(child_jit, ("",), 600)
    print(f"Numba kernels (kernels.ot_lazy): cold compile {cold['compile']:.1f} s (empty cache), "
          f"load from the on-disk cache {warm['compile']:.2f} s; neither is in the solve times below.\n")
    print("| n = m | solver | status | iterations | solve s | certify s | jit s | viol (recomputed) | gap "
          "| peak RSS MB | POT time / ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        rows = []
        ours = {}
        for th in args.threads:
            r, _, wall, killed = run_child(child_ours_lazy, (n, args.seed, 1e-2, th), args.limit)
            ours[th] = r
            rows.append((f"solvelab lazy sinkhorn, {th or 'default'} thread(s)", r, killed, wall))
            sys.stdout.flush()
        if n <= args.dense_upto:
            r, _, wall, killed = run_child(child_ours_dense, (n, args.seed, 1e-2), args.limit)
            rows.append(("solvelab dense sinkhorn", r, killed, wall))
        eps = next((o["eps"] for o in ours.values() if o), None)
        pot, prog, wall, killed = run_child(child_pot_lazy, (n, args.seed, eps, args.batch), args.pot_limit)
        for name, r, k, w in rows:
            if r is None:
                print(f"| {n} | {name} | {'killed' if k else 'failed'} at {w:.0f} s | | | | | | | | |")
                continue
            ratio = ""
            if name.startswith("solvelab lazy"):
                pt = pot["solve"] if pot else wall
                ratio = f"{pt / r['solve']:.1f}x" + ("" if pot else " (lower bound: POT killed)")
            print(f"| {n} | {name} | {r['status']} | {r['iterations']} | {r['solve']:.1f} | {r['certify']:.1f} | "
                  f"{r['jit']:.2f} | {r['viol']:.2e} | {r['gap']:.1e} | {r['rss']:.0f} | {ratio} |")
        if pot is not None:
            print(f"| {n} | POT empirical_sinkhorn lazy (batch {args.batch}) | {pot['status']} | {pot['iterations']} | "
                  f"{pot['solve']:.1f} | | | {pot['viol']:.2e} | | {pot['rss']:.0f} | |")
        elif prog is not None:
            print(f"| {n} | POT empirical_sinkhorn lazy (batch {args.batch}) | killed at {wall:.0f} s | "
                  f"{prog['iterations']} done ({prog['time'] / prog['iterations']:.2f} s/it) | >{wall:.0f} | | | "
                  f"{prog['err']:.2e} (its own test) | | {prog['rss']:.0f} | |")
        else:
            print(f"| {n} | POT empirical_sinkhorn lazy | killed at {wall:.0f} s before 10 iterations | | | | | | | | |")
        sys.stdout.flush()


def table_exact(args):
    print(f"\n## 2. Rounded entropic plans vs ot.emd, eps = {args.rel_eps:g} max C (epsilon scaling)\n")
    print("| instance | solver | status | iterations | time s | ot.emd s | emd time / ours | rounded viol "
          "| <C,R> / emd - 1 | <C,P_eps> / emd - 1 | peak RSS MB (ours / emd) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    keys = [("dotmark", (c, 64)) for c in args.classes] + [("cloud", (n, args.seed)) for n in args.exact_clouds]
    for key in keys:
        name = f"DOTmark {key[1][0]} 64x64" if key[0] == "dotmark" else f"clouds n={key[1][0]}"
        emd, _, ew, ek = run_child(child_emd, (key, args.rel_eps), args.limit)
        for backend in args.exact_backends:
            r, _, w, k = run_child(child_ours_exact, (key, args.rel_eps, backend, args.exact_plan), args.limit)
            if r is None:
                print(f"| {name} | {backend} | {'killed' if k else 'failed'} at {w:.0f} s | | | | | | | | |")
                continue
            et = f"{emd['time']:.1f}" if emd else f">{ew:.0f}"
            ratio = f"{emd['time'] / r['time']:.1f}x" if emd else "–"
            rc = f"{r['rounded_cost'] / emd['cost'] - 1:.2e}" if emd else "–"
            pc = f"{r['entropic_plan_cost'] / emd['cost'] - 1:.2e}" if emd else "–"
            label = backend + (" + round_plan" if backend != "sinkhorn" else " (round=True)")
            print(f"| {name} | {label} | {r['status']} | {r['iterations']} | {r['time']:.1f} | {et} | {ratio} | "
                  f"{r['rounded_viol']:.1e} | {rc} | {pc} | {r['rss']:.0f} / {emd['rss'] if emd else float('nan'):.0f} |")
            x = r.get("exact")
            if x is not None:   # the same entropic solve, then families.ot.exact_plan on its plan
                total = r["time"] + x["time"]
                ratio = f"{emd['time'] / total:.1f}x" if emd else "–"
                ec = f"{x['cost'] / emd['cost'] - 1:.2e}" if emd else "–"
                print(f"| {name} | {backend} + exact_plan ({x['time']:.1f} s of it; {x['rounds']} rounds, "
                      f"{x['columns']} columns) | {x['status']} (certificate {x['cert']:.1e}) | {r['iterations']} | "
                      f"{total:.1f} | {et} | {ratio} | | {ec} | | |")
            sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", action="store_true", help="table 1 (lazy OT at scale vs POT)")
    ap.add_argument("--exact", action="store_true", help="table 2 (rounded plans vs ot.emd)")
    ap.add_argument("--sizes", default="5000,20000", help="cloud sizes of table 1")
    ap.add_argument("--threads", default="1,0", help="Numba threads of our runs (0: Numba's default)")
    ap.add_argument("--dense-upto", type=int, default=5000, help="also run the dense sinkhorn up to this n")
    ap.add_argument("--pot-limit", type=float, default=900.0, help="POT's time limit in table 1 (s)")
    ap.add_argument("--batch", type=int, default=100, help="POT empirical_sinkhorn batchSize (its default: 100)")
    ap.add_argument("--limit", type=float, default=900.0, help="time limit of every other run (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rel-eps", type=float, default=1e-4, help="eps / max C of table 2")
    ap.add_argument("--classes", default="ClassicImages,Shapes,WhiteNoise", help="DOTmark classes of table 2")
    ap.add_argument("--exact-clouds", default="5000", help="cloud sizes of table 2 ('' for none)")
    ap.add_argument("--exact-backends", default="sinkhorn_newton,sinkhorn")
    ap.add_argument("--exact-plan", action="store_true",
                    help="table 2 also gets families.ot.exact_plan on each entropic plan (the exact LP polish)")
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.threads = [int(t) or None for t in args.threads.split(",") if t]
    args.classes = [c for c in args.classes.split(",") if c]
    args.exact_clouds = [int(s) for s in args.exact_clouds.split(",") if s]
    args.exact_backends = [b for b in args.exact_backends.split(",") if b]
    if not (args.scale or args.exact):
        args.scale = args.exact = True
    print(f"# benchmarks/ot_scale.py ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores)")
    if args.scale:
        table_scale(args)
    if args.exact:
        if args.classes:
            from solvelab.bench.suites.ot import find_dotmark
            missing = [c for c in args.classes if find_dotmark(c, 64, 1001)[0] is None]
            if missing:
                print(f"\nDOTmark skipped: {find_dotmark(missing[0], 64, 1001)[1]}")
                args.classes = [c for c in args.classes if c not in missing]
        table_exact(args)


if __name__ == "__main__":
    main()
