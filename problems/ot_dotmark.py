"""Entropic optimal transport between two DOTmark images, drawn with matplotlib.

    min <C, P> + eps sum P log P   s.t.  P 1 = a,  P^T 1 = b,  P >= 0

``a`` and ``b`` are two images of the DOTmark benchmark (ClassicImages data32_1001 and
data32_1002, normalized to unit mass), ``C`` the squared distance between pixels. Run
``python problems/ot_dotmark.py [--eps-rel 1e-3] [--out ot_dotmark.png]``: it solves the
full 1024 x 1024 problem with ``sl.problems.entropic_ot(...).solve(backend=
"sinkhorn_newton")``, prints the status, certificate, transport cost and POT's exact
``ot.emd`` cost when POT is installed, and saves a figure (both images, where the mass
of a few pixels goes, and the plan's largest entries as arrows) to a PNG file.

``build()`` gives the same problem as a plain CVXPY declaration on 6 x 6 block averages
of the images (a 36 x 36 plan), small enough for CVXPY + Clarabel: solvelab recognizes
the ``EntropicOT`` form in it, so ``backend="auto"`` picks ``sinkhorn_newton``.

The images are read from ``--data-dir``, ``SOLVELAB_DATA`` or ``../shared/data``
(``dotmark/Data/ClassicImages/data32_100N.csv.xz``); without them, two synthetic
Gaussian blobs stand in (and the script says so).
"""
from __future__ import annotations

import argparse
import os

import cvxpy as cp
import numpy as np

import solvelab as sl


def load_images(data_dir=None, R=32):
    """Two DOTmark images (R x R, unit mass) and where they came from."""
    from solvelab.bench.suites.ot import find_dotmark, load_image
    pa, err = find_dotmark("ClassicImages", R, 1001, data_dir)
    pb, err2 = find_dotmark("ClassicImages", R, 1002, data_dir)
    if pa is None or pb is None:
        ii, jj = np.meshgrid(np.arange(R), np.arange(R), indexing="ij")

        def blob(ci, cj, s):
            return np.exp(-((ii - ci) ** 2 + (jj - cj) ** 2) / (2 * s * s)) + 1e-3
        A, B = blob(0.3 * R, 0.3 * R, 0.12 * R), blob(0.65 * R, 0.7 * R, 0.18 * R)
        source = f"synthetic blobs ({err or err2})"
    else:
        A, B = load_image(pa), load_image(pb)
        source = f"{pa.name}, {pb.name} ({pa.parent})"
    return A / A.sum(), B / B.sum(), source


def block_average(img, k):
    R = img.shape[0]
    out = img.reshape(R // k, k, R // k, k).sum(axis=(1, 3))
    return out / out.sum()


def build(seed=0, k=6, eps_rel=0.05):
    """The plain CVXPY declaration on k x k block averages of the two images (a k^2 x k^2
    plan), as a ``solvelab.Problem``. ``seed`` is unused (the data are fixed images)."""
    A, B, _ = load_images()
    R = A.shape[0]
    A, B = block_average(A[: R - R % k, : R - R % k], R // k), block_average(B[: R - R % k, : R - R % k], R // k)
    a, b = A.ravel(), B.ravel()
    C = sl.problems.grid_cost(k)
    eps = eps_rel * float(C.max())
    P = cp.Variable(C.shape, nonneg=True, name="P")
    objective = cp.Minimize(cp.sum(cp.multiply(C, P)) - eps * cp.sum(cp.entr(P)))
    return sl.Problem(objective, [cp.sum(P, axis=1) == a, cp.sum(P, axis=0) == b])


def draw(A, B, P, path, title):
    """Save a figure of the two images and the plan to ``path`` (no window)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    R = A.shape[0]
    fig, ax = plt.subplots(1, 3, figsize=(13, 4.4))
    ax[0].imshow(A, cmap="magma")
    ax[0].set_title("source a")
    ax[1].imshow(B, cmap="magma")
    ax[1].set_title("target b")
    # arrows from each source pixel to the barycentre of where its mass goes
    ax[2].imshow(A, cmap="gray_r", alpha=0.6)
    ii, jj = np.divmod(np.arange(R * R), R)
    rows = P.sum(axis=1)
    step = max(1, R // 12)
    for i in range(0, R, step):
        for j in range(0, R, step):
            s = i * R + j
            if rows[s] <= 0:
                continue
            w = P[s] / rows[s]
            ti, tj = float(w @ ii), float(w @ jj)
            ax[2].annotate("", xy=(tj, ti), xytext=(j, i),
                           arrowprops=dict(arrowstyle="->", color="tab:blue", lw=0.8))
    ax[2].set_title("barycentric map of the plan")
    for x in ax:
        x.set_xticks([])
        x.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description="entropic OT between two DOTmark images")
    ap.add_argument("--eps-rel", type=float, default=1e-3, help="eps as a fraction of max(C) (default 1e-3)")
    ap.add_argument("--out", default="ot_dotmark.png", help="PNG file for the figure")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    if args.data_dir:
        os.environ["SOLVELAB_DATA"] = args.data_dir

    # 1. the small plain-CVXPY declaration, next to CVXPY + Clarabel
    small = build()
    ref = cp.Problem(small.objective, small.constraints).solve(solver="CLARABEL")
    res = small.solve(backend="auto", tol=1e-9)
    print(f"6x6 block averages, plain CVXPY declaration: forms {small.compile().forms()}")
    print(f"  CVXPY+Clarabel objective {ref:.10g}")
    print(f"  solvelab {res.backend}: {res.status}, objective {res.objective:.10g}, "
          f"rel.diff {abs(res.objective - ref) / max(1.0, abs(ref)):.1e}")

    # 2. the full images with the structured constructor
    A, B, source = load_images()
    C = sl.problems.grid_cost(A.shape[0])
    eps = args.eps_rel * float(C.max())
    prob = sl.problems.entropic_ot(A.ravel(), B.ravel(), C, eps)
    res = prob.solve(backend="sinkhorn_newton", tol=1e-9)
    P = res.values["P"]
    print(f"\n{source}: {C.shape[0]} x {C.shape[1]} plan, eps = {args.eps_rel:g} x max(C) = {eps:.4g}")
    print(f"  sinkhorn_newton: {res.status}, {res.iterations} iterations "
          f"({res.info['sinkhorn_iterations']} Sinkhorn + {res.info['newton_iterations']} Newton), "
          f"{res.timings['solve']:.2f} s")
    print(f"  certificate: marginal violation {res.certificate.primal_residual:.1e}, "
          f"primal-dual gap {res.certificate.gap:.1e}")
    print(f"  transport cost <C, P> = {res.info['transport_cost']:.6g}, entropic cost = "
          f"{res.info['entropic_cost']:.6g}")
    try:
        import ot
        exact = float(ot.emd2(A.ravel(), B.ravel(), C, numItermax=10**7))
        print(f"  exact OT cost (POT ot.emd) = {exact:.6g}; the entropic blur adds "
              f"{res.info['transport_cost'] - exact:.3g} (about eps)")
    except ImportError:
        pass
    draw(A, B, P, args.out, f"entropic OT, eps = {args.eps_rel:g} max C, transport cost "
                            f"{res.info['transport_cost']:.4g} ({res.status})")
    print(f"  figure saved to {args.out}")


if __name__ == "__main__":
    if os.environ.get("PYTEST_CURRENT_TEST"):  # run by tests/test_problems_examples.py
        import tempfile
        main(["--out", os.path.join(tempfile.mkdtemp(prefix="solvelab-ot-"), "ot_dotmark.png")])
    else:
        main()
