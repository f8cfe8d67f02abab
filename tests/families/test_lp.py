"""The LP family and the pdhg backend: certificate rechecked from first principles,
HiGHS as the oracle, scale invariance, rays, the status contract, warm starts, bad input
and MPS reading."""
import gzip
import lzma
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import solvelab as sl
from solvelab.backends import registry
from solvelab.backends.base import SolveOptions
from solvelab.bench.data import search_dirs
from solvelab.errors import InvalidDataError, ShapeError
from solvelab.families.lp import LinearProgram, LPProgram
from solvelab.ir.forms import match
from solvelab.problems import linear_program, read_mps

highspy = pytest.importorskip("highspy")

#: HiGHS reference objectives from ../shared/data/MANIFEST.md
REFERENCE = {"afiro": -464.7531429, "sctest": 5.75, "blending": -3200.0, "scrs8": 904.2969538}


def _mps(name):
    for base in search_dirs():
        p = Path(base) / "lp" / f"{name}.mps.xz"
        if p.is_file():
            return p
    pytest.skip(f"Netlib LP {name}.mps.xz not found under lp/ in {', '.join(map(str, search_dirs()))} "
                "(set SOLVELAB_DATA to the shared data directory)")


def random_lp(seed=0, m=30, n=40, scale=1.0):
    """A feasible, bounded LP with every kind of row and column bound (x0 feasible, y0
    dual feasible by construction)."""
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=0.3, random_state=rng, data_rvs=rng.standard_normal).toarray()
    A[np.arange(m), rng.integers(0, n, m)] += 1.0
    x0 = rng.uniform(0.5, 2.0, n)
    ax = A @ x0
    kind = rng.integers(0, 4, m)                      # 0 eq, 1 lower, 2 upper, 3 two-sided
    rl = np.where((kind == 0) | (kind == 1) | (kind == 3), ax - (kind != 0) * rng.uniform(0, 1, m), -np.inf)
    ru = np.where((kind == 0) | (kind == 2) | (kind == 3), ax + (kind != 0) * rng.uniform(0, 1, m), np.inf)
    y0 = rng.standard_normal(m)
    y0 = np.where(kind == 1, np.abs(y0), np.where(kind == 2, -np.abs(y0), y0))
    ckind = rng.integers(0, 3, n)                     # 0 [0, inf), 1 free, 2 [0, 3]
    l = np.where(ckind == 1, -np.inf, 0.0)
    u = np.where(ckind == 2, 3.0, np.inf)
    r0 = np.where(ckind == 0, np.abs(rng.standard_normal(n)), np.where(ckind == 2, rng.standard_normal(n), 0.0))
    c = A.T @ y0 + r0
    return c * scale, sp.csr_matrix(A * scale), rl * scale, ru * scale, l, u


def highs_objective(c, A, rl, ru, l, u):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    m, n = A.shape
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, l, u
    lp.row_lower_, lp.row_upper_ = rl, ru
    M = sp.csc_matrix(A)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = M.indptr, M.indices, M.data
    h.passModel(lp)
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    return h.getInfo().objective_function_value


def independent_certificate(c, A, rl, ru, l, u, x, y):
    """The LP measures written out again from their definitions (module docstring of
    solvelab.families.lp.certificate), in the max-norm."""
    A = sp.csr_matrix(A)
    ax = A @ x
    cax = np.minimum(np.maximum(ax, rl), ru)
    reads = np.abs(A.toarray()) @ np.abs(x)             # each row's |a_i| |x|
    viol = np.abs(ax - cax)
    floor = np.sqrt(np.finfo(float).eps) * max(np.abs(ax).max(), np.abs(cax).max(), reads.max())
    rows = [v / max(abs(a), abs(b), r, floor) for v, a, b, r in zip(viol, ax, cax, reads) if v > 0]
    cx = np.minimum(np.maximum(x, l), u)
    prim = max(max(rows, default=0.0), np.abs(x - cx).max() / max(np.abs(x).max(), np.abs(cx).max()))
    y = np.where(np.isfinite(rl), y, np.minimum(y, 0))
    y = np.where(np.isfinite(ru), y, np.maximum(y, 0))
    r = c - A.T @ y
    rh = np.where(np.isfinite(l), r, np.minimum(r, 0))
    rh = np.where(np.isfinite(u), rh, np.maximum(rh, 0))
    dual = np.abs(r - rh).max() / max(np.abs(c).max(), np.abs(A.T @ y).max())
    P = c @ x
    D = sum(v * (lo if v > 0 else hi) for v, lo, hi in zip(y, rl, ru) if v != 0) + \
        sum(v * (lo if v > 0 else hi) for v, lo, hi in zip(rh, l, u) if v != 0)
    return prim, dual, abs(P - D) / max(abs(P), abs(D))


def _multipliers(res, prog):
    from solvelab.families.lp import duals_to_multipliers
    return duals_to_multipliers(prog, res.duals)


# --- certificate and oracle ------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pdhg_matches_highs_and_the_certificate_rechecks(seed):
    data = random_lp(seed)
    prob = linear_program(*data)
    res = prob.solve(backend="pdhg", tol=1e-7)
    assert res.status is sl.Status.OPTIMAL, res
    ref = highs_objective(*data)
    assert abs(res.objective - ref) <= 1e-5 * abs(ref)
    x = res.values["x"]
    y = _multipliers(res, prob.program)
    prim, dual, gap = independent_certificate(*data, x, y)
    cert = res.certificate
    assert max(prim, dual, gap) <= 1e-7
    assert cert.primal_residual == pytest.approx(prim, rel=1e-3, abs=1e-15)
    assert cert.dual_residual == pytest.approx(dual, rel=1e-3, abs=1e-15)
    assert cert.gap == pytest.approx(gap, rel=1e-2, abs=1e-13)
    assert res.info["matvecs"] >= 2 * res.iterations


def test_certificate_rejects_a_wrong_point():
    data = random_lp(3)
    prog = LPProgram(*data)
    cert = prog.certify(np.zeros(prog.n) + 5.0, None)
    assert not cert.meets(1e-3)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_scale_invariance(scale):
    data = random_lp(4, scale=scale)
    res = linear_program(*data).solve(backend="pdhg", tol=1e-6)
    base = linear_program(*random_lp(4)).solve(backend="pdhg", tol=1e-6)
    assert res.status is sl.Status.OPTIMAL and base.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(base.objective * scale, rel=1e-5)
    assert abs(res.iterations - base.iterations) <= 0.1 * base.iterations + 64


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_netlib_against_the_manifest(name):
    prob = read_mps(_mps(name))
    res = prob.solve(backend="pdhg", tol=1e-6)
    assert res.status is sl.Status.OPTIMAL, res
    ref = REFERENCE[name]
    assert abs(res.objective - ref) <= 1e-4 * abs(ref)
    assert res.info["matvecs"] > 0 and res.info["matvecs_A"] + res.info["matvecs_AT"] == res.info["matvecs"]


def test_admm_takes_the_lowering():
    data = random_lp(5, m=10, n=12)
    res = linear_program(*data).solve(backend="admm", tol=1e-6)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(highs_objective(*data), rel=1e-4)


# --- rays ------------------------------------------------------------------------------------

def test_infeasible_lp_gives_a_farkas_ray_the_engine_accepts():
    # x1 + x2 >= 3, x1 - x2 == 0, 0 <= x <= 1: no solution
    A = np.array([[1.0, 1.0], [1.0, -1.0]])
    prob = linear_program([1.0, 2.0], A, rl=[3.0, 0.0], ru=[np.inf, 0.0], l=0.0, u=1.0)
    res = prob.solve(backend="pdhg")
    assert res.status is sl.Status.INFEASIBLE, res
    view = match(prob.program, "LinearProgram")
    raw = registry.get("pdhg").run(view, SolveOptions(max_iter=10000))
    assert raw.status == "infeasible" and view.check_infeasibility(raw.ray)
    dy = raw.ray / np.abs(raw.ray).max()
    # independently: dy in the multipliers' domain, A^T dy = -dr with dr allowed by 0 <= x <= 1
    # (any sign), and the Farkas value sum dy+ rl - dy- ru + sum dr+ l - dr- u > 0
    assert dy[0] >= -1e-12
    dr = -(A.T @ dy)
    value = max(dy[0], 0) * 3.0 + dy[1] * 0.0 + sum(max(v, 0) * 0.0 + min(v, 0) * 1.0 for v in dr)
    assert value > 1e-6
    assert not view.check_infeasibility(-raw.ray)


def test_unbounded_lp_gives_a_ray_and_a_feasible_point():
    # min -x1 - x2  s.t.  x1 - x2 <= 1, x >= 0: unbounded along (1, 1)
    prob = linear_program([-1.0, -1.0], [[1.0, -1.0]], ru=[1.0])
    res = prob.solve(backend="pdhg")
    assert res.status is sl.Status.UNBOUNDED, res
    view = match(prob.program, "LinearProgram")
    raw = registry.get("pdhg").run(view, SolveOptions(max_iter=10000))
    assert raw.status == "unbounded"
    d = raw.ray
    assert np.all(d >= -1e-9 * np.abs(d).max()) and d[0] - d[1] <= 1e-9 * np.abs(d).max() and -d.sum() < 0
    x = raw.x
    assert np.all(x >= 0) and x[0] - x[1] <= 1 + 1e-6
    assert view.check_unboundedness(d) and not view.check_unboundedness(-d)


def test_descent_ray_program_is_bounded_and_its_negative_optimum_is_a_ray():
    from solvelab.families.lp import check_unbounded_ray, descent_ray_program
    # min -x1 - x2  s.t.  x1 - x2 <= 1, x >= 0, x2 <= 3: bounded, so the ray LP's optimum is 0
    lp = LPProgram([-1.0, -1.0], sp.csr_matrix([[1.0, -1.0]]), ru=[1.0], l=[0.0, 0.0], u=[np.inf, 3.0])
    rp = descent_ray_program(lp)
    assert np.array_equal(rp.l, [0.0, 0.0]) and np.array_equal(rp.u, [1.0, 0.0])   # x2 bounded: no room
    assert rp.ru[0] == 0.0 and rp.rl[0] == -np.inf
    res = sl.problems.linear_program(rp.c, rp.A, rl=rp.rl, ru=rp.ru, l=rp.l, u=rp.u).solve(backend="pdhg", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(0.0, abs=1e-9)
    assert not check_unbounded_ray(lp, res.x)
    lp2 = LPProgram([-1.0, -1.0], sp.csr_matrix([[1.0, -1.0]]), ru=[1.0], l=[0.0, 0.0])
    rp2 = descent_ray_program(lp2)      # without x2 <= 3: unbounded along (1, 1)
    res2 = sl.problems.linear_program(rp2.c, rp2.A, rl=rp2.rl, ru=rp2.ru, l=rp2.l, u=rp2.u).solve(backend="pdhg",
                                                                                              tol=1e-9)
    assert res2.objective == pytest.approx(-2.0, rel=1e-6) and check_unbounded_ray(lp2, res2.x)


def test_gas11_descent_ray_is_found_and_rechecked():
    # the iterate differences oscillate on gas11 (Netlib, unbounded): the descent-ray LP finds
    # the ray; without it pdhg ran to max_iter with no ray
    from solvelab.families.lp import check_unbounded_ray
    prob = read_mps(_mps("gas11"))
    view = match(prob.program, "LinearProgram")
    raw = registry.get("pdhg").run(view, SolveOptions(max_iter=30000, tol=1e-6))
    assert raw.status in ("unbounded", "inaccurate") and raw.ray is not None, raw.message
    assert "descent-ray LP" in raw.message or "descent ray" in raw.message
    assert check_unbounded_ray(prob.program, raw.ray)
    assert float(prob.program.c @ raw.ray) < 0
    res = prob.solve(backend="pdhg", max_iter=30000)
    assert res.status is not sl.Status.OPTIMAL


# --- the status contract ---------------------------------------------------------------------

def test_max_iter_time_limit_and_callback():
    data = random_lp(6, m=60, n=80)
    prob = linear_program(*data)
    res = prob.solve(backend="pdhg", max_iter=5, tol=1e-9, warm_start=False)
    assert res.status is sl.Status.MAX_ITER and res.iterations == 5
    res = prob.solve(backend="pdhg", time_limit=1e-4, tol=1e-12, warm_start=False)
    assert res.status is sl.Status.TIME_LIMIT
    seen = []
    res = prob.solve(backend="pdhg", tol=1e-12, warm_start=False,
                     callback=lambda info: seen.append(info["iteration"]) or len(seen) >= 2)
    assert res.status is sl.Status.INACCURATE and "callback" in res.message and len(seen) == 2
    assert res.history and {"primal_residual", "dual_residual", "gap", "matvecs"} <= set(res.history[-1])


def test_verbose_prints_a_table(capsys):
    linear_program(*random_lp(7, m=8, n=10)).solve(backend="pdhg", verbose=True)
    out = capsys.readouterr().out
    assert "passes" in out and "pdhg:" in out


def test_warm_start_and_data_change():
    data = random_lp(8)
    prob = linear_program(*data)
    cold = prob.solve(backend="pdhg", tol=1e-6)
    warm = prob.solve(backend="pdhg", tol=1e-6)
    assert warm.status is sl.Status.OPTIMAL and warm.info["warm_start"]
    assert warm.iterations < cold.iterations
    prob.program.update_data(c=data[0] * 1.5)
    again = prob.solve(backend="pdhg", tol=1e-6)
    assert not again.info["warm_start"] and again.status is sl.Status.OPTIMAL
    assert again.objective == pytest.approx(1.5 * cold.objective, rel=1e-4)


# --- bad input -------------------------------------------------------------------------------

def test_bad_shapes():
    with pytest.raises(ShapeError, match="columns"):
        linear_program([1.0, 2.0], np.ones((2, 3)))
    with pytest.raises(ShapeError, match="rl"):
        linear_program([1.0, 2.0], np.ones((2, 2)), rl=[1.0, 2.0, 3.0])


def test_nan_in_the_data():
    with pytest.raises(InvalidDataError, match="c has NaN"):
        linear_program([1.0, np.nan], np.ones((1, 2)))
    with pytest.raises(InvalidDataError, match="A has NaN"):
        linear_program([1.0, 1.0], [[1.0, np.nan]])
    with pytest.raises(InvalidDataError, match="ru has NaN"):
        linear_program([1.0, 1.0], [[1.0, 1.0]], ru=[np.nan])


def test_rl_above_ru_and_l_above_u():
    with pytest.raises(InvalidDataError, match=r"rl\[0\]"):
        linear_program([1.0], [[1.0]], rl=[2.0], ru=[1.0])
    with pytest.raises(InvalidDataError, match=r"l\[0\]"):
        linear_program([1.0], l=[2.0], u=[1.0])
    with pytest.raises(InvalidDataError, match=r"\+inf"):
        linear_program([1.0], l=[np.inf])


def test_wrong_dtype():
    with pytest.raises(InvalidDataError, match="real"):
        linear_program(np.array([1 + 1j, 2.0]))
    with pytest.raises(InvalidDataError, match="real"):
        linear_program([1.0, 2.0], np.array([["a", "b"]]))


def test_unknown_backend_option():
    with pytest.raises(InvalidDataError, match="pdhg"):
        linear_program([1.0], [[1.0]], rl=[1.0]).solve(backend="pdhg", nonsense=1)


def test_mps_that_does_not_parse(tmp_path):
    bad = tmp_path / "bad.mps"
    bad.write_text("NAME bad\nROWS\n Q  what\nCOLUMNS\n  x  what  one\n")
    with pytest.raises(InvalidDataError, match="does not parse"):
        read_mps(bad)
    with pytest.raises(FileNotFoundError):
        read_mps(tmp_path / "missing.mps")


def test_integer_columns_refused_unless_relaxed():
    path = _mps("p01")
    with pytest.raises(InvalidDataError, match="integer"):
        read_mps(path)
    assert read_mps(path, relax_integrality=True).program.shape == (30, 210)


# --- MPS round trip --------------------------------------------------------------------------

def test_read_mps_round_trip_through_cvxpy_and_gz(tmp_path):
    src = _mps("afiro")
    plain = tmp_path / "afiro.mps"
    with lzma.open(src, "rb") as f, open(plain, "wb") as g:
        shutil.copyfileobj(f, g)
    with open(plain, "rb") as f, gzip.open(tmp_path / "afiro.mps.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    probs = [read_mps(p) for p in (src, plain, tmp_path / "afiro.mps.gz")]
    for p in probs[1:]:
        assert (p.program.A != probs[0].program.A).nnz == 0
        np.testing.assert_array_equal(p.program.c, probs[0].program.c)
    cvx, x = probs[0].to_cvxpy()
    cvx.solve(solver="CLARABEL")
    assert cvx.value == pytest.approx(REFERENCE["afiro"], rel=1e-6)
    p = probs[0].program
    assert highs_objective(p.c, p.A, p.rl, p.ru, p.l, p.u) == pytest.approx(cvx.value, rel=1e-6)
    assert isinstance(match(p, "LinearProgram"), LinearProgram)


@pytest.mark.parametrize("name", ["galenet", "woodinfe"])
def test_netlib_infeasible_detected(name):
    prob = read_mps(_mps(name))
    res = prob.solve(backend="pdhg", max_iter=20000)
    assert res.status is sl.Status.INFEASIBLE, res


def test_halpern_scheme_solves_and_bad_scheme_is_refused():
    data = random_lp(9)
    res = linear_program(*data).solve(backend="pdhg", scheme="halpern", tol=1e-6)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(highs_objective(*data), rel=1e-4)
    with pytest.raises(InvalidDataError, match="scheme"):
        linear_program(*data).solve(backend="pdhg", scheme="nope")


# --- recognition from plain CVXPY ------------------------------------------------------------

def test_halpern_step_is_never_above_the_margin_and_counts_its_passes():
    # a 60-step power iteration gave 0.99516 on scrs8's scaled matrix against 0.99877: a step
    # above 1 / |A|_2, where the reflected scheme never certified
    from solvelab.backends.pdhg import Scaled, halpern_step
    for name in ("scrs8", "p01", "adlittle", "sctest"):
        S = Scaled(read_mps(_mps(name), relax_integrality=True).program)
        passes = [0, 0]
        eta = halpern_step(S, passes)
        exact = float(np.linalg.norm(S.A.toarray(), 2))
        assert 0.998 * 0.99 <= eta * exact <= 0.998 * (1 + 1e-9), name
        assert passes[0] > 0 and passes[1] > 0
        again = [0, 0]
        assert halpern_step(S, again) == eta and again == [0, 0]      # cached on the scaling


@pytest.mark.parametrize("ruiz_iters", [0, 1, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scaled_matrix_norm_is_at_most_the_pock_chambolle_bound(ruiz_iters, seed):
    # the bound halpern_step may take for |A|_2: it must hold for any data (rows of very
    # different scales, empty rows and columns)
    from solvelab.backends.pdhg import PC_NORM_BOUND, Scaled
    rng = np.random.default_rng(seed)
    m, n = 40, 30
    A = sp.random(m, n, density=0.2, random_state=rng, data_rvs=rng.standard_normal).toarray()
    A *= 10.0 ** rng.uniform(-6, 6, size=(m, 1))
    A[3] = 0.0
    A[:, 5] = 0.0
    lp = linear_program(np.ones(n), A, rl=np.zeros(m), ru=np.ones(m)).program
    S = Scaled(lp, ruiz_iters)
    assert np.linalg.norm(S.A.toarray(), 2) <= PC_NORM_BOUND * (1 + 1e-12)


def test_scrs8_certifies_on_the_reflected_halpern_scheme():
    res = read_mps(_mps("scrs8")).solve(backend="halpern", tol=1e-6, max_iter=300000)
    assert res.status is sl.Status.OPTIMAL and res.certificate.value <= 1e-6
    assert res.objective == pytest.approx(REFERENCE["scrs8"], rel=1e-5)


def test_a_cvxpy_lp_is_recognized_and_auto_picks_halpern():
    import cvxpy as cp
    x, y = cp.Variable(3, name="x"), cp.Variable(name="y")
    cons = [x >= 0, x <= 4, x[0] + x[1] + x[2] <= 5, y >= x[2] - 1, cp.sum(x) == 4]
    prob = sl.Problem(cp.Maximize(x[0] + 2 * x[1] - y + 3), cons)
    assert "LinearProgram" in prob.compile().forms()
    res = prob.solve(tol=1e-8)
    assert res.backend == "halpern" and res.status is sl.Status.OPTIMAL   # pdhg's Halpern scheme
    assert res.objective == pytest.approx(cp.Problem(prob.objective, prob.constraints).solve(solver="CLARABEL"),
                                          rel=1e-6)
    assert x.value is not None and x.value[1] == pytest.approx(4.0, abs=1e-6)


def test_a_cvxpy_qp_is_not_an_lp():
    import cvxpy as cp
    x = cp.Variable(3)
    no = match(sl.compile(sl.Problem(cp.Minimize(cp.sum_squares(x) + x[0]), [x >= 0])), "LinearProgram")
    assert not no and "not linear" in no.reason


def test_a_simplex_vertex_certifies():
    # HiGHS's vertex has rows whose entries are all rounding-level (1e-14): the row-wise
    # primal residual judges them at sqrt(eps) of the largest row, not against themselves
    from solvelab.bench.peers.highs import run_highs
    from solvelab.families.lp import lp_certificate
    p = read_mps(_mps("afiro")).program
    out = run_highs(p, "simplex", 1e-9)
    assert lp_certificate(p, out["x"], out["y"]).value <= 1e-8
    assert not lp_certificate(p, out["x"] * 1.01, out["y"]).meets(1e-6)
