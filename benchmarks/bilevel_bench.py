"""Issue 16's bilevel targets, measured in one run on one thread.

    SOLVELAB_DATA=../shared/data OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        .venv/bin/python benchmarks/bilevel_bench.py

1. ijcnn1 per-feature ridge (22 weights, l2-logistic): time for hypergradient and bamm to
   a validation loss within 1e-5 relative of the best found by any run here (both
   backends from three starts, at tol 1e-9), read from their histories (F(u) exactly for
   hypergradient; f at the current w for bamm, whose certified end point is re-scored).
2. ijcnn1 and a9a with one weight: a 20-point warm-started grid (scikit-learn
   LogisticRegression, the bench peer) against hypergradient: time and validation loss.
3. a9a data hyper-cleaning (50% flipped labels): bamm against hypergradient: final loss,
   time, and when bamm first passes hypergradient's final loss.
"""
from __future__ import annotations

import time

import numpy as np

from solvelab.bench.peer import get_peer
from solvelab.bench.suites import bilevel as B


def instance(name):
    inst = {i.name: i for i in B.BilevelSuite().instances()}[name]
    if inst.skip:
        raise SystemExit(inst.skip)
    return inst, inst.data()


def run(inst, data, backend, tol, **opts):
    prob = inst.make_problem(data)
    if "u0" in opts:
        prob.program.u0 = np.clip(prob.program.u0 + opts.pop("u0"), prob.program.u_lo, prob.program.u_hi)
    t = time.perf_counter()
    res = prob.solve(backend=backend, tol=tol, time_limit=300, **opts)
    return res, time.perf_counter() - t


def first_time(history, level):
    hit = [h["time"] for h in history if h.get("objective") is not None and h["objective"] <= level]
    return hit[0] if hit else None


def ijcnn1_feature():
    inst, data = instance("ijcnn1-feature")
    best, runs = np.inf, []
    for backend in ("hypergradient", "bamm"):
        for shift in (0.0, -2.0, 2.0):
            res, wall = run(inst, data, backend, 1e-9, u0=shift)
            F = inst.eval_objective(data, res.x)
            runs.append((backend, shift, res, wall, F))
            best = min(best, F)
            print(f"  {backend:13s} start u0{shift:+.0f}: {res.status:9s} F = {F:.10f}  {wall:6.2f} s "
                  f"({res.iterations} it, certificate {res.certificate.value:.1e})", flush=True)
    level = best * (1 + 1e-5)
    print(f"ijcnn1-feature: best F = {best:.10f}; time to F <= best (1 + 1e-5), default start, tol 1e-6:")
    for backend in ("hypergradient", "bamm"):
        res, wall = run(inst, data, backend, 1e-6)
        F = inst.eval_objective(data, res.x)
        t = first_time(res.history, level)
        print(f"  {backend:13s} {res.status:9s} F = {F:.10f} (rel {F / best - 1:+.1e}) in {wall:.2f} s; "
              f"history first within 1e-5: {t if t is None else round(t, 2)} s", flush=True)


def single_weight(name):
    inst, data = instance(name)
    res, wall = run(inst, data, "hypergradient", 1e-6)
    peer = get_peer("grid-search")
    t = time.perf_counter()
    out = peer.solve(inst, data, tol=1e-6, time_limit=300, max_iter=20, record=lambda **kw: None)
    grid_wall = time.perf_counter() - t
    Fg, Fh = inst.eval_objective(data, out.x), inst.eval_objective(data, res.x)
    print(f"{name}: hypergradient F = {Fh:.10f} in {wall:.2f} s ({res.status}); 20-point warm-started grid "
          f"F = {Fg:.10f} in {grid_wall:.2f} s; grid / hypergradient time {grid_wall / wall:.1f}x, "
          f"loss rel {Fg / Fh - 1:+.1e}", flush=True)


def cleaning(name):
    inst, data = instance(name)
    out = {}
    for backend in ("hypergradient", "bamm"):
        res, wall = run(inst, data, backend, 1e-6)
        out[backend] = (res, wall, inst.eval_objective(data, res.x))
    Fh = out["hypergradient"][2]
    rb = out["bamm"][0]
    t = first_time(rb.history, Fh)
    for backend, (res, wall, F) in out.items():
        print(f"{name}: {backend:13s} {res.status:9s} F = {F:.10f} in {wall:.2f} s ({res.iterations} it)")
    print(f"  bamm first at or below hypergradient's final loss after {t if t is None else round(t, 2)} s",
          flush=True)


if __name__ == "__main__":
    ijcnn1_feature()
    single_weight("ijcnn1-single")
    single_weight("a9a-single")
    cleaning("a9a-cleaning")
    cleaning("mushrooms-cleaning")
