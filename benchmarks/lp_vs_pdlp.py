"""Netlib LPs: solvelab's ``pdhg`` against HiGHS's PDLP (cuPDLP-C on the CPU, highspy).

For each LP (afiro, adlittle, israel, e226, scrs8, 25fv47, sctest, blending by default)
at tol 1e-6, one markdown table row per solver: status, iterations, matrix passes (A
and A^T products), wall time, the LP certificate of the returned point computed by
solvelab (``families.lp``: relative primal / dual residual and gap on the original
data; for HiGHS from its primal and row-dual solution) and the relative objective
error against the MANIFEST's HiGHS reference.

Matrix passes: ours are counted (``res.info['matvecs']``, rejected steps and checks
included). HiGHS does not report them; its PDLP makes one A and one A^T product per
iteration, so ``2 x iterations`` is given for it (a lower bound: its restart checks add
more). Both run presolve-free on one thread; times exclude reading the file and our
Numba compilation (a warm-up solve runs first). The last lines give the shifted geometric
mean of the times (``bench.report.SGM_SHIFT``; ours only where certified, HiGHS's
wherever it stops on its own test, which is looser: a lower bound in its favour).

    .venv/bin/python benchmarks/lp_vs_pdlp.py                 # the 8 LPs, ~30 s
    .venv/bin/python benchmarks/lp_vs_pdlp.py --lps afiro,e226 --tol 1e-8
    .venv/bin/python benchmarks/lp_vs_pdlp.py --backend halpern   # the Halpern scheme on the same LPs

With ortools installed (``pip install ortools``) OR-Tools PDLP gets a row too, its passes
as it counts them (``cumulative_kkt_matrix_passes``, one A and one A^T product each; the
table shows 2 x that, in our unit of one product), at equal certificate: its own tolerance
is tightened tenfold until solvelab's certificate of its point meets --tol.
``--highs-equal-certificate`` does the same for HiGHS PDLP (where its point at --tol already
meets our certificate, that run's passes count).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import solvelab as sl
from solvelab.bench.peers.highs import run_highs
from solvelab.bench.peers.ortools_pdlp import OrtoolsPDLP, run_ortools_pdlp
from solvelab.bench.report import SGM_SHIFT, shifted_geomean
from solvelab.bench.suites.lp import MANIFEST, find_lp
from solvelab.families.lp import lp_certificate

DEFAULT = "afiro,adlittle,israel,e226,scrs8,25fv47,sctest,blending"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lps", default=DEFAULT)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--max-iter", type=int, default=500000)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--backend", default="pdhg", help="pdhg, or halpern (pdhg's reflected restarted Halpern scheme)")
    ap.add_argument("--highs-equal-certificate", action="store_true",
                    help="also run HiGHS PDLP at equal certificate: its tolerance tightened tenfold until "
                         "solvelab's certificate of its point meets --tol (as for OR-Tools)")
    args = ap.parse_args(argv)
    ref = {name: obj for name, _, _, _, obj in MANIFEST}
    sl.problems.linear_program([1.0, 1.0], [[1.0, 1.0]], rl=[1.0]).solve(backend="pdhg")   # JIT warm-up
    print(f"tol = {args.tol:g}\n")
    print("| LP | solver | status | iterations | matrix passes | time (s) | certificate | objective error |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    ratios, ort_ratios, eq_ratios = [], [], []
    times = []   # (LP, ours, HiGHS PDLP's), unsolved runs at the time limit
    ortools_missing = OrtoolsPDLP().available()
    if ortools_missing:
        print(f"(OR-Tools PDLP not run: {ortools_missing})\n")
    for name in args.lps.split(","):
        path, why = find_lp(name, args.data_dir)
        if path is None:
            print(f"| {name} | – | skipped: {why} | | | | | |")
            continue
        prob = sl.problems.read_mps(path, relax_integrality=True)
        p = prob.program
        r = ref.get(name)
        t0 = time.perf_counter()
        res = prob.solve(backend=args.backend, tol=args.tol, max_iter=args.max_iter, time_limit=args.time_limit)
        t = time.perf_counter() - t0
        cert = res.certificate.value if res.certificate is not None else float("nan")
        err = abs(res.objective - r) / abs(r) if r else float("nan")
        ours = res.info["matvecs"]
        print(f"| {name} | {args.backend} | {res.status} | {res.iterations} | {ours} | {t:.3f} | {cert:.1e} | {err:.1e} |")
        h = run_highs(p, "pdlp", args.tol, args.time_limit, args.max_iter)
        hc = lp_certificate(p, h["x"], h["y"]).value if h["x"] is not None and h["y"] is not None else float("nan")
        hobj = p.user_objective(h["x"]) if h["x"] is not None else float("nan")
        herr = abs(hobj - r) / abs(r) if r else float("nan")
        theirs = 2 * h["iterations"]
        print(f"| {name} | HiGHS pdlp | {h['status']} | {h['iterations']} | {theirs} (2 x it) | {h['seconds']:.3f} "
              f"| {hc:.1e} | {herr:.1e} |")
        if res.status is sl.Status.OPTIMAL and theirs > 0:
            ratios.append((name, ours / theirs))
        # HiGHS's time counts whenever it stops on its own test, though its point may miss our certificate
        times.append((name, t if res.status is sl.Status.OPTIMAL else args.time_limit,
                      h["seconds"] if h["status"] in ("Optimal", "Unknown") else args.time_limit))
        if args.highs_equal_certificate:
            he, hec, htol = h, hc, args.tol
            while not hec <= args.tol and he["status"] in ("Optimal", "Unknown") and htol > 1e-12:
                htol /= 10.0
                he = run_highs(p, "pdlp", htol, args.time_limit, args.max_iter)
                hec = lp_certificate(p, he["x"], he["y"]).value if he["x"] is not None and he["y"] is not None \
                    else float("nan")
            hep = 2 * he["iterations"]
            print(f"| {name} | HiGHS pdlp (tol {htol:.0e}, equal certificate) | {he['status']} | {he['iterations']} | "
                  f"{hep} (2 x it) | {he['seconds']:.3f} | {hec:.1e} | |")
            if res.status is sl.Status.OPTIMAL and hep > 0 and hec <= args.tol:
                eq_ratios.append((name, ours / hep))
        if not ortools_missing:
            # at equal certificate: OR-Tools' relative test (2-norms of b and c) is looser than
            # ours, so its tolerance is tightened tenfold until our certificate of its point
            # meets --tol (down to 1e-12); the row says at which of its tolerances
            for otol in [args.tol * 10.0 ** -k for k in range(7)]:
                o = run_ortools_pdlp(p, otol, args.time_limit, args.max_iter)
                oc = lp_certificate(p, o["x"], o["y"]).value if o["x"] is not None and o["y"] is not None \
                    else float("nan")
                if oc <= args.tol or o["status"] != "TERMINATION_REASON_OPTIMAL" or otol < 1e-12:
                    break
            oobj = p.user_objective(o["x"]) if o["x"] is not None else float("nan")
            oerr = abs(oobj - r) / abs(r) if r else float("nan")
            op = 2 * o["passes"]
            print(f"| {name} | OR-Tools pdlp (tol {otol:.0e}) | {o['status'].replace('TERMINATION_REASON_', '').lower()} | "
                  f"{o['iterations']} | {op:.0f} | {o['seconds']:.3f} | {oc:.1e} | {oerr:.1e} |")
            if res.status is sl.Status.OPTIMAL and op > 0 and oc <= args.tol:
                ort_ratios.append((name, ours / op))
    if times:
        ours_t, theirs_t = shifted_geomean([a for _, a, _ in times]), shifted_geomean([b for _, _, b in times])
        faster = sum(a < b for _, a, b in times)
        print(f"\ntime (s), shifted geometric mean (shift {SGM_SHIFT:g} s; a run that fails counts at the time limit): "
              f"{args.backend} {ours_t:.4f}, HiGHS PDLP {theirs_t:.4f} (ratio {ours_t / theirs_t:.2f}); "
              f"{args.backend} faster on {faster} of {len(times)}")
    for label, rs in (("HiGHS PDLP", ratios), ("HiGHS PDLP at equal certificate", eq_ratios),
                      ("OR-Tools PDLP", ort_ratios)):
        if rs:
            gm = math.exp(np.mean([math.log(v) for _, v in rs]))
            fewer = sum(v < 1 for _, v in rs)
            print(f"\nmatrix passes {args.backend} / {label}: " + ", ".join(f"{n} {v:.2f}" for n, v in rs)
                  + f"; geometric mean {gm:.2f}; fewer on {fewer} of {len(rs)}")


if __name__ == "__main__":
    main()
