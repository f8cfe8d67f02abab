"""Netlib LPs on ``admm``: which of the data set's LPs it certifies at tol 1e-6, and which
infeasible / unbounded ones it proves (rays rechecked by the engine).

    SOLVELAB_DATA=../shared/data OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/lp_admm.py [--lps a,b] [--max-iter N]
        [--halpern]

``--halpern`` runs the same splitting Halpern-anchored (``admm`` with ``halpern=True``, what
``backend='halpern'`` runs on a prox-affine program; Anderson acceleration off).

The LP is read from MPS (``sl.problems.read_mps``) and lowered to the generic terms admm
takes (c^T x, a zero set on the equality rows, a box on the others and on x). One line
per LP: MANIFEST status and objective, admm's status, iterations, time, certificate and
relative objective error.
"""
from __future__ import annotations

import argparse
import time

import solvelab as sl
from solvelab.bench.suites.lp import MANIFEST, find_lp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    info = {row[0]: (row[3], row[4]) for row in MANIFEST}
    ap.add_argument("--lps", default=",".join(sorted(info)))
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--max-iter", type=int, default=20000)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--halpern", action="store_true", help="Halpern-anchored splitting (reflected, restarted)")
    a = ap.parse_args(argv)
    solved = feasible = 0
    for name in a.lps.split(","):
        path, why = find_lp(name)
        if path is None:
            raise SystemExit(why)
        status, ref = info[name]
        prob = sl.problems.read_mps(path, relax_integrality=True)   # the MANIFEST values are the relaxations
        t = time.perf_counter()
        extra = {"halpern": True} if a.halpern else {}
        res = prob.solve(backend="admm", tol=a.tol, max_iter=a.max_iter, time_limit=a.time_limit, **extra)
        wall = time.perf_counter() - t
        err = abs(res.objective - ref) / abs(ref) if (ref is not None and res.status == "optimal") else float("nan")
        ok = (status == "Optimal" and res.status == "optimal") or \
             (status == "Infeasible" and res.status == "infeasible") or (status == "Unbounded" and res.status == "unbounded")
        feasible += status == "Optimal"
        solved += ok and status == "Optimal"
        cert = res.certificate.value if res.certificate is not None else float("nan")
        print(f"| {name} | {status} | {res.status} | {res.iterations} | {wall:.2f} | {cert:.1e} | {err:.1e} | "
              f"{'yes' if ok else 'no'} |", flush=True)
    print(f"feasible LPs certified: {solved} / {feasible}")


if __name__ == "__main__":
    main()
