r"""ETDRK4 for stiff semilinear ODE systems ``v' = L v + N(v)`` with diagonal L (Cox & Matthews
2002), coefficients by Kassam & Trefethen's contour integrals (2005): the time stepper of the
Fourier pseudo-spectral solvers (Burgers here, the Allen-Cahn reference of ``opl.physics``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CONTOUR_POINTS = 32
"""Points on the circle of radius 1 around each z of the contour means."""

Coefficients = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def etdrk4_coefficients(linear: np.ndarray, h: float) -> Coefficients:
    """ETDRK4 coefficients ``(e^z, e^{z/2}, Q, f1, f2, f3)`` for ``z = h * linear`` (real, <= 0):
    ``Q = h(e^{z/2} - 1)/z``, ``f1 = h(-4 - z + e^z(4 - 3z + z²))/z³``,
    ``f2 = h(2 + z + e^z(z - 2))/z³``, ``f3 = h(-4 - 3z - z² + e^z(4 - z))/z³``, each the mean
    over a circle of radius 1 around z (Cauchy's formula), free of cancellation at small |z|."""
    z = h * np.asarray(linear, dtype=np.float64)
    theta = np.pi * (np.arange(1, CONTOUR_POINTS + 1) - 0.5) / CONTOUR_POINTS
    w = z[:, None] + np.exp(1j * theta)[None, :]
    ew, w3 = np.exp(w), w**3

    def mean(values: np.ndarray) -> np.ndarray:
        return h * values.mean(axis=1).real

    return (
        np.exp(z),
        np.exp(z / 2),
        mean((np.exp(w / 2) - 1) / w),
        mean((-4 - w + ew * (4 - 3 * w + w**2)) / w3),
        mean((2 + w + ew * (w - 2)) / w3),
        mean((-4 - 3 * w - w**2 + ew * (4 - w)) / w3),
    )


def etdrk4_step(
    v: np.ndarray, nonlinear: Callable[[np.ndarray], np.ndarray], coefficients: Coefficients
) -> np.ndarray:
    """One ETDRK4 step of ``v' = L v + N(v)`` with ``coefficients = etdrk4_coefficients(L, h)``."""
    e, e2, q, f1, f2, f3 = coefficients
    nv = nonlinear(v)
    a = e2 * v + q * nv
    na = nonlinear(a)
    b = e2 * v + q * na
    nb = nonlinear(b)
    c = e2 * a + q * (2.0 * nb - nv)
    return e * v + f1 * nv + 2.0 * f2 * (na + nb) + f3 * nonlinear(c)
