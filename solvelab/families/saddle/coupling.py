"""A smooth coupling Phi(x, y) of a saddle point, given as callables (or one JAX function).

    Coupling(value, grad_x, grad_y)   value(x, y) -> float, grad_x(x, y) -> (m,), grad_y(x, y) -> (n,)
    Coupling(value, grad=grad)        grad(x, y) -> (grad_x, grad_y) in one call
    Coupling.from_jax(fn)             fn(x, y) a JAX function; both gradients by jax.grad (float64)

Phi must be convex in x for every y and concave in y for every x (the saddle point
min_x max_y then exists on compact sets and the linearization bounds of the certificate
hold). That cannot be proved from callables; ``check`` (run when the program is built)
tests what can be tested at a few points of the players' sets: the gradients' shapes and
finiteness, the gradients against finite differences of ``value``, and monotonicity of
(grad_x, -grad_y), which every convex-concave Phi has. A failed test is an error that
names the callable and the points.
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError, MissingDependencyError, NonConvexError, ShapeError

_JAX_HINT = ("Coupling.from_jax needs JAX: pip install 'solvelab[nlp]' (or jax); or pass value, grad_x and grad_y "
             "as NumPy callables")

#: relative mismatch between a gradient and a central finite difference that is an error
FD_TOL = 1e-4
#: <F(z1) - F(z2), z1 - z2> below -MONOTONE_TOL |F(z1) - F(z2)| |z1 - z2| is an error
MONOTONE_TOL = 1e-6


class Coupling:
    """Phi(x, y) with its gradients (module docstring). Every call returns float64 NumPy
    arrays of the players' sizes; ``evaluations`` counts the gradient calls."""

    def __init__(self, value, grad_x=None, grad_y=None, *, grad=None, name: str = "Phi"):
        if not callable(value):
            raise InvalidDataError(f"Coupling: value must be a callable value(x, y) -> float, got "
                                   f"{type(value).__name__}")
        if grad is None and (grad_x is None or grad_y is None):
            raise InvalidDataError("Coupling: give both grad_x(x, y) and grad_y(x, y), or grad(x, y) returning "
                                   "(grad_x, grad_y); with JAX installed, Coupling.from_jax(fn) differentiates fn")
        for what, f in (("grad_x", grad_x), ("grad_y", grad_y), ("grad", grad)):
            if f is not None and not callable(f):
                raise InvalidDataError(f"Coupling: {what} must be callable, got {type(f).__name__}")
        self._value, self._gx, self._gy, self._grad = value, grad_x, grad_y, grad
        self.name = str(name)
        self.evaluations = 0
        self.shape = None          # (m, n): set by ``bind``

    @classmethod
    def from_jax(cls, fn, name: str = "Phi") -> "Coupling":
        """Phi = fn(x, y), a JAX-traceable scalar function; both gradients by one
        jax.grad(argnums=(0, 1)), jit-compiled, in float64."""
        try:
            import jax
        except ImportError as exc:
            raise MissingDependencyError(_JAX_HINT) from exc
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        f = jax.jit(fn)
        g = jax.jit(jax.grad(fn, argnums=(0, 1)))

        def value(x, y):
            return float(f(jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)))

        def grad(x, y):
            gx, gy = g(jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64))
            return np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64)
        return cls(value, grad=grad, name=name)

    # -- calls -------------------------------------------------------------------------
    def bind(self, m: int, n: int) -> "Coupling":
        self.shape = (int(m), int(n))
        return self

    def value(self, x, y) -> float:
        try:
            v = self._value(x, y)
            v = float(np.asarray(v, dtype=np.float64).reshape(()))
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"coupling {self.name}: value(x, y) must return a real scalar ({exc})") from None
        return v

    def grad(self, x, y) -> tuple:
        """(grad_x, grad_y) at (x, y), checked for shape (a ShapeError names the callable)."""
        self.evaluations += 1
        if self._grad is not None:
            out = self._grad(x, y)
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise InvalidDataError(f"coupling {self.name}: grad(x, y) must return (grad_x, grad_y), got "
                                       f"{type(out).__name__}")
            gx, gy = out
            names = ("grad(x, y)[0]", "grad(x, y)[1]")
        else:
            gx, gy = self._gx(x, y), self._gy(x, y)
            names = ("grad_x(x, y)", "grad_y(x, y)")
        return self._as_vector(gx, x.size, names[0]), self._as_vector(gy, y.size, names[1])

    def _as_vector(self, g, size, what) -> np.ndarray:
        try:
            arr = np.asarray(g, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"coupling {self.name}: {what} must return real numbers ({exc})") from None
        if arr.size != size or arr.ndim > 1 and max(arr.shape) != arr.size:
            raise ShapeError(f"coupling {self.name}: {what} returned shape {arr.shape}, the player has {size} "
                             f"coordinates")
        return arr.reshape(size)

    # -- the construction-time checks --------------------------------------------------
    def check(self, points, seed: int = 0) -> None:
        """The tests of the module docstring at ``points`` (a list of (x, y) in the sets)."""
        rng = np.random.default_rng(seed)
        grads = []
        for k, (x, y) in enumerate(points):
            v = self.value(x, y)
            gx, gy = self.grad(x, y)
            if not (np.isfinite(v) and np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))):
                raise InvalidDataError(f"coupling {self.name}: NaN or Inf at check point {k} (value {v!r}, "
                                       f"{int(np.sum(~np.isfinite(gx)))} of grad_x and {int(np.sum(~np.isfinite(gy)))} "
                                       f"of grad_y not finite)")
            grads.append((gx, gy))
            self._check_fd(x, y, gx, gy, v, rng, k)
        for i in range(len(points)):
            for j in range(i + 1, len(points)):
                self._check_monotone(points[i], points[j], grads[i], grads[j], i, j)

    def _check_fd(self, x, y, gx, gy, v, rng, k) -> None:
        """The directional derivative of value along a random direction, each player apart,
        against the gradient (central differences, step relative to the point)."""
        for who, u, g in (("grad_x", x, gx), ("grad_y", y, gy)):
            d = rng.standard_normal(u.size)
            d /= np.linalg.norm(d)
            h = 1e-6 * max(1.0, float(np.linalg.norm(u)))
            up, dn = u + h * d, u - h * d
            if who == "grad_x":
                fd = (self.value(up, y) - self.value(dn, y)) / (2 * h)
            else:
                fd = (self.value(x, up) - self.value(x, dn)) / (2 * h)
            an = float(g @ d)
            # the difference's own rounding: |value| eps / h
            noise = 10 * np.finfo(float).eps * max(abs(v), 1e-300) / h
            if abs(fd - an) > FD_TOL * max(abs(fd), abs(an), float(np.linalg.norm(g))) + noise:
                raise InvalidDataError(f"coupling {self.name}: {who} does not match the finite difference of value "
                                       f"at check point {k} (directional derivative {an:.6g} from {who}, {fd:.6g} "
                                       f"from value)")

    def _check_monotone(self, p1, p2, g1, g2, i, j) -> None:
        dx, dy = p1[0] - p2[0], p1[1] - p2[1]
        fx, fy = g1[0] - g2[0], -(g1[1] - g2[1])
        inner = float(fx @ dx + fy @ dy)
        size = float(np.sqrt(fx @ fx + fy @ fy) * np.sqrt(dx @ dx + dy @ dy))
        if inner < -MONOTONE_TOL * size:
            raise NonConvexError(f"coupling {self.name} is not convex in x and concave in y: between check points "
                                 f"{i} and {j}, <(grad_x, -grad_y) difference, point difference> = {inner:.3g} < 0 "
                                 f"(a convex-concave Phi gives >= 0; a saddle point needs Phi convex in the "
                                 f"minimizing player and concave in the maximizing one)")
