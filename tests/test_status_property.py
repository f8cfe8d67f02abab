"""Property test: every status a backend claims is true, at data scales 1e-6 ... 1e6.

Hypothesis draws LP, QP, SOCP and Lasso problems whose truth is known by construction:

  feasible    a point x0 and multipliers satisfying the KKT conditions (LP, QP), or a
              closed-form minimizer (a linear cost on an ellipsoid, SOCP); the Lasso's
              optimum comes from CVXPY+Clarabel on the unit-scale problem
  infeasible  a Farkas certificate: y > 0 with A'y = 0 and b'y < 0 (LP, QP), or an
              ellipsoid lying strictly beyond a halfspace (SOCP)
  unbounded   a recession direction d of negative cost: A d <= 0 (and P d = 0, or
              ||F d|| < e'd for the cone), c'd < 0

then multiplies the objective data by 10^eo and each constraint block by its own
10^ec (exponents drawn independently in [-6, 6]; for the Lasso 10^ec scales the
variable), which moves no solution: f* scales by 10^eo. CVXPY+Clarabel, on the unit-
scale problem, must agree with the construction (a check of the generator).

Each problem is solved on backend 'auto' and on every registered backend whose form
matches (admm, fista, cd, cvxpy, ...), with a small ``max_iter`` and ``time_limit``.
A claim is wrong when

  optimal      on a problem that is not feasible and bounded, or with an objective (the
               reported one, or the CVXPY objective at the written-back point) off by
               more than 1e-5 relative to max(|f*|, the objective's term size at the
               optimum), or at a point violating a constraint by more than 1e-6 relative
  infeasible   on a problem that is not infeasible
  unbounded    on a problem that is not unbounded

An exception other than a refusal is a failure too. Honest statuses (max_iter,
inaccurate, time_limit, numerical_error) are allowed; they are counted and printed.

By default a test collects every wrong claim of its examples and fails listing them,
each with a few lines of CVXPY that reproduce it (the data printed in full). With
SOLVELAB_PROPERTY_SHRINK=1 the first wrong claim raises inside Hypothesis instead, so
that Hypothesis shrinks it to a minimal example (slow: hundreds of re-solves).
"""
from __future__ import annotations

import collections
import os
import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import solvelab as sl
from solvelab.backends import registry
from solvelab.bench import zoo
from solvelab.errors import BackendRefusedError, UnsupportedAtomError

TOL = 1e-6
OBJ_TOL = 1e-5
FEAS_TOL = 1e-6
MAX_ITER = 3000
TIME_LIMIT = 1.0
EXAMPLES = int(os.environ.get("SOLVELAB_PROPERTY_EXAMPLES", "30"))
SHRINK = os.environ.get("SOLVELAB_PROPERTY_SHRINK", "") not in ("", "0")

CASES = [("lp", "feasible"), ("lp", "infeasible"), ("lp", "unbounded"),
         ("qp", "feasible"), ("qp", "infeasible"), ("qp", "unbounded"),
         ("socp", "feasible"), ("socp", "infeasible"), ("socp", "unbounded"),
         ("lasso", "feasible")]

# --- the generators: numpy data whose truth is known, as literal CVXPY code -------------------

def _arr(a) -> str:
    return "np.array(" + repr(np.asarray(a, dtype=float).tolist()) + ")"


def _flip_against(A, d):
    """Rows of A negated where a_i'd > 0, so that A d <= 0."""
    return A * np.where(A @ d > 0, -1.0, 1.0)[:, None]


def _farkas(rng, n, m):
    """(A, b) with A x <= b infeasible: y > 0, A'y = 0, b'y = -1."""
    y = rng.uniform(0.5, 1.5, m)
    A = rng.standard_normal((m, n))
    A[-1] = -(y[:-1] @ A[:-1]) / y[-1]
    b = rng.standard_normal(m)
    b[-1] = (-1.0 - y[:-1] @ b[:-1]) / y[-1]
    return A, b


def _kkt_vertex(rng, n, m):
    """(A, b, x0, lam): x0 feasible for A x <= b, active on the first n rows, lam >= 0 there."""
    A = rng.standard_normal((m, n))
    x0 = rng.standard_normal(n)
    s = np.concatenate([np.zeros(n), rng.uniform(0.5, 1.5, m - n)])
    lam = np.concatenate([rng.uniform(0.5, 1.5, n), np.zeros(m - n)])
    return A, A @ x0 + s, x0, lam


def _restarted(state):
    g = np.random.default_rng()
    g.bit_generator.state = state
    return g


def make_case(kind, truth, n, extra, seed, eo, ec, ec2, variant):
    """(code, info): CVXPY code that defines ``prob`` and ``x``, and what is true of it.

    info: truth, f_unit (the optimal value at unit scale; None if not feasible, or for
    the Lasso until Clarabel computes it), x_unit (an optimal point at unit scale),
    scale_obj, code_unit (the same model at unit scale).
    """
    rng = np.random.default_rng(seed)
    so, sc, sc2 = 10.0 ** eo, 10.0 ** ec, 10.0 ** ec2
    m = n + extra
    info = {"truth": truth, "f_unit": None, "x_unit": None, "scale_obj": so}

    def emit(scale_o, scale_c, scale_c2):
        lines, model = [], []
        if kind in ("lp", "qp"):
            G = h = None
            if truth == "feasible":
                A, b, x0, lam = _kkt_vertex(rng_data["rng"], n, m)
                info["x_unit"] = x0
                grad = -A.T @ lam                       # = c (LP) or P x0 + q (QP)
                if variant:
                    G = rng_data["G"]
                    h = G @ x0
                    grad = grad - G.T @ rng_data["nu"]
            elif truth == "infeasible":
                A, b = _farkas(rng_data["rng"], n, m)
                grad = rng_data["rng"].standard_normal(n)
                if variant:
                    G = rng_data["G"]
                    h = G @ rng_data["rng"].standard_normal(n)
            else:
                d = rng_data["d"]
                A = _flip_against(rng_data["rng"].standard_normal((m, n)), d)
                x0 = rng_data["rng"].standard_normal(n)
                b = A @ x0 + rng_data["rng"].uniform(0.1, 1.0, m)
                g0 = rng_data["rng"].standard_normal(n)
                grad = g0 - (g0 @ d) / (d @ d) * d - 0.5 * np.linalg.norm(g0) / np.linalg.norm(d) * d
                if variant:
                    G = rng_data["G"] - (rng_data["G"] @ d)[:, None] * d / (d @ d)
                    h = G @ x0
            lines += [f"A = {_arr(scale_c * A)}", f"b = {_arr(scale_c * b)}"]
            cons = ["A @ x <= b"]
            if G is not None:
                lines += [f"G = {_arr(scale_c2 * G)}", f"h = {_arr(scale_c2 * h)}"]
                cons.append("G @ x == h")
            if kind == "lp":
                lines.append(f"c = {_arr(scale_o * grad)}")
                obj = "c @ x"
                if truth == "feasible":
                    info["f_unit"] = float(grad @ info["x_unit"])
            else:
                if truth == "unbounded":
                    M = rng_data["M"] @ (np.eye(n) - np.outer(d, d) / (d @ d))
                else:
                    M = rng_data["M"] + np.sqrt(n) * np.eye(n)
                P = M.T @ M
                P = 0.5 * (P + P.T)
                q = grad - P @ info["x_unit"] if truth == "feasible" else grad
                if truth == "feasible":
                    x0 = info["x_unit"]
                    info["f_unit"] = float(0.5 * x0 @ P @ x0 + q @ x0)
                if variant or truth == "unbounded":
                    lines += [f"M = {_arr(np.sqrt(scale_o) * M)}", f"q = {_arr(scale_o * q)}"]
                    obj = "0.5 * cp.sum_squares(M @ x) + q @ x"
                else:
                    lines += [f"P = {_arr(scale_o * P)}", f"q = {_arr(scale_o * q)}"]
                    obj = "0.5 * cp.quad_form(x, P) + q @ x"
            model = [f"x = cp.Variable({n}, name='x')",
                     f"prob = cp.Problem(cp.Minimize({obj}), [{', '.join(cons)}])"]
        elif kind == "socp":
            r0 = rng_data["rng"]
            c = r0.standard_normal(n)
            cons = []
            if truth in ("feasible", "infeasible"):
                F = r0.standard_normal((n, n)) + np.sqrt(n) * np.eye(n)
                xc = r0.standard_normal(n)
                r = r0.uniform(0.5, 2.0)
                g = F @ xc
                lines += [f"F = {_arr(scale_c * F)}", f"g = {_arr(scale_c * g)}", f"r = {scale_c * r!r}"]
                cons.append("cp.norm2(F @ x - g) <= r")
                Finv_t = np.linalg.inv(F).T
                if truth == "feasible":
                    u = Finv_t @ c
                    xs = xc - r * np.linalg.solve(F, u) / np.linalg.norm(u)
                    info["x_unit"], info["f_unit"] = xs, float(c @ xc - r * np.linalg.norm(u))
                    if variant:   # inactive linear constraints
                        A = r0.standard_normal((extra, n))
                        b = A @ xs + r0.uniform(0.5, 1.5, extra)
                        lines += [f"A = {_arr(scale_c2 * A)}", f"b = {_arr(scale_c2 * b)}"]
                        cons.append("A @ x <= b")
                else:             # a halfspace strictly beyond the ellipsoid
                    a = r0.standard_normal(n)
                    w = r * np.linalg.norm(Finv_t @ a)
                    beta = a @ xc - w - 0.5 * w
                    lines += [f"a = {_arr(scale_c2 * a)}", f"beta = {scale_c2 * beta!r}"]
                    cons.append("a @ x <= beta")
            else:
                d = rng_data["d"]
                F = r0.standard_normal((n, n))
                e = r0.standard_normal(n)
                e = e + (np.linalg.norm(F @ d) + 1.0 - e @ d) / (d @ d) * d   # e'd = ||F d|| + 1
                x0, g = r0.standard_normal(n), r0.standard_normal(n)
                f0 = np.linalg.norm(F @ x0 - g) - e @ x0 + 1.0
                c = c - (c @ d) / (d @ d) * d - 0.5 * np.linalg.norm(c) / np.linalg.norm(d) * d
                lines += [f"F = {_arr(scale_c * F)}", f"g = {_arr(scale_c * g)}",
                          f"e = {_arr(scale_c * e)}", f"f = {scale_c * f0!r}"]
                cons.append("cp.norm2(F @ x - g) <= e @ x + f")
                if variant:
                    A = _flip_against(r0.standard_normal((extra, n)), d)
                    b = A @ x0 + r0.uniform(0.1, 1.0, extra)
                    lines += [f"A = {_arr(scale_c2 * A)}", f"b = {_arr(scale_c2 * b)}"]
                    cons.append("A @ x <= b")
            lines.append(f"c = {_arr(scale_o * c)}")
            model = [f"x = cp.Variable({n}, name='x')",
                     f"prob = cp.Problem(cp.Minimize(c @ x), [{', '.join(cons)}])"]
        else:  # lasso: 10^eo scales the objective, 10^ec the variable (A -> sc A, lam -> sc lam)
            r0 = rng_data["rng"]
            A, b = r0.standard_normal((m, n)), r0.standard_normal(m)
            lam = r0.uniform(0.05, 0.5) * float(np.max(np.abs(A.T @ b)))
            k = np.sqrt(scale_o)
            lines += [f"A = {_arr(k * scale_c * A)}", f"b = {_arr(k * b)}", f"lam = {scale_o * scale_c * lam!r}"]
            pen = "cp.sum(cp.abs(x))" if variant else "cp.norm1(x)"
            model = [f"x = cp.Variable({n}, name='x')",
                     f"prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * {pen}))"]
        return "\n".join(lines + model)

    # shared draws; the rest come from a generator restarted at the same state for the
    # unit-scale and the scaled code, so that both describe the same problem
    rng_data = {"d": rng.standard_normal(n), "M": rng.standard_normal((n, n)),
                "G": rng.standard_normal((1, n)), "nu": rng.standard_normal(1)}
    state = rng.bit_generator.state
    rng_data["rng"] = _restarted(state)
    info["code_unit"] = emit(1.0, 1.0, 1.0)
    rng_data["rng"] = _restarted(state)
    code = emit(so, sc, sc2)
    return code, info


def run_code(code):
    ns = {"cp": cp, "np": np}
    exec(code, ns)  # noqa: S102 -- our own generated model code
    return ns["prob"], ns["x"]


def _clarabel(prob, tight=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if tight:
                prob.solve(solver="CLARABEL", tol_gap_abs=1e-16, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=400)
            else:
                prob.solve(solver="CLARABEL")
        except cp.error.SolverError:
            return "solver_error"
    return prob.status


def truth_of(info):
    """(f* at unit scale, term size at the optimum at unit scale), checking Clarabel agrees."""
    prob, x = run_code(info["code_unit"])
    status = _clarabel(prob, tight=False)
    expect = {"feasible": ("optimal", "optimal_inaccurate"),
              "infeasible": ("infeasible", "infeasible_inaccurate"),
              "unbounded": ("unbounded", "unbounded_inaccurate")}[info["truth"]]
    assert status in expect, f"generator bug: Clarabel says {status} on a {info['truth']} case\n{info['code_unit']}"
    if info["truth"] != "feasible":
        return None, None
    if info["f_unit"] is None:   # the Lasso: Clarabel at tight relative tolerances
        s = 1.0 / max(abs(prob.value), 1e-300)   # objective of size one: the relative gap decides
        p2 = cp.Problem(cp.Minimize(s * prob.objective.args[0]), prob.constraints)
        x2 = x
        _clarabel(p2, tight=True)
        info["f_unit"], info["x_unit"] = float(p2.value) / s, np.asarray(x2.value, dtype=float)
    x.value = info["x_unit"]
    scale = zoo.objective_scale(prob)
    assert abs(prob.value - info["f_unit"]) <= 1e-4 * max(abs(info["f_unit"]), scale), \
        f"generator bug: Clarabel {prob.value} vs constructed f* {info['f_unit']}\n{info['code_unit']}"
    return info["f_unit"], scale


def backends_for(prob):
    """The registered backends whose form the compiled program matches."""
    program = sl.compile(prob)
    names = []
    for name, impl in registry.all_backends().items():
        try:
            registry.view_for(impl, program)
        except BackendRefusedError:
            continue
        names.append(name)
    return names


def judge(kind, truth, params):
    """Solve one drawn case on every backend; return (wrong claims, honest statuses)."""
    code, info = make_case(kind, truth, **params)
    f_unit, scale_unit = truth_of(info)
    f_star = None if f_unit is None else info["scale_obj"] * f_unit
    floor = None if scale_unit is None else info["scale_obj"] * scale_unit
    wrong, honest = [], []
    prob, x = run_code(code)
    try:
        names = ["auto"] + backends_for(prob)
    except Exception as exc:  # compile failed on a plain LP/QP/SOCP/Lasso
        return [("compile", f"{type(exc).__name__}: {str(exc)[:200]}", code, params)], honest
    for name in names:
        try:
            res = sl.solve(prob, backend=name, tol=TOL, max_iter=MAX_ITER, time_limit=TIME_LIMIT,
                           warm_start=False)
        except (BackendRefusedError, UnsupportedAtomError) as exc:
            if name == "auto":
                wrong.append((name, f"auto refused a plain {kind}: {str(exc)[:160]}", code, params))
            continue
        except Exception as exc:
            wrong.append((name, f"raised {type(exc).__name__}: {str(exc)[:200]}", code, params))
            continue
        label = name if name != "auto" else f"auto->{res.backend}"
        st_ = res.status.value
        if res.status is sl.Status.OPTIMAL:
            if truth != "feasible":
                wrong.append((label, f"optimal (objective {res.objective:.6g}, certificate "
                                     f"{res.certificate.value:.1e}) on an {truth} problem", code, params))
                continue
            f_eval = prob.objective.value
            f_eval = float("nan") if f_eval is None else float(f_eval)
            rel = max(zoo.relative_error(res.objective, f_star, floor),
                      zoo.relative_error(f_eval, f_star, floor))
            infeas = zoo.infeasibility(prob)
            if not rel <= OBJ_TOL or not infeas <= FEAS_TOL:
                wrong.append((label, f"optimal with objective {res.objective:.10g} (at the point {f_eval:.10g}) "
                                     f"vs f* {f_star:.10g}: relative error {rel:.1e}; constraint violation "
                                     f"{infeas:.1e} relative; certificate {res.certificate.value:.1e}",
                              code, params))
        elif res.status in (sl.Status.INFEASIBLE, sl.Status.UNBOUNDED):
            if truth != st_:
                wrong.append((label, f"{st_} on a {truth} problem ({res.message})", code, params))
        else:
            honest.append((label, st_))
    return wrong, honest


def _cases():
    return st.fixed_dictionaries({
        "n": st.integers(2, 6), "extra": st.integers(1, 4), "seed": st.integers(0, 2 ** 16),
        "eo": st.integers(-6, 6), "ec": st.integers(-6, 6), "ec2": st.integers(-6, 6),
        "variant": st.booleans()})


def _report(kind, truth, wrong) -> str:
    lines = [f"{len(wrong)} wrong claim(s) on {kind}/{truth}:"]
    by_sig = {}
    for label, why, code, params in wrong:
        by_sig.setdefault((label, why.split(" ")[0]), []).append((label, why, code, params))
    for (label, _), items in by_sig.items():
        smallest = min(items, key=lambda t: (t[3]["n"], t[3]["extra"], abs(t[3]["eo"]) + abs(t[3]["ec"])
                                             + abs(t[3]["ec2"])))
        lines.append(f"- {label}: {len(items)} case(s); smallest {smallest[3]}: {smallest[1]}")
        lines.append("  import cvxpy as cp, numpy as np, solvelab as sl")
        lines += ["  " + ln for ln in smallest[2].splitlines()]
        lines.append(f"  print(sl.solve(prob, backend={label.split('->')[0]!r}, tol={TOL}, max_iter={MAX_ITER}))")
    return "\n".join(lines)


@pytest.mark.parametrize("kind,truth", CASES, ids=[f"{k}-{t}" for k, t in CASES])
def test_status_claims_are_true(kind, truth, capsys):
    wrong_all: list = []
    honest_all: collections.Counter = collections.Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(params=_cases())
    def check(params):
        wrong, honest = judge(kind, truth, params)
        honest_all.update(honest)
        if SHRINK and wrong:
            raise AssertionError(_report(kind, truth, wrong))
        wrong_all.extend(wrong)

    check()
    with capsys.disabled():   # the counts are part of the report, failing or not
        print(f"\n{kind}/{truth}: {EXAMPLES} cases; honest non-optimal statuses: " + (", ".join(
            f"{lab} {st_} x{c}" for (lab, st_), c in sorted(honest_all.items())) or "none"))
    assert not wrong_all, _report(kind, truth, wrong_all)
