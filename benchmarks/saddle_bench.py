"""Issue 14's saddle targets, measured on one thread.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/saddle_bench.py \
        [--instances gaussian-1000,rps] [--tol 1e-6] [--time-limit 300] [--skip-pdhg]

For every instance of the ``saddle`` suite (or those whose names contain one of the
``--instances`` words): ``halpern`` (reflected restarted Halpern PDHG) and the same
backend with ``scheme='pdhg'`` (plain PDHG on the same operator and steps) to the same
certificate ``tol``, each cold (no warm start), after a JIT warm-up. Printed per run:
status, iterations, passes over K (``info['matvecs']``: norm estimate, steps and checks),
seconds (setup + solve, from ``res.timings``) and the certificate. Plain PDHG gets the
same time limit; a run that misses tol is shown with its status and the passes it spent.
The two targets: the 5000 x 5000 Gaussian game to 1e-6 under 10 s, and halpern below
plain pdhg in passes on every instance.
"""
from __future__ import annotations

import argparse
import json
import time

from solvelab.bench.suites import saddle as S


def run(inst, data, tol, time_limit, **opts):
    prob = inst.make_problem(data)
    t = time.perf_counter()
    res = prob.solve(backend="halpern", tol=tol, time_limit=time_limit, max_iter=10_000_000, warm_start=False,
                     check_every=16, **opts)
    wall = time.perf_counter() - t
    tm = res.timings
    return {"status": res.status.value, "iterations": res.iterations, "matvecs": res.info.get("matvecs"),
            "seconds": tm.get("setup", 0.0) + tm.get("solve", 0.0) - res.info.get("jit_time", 0.0), "wall": wall,
            "certificate": None if res.certificate is None else res.certificate.value,
            "restarts": res.info.get("restarts"), "objective": res.objective}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default="")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--skip-pdhg", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    words = [w for w in a.instances.split(",") if w]
    insts = [i for i in S.SaddleSuite().instances() if not words or any(w in i.name for w in words)]
    warm = S.demo_instance()
    warm.make_problem(warm.data()).solve(backend="halpern", max_iter=2)      # JIT, not timed
    rows = []
    print(f"{'instance':14s} {'scheme':8s} {'status':10s} {'iters':>8s} {'passes':>9s} {'seconds':>9s} "
          f"{'cert':>9s} {'rst':>4s}")
    for inst in insts:
        data = inst.data()
        for scheme in ("halpern",) + (() if a.skip_pdhg else ("pdhg",)):
            out = run(inst, data, a.tol, a.time_limit, scheme=scheme)
            out.update(instance=inst.name, scheme=scheme)
            rows.append(out)
            cert = f"{out['certificate']:.2e}" if out["certificate"] is not None else "-"
            print(f"{inst.name:14s} {scheme:8s} {out['status']:10s} {out['iterations']:8d} {out['matvecs']:9d} "
                  f"{out['seconds']:9.2f} {cert:>9s} {out['restarts']:4d}", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
