"""Coordinate descent on the SparseGLM form (sparse GLMs: Lasso family, sparse logistic,
elastic net, bounds, group lasso, MCP / SCAD).

    minimize  sum_i c phi(s_i (A x)_i - b_i) + sum_j pen_j(x_j) [+ sum_G wG ||x_G||_2]

Algorithm (in the spirit of celer / skglm, with cached ``@njit`` kernels over plain
arrays, see ``solvelab.kernels.cd``):

* outer loop: full gradient, per-coordinate KKT score (distance of -grad_j to the
  subdifferential) and, where the form has one, the duality gap at the rescaled dual
  point; stop when the relative gap (else the relative KKT residual) meets ``tol``;
* gap-safe screening (sphere test, radius sqrt(2 gap / alpha) with alpha the strong
  concavity of the dual) removes coordinates that are zero at every solution;
* working set: the current support plus the coordinates with the largest KKT scores,
  size max(ws_start, 2 |support|) (``ws_strategy='kkt'``), or all coordinates
  (``ws_strategy='full'``);
* inner loop on the working set: coordinate sweeps (``selection`` cyclic, random, or
  greedy Gauss-Southwell-Lipschitz order), with the residual A x updated in place;
  every ``anderson`` sweeps an Anderson extrapolation of the last iterates is tried and
  kept if it lowers the objective; the inner loop stops when the working-set KKT score
  is below 0.3 times the outer one;
* group penalties: block coordinate descent with block soft-thresholding over all blocks;
* Poisson (exp) datafit: no global Lipschitz constant, so every working-set problem is
  solved by proximal Newton with a backtracking line search (whatever ``gram`` says),
  and gap-safe screening is off (the dual is not strongly concave); the certificate
  is still the rescaled-dual gap where the form has one.

``max_iter`` counts coordinate sweeps (epochs over the working set). Options
(``options.extra``): ``selection`` ('cyclic' | 'random' | 'greedy'), ``ws_strategy``
('kkt' | 'full'), ``screening`` (bool, default True), ``anderson`` (memory K, 0 = off,
default 5), ``ws_start`` (initial working-set size, default 10), ``seed``.

The statuses are the backend's own ('converged' when its certificate meets tol); the
engine recomputes the certificate from the returned x with ``SparseGLM.certify``.
Compile (JIT) time is measured apart and reported in ``info['jit_time']`` and in the
setup time.

The package: ``coordinate`` (the backend and the coordinate path), ``blocks`` (block
CD for group penalties), ``common`` (what both share: kernel compilation, the data
view, the outer check). Importing the package registers the backend.
"""
from __future__ import annotations

from .. import registry
from .coordinate import CDBackend, kernels_needed, warmup
from .common import compile_kernels, dedup_applies

__all__ = ["CDBackend", "compile_kernels", "dedup_applies", "kernels_needed", "warmup"]

registry.register(CDBackend())
