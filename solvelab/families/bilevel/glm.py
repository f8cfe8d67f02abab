"""GLMBilevel: hyperparameters of a regularized GLM learned on a validation set.

    lower   g(u, w) = (1/n) sum_i s_i(u) l(x_i^T w; y_i) + (1/2) sum_j lam_j(u) w_j^2
    upper   f(w)    = (1/n_v) sum_i l_v(xv_i^T w; yv_i)

with l, l_v squared ((z - y)^2 / 2) or logistic (log(1 + e^{-y z})), and the weights

    'feature'  lam_j = exp(u_j), s = 1            (q = p: one weight per feature)
    'single'   lam_j = exp(u_0), s = 1            (q = 1)
    'sample'   s_i = sigmoid(u_i), lam_j = lam    (q = n: data hyper-cleaning)

Derivatives (z = Xw, d = s l'(z), h = s l''(z)):
    grad_w g = X^T d / n + lam w,   H = X^T diag(h) X / n + diag(lam)
    (d2_wu g)^T v = lam w v (feature), sum_j lam w_j v_j (single),
                    s'(u_i) l'(z_i) (x_i^T v) / n (sample; s' = s (1 - s))
With the squared lower loss and feature / single weights, the Gram X^T X / n and
X^T y / n are formed once (p <= 2000), so each lower solve costs O(p^3), not O(n p).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...ir.losses import sigmoid
from ...kernels import bilevel as K
from .program import DENSE_MAX, BilevelProgram

_CODE = {"squared": K.SQUARED, "logistic": K.LOGISTIC}


def _dense_if_full(X):
    """A CSR matrix with at least 10% nonzeros and at most 2e7 entries as a dense array:
    the dense products (X^T diag(h) X above all) are several times faster there."""
    if sp.issparse(X) and X.nnz >= 0.1 * X.shape[0] * X.shape[1] and X.shape[0] * X.shape[1] <= 2e7:
        return np.ascontiguousarray(X.toarray())
    return X


class _Level:
    """One data set and its loss: X (dense or CSR), y, the kernel code, optional Gram."""

    def __init__(self, X, y, loss: str, gram: bool):
        self.X, self.y, self.loss, self.code = X, y, loss, _CODE[loss]
        self.n, self.p = X.shape
        self.ones = np.ones(self.n)
        self.gram = gram
        if gram:
            G = X.T @ X
            self.G = np.asarray(G.toarray() if sp.issparse(G) else G) / self.n
            self.b = np.asarray(X.T @ y).ravel() / self.n
            self.c = float(y @ y) / (2 * self.n)

    def z(self, w):
        return np.asarray(self.X @ w).ravel()

    def value(self, w) -> float:
        """(1/n) sum l(x_i^T w; y_i)."""
        if self.gram:
            return float(0.5 * w @ (self.G @ w) - self.b @ w + self.c)
        return K.loss_value(self.code, self.z(w), self.y) / self.n

    def derivs(self, w, s=None):
        """(value, d = s l'(z), h = s l''(z)) at z = Xw (weighted by s)."""
        z = self.z(w)
        d, h = np.empty(self.n), np.empty(self.n)
        total = K.loss_pass(self.code, z, self.y, self.ones if s is None else s, d, h)
        return total / self.n, d, h

    def grad(self, w) -> np.ndarray:
        """(1/n) X^T l'(Xw)."""
        if self.gram:
            return self.G @ w - self.b
        _, d, _ = self.derivs(w)
        return np.asarray(self.X.T @ d).ravel() / self.n

    def abs_rmatvec(self, v) -> np.ndarray:
        """|X|^T v: the size of the summands of X^T d (what rounding in it is relative to)."""
        if getattr(self, "_abs", None) is None:
            self._abs = abs(self.X)
        return np.asarray(self._abs.T @ v).ravel()

    def weighted_gram(self, h) -> np.ndarray:
        """X^T diag(h) X / n, dense."""
        if sp.issparse(self.X):
            M = self.X.T @ sp.diags(h) @ self.X
            return np.asarray(M.toarray()) / self.n
        return (self.X.T * h) @ self.X / self.n


class GLMBilevel(BilevelProgram):
    """The GLM hyperparameter program (module docstring). ``lam``: the fixed ridge weight
    of the 'sample' mode (None: 1e-2 times the mean squared column norm / n, so it
    follows the data's scale). ``u0``: the starting upper point (None: log of 0.1 x the
    mean squared column norm / n for weights, 0 (s = 1/2) for samples). ``u_bounds``:
    (lo, hi) on u, scalars or arrays; 'default': weights within a factor 1e12 of the
    mean squared column norm, sample logits in [-30, 30]; None: unbounded."""

    def __init__(self, X, y, Xv, yv, loss: str = "squared", upper_loss: str | None = None,
                 weights: str = "feature", lam: float | None = None, u0=None, u_bounds="default"):
        from . import validate as V
        loss = V.choice(loss, V.LOSSES, "loss")
        upper_loss = V.choice(loss if upper_loss is None else upper_loss, V.LOSSES, "upper_loss")
        weights = V.choice(weights, V.WEIGHTS, "weights")
        X, Xv = V.matrix(X, "X_train"), V.matrix(Xv, "X_val")
        n, p = X.shape
        if Xv.shape[1] != p:
            raise V.ShapeError(f"X_val has {Xv.shape[1]} features, X_train has {p}")
        if n == 0 or p == 0 or Xv.shape[0] == 0:
            raise V.ShapeError(f"empty data: X_train {X.shape}, X_val {Xv.shape}")
        y = V.labels(y, n, "y_train", loss)
        yv = V.labels(yv, Xv.shape[0], "y_val", upper_loss)
        colsq = np.asarray(X.multiply(X).sum() if sp.issparse(X) else np.einsum("ij,ij->", X, X)).item() / (n * p)
        if colsq == 0.0:
            raise V.InvalidDataError("X_train is all zeros")
        self.weights, self.loss, self.upper_loss = weights, loss, upper_loss
        self.train_scale = colsq          # the mean squared entry of X_train: the weights' natural unit
        q = {"feature": p, "single": 1, "sample": n}[weights]
        if weights == "sample":
            self.lam = colsq * 1e-2 if lam is None else V.positive(lam, "lam")
            default = np.zeros(q)
        else:
            if lam is not None:
                raise V.InvalidDataError("lam is the fixed ridge weight of weights='sample'; with "
                                         f"weights={weights!r} the weights are the upper variables")
            default = np.full(q, np.log(0.1 * colsq))
        u0 = V.vector_u0(u0, q)
        if isinstance(u_bounds, str) and u_bounds == "default":
            # weights within 1e12 of the data's scale either way; sample logits within +-30
            c = 0.0 if weights == "sample" else float(np.log(colsq))
            half = 30.0 if weights == "sample" else float(np.log(1e12))
            u_bounds = (c - half, c + half)
        elif u_bounds is not None:
            u_bounds = V.bounds_pair(u_bounds, q)
        X, Xv = _dense_if_full(X), _dense_if_full(Xv)
        super().__init__(q, p, default if u0 is None else u0, u_bounds=u_bounds)
        self.quadratic = loss == "squared"
        self.strongly_convex = True       # the ridge term: lam > 0 always
        gram = loss == "squared" and weights != "sample" and p <= DENSE_MAX
        self.train = _Level(X, y, loss, gram)
        self.val = _Level(Xv, yv, upper_loss, upper_loss == "squared" and p <= DENSE_MAX)
        self.n_train, self.n_val = n, Xv.shape[0]

    # -- the weights ------------------------------------------------------------------
    def lams(self, u) -> np.ndarray:
        if self.weights == "feature":
            return np.exp(u)
        if self.weights == "single":
            return np.full(self.p, np.exp(u[0]))
        return np.full(self.p, self.lam)

    def sample_weights(self, u):
        return sigmoid(u) if self.weights == "sample" else None

    # -- the lower level ----------------------------------------------------------------
    def lower_value(self, u, w) -> float:
        lam = self.lams(u)
        reg = 0.5 * float(lam @ (w * w))
        if self.train.gram:
            return self.train.value(w) + reg
        total, _, _ = self.train.derivs(w, self.sample_weights(u))
        return total + reg

    def lower_grad(self, u, w):
        lam = self.lams(u)
        if self.train.gram:
            Gw = self.train.G @ w
            fit = Gw - self.train.b
            pieces = max(float(np.max(np.abs(Gw), initial=0.0)), float(np.max(np.abs(self.train.b), initial=0.0)))
        else:
            _, d, _ = self.train.derivs(w, self.sample_weights(u))
            fit = np.asarray(self.train.X.T @ d).ravel() / self.n_train
            pieces = float(np.max(self.train.abs_rmatvec(np.abs(d)), initial=0.0)) / self.n_train
        reg = lam * w
        scale = max(pieces, float(np.max(np.abs(reg), initial=0.0)))
        return fit + reg, scale

    def lower_hessian(self, u, w) -> np.ndarray:
        lam = self.lams(u)
        if self.train.gram:
            H = self.train.G.copy()
        else:
            _, _, h = self.train.derivs(w, self.sample_weights(u))
            H = self.train.weighted_gram(h)
        H[np.diag_indices_from(H)] += lam
        return H

    def lower_hvp(self, u, w, v) -> np.ndarray:
        _, _, h = self.train.derivs(w, self.sample_weights(u))
        Xv = np.asarray(self.train.X @ v).ravel()
        return np.asarray(self.train.X.T @ (h * Xv)).ravel() / self.n_train + self.lams(u) * v

    def cross(self, u, w, v) -> np.ndarray:
        if self.weights == "feature":
            return np.exp(u) * w * v
        if self.weights == "single":
            return np.array([np.exp(u[0]) * float(w @ v)])
        s = sigmoid(u)
        _, d1, _ = self.train.derivs(w)          # unweighted l'(z)
        return (1.0 - s) * s * d1 * np.asarray(self.train.X @ v).ravel() / self.n_train

    # -- the upper level ----------------------------------------------------------------
    def upper_value(self, u, w) -> float:
        return self.val.value(w)

    def upper_grad_w(self, u, w) -> np.ndarray:
        return self.val.grad(w)

    def reference(self, u, F: float) -> float:
        return abs(F)

    def __repr__(self) -> str:
        return (f"GLMBilevel({self.loss} lower / {self.upper_loss} upper, {self.weights} weights: "
                f"q={self.q}, n={self.n_train}, p={self.p}, n_val={self.n_val})")
