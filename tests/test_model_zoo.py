"""The model zoo on backend='auto' against CVXPY+Clarabel, one test per model.

Every zoo model (``solvelab.bench.zoo``: 31 ordinary CVXPY models, convex, feasible and
bounded by construction) must end in one of two ways:

  certified  status optimal, the objective within 1e-5 of Clarabel's relative to
             max(|f*|, the objective's term size at Clarabel's point) -- both the
             reported objective and the CVXPY objective at the written-back point --
             and that point feasible to 1e-6 relative (``zoo.infeasibility``);
  refused    ``UnsupportedAtomError`` whose message names an atom the user wrote.

Anything else fails the model's test with its class: ``wrong`` (an optimal claim that
is off, or an infeasible / unbounded claim on a feasible bounded model), ``uncertified``
(an honest max_iter / inaccurate / time_limit), ``refused-unnamed`` (the message names
no user atom), ``error`` (another exception). ``test_certified_count`` asks for all but
two models certified and prints the table. ``test_zoo_model_scaled`` runs every model
again with its objective and its constraints multiplied apart by 1e-6 / 1e6 (which moves
no solution) and fails on any wrong claim.
"""
from __future__ import annotations

import re
import time
import warnings

import pytest

import solvelab as sl
from solvelab.bench import zoo

TOL = 1e-6            # solvelab's certificate target
OBJ_TOL = 1e-5        # objective, relative to max(|f*|, term size)
FEAS_TOL = 1e-6       # constraint violation, relative (zoo.infeasibility)
TIME_LIMIT = 5.0      # per solvelab solve: the whole file stays under ~3 minutes
SEED = 0

#: affine helpers: a message that names only these does not name the refused atom
_AFFINE = {"sum", "multiply", "diff"}
#: what else a message may call an atom the user wrote (normalized: lower case, no '_')
_ALIASES = {"norm": ("norm", "norm1", "norm2", "norminf", "pnorm"),
            "pnorm": ("pnorm", "norm", "norm2"),
            "norm2": ("norm2", "pnorm"),       # CVXPY prints norm2(u) as pnorm(u, 2)
            "power": ("power", "square"),
            "quadform": ("quadform",)}

#: (scale_obj, scale_con) of the scaled runs: the objective and the constraints apart
SCALES = [(1e-6, 1e6), (1e6, 1e-6)]

_OUTCOMES: dict[tuple, dict] = {}


def _norm(text: str) -> str:
    return text.lower().replace("_", "")


def names_user_atom(message: str, atoms) -> bool:
    """True when ``message`` names (as a whole word) one of the non-affine ``atoms``,
    before any list of what is supported (naming an atom as supported is not naming
    the one refused)."""
    msg = re.split(r"supported\s*:|; supported", _norm(message), maxsplit=1)[0]
    for atom in atoms:
        if atom in _AFFINE:
            continue
        for alias in _ALIASES.get(_norm(atom), (_norm(atom),)):
            if re.search(r"(?<![a-z0-9])" + re.escape(alias) + r"(?![a-z0-9])", msg):
                return True
    return False


def _clarabel(problem, tight: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if tight:  # tol_gap_abs tiny: Clarabel stops on the relative gap only
            problem.solve(solver="CLARABEL", tol_gap_abs=1e-16, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=400)
        else:
            problem.solve(solver="CLARABEL")
    assert problem.status in ("optimal", "optimal_inaccurate"), \
        f"zoo bug: Clarabel says {problem.status} on a model feasible and bounded by construction"


def reference(name: str, seed: int = SEED):
    """(f*, term size at the reference point) of zoo model ``name``.

    Clarabel's absolute gap tolerance would decide a model whose objective is ~1e-6 (the
    daily-return portfolio), so the reference is computed on the same model with its
    objective rescaled to size one (``scale_obj``), at tight relative tolerances, and
    scaled back: the optimal point does not move and f* scales exactly.
    """
    rough, _ = zoo.build(name, seed)
    _clarabel(rough, tight=False)
    s = 1.0 / max(zoo.objective_scale(rough), 1e-300)
    prob, _ = zoo.build(name, seed, scale_obj=s)
    _clarabel(prob, tight=True)
    return float(prob.value) / s, zoo.objective_scale(prob) / s


_REFERENCES: dict[str, tuple] = {}


def outcome(name: str, scale_obj: float = 1.0, scale_con: float = 1.0) -> dict:
    """Solve zoo model ``name`` (objective times ``scale_obj``, constraints times
    ``scale_con``) on solvelab 'auto' and classify against Clarabel's unit-scale
    reference, which scales exactly (cached)."""
    key = (name, scale_obj, scale_con)
    if key in _OUTCOMES:
        return _OUTCOMES[key]
    if name not in _REFERENCES:
        _REFERENCES[name] = reference(name)
    f_star, scale = (scale_obj * v for v in _REFERENCES[name])
    prob, meta = zoo.build(name, SEED, scale_obj=scale_obj, scale_con=scale_con)
    out = {"name": name, "family": meta["family"], "f_star": f_star, "backend": "-", "status": "-",
           "rel_obj": None, "infeas": None, "seconds": None, "why": ""}
    t0 = time.perf_counter()
    try:
        res = sl.solve(prob, backend="auto", tol=TOL, time_limit=TIME_LIMIT)
    except sl.UnsupportedAtomError as exc:
        out["seconds"] = time.perf_counter() - t0
        out["status"] = "refused"
        msg = str(exc)
        if names_user_atom(msg, meta["atoms"]):
            out.update(cls="refused", why=msg[:160])
        else:
            out.update(cls="refused-unnamed",
                       why=f"UnsupportedAtomError names none of the user's atoms {meta['atoms']}: {msg[:200]}")
        _OUTCOMES[key] = out
        return out
    except Exception as exc:  # a DCP, feasible, bounded model: any other exception is a bug
        out.update(seconds=time.perf_counter() - t0, status="raised", cls="error",
                   why=f"{type(exc).__name__}: {str(exc)[:240]}")
        _OUTCOMES[key] = out
        return out
    out["seconds"] = time.perf_counter() - t0
    out["backend"], out["status"] = res.backend, res.status.value
    if res.status is sl.Status.OPTIMAL:
        f_eval = float(prob.objective.value) if prob.objective.value is not None else float("nan")
        rel = max(zoo.relative_error(res.objective, f_star, scale), zoo.relative_error(f_eval, f_star, scale))
        infeas = zoo.infeasibility(prob)
        out.update(rel_obj=rel, infeas=infeas)
        problems = []
        if not rel <= OBJ_TOL:
            problems.append(f"objective {res.objective:.10g} (at the point: {f_eval:.10g}) vs Clarabel "
                            f"{f_star:.10g}: relative error {rel:.1e} > {OBJ_TOL:g}")
        if not infeas <= FEAS_TOL:
            problems.append(f"the returned point violates a constraint by {infeas:.1e} relative > {FEAS_TOL:g}")
        out.update(cls="wrong" if problems else "certified",
                   why="; ".join(problems) + (f" (certificate {res.certificate.value:.1e})" if problems else ""))
    elif res.status in (sl.Status.INFEASIBLE, sl.Status.UNBOUNDED):
        out.update(cls="wrong", why=f"claims {res.status.value} on a feasible, bounded model "
                                    f"({res.message})")
    else:
        cert = res.certificate.value if res.certificate is not None else float("nan")
        out.update(cls="uncertified", why=f"{res.backend}: {res.status.value} after {res.iterations} "
                                          f"iterations, certificate {cert:.1e} ({res.message})")
    _OUTCOMES[key] = out
    return out


#: open gaps (each an honest non-optimal status or a refusal, never a wrong answer), with
#: the reason
KNOWN_GAPS = {
    "robust_lp": "compiled exactly now (one L1 cone per row), but admm needs ~20000 iterations "
                 "(~9 s) on this degenerate LP-like cone program and stops at the 5 s limit; the "
                 "LP/saddle-point backends (pdhg, halpern) are the issue that closes it",
}


def _known(name):
    if name in KNOWN_GAPS:
        pytest.xfail(KNOWN_GAPS[name])


@pytest.mark.parametrize("name", zoo.names(), ids=zoo.names())
def test_zoo_model(name):
    _known(name)
    o = outcome(name)
    assert o["cls"] in ("certified", "refused"), f"{name}: {o['cls']}: {o['why']}"


@pytest.mark.parametrize("name", zoo.names(), ids=zoo.names())
@pytest.mark.parametrize("scale_obj,scale_con", SCALES, ids=[f"obj{a:g}-con{b:g}" for a, b in SCALES])
def test_zoo_model_scaled(name, scale_obj, scale_con):
    """The same models with the objective and the constraints rescaled apart: the point
    does not move, f* scales exactly. No claim may be wrong (an honest status is allowed
    here; the unit-scale test asks for certification)."""
    _known(name)
    o = outcome(name, scale_obj, scale_con)
    assert o["cls"] in ("certified", "refused", "uncertified"), \
        f"{name} at scale_obj={scale_obj:g}, scale_con={scale_con:g}: {o['cls']}: {o['why']}"


def table(outcomes) -> str:
    head = f"{'model':26s} {'class':16s} {'backend':8s} {'status':11s} {'rel obj':>8s} {'infeas':>8s} {'time':>6s}"
    lines = [head, "-" * len(head)]
    for o in outcomes:
        rel = "-" if o["rel_obj"] is None else f"{o['rel_obj']:.1e}"
        inf = "-" if o["infeas"] is None else f"{o['infeas']:.1e}"
        sec = "-" if o["seconds"] is None else f"{o['seconds']:.2f}"
        lines.append(f"{o['name']:26s} {o['cls']:16s} {o['backend']:8s} {o['status']:11s} {rel:>8s} "
                     f"{inf:>8s} {sec:>6s}")
    counts = {}
    for o in outcomes:
        counts[o["cls"]] = counts.get(o["cls"], 0) + 1
    lines.append("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)


def test_certified_count(capsys):
    outs = [outcome(n) for n in zoo.names()]
    text = table(outs)
    with capsys.disabled():   # the table is the report, failing or not
        print("\nmodel zoo on backend='auto' (tol 1e-6) vs CVXPY+Clarabel\n" + text)
    certified = sum(o["cls"] == "certified" for o in outs)
    need = len(outs) - 2
    assert certified >= need, f"{certified} of {len(outs)} zoo models certified (target >= {need})\n{text}"
