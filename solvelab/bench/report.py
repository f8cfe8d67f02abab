"""Judge recorded runs, and write report.md, results.csv and the plots.

How a run is judged (``judge``):
  * a solvelab backend run is solved only when its status is ``optimal``: the engine
    recomputed the certificate (KKT residuals and duality gap) from the returned point
    and it met ``tol``;
  * a peer run is solved when the relative objective error of its point,
    ``(f(x) - ref) / max(|ref|, scale)``, is at most ``tol`` and its constraint violation
    is at most ``tol``. ``ref`` is the instance's known optimum when the suite gives one,
    else the objective of the certified ``cvxpy`` backend run (CVXPY + Clarabel at tight
    tolerances, certificate rechecked), else the objective of the certified run with the smallest certificate.
    ``scale`` is the instance's ``objective_scale`` where the suite records one (the
    objective's size at its start point, for optimal values at or near zero), else 0:
    no absolute floor, so an instance means the same in any unit.
    Peers' own convergence claims are recorded but not believed. (No certificate is
    given for a peer's point: recomputing one without its duals punishes points that
    are optimal but not exactly sparse, e.g. an interior-point solution.)
Time to tolerance is the setup + solve time of a solved backend run (model compilation
and JIT warm-up excluded, reported apart), and for a peer the first time in its history
at which its point met the criterion (its whole solve time when it has no history).

Summary statistics: the shifted geometric mean of time to tolerance, with unsolved runs
counted at the time limit, shift ``SGM_SHIFT`` seconds; and a Dolan–Moré performance
profile: for solver s, rho_s(tau) is the fraction of instances on which s reached the
tolerance within tau times the best solver's time (unsolved: never).
"""
from __future__ import annotations

import csv
import json
import math
from collections import OrderedDict, defaultdict
from pathlib import Path

import numpy as np

SGM_SHIFT = 0.01  # seconds
_CSV_FIELDS = ("suite", "instance", "family", "size", "kind", "solver", "repeat", "status", "solved",
               "judged_by", "time_to_tol", "time", "time_compile", "time_jit", "time_data", "iterations", "objective",
               "reference", "rel_error", "certificate", "infeasibility", "ratio", "killed", "tol",
               "time_limit", "message")


# ----------------------------------------------------------------------------------------
# numbers
# ----------------------------------------------------------------------------------------

def profile_ratios(T) -> np.ndarray:
    """Performance ratios r[p, s] = T[p, s] / min_s T[p, s] (inf where unsolved, and on
    instances nobody solved). ``T`` is instances x solvers with inf for unsolved."""
    T = np.asarray(T, dtype=float)
    best = np.min(T, axis=1, initial=np.inf, where=np.isfinite(T))
    with np.errstate(divide="ignore", invalid="ignore"):
        R = T / best[:, None]
    R[~np.isfinite(T)] = np.inf
    R[~np.isfinite(best)] = np.inf
    R[(T == 0) & (best[:, None] == 0)] = 1.0
    return R


def profile_value(ratios_of_one_solver, tau: float) -> float:
    """rho_s(tau): the fraction of instances with ratio <= tau."""
    r = np.asarray(ratios_of_one_solver, dtype=float)
    return float(np.mean(r <= tau)) if r.size else 0.0


def shifted_geomean(values, shift: float = SGM_SHIFT) -> float:
    """exp(mean(log(v + shift))) - shift (NaN for an empty list)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan")
    return float(np.exp(np.mean(np.log(v + shift))) - shift)


_TINY = float(np.finfo(np.float64).tiny)


def rel_error(obj, ref, scale=None):
    """(obj - ref) / max(|ref|, scale): relative, with the instance's objective scale (if
    any) standing in for a reference at zero; None when either value is missing."""
    if obj is None or ref is None or not math.isfinite(obj) or not math.isfinite(ref):
        return None
    return (obj - ref) / max(abs(ref), abs(float(scale or 0.0)), _TINY)


# ----------------------------------------------------------------------------------------
# judging
# ----------------------------------------------------------------------------------------

def load_records(path) -> list[dict]:
    path = Path(path)
    if path.is_dir():
        path = path / "results.jsonl"
    recs = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                # a line cut by an interrupted run: the run is simply not finished
                continue
    return recs


def latest(records: list[dict]) -> list[dict]:
    """One record per run key (the last written wins)."""
    from .runner import record_key
    out = OrderedDict()
    for r in records:
        out[record_key(r)] = r
    return list(out.values())


def references(records: list[dict]) -> dict:
    """Instance -> (reference objective, where it came from)."""
    refs = {}
    by_inst = defaultdict(list)
    for r in records:
        by_inst[r["instance"]].append(r)
    for inst, rs in by_inst.items():
        given = next((r.get("reference_given") for r in rs if r.get("reference_given") is not None), None)
        if given is not None:
            refs[inst] = (float(given), "given by the suite")
            continue
        cert = [r for r in rs if r["kind"] == "backend" and r.get("status") == "optimal"
                and r.get("objective") is not None]
        cv = [r["objective"] for r in cert if r["solver"] == "cvxpy"]
        if any((r.get("meta") or {}).get("reference") == "lowest" for r in rs):
            # a nonconvex family (bilevel): certified runs are stationary points, and the
            # best of them (or a peer's point, scored by the same objective) is the reference
            pool = cert + [r for r in rs if r["kind"] == "peer" and r.get("objective") is not None
                           and np.isfinite(r["objective"]) and (r.get("infeasibility") or 0.0) <= 0.0]
            if pool:
                best = min(pool, key=lambda r: r["objective"])
                refs[inst] = (float(best["objective"]), f"lowest objective of the run ({best['solver']})")
                continue
        if cv:
            refs[inst] = (float(np.median(cv)), "certified cvxpy backend (CVXPY + Clarabel)")
        elif cert:  # the most accurate certified point (the lowest objective may be slightly infeasible)
            best = min(cert, key=lambda r: (r.get("certificate") is None, r.get("certificate") or 0.0))
            refs[inst] = (float(best["objective"]), f"most accurate certified run ({best['solver']}, "
                                                    f"certificate {best.get('certificate') or 0:.1e})")
        else:
            refs[inst] = (None, "no certified run")
    return refs


def _objective_scale(record):
    """The instance's objective scale, from the record or its instance's meta (None if neither)."""
    return record.get("objective_scale", (record.get("meta") or {}).get("objective_scale"))


def _peer_ok(obj, infeas, ref, tol, scale=None) -> bool:
    e = rel_error(obj, ref, scale)
    return e is not None and e <= tol and (infeas is None or infeas <= tol)


def judge(records: list[dict]) -> list[dict]:
    """Add reference, rel_error, solved, judged_by, time_to_tol and ratio to each record."""
    records = [dict(r) for r in latest(records)]
    refs = references(records)
    for r in records:
        ref, src = refs.get(r["instance"], (None, ""))
        r["reference"], r["reference_source"] = ref, src
        r["rel_error"] = rel_error(r.get("objective"), ref, _objective_scale(r))
        tol = float(r["tol"])
        r["time_to_tol"] = None
        if r["kind"] == "backend":
            r["judged_by"] = "certificate"
            r["solved"] = r.get("status") == "optimal" and not r.get("killed")
            if r["solved"]:
                r["time_to_tol"] = r.get("time")
        else:
            r["judged_by"] = "rel. objective error" if ref is not None else "no reference"
            if r.get("status") == "skipped":
                r["judged_by"] = None
            r["solved"] = (r.get("status") not in ("skipped", "error", "crashed") and not r.get("killed")
                           and _peer_ok(r.get("objective"), r.get("infeasibility"), ref, tol,
                                       _objective_scale(r)))
            if r.get("reference_only"):
                r["judged_by"], r["solved"] = "reference only", False
            if r["solved"]:
                t = None
                for h in r.get("history") or ():
                    if h.get("time") is not None and _peer_ok(h.get("objective"), h.get("infeasibility"), ref, tol,
                                                              _objective_scale(r)):
                        t = h["time"]
                        break
                r["time_to_tol"] = t if t is not None else r.get("time")
    # repeats: median time to tolerance, solved only if every repeat was
    groups = defaultdict(list)
    for r in records:
        groups[(r["instance"], r["kind"], r["solver"])].append(r)
    for rs in groups.values():
        if len(rs) > 1:
            solved = all(x["solved"] for x in rs)
            med = float(np.median([x["time_to_tol"] for x in rs])) if solved else None
            for x in rs:
                x["solved_all_repeats"] = solved
                x["time_to_tol_median"] = med
    best = defaultdict(lambda: math.inf)
    for r in records:
        t = _agg_time(r)
        if t is not None:
            best[r["instance"]] = min(best[r["instance"]], t)
    for r in records:
        t = _agg_time(r)
        b = best[r["instance"]]
        r["ratio"] = (t / b if b > 0 else 1.0) if (t is not None and math.isfinite(b)) else None
    return records


def _agg_time(r):
    if "time_to_tol_median" in r:
        return r["time_to_tol_median"] if r["solved_all_repeats"] else None
    return r["time_to_tol"] if r["solved"] else None


def _solvers(rows):
    seen = OrderedDict()
    for r in rows:
        seen.setdefault((r["kind"], r["solver"]), None)
    return sorted(seen, key=lambda ks: (ks[0] != "backend", ks[1]))


def _label(kind, solver):
    return solver if kind == "backend" else f"{solver} (peer)"


def summary(rows: list[dict]) -> list[dict]:
    """Per solver: runs, solved, skipped, failed, SGM of time to tolerance."""
    out = []
    first = [r for r in rows if r.get("repeat", 0) == 0 and not r.get("reference_only")]
    for kind, solver in _solvers(first):
        rs = [r for r in first if r["kind"] == kind and r["solver"] == solver]
        ran = [r for r in rs if r.get("status") != "skipped"]
        times = []
        for r in ran:
            t = _agg_time(r)
            times.append(t if t is not None else float(r["time_limit"]))
        out.append({"kind": kind, "solver": solver, "instances": len(rs), "ran": len(ran),
                    "solved": sum(1 for r in ran if _agg_time(r) is not None),
                    "skipped": len(rs) - len(ran),
                    "failed": sum(1 for r in ran if r.get("status") in ("error", "crashed")),
                    "killed": sum(1 for r in ran if r.get("killed")),
                    "sgm": shifted_geomean(times) if times else None})
    return out


def time_matrix(rows: list[dict]):
    """(instances, solvers, T) over the instances where at least one solver ran."""
    first = [r for r in rows if r.get("repeat", 0) == 0 and r.get("status") != "skipped"
             and not r.get("reference_only")]
    solvers = _solvers(first)
    insts = list(OrderedDict((r["instance"], None) for r in first))
    T = np.full((len(insts), len(solvers)), np.inf)
    for r in first:
        t = _agg_time(r)
        if t is not None:
            T[insts.index(r["instance"]), solvers.index((r["kind"], r["solver"]))] = max(float(t), 1e-9)
    return insts, solvers, T


# ----------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------

def _fmt(v, spec=".3g"):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return format(v, spec)
    return str(v)


def _safe(name: str) -> str:
    return "".join(c if (c.isalnum() or c in "._-") else "_" for c in name)


def write_csv(rows, path):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=_CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in _CSV_FIELDS})


def write_report(out_dir, plots: bool = True) -> Path:
    """(Re)write results.csv, report.md and the plots of ``out_dir`` from results.jsonl."""
    out = Path(out_dir)
    if not (out / "results.jsonl").is_file():
        from .suite import SuiteError
        raise SuiteError(f"no results.jsonl in {out}: nothing to report")
    rows = judge(load_records(out))
    config = {}
    if (out / "config.json").is_file():
        config = json.loads((out / "config.json").read_text())
    write_csv(rows, out / "results.csv")
    figs = {}
    if plots and rows:
        figs = draw_plots(rows, out)
    text = render_markdown(rows, config, figs)
    (out / "report.md").write_text(text)
    return out / "report.md"


def render_markdown(rows, config, figs) -> str:
    suite = config.get("suite") or (rows[0]["suite"] if rows else "?")
    L = [f"# Benchmark report: suite `{suite}`", ""]
    if config:
        L += [f"- command: `{config.get('command', '')}`",
              f"- started: {config.get('started', '')}; tol = {config.get('tol')}, time limit = "
              f"{config.get('time_limit')} s, workers = {config.get('workers')}, repeat = {config.get('repeat')}"]
        m = config.get("machine") or {}
        if m:
            L.append(f"- machine: {m.get('platform', '')}, {m.get('cpus')} CPUs, "
                     f"{m.get('memory_gb', '?')} GB, Python {m.get('python', '')}")
        v = config.get("versions") or {}
        if v:
            L.append("- versions: " + ", ".join(f"{k} {x}" for k, x in v.items() if x))
        if config.get("worker_startup"):
            ws = config["worker_startup"]
            L.append(f"- one-time worker start-up (imports: {', '.join(config.get('preload', []))}): "
                     f"{min(ws):.2f}–{max(ws):.2f} s per worker, {len(ws)} worker start(s); not part of any run's time")
        if config.get("one_time"):
            L.append("- one-time costs before the runs (not part of any run's time): "
                     + ", ".join(f"{k} {v:.1f} s" for k, v in config["one_time"].items()))
        if config.get("backends_missing"):
            L.append("- not registered here (every run skipped): "
                     + ", ".join(sorted(config["backends_missing"])))
        L.append("")
    L += ["**How runs are judged.** A solvelab backend counts as solved only with status `optimal`: "
          "the engine recomputed its certificate (KKT residuals and duality gap, relative) from the "
          "returned point and it met `tol`. A peer counts as solved when the relative objective error "
          "of its point, `(f(x) - ref) / max(|ref|, objective scale)`, and its constraint violation are both at most "
          "`tol`; `ref` is the suite's known optimum, else the certified `cvxpy` backend run, else the "
          "certified run with the smallest certificate. Peers' own convergence claims are not believed. Time to tolerance "
          "excludes model compilation and JIT warm-up (columns *compile*, *JIT*). "
          f"SGM: shifted geometric mean of time to tolerance over the instances a solver ran (shift "
          f"{SGM_SHIFT} s; unsolved counted at the time limit; skipped instances left out, so compare "
          "SGMs of solvers that ran the same instances, or read the performance profile).", ""]
    L += ["## Summary", "", "| solver | instances | ran | solved | skipped | failed | killed | SGM time over the runs (s) |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in summary(rows):
        L.append(f"| {_label(s['kind'], s['solver'])} | {s['instances']} | {s['ran']} | {s['solved']} | "
                 f"{s['skipped']} | {s['failed']} | {s['killed']} | {_fmt(s['sgm'])} |")
    L.append("")
    if "profile" in figs:
        L += [f"![performance profile]({figs['profile']})", ""]
    L += ["## Instances", ""]
    reps = max((int(r.get("repeat", 0)) + 1 for r in rows), default=1)
    if reps > 1:
        L += [f"Each run was repeated {reps} times: the tables give the first run's status, certificate "
              f"and iterations, and the median time to tolerance over the {reps} runs; a solver counts as "
              "solved only when every run was.", ""]
    by_inst = OrderedDict((name, []) for name in config.get("instances", []))
    for r in rows:
        by_inst.setdefault(r["instance"], []).append(r)
    for inst, rs in by_inst.items():
        if not rs:
            continue
        r0 = rs[0]
        ref = r0.get("reference")
        L += [f"### {inst}", "",
              f"family `{r0.get('family', '')}`, size {r0.get('size', '')}; reference objective "
              f"{_fmt(ref, '.12g')} ({r0.get('reference_source', '')})", "",
              "| solver | status | solved | time to tol (s) | ratio | compile (s) | JIT (s) | iterations | "
              "certificate | rel. obj. error | note |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        reps = defaultdict(list)
        for r in rs:
            reps[(r["kind"], r["solver"])].append(r)
        for r in sorted(rs, key=lambda x: (x["kind"] != "backend", x["solver"], x.get("repeat", 0))):
            if r.get("status") == "skipped" or r.get("repeat", 0) != 0:
                continue
            group = reps[(r["kind"], r["solver"])]
            note = ("killed at the hard limit; " if r.get("killed") else "") + (r.get("message") or "")
            if r.get("reference_only"):
                note = "reference only: " + r["reference_only"] + ("; " + note if note else "")
            if len(group) > 1:  # repeats: one row, the median time to tolerance
                bad = [str(x.get("status")) for x in group if not x["solved"]]
                if bad:
                    note = (f"{len(bad)} of {len(group)} runs unsolved ({', '.join(sorted(set(bad)))})"
                            + ("; " + note if note else ""))
            note = note.replace("|", "/").replace("\n", " ")
            if len(note) > 140:
                note = note[:137] + "..."
            name = _label(r["kind"], r["solver"])
            solved = "ref." if r.get("reference_only") else r.get("solved_all_repeats", r["solved"])
            L.append(f"| {name} | {r.get('status')} | {_fmt(solved)} | {_fmt(_agg_time(r))} | "
                     f"{_fmt(r.get('ratio'), '.2f')} | {_fmt(r.get('time_compile'))} | {_fmt(r.get('time_jit'))} | "
                     f"{_fmt(r.get('iterations'))} | {_fmt(r.get('certificate'), '.1e')} | "
                     f"{_fmt(r.get('rel_error'), '.1e')} | {note} |")
        skipped = [r for r in rs if r.get("status") == "skipped"]
        if skipped:
            L.append("")
            L.append("Skipped: " + "; ".join(f"**{_label(r['kind'], r['solver'])}**: "
                                             f"{(r.get('message') or '').splitlines()[0][:200]}" for r in skipped))
        if inst in figs.get("conv", {}):
            L += ["", f"![convergence on {inst}]({figs['conv'][inst]})"]
        L.append("")
    return "\n".join(L)


def draw_plots(rows, out) -> dict:
    """Convergence curves per instance and the performance profile; returns relative paths."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out = Path(out)
    pdir = out / "plots"
    pdir.mkdir(exist_ok=True)
    figs = {}
    first = [r for r in rows if r.get("repeat", 0) == 0 and r.get("status") != "skipped"]
    solvers = _solvers(first)
    cmap = plt.get_cmap("tab10" if len(solvers) <= 10 else "tab20")
    color = {s: cmap(i % cmap.N) for i, s in enumerate(solvers)}
    by_inst = OrderedDict()
    for r in first:
        by_inst.setdefault(r["instance"], []).append(r)
    for inst, rs in by_inst.items():
        fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
        ax_t, ax_i, ax_o = axes
        tol = float(rs[0]["tol"])
        any_curve = [False, False, False]
        for r in rs:
            h = r.get("history") or []
            key = (r["kind"], r["solver"])
            lab = _label(*key) + (" [killed]" if r.get("killed") else "")
            offset = float(r.get("time_setup") or 0.0)
            if r["kind"] == "backend":
                pts = [(e.get("time"), e.get("iteration"), e.get("residual", e.get("certificate"))) for e in h]
                pts = [(t, i, v) for t, i, v in pts if v is not None and math.isfinite(v)]
                if pts:
                    ts = [offset + (t or 0.0) for t, _, _ in pts]
                    vs = [max(v, 1e-17) for _, _, v in pts]
                    its = [i if i is not None else k for k, (_, i, _) in enumerate(pts)]
                    ax_t.semilogy(ts, vs, "-", color=color[key], label=lab)
                    ax_i.semilogy(its, vs, "-", color=color[key], label=lab)
                    any_curve[0] = any_curve[1] = True
                if r.get("certificate") is not None and math.isfinite(r["certificate"]) and r.get("time") is not None:
                    ax_t.semilogy([r["time"]], [max(r["certificate"], 1e-17)], "o", color=color[key])
            ref = r.get("reference")
            pts = [(e.get("time"), rel_error(e.get("objective"), ref, _objective_scale(r))) for e in h]
            pts = [(offset + t if r["kind"] == "backend" else t, abs(v)) for t, v in pts
                   if t is not None and v is not None and math.isfinite(v)]   # an inf error has no place on a log axis
            if not pts and r.get("rel_error") is not None and math.isfinite(r["rel_error"]) and r.get("time") is not None:
                pts = [(r["time"], abs(r["rel_error"]))]
            if pts:
                style = "-" if r["kind"] == "backend" else "--"
                marker = "o" if len(pts) == 1 else None
                ax_o.loglog([max(t, 1e-6) for t, _ in pts], [min(max(v, 1e-17), 1e17) for _, v in pts], style,
                            marker=marker, color=color[key], label=lab)
                any_curve[2] = True
        for ax, xl, yl, title in ((ax_t, "time (s)", "certificate (relative)", "backends: certificate vs time"),
                                  (ax_i, "iteration", "certificate (relative)", "backends: certificate vs iterations"),
                                  (ax_o, "time (s)", "|f - ref| / |ref|", "all: relative objective error")):
            ax.axhline(tol, color="gray", lw=0.8, ls=":")
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.set_title(title, fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
        for ax, ok in zip(axes, any_curve):
            if not ok:
                ax.text(0.5, 0.5, "no history", ha="center", va="center", transform=ax.transAxes)
        handles, labels = {}, []
        for ax in axes:  # one legend for the three panels, outside them
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in handles:
                    handles[lab] = h
        if handles:
            fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=8, frameon=False)
        r0 = rs[0]
        fig.suptitle(f"{inst} ({r0.get('family', '')}, {r0.get('size', '')}); dotted line: tol = {tol:g}; "
                     "dots: final values", fontsize=11)
        fig.tight_layout(rect=(0, 0, 0.86, 1))
        name = f"plots/conv_{_safe(inst)}.png"
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        figs.setdefault("conv", {})[inst] = name
    insts, solv, T = time_matrix(rows)
    if insts:
        R = profile_ratios(T)
        finite = R[np.isfinite(R)]
        tau_max = max(2.0, float(finite.max()) * 1.5) if finite.size else 2.0
        taus = np.concatenate([[1.0], np.logspace(0, math.log10(tau_max), 400)])
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for j, key in enumerate(solv):
            rho = [profile_value(R[:, j], t) for t in taus]
            ax.step(taus, rho, where="post", color=color.get(key), label=_label(*key),
                    ls="-" if key[0] == "backend" else "--")
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("tau (time / best time on the instance)")
        ax.set_ylabel("fraction of instances solved within tau")
        suite = rows[0]["suite"]
        ax.set_title(f"Dolan–Moré performance profile, suite {suite} ({len(insts)} instances, "
                     f"tol {rows[0]['tol']:g})\nunsolved, failed or skipped: never within tau", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        fig.savefig(out / "profile.png", dpi=100)
        plt.close(fig)
        figs["profile"] = "profile.png"
    return figs

