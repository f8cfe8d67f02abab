"""pdhg with and without the descent-ray LP (option ``ray_lp``) on Netlib LPs: status,
iterations, matrix passes and seconds for each, one line per LP.

    SOLVELAB_DATA=../shared/data .venv/bin/python benchmarks/lp_rays.py \
        afiro,sctest,blending,adlittle,israel,e226,scrs8,25fv47,shell,standata,refinery,woodinfe,gas11
"""
from __future__ import annotations

import os
import sys
import time

import solvelab as sl


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    names = (argv[0] if argv else "afiro,israel,gas11").split(",")
    root = os.path.join(os.environ.get("SOLVELAB_DATA", os.path.join(os.path.dirname(__file__), "..", "..",
                                                                     "shared", "data")), "lp")
    print("| LP | ray_lp=False: status / iterations / passes / s | ray_lp=True: status / iterations / passes / s |")
    print("|---|---|---|")
    for name in names:
        path = os.path.join(root, f"{name}.mps.xz")
        if not os.path.isfile(path):
            print(f"| {name} | not found under {root} (set SOLVELAB_DATA) | |")
            continue
        cells = []
        for ray_lp in (False, True):
            t = time.perf_counter()
            r = sl.problems.read_mps(path).solve(backend="pdhg", tol=1e-6, time_limit=60, ray_lp=ray_lp)
            cells.append(f"{r.status.value if hasattr(r.status, 'value') else r.status} / {r.iterations} / "
                         f"{r.info.get('matvecs')} / {time.perf_counter() - t:.1f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
