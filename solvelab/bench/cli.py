"""``solvelab bench``: run a benchmark suite, redraw a report, list suites and peers.

    solvelab bench SUITE [--backends a,b] [--peers x,y] [--instances PATTERN]
                         [--time-limit S] [--tol T] [--repeat K] [--data-dir DIR]
                         [--out DIR] [--workers N | --dask ADDRESS|local:N] [--resume]
    solvelab bench report DIR
    solvelab bench list

Exit status: 0 when the suite ran (whatever the solvers did), 2 for harness errors
(unknown suite/backend/peer, missing data directory, bad options), 130 on Ctrl-C.
Also runnable as ``python -m solvelab.bench.cli``.
"""
from __future__ import annotations

import argparse
import shlex
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="solvelab bench",
        description="Benchmark solvelab backends against peers on a suite; write results.jsonl, "
                    "results.csv, report.md and plots. 'solvelab bench report DIR' redraws a report; "
                    "'solvelab bench list' lists suites and peers.")
    p.add_argument("suite", nargs="?", default="quick",
                   help="suite name (default: quick; see 'solvelab bench list'), or 'report' / 'list'")
    p.add_argument("dir", nargs="?", help="with 'report': the results directory")
    p.add_argument("--backends", help="comma-separated solvelab backends (default: the suite's)")
    p.add_argument("--peers", help="comma-separated peers, or 'none' (default: the suite's)")
    p.add_argument("--instances", help="comma-separated globs or substrings of instance names")
    p.add_argument("--time-limit", type=float, help="seconds per run, enforced by killing the worker "
                   "(default: the suite's)")
    p.add_argument("--tol", type=float, help="target: certificate for backends, relative objective error "
                   "for peers (default: the suite's, 1e-6)")
    p.add_argument("--repeat", type=int, help="runs per (instance, solver); the median time to tolerance is "
                   "reported (default: the suite's, 1 for most)")
    p.add_argument("--max-iter", type=int, help="iteration budget for solvelab backends")
    p.add_argument("--data-dir", help="where data files are (else $SOLVELAB_DATA, else ../shared/data)")
    p.add_argument("--out", help="output directory (default bench-results/SUITE-TIMESTAMP)")
    p.add_argument("--workers", type=int, default=1,
                   help="parallel worker processes (default 1; 0 runs in-process without time limits, for debugging)")
    p.add_argument("--dask", metavar="ADDRESS|local:N",
                   help="run on a Dask cluster: a scheduler address (tcp://host:8786) or local:N for N "
                        "worker processes here (needs solvelab[dask]); same time limits and report")
    p.add_argument("--resume", action="store_true",
                   help="continue --out (default: the latest bench-results/SUITE-*) from its results.jsonl")
    p.add_argument("--suite-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the suite (e.g. cutest: kinds=unconstrained,max_n=50); repeatable")
    p.add_argument("--plugin", action="append", default=[],
                   help="extra module to import (registers more suites or peers); repeatable")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _list() -> int:
    from ..backends import registry
    from .peer import all_peers, unavailable_peers
    from .suite import get_suite, suite_names, unavailable_suites
    print("suites:")
    for name in suite_names():
        try:
            s = get_suite(name)
            why = s.unavailable()
            print(f"  {name:10s} {s.description}" + (f"  [unavailable: {why}]" if why else ""))
        except Exception as exc:  # a broken plugin must not hide the others
            print(f"  {name:10s} [cannot load: {type(exc).__name__}: {exc}]")
    for failure in unavailable_suites():
        print(f"  [cannot import] {failure}")
    print("peers:")
    for name, peer in all_peers().items():
        why = peer.available()
        fam = ", ".join(peer.families) if peer.families else "any"
        print(f"  {name:16s} {peer.description} (families: {fam})" + (f"  [unavailable: {why}]" if why else ""))
    for failure in unavailable_peers():
        print(f"  [cannot import] {failure}")
    print("backends:", ", ".join(registry.all_backends()))
    for failure in registry.unavailable():
        print(f"  [cannot import] {failure}")
    return 0


def _print_summary(out) -> None:
    """Solved counts and shifted geometric means, as in report.md's summary."""
    from .report import judge, load_records, summary
    rows = summary(judge(load_records(out)))
    head = f"{'solver':26s} {'ran':>4s} {'solved':>6s} {'skipped':>7s} {'failed':>6s} {'SGM time (s)':>12s}"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        name = r["solver"] + (" (peer)" if r["kind"] == "peer" else "")
        sgm = "-" if r["sgm"] is None else f"{r['sgm']:.3g}"
        print(f"{name:26s} {r['ran']:4d} {r['solved']:6d} {r['skipped']:7d} {r['failed']:6d} {sgm:>12s}")


def main(argv=None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    from .suite import SuiteError
    try:
        if args.suite == "list":
            return _list()
        if args.suite == "report":
            if not args.dir:
                raise SuiteError("usage: solvelab bench report DIR")
            from .report import write_report
            path = write_report(args.dir)
            print(f"report: {path}")
            return 0
        if args.dir:
            raise SuiteError(f"unexpected argument {args.dir!r}")
        from .harness import run_suite
        suite_options = {}
        for item in args.suite_option:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise SuiteError(f"--suite-option takes KEY=VALUE, got {item!r}")
            suite_options[key.strip()] = value.strip()
        out = run_suite(args.suite, backends=args.backends, peers=args.peers, instances=args.instances,
                        time_limit=args.time_limit, tol=args.tol, repeat=args.repeat, data_dir=args.data_dir,
                        out=args.out, workers=args.workers, resume=args.resume, max_iter=args.max_iter,
                        plugins=args.plugin, progress=not args.no_progress, suite_options=suite_options,
                        dask=args.dask,
                        command="solvelab bench " + " ".join(shlex.quote(a) for a in argv))
        if out is not None:
            _print_summary(out)
            print(f"results: {out}/results.jsonl\nreport:  {out}/report.md (plots: {out}/profile.png, "
                  f"{out}/plots/)")
        return 0
    except SuiteError as exc:
        print(f"solvelab bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("solvelab bench: interrupted (finished runs are in results.jsonl; continue with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
