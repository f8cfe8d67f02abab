"""Both fractional backends from the same start, keeping the better certified point.

With a norm denominator the ratio is nonconvex, and ``fractional_cd`` and ``dinkelbach``
stop at different critical points: on the LIBSVM instances of the fractional bench
neither wins everywhere (madelon: dinkelbach 9.9 % lower; abalone l1/l2: fractional_cd
33 % lower). Each costs well under a second there, so ``backend='auto'`` runs both:

1. ``fractional_cd`` (when it takes the program: a box domain, no numerator norm term);
2. unless that ended on a ray toward an unattained infimum (status no_minimizer), or by
   the user's callback or the time limit, ``dinkelbach`` from the same start with the
   time that is left;
3. the result is the run whose point is certified (the family's stationarity and domain
   measures within tol, not on a falling ray of G's null space) with the lower ratio,
   ties (within 1e-12 relative) going to the first. A run that found a ray whose limit
   lies below every certified ratio is reported instead (status no_minimizer: the infimum
   is lower than any critical point found, and not attained). With neither certified, the
   lower finite ratio.

After a ray from step 1, step 2 is skipped: a finite critical point could not be reported
unless it beat the ray's limit, and Dinkelbach's inner problems near such a ray are flat
and slow (mushrooms l1/top-k: 207-310 s against fractional_cd's 0.06-0.09 s).

Options: ``x0`` (both), ``theta`` and ``newton`` (fractional_cd), ``inner``, ``inner_tol``
and ``inner_max_epochs`` (dinkelbach). ``max_iter`` bounds each run in its own unit
(fractional_cd: epochs; dinkelbach: outer iterations, at most its default 500).
``info['runs']`` lists each run's backend, status, ratio, whether it was certified, its
time and iterations, so the choice can be checked.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..families.fractional import fractional_certificate
from . import registry
from .base import Backend, RawSolution, SolveOptions, Workspace
from .dinkelbach import DinkelbachBackend
from .fractional_cd import FractionalCDBackend

_FCD_OPTIONS = ("theta", "newton")
_DINKELBACH_OPTIONS = ("inner", "inner_tol", "inner_max_epochs")
_FINAL = ("no_minimizer", "stopped", "time_limit")   # a first run ending so is the answer


def certified(p, x, tol: float) -> bool:
    """Whether the family's certificate passes at x (the engine's verdict, without the
    reported-only parametric gap)."""
    return fractional_certificate(p, x, reported=False).meets(tol)


#: a later run replaces an earlier one only with a ratio lower by more than this (relative):
#: two backends at the same critical point differ in the last bits
TIE = 1e-12


def lowest(runs: list[dict], idx: list[int], key: str):
    """The first of ``idx`` whose runs[i][key] no later one undercuts by more than TIE."""
    best = None
    for i in idx:
        if best is None or runs[i][key] < runs[best][key] - TIE * abs(runs[best][key]):
            best = i
    return best


def pick(runs: list[dict]) -> int:
    """The index of the run to report (the rule of the module docstring)."""
    good = [i for i, r in enumerate(runs) if r["certified"]]
    best = lowest(runs, good, "ratio")
    rays = [i for i, r in enumerate(runs) if r["ray_limit"] is not None]
    ray = min(rays, key=lambda i: (runs[i]["ray_limit"], i)) if rays else None
    if ray is not None and (best is None or runs[ray]["ray_limit"] < runs[best]["ratio"]):
        return ray
    if best is not None:
        return best
    finite = [i for i, r in enumerate(runs) if np.isfinite(r["ratio"])]
    return lowest(runs, finite, "ratio") if finite else 0


class FractionalPortfolioBackend(Backend):
    name = "fractional_portfolio"
    description = ("fractional_cd, then dinkelbach from the same start; the better certified critical point "
                   "(the two stop at different ones on nonconvex ratios)")
    forms = ("FractionalRatio",)
    default_max_iter = FractionalCDBackend.default_max_iter
    priority = 5   # before cd (10): backend='auto' on a fractional program runs both
    _EXTRA = ("x0",) + _FCD_OPTIONS + _DINKELBACH_OPTIONS

    def __init__(self):
        self.fcd, self.dinkelbach = FractionalCDBackend(), DinkelbachBackend()

    def accepts_extra(self):
        return self._EXTRA

    def _members(self, view):
        return ([self.fcd] if self.fcd.cannot_take(view) is None else []) + [self.dinkelbach]

    def _options(self, member, options: SolveOptions, time_limit) -> SolveOptions:
        extra = self.checked_extra(options)
        own = _FCD_OPTIONS if member is self.fcd else _DINKELBACH_OPTIONS
        max_iter = options.max_iter if member is self.fcd else min(options.max_iter,
                                                                   DinkelbachBackend.default_max_iter)
        return dataclasses.replace(options, max_iter=max_iter, time_limit=time_limit,
                                   extra={k: v for k, v in extra.items() if k in own or k == "x0"})

    def setup(self, view, options: SolveOptions) -> Workspace:
        return Workspace(members={m.name: m.setup(view, self._options(m, options, options.time_limit))
                                  for m in self._members(view)})

    def update(self, ws, view, options, changes) -> bool:
        return all(m.update(ws["members"][m.name], view, self._options(m, options, options.time_limit), changes)
                   for m in self._members(view))

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        p = view.program
        t0 = time.perf_counter()
        runs, raws = [], []
        for member in self._members(view):
            left = None if options.time_limit is None else max(options.time_limit - (time.perf_counter() - t0), 0.0)
            if raws and left == 0.0:
                break
            start = time.perf_counter()
            raw = member.solve(view, self._options(member, options, left), ws["members"][member.name])
            x = np.asarray(raw.x, dtype=np.float64)
            runs.append({"backend": member.name, "status": raw.status, "ratio": float(p.ratio(x)),
                         "certified": certified(p, x, options.tol), "ray_limit": raw.info.get("ray_limit"),
                         "start": start - t0, "time": time.perf_counter() - start, "iterations": raw.iterations})
            raws.append(raw)
            if raw.status in _FINAL:
                break
        chosen = pick(runs)
        raw = raws[chosen]
        offset = runs[chosen]["start"]
        if offset:   # history times count from this backend's start, as for every backend
            raw.history = [dict(h, time=h["time"] + offset) if "time" in h else h for h in raw.history]
        raw.info = dict(raw.info, runs=runs, chosen=runs[chosen]["backend"])
        raw.setup_time = sum(r.setup_time for r in raws)
        if options.verbose and len(runs) > 1:
            print(f"fractional_portfolio: kept {runs[chosen]['backend']} ("
                  + "; ".join(f"{r['backend']}: {r['status']}, ratio {r['ratio']:.9g}"
                              + (", certified" if r["certified"] else "") for r in runs) + ")")
        return raw


registry.register(FractionalPortfolioBackend())
