"""2-D Helmholtz equation with variable wave speed and an impedance (absorbing) boundary.

The equation, on the unit square Omega = (0, 1)^2, is

    -Laplace(u) - k(x)^2 u = f       in Omega,     k(x) = omega / c(x),
    du/dn - i k(x) u = g             on the boundary of Omega,

with n the outward unit normal. u is the complex amplitude of a time-harmonic field
U(x, t) = Re(u(x) e^{-i omega t}); with this sign convention g = 0 is the first-order
(Sommerfeld / Engquist-Majda) absorbing condition: it lets waves leave along the normal without
reflection and reflects a plane wave meeting the boundary at angle theta from the normal with
coefficient (cos theta - 1) / (cos theta + 1).

Units: lengths are in units of the side of the square (x, y in [0, 1]); omega is an angular
frequency [rad/time], c a phase speed [length/time], so k = omega / c [rad/length]. f has the
units of u per length^2 and g those of u per length. Any consistent unit system works.

Discretisation
--------------
Grid: s x s nodes including the boundary, x_i = i h, y_j = j h, i, j = 0..s-1, h = 1 / (s - 1);
arrays are indexed a[i, j] = a(x_i, y_j) (numpy "ij": axis 0 is x) and unknowns are ordered as
u.ravel() (C order, node (i, j) -> row i * s + j).

Interior nodes use the 5-point Laplacian,

    (4 u_ij - u_{i-1,j} - u_{i+1,j} - u_{i,j-1} - u_{i,j+1}) / h^2 - k_ij^2 u_ij = f_ij.

At a boundary node the same stencil reaches a ghost node outside the square, which is
eliminated with the centred difference of the impedance condition along the outward normal:
e.g. on x = 0, -(u_{1,j} - u_{-1,j}) / (2h) - i k u_{0,j} = g_{0,j}, i.e.

    u_ghost = u_inner + 2h (g + i k u_b),

so the row becomes (4 u_b - 2 u_inner - (two neighbours along the edge) - 2ih k u_b) / h^2
- k^2 u_b = f + 2 g / h. A corner node has two ghosts (one per normal) and gets both
eliminations; there the datum g is taken to be the mean (g_1 + g_2) / 2 of the data of the two
sides, i.e. the impedance datum for the (unnormalised) mean normal (n_1 + n_2) / 2. The ghost
elimination makes the truncation error O(h) on the boundary rows only, and the scheme is second
order in the maximum norm for smooth solutions.

Symmetric scaling: the rows of the scheme above are multiplied by the trapezoidal weights
W_ij = w_i w_j, with w_0 = w_{s-1} = 1/2 and w_i = 1 otherwise (boundary rows halved, corner rows
quartered). This leaves the solution unchanged and makes the matrix complex symmetric
(A = A^T, not Hermitian):

    A = (K (x) diag(w) + diag(w) (x) K) / h^2 - diag(W k^2) - (i / h) diag(beta k),
    b = W f + beta g / h,

where (x) is the Kronecker product, K = tridiag(-1, 2, -1) with K_00 = K_{s-1,s-1} = 1 (the
second difference with a mirror ghost, times h^2 w), and beta_ij = w_j [i in {0, s-1}] +
w_i [j in {0, s-1}] is 1 on every boundary node (corners included) and 0 inside. Up to the factor
h^2 this is the bilinear finite-element matrix with trapezoidal (lumped) quadrature.

Unique solvability: for real c > 0 and real omega > 0, A u = 0 gives
Im(u^H A u) = -(1/h) sum_boundary k |u|^2 = 0, so u vanishes on the boundary; the boundary rows
then force u = 0 on the next layer inwards, and so on, so A is nonsingular. The system is
solved with a sparse LU factorisation (SuperLU).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from data_gen.config import bounds
from data_gen.generator import Coordinate, FieldSpec, Generator, Layout, grid_coordinates
from data_gen.random_fields import GaussianRandomField

__all__ = ["helmholtz_matrix", "points_per_wavelength", "solve_helmholtz"]

# Below this many grid points per wavelength the second-order scheme's phase (pollution) error
# is O(1) over a few wavelengths, so solve_helmholtz warns.
_MIN_POINTS_PER_WAVELENGTH = 6.0


def _check_wavespeed(wavespeed: np.ndarray) -> np.ndarray:
    """Return the wave speed as a float64 (s, s) array, or raise ValueError."""
    arr = np.asarray(wavespeed)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 3:
        raise ValueError(
            f"wavespeed must be a square 2-D array of shape (s, s) with s >= 3, got shape "
            f"{arr.shape}"
        )
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"wavespeed must hold real numbers, got dtype {arr.dtype}")
    c = arr.astype(np.float64)
    if not np.isfinite(c).all():
        raise ValueError("wavespeed must contain only finite values")
    if not (c > 0.0).all():
        raise ValueError(f"wavespeed must be strictly positive everywhere, got min {c.min()!r}")
    return c


def _check_omega(omega: float) -> float:
    """Return omega as a float, or raise ValueError unless it is finite and > 0."""
    try:
        out = float(omega)
    except (TypeError, ValueError):
        raise ValueError(f"omega must be a positive finite real number, got {omega!r}") from None
    if not (math.isfinite(out) and out > 0.0):
        raise ValueError(f"omega must be a positive finite real number, got {omega!r}")
    return out


def _check_field(name: str, value: np.ndarray, s: int) -> np.ndarray:
    """Return a nodal field as a complex128 (s, s) array, or raise ValueError."""
    arr = np.asarray(value)
    if arr.shape != (s, s):
        raise ValueError(
            f"{name} must have the shape of wavespeed, ({s}, {s}), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "iufc":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    out = arr.astype(np.complex128)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} must contain only finite values")
    return out


def _weights(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-D trapezoidal weights w, 2-D row weights W = w w^T and boundary weights beta."""
    w = np.ones(s)
    w[[0, -1]] = 0.5
    beta = np.zeros((s, s))
    beta[[0, -1], :] += w[None, :]
    beta[:, [0, -1]] += w[:, None]
    return w, np.outer(w, w), beta


def points_per_wavelength(wavespeed: np.ndarray, omega: float) -> float:
    """Fewest grid spacings per local wavelength: min over the nodes of (2 pi c / omega) / h.

    Parameters
    ----------
    wavespeed : (s, s) array of real
        Wave speed c > 0 [length/time] at the nodes, s >= 3.
    omega : float
        Angular frequency [rad/time], > 0.

    Returns
    -------
    float
        2 pi min(c) (s - 1) / omega. The 5-point scheme needs roughly >= 6 (more at high
        frequency, where the phase error grows like k^3 h^2 per unit length).
    """
    c = _check_wavespeed(wavespeed)
    om = _check_omega(omega)
    return 2.0 * math.pi * float(c.min()) * (c.shape[0] - 1) / om


def helmholtz_matrix(wavespeed: np.ndarray, *, omega: float) -> sp.csr_matrix:
    """The (s^2, s^2) complex sparse matrix of the discrete problem, unknowns ordered u.ravel().

    This is the row-scaled, complex symmetric matrix of the module docstring,

        A = (K (x) diag(w) + diag(w) (x) K) / h^2 - diag(W k^2) - (i / h) diag(beta k),

    i.e. the 5-point scheme with ghost-point elimination of du/dn - i k u = g, its boundary rows
    halved and corner rows quartered. The matching right-hand side is b = W f + beta g / h
    (flattened in C order), with W = w w^T and beta as in the module docstring.

    Parameters
    ----------
    wavespeed : (s, s) array of real
        Wave speed c > 0 [length/time] at the nodes (x_i, y_j), s >= 3.
    omega : float
        Angular frequency [rad/time], > 0.

    Returns
    -------
    scipy.sparse.csr_matrix, complex128, shape (s^2, s^2)

    Raises
    ------
    ValueError
        If an argument is invalid; the message names it and says what was expected.
    """
    c = _check_wavespeed(wavespeed)
    om = _check_omega(omega)
    s = c.shape[0]
    h = 1.0 / (s - 1)
    w, weight, beta = _weights(s)
    k = om / c

    main = np.full(s, 2.0)
    main[[0, -1]] = 1.0
    off = -np.ones(s - 1)
    stiff_1d = sp.diags([off, main, off], [-1, 0, 1], format="csr")
    mass_1d = sp.diags(w, format="csr")
    laplace = (sp.kron(stiff_1d, mass_1d) + sp.kron(mass_1d, stiff_1d)) / h**2
    diagonal = -(weight * k**2) - (1j / h) * (beta * k)
    return sp.csr_matrix(laplace + sp.diags(diagonal.ravel()), dtype=np.complex128)


def solve_helmholtz(
    wavespeed: np.ndarray,
    *,
    omega: float,
    source: np.ndarray,
    boundary_data: np.ndarray | None = None,
) -> np.ndarray:
    """Solve -Laplace(u) - (omega/c)^2 u = f in (0,1)^2, du/dn - i (omega/c) u = g on the boundary.

    Second-order 5-point finite differences with ghost-point elimination of the impedance
    condition, rows scaled to a complex symmetric matrix (see the module docstring), solved by
    sparse LU. Warns (UserWarning) when points_per_wavelength(wavespeed, omega) < 6.

    Parameters
    ----------
    wavespeed : (s, s) array of real
        Wave speed c > 0 [length/time] at the nodes x_i = i/(s-1), y_j = j/(s-1), s >= 3.
    omega : float
        Angular frequency [rad/time], > 0.
    source : (s, s) array of real or complex
        f at the nodes [units of u / length^2].
    boundary_data : (s, s) array of real or complex, optional
        g at the nodes [units of u / length]; only the boundary values are used. At a corner,
        give the mean of the data of the two sides meeting there. None means g = 0 (the
        first-order absorbing condition).

    Returns
    -------
    (s, s) complex128 array
        u(x_i, y_j).

    Raises
    ------
    ValueError
        If an argument is invalid; the message names it and says what was expected.
    """
    c = _check_wavespeed(wavespeed)
    om = _check_omega(omega)
    s = c.shape[0]
    f = _check_field("source", source, s)
    g = np.zeros((s, s), np.complex128)
    if boundary_data is not None:
        g = _check_field("boundary_data", boundary_data, s)

    ppw = points_per_wavelength(c, om)
    if ppw < _MIN_POINTS_PER_WAVELENGTH:
        warnings.warn(
            f"Helmholtz waves are under-resolved: {ppw:.3g} grid points per wavelength "
            f"(< {_MIN_POINTS_PER_WAVELENGTH:g}); increase s or lower omega",
            UserWarning,
            stacklevel=2,
        )

    h = 1.0 / (s - 1)
    _, weight, beta = _weights(s)
    rhs = (weight * f + beta * g / h).ravel()
    matrix = helmholtz_matrix(c, omega=om)
    u = spla.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(rhs)
    return u.reshape(s, s)


@dataclass(frozen=True)
class Helmholtz(Generator):
    """Generator of (wave speed c, wavefield u) pairs of the 2-D Helmholtz problem.

    c(x) = c_mean (1 + contrast · tanh ψ(x)), ψ ~ N(0, σ²(-Δ + τ²I)^{-α}) (Neumann), so
    c_mean (1 - contrast) < c < c_mean (1 + contrast). The excitation is either a point-like
    source (a normalised Gaussian of width ``source_width`` at (source_x, source_y), with the
    absorbing boundary g = 0) or an incident plane wave u_inc = exp(i k0 (x cos θ + y sin θ)),
    k0 = ω / c_mean, entering through the impedance data g = ∂u_inc/∂n - i k u_inc (no source).
    The wavefield is stored as its real and imaginary parts (``component`` dimension). With
    ``random_source`` the source is a random complex field, stored too.
    """

    name: ClassVar[str] = "helmholtz"
    pde: ClassVar[str] = "helmholtz"

    resolution: int = field(default=128, metadata=bounds(ge=8))
    """Nodes per side s (boundary included; h = 1/(s-1))."""
    omega: float = field(default=40.0, metadata=bounds(gt=0))
    """Angular frequency ω."""
    c_mean: float = field(default=1.0, metadata=bounds(gt=0))
    contrast: float = field(default=0.2, metadata=bounds(ge=0, le=0.9))
    grf: GaussianRandomField = GaussianRandomField(alpha=2.0, tau=3.0, boundary="neumann")
    excitation: Literal["point_source", "plane_wave", "random_source"] = "point_source"
    source_grf: GaussianRandomField = GaussianRandomField(alpha=2.0, tau=3.0, boundary="neumann")
    """``random_source``: f = ψ_re + i ψ_im, two independent samples of this field (stored as
    the input ``source``, g = 0): the (wave speed, source) -> wavefield pairs a residual ->
    error operator learns from."""
    source_x: float = field(default=0.5, metadata=bounds(ge=0, le=1))
    source_y: float = field(default=0.5, metadata=bounds(ge=0, le=1))
    source_width: float = field(default=0.02, metadata=bounds(gt=0))
    incidence_angle: float = 0.0
    """θ in degrees, for ``plane_wave``: 0 travels along +x."""

    def __post_init__(self) -> None:
        self.grf.require_node_grid("the grid includes its boundary")
        self.source_grf.require_node_grid("the grid includes its boundary")
        c_min = self.c_mean * (1 - self.contrast)
        ppw = 2 * math.pi * c_min * (self.resolution - 1) / self.omega
        if ppw < _MIN_POINTS_PER_WAVELENGTH:
            raise ValueError(
                f"resolution: {self.resolution} nodes give {ppw:.3g} points per wavelength at "
                f"omega = {self.omega:g} and the slowest wave speed {c_min:g}; expected >= "
                f"{_MIN_POINTS_PER_WAVELENGTH:g} (raise resolution or lower omega)"
            )

    def layout(self) -> Layout:
        x = np.linspace(0.0, 1.0, self.resolution)
        return Layout(
            coordinates=(
                *grid_coordinates(x, "nodes"),
                Coordinate("component", np.array(["real", "imag"]), "part of the complex field"),
            ),
            fields=(
                FieldSpec("wavespeed", ("x", "y"), "input", "wave speed c"),
                *(
                    [FieldSpec("source", ("component", "x", "y"), "input", "complex source f")]
                    if self.excitation == "random_source"
                    else []
                ),
                FieldSpec("wavefield", ("component", "x", "y"), "output", "complex wavefield u"),
            ),
            attrs={
                "equation": f"-laplace(u) - ({self.omega:g}/c)^2 u = f",
                "domain": "[0, 1] x [0, 1], node grid including the boundary",
                "boundary_conditions": "impedance du/dn - i (omega/c) u = g on the whole boundary"
                + (
                    " (g from the incident plane wave)"
                    if self.excitation == "plane_wave"
                    else " (g = 0: absorbing)"
                ),
            },
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        s = self.resolution
        c = self.c_mean * (1 + self.contrast * np.tanh(self.grf.sample(rng, (s, s))))
        X, Y = np.meshgrid(np.linspace(0.0, 1.0, s), np.linspace(0.0, 1.0, s), indexing="ij")
        if self.excitation == "random_source":
            f = self.source_grf.sample(rng, (s, s)) + 1j * self.source_grf.sample(rng, (s, s))
            u = solve_helmholtz(c, omega=self.omega, source=f)
            return {
                "wavespeed": c,
                "source": np.stack([f.real, f.imag]),
                "wavefield": np.stack([u.real, u.imag]),
            }
        if self.excitation == "point_source":
            w2 = self.source_width**2
            r2 = (X - self.source_x) ** 2 + (Y - self.source_y) ** 2
            u = solve_helmholtz(
                c, omega=self.omega, source=np.exp(-r2 / (2 * w2)) / (2 * np.pi * w2)
            )
        else:
            u = solve_helmholtz(
                c, omega=self.omega, source=np.zeros((s, s)), boundary_data=self._incident_data(c)
            )
        return {"wavespeed": c, "wavefield": np.stack([u.real, u.imag])}

    def _incident_data(self, c: np.ndarray) -> np.ndarray:
        """g = ∂u_inc/∂n - i (ω/c) u_inc on the boundary (corners: the mean of the two sides)."""
        s = c.shape[0]
        theta = math.radians(self.incidence_angle)
        k0 = self.omega / self.c_mean
        X, Y = np.meshgrid(np.linspace(0.0, 1.0, s), np.linspace(0.0, 1.0, s), indexing="ij")
        u_inc = np.exp(1j * k0 * (X * math.cos(theta) + Y * math.sin(theta)))
        kx, ky = 1j * k0 * math.cos(theta), 1j * k0 * math.sin(theta)
        # outward normal derivative on each side: x=0 -> -∂x, x=1 -> +∂x, y=0 -> -∂y, y=1 -> +∂y
        dudn = np.zeros((s, s), complex)
        count = np.zeros((s, s))
        for side, slope in (
            ((0, slice(None)), -kx),
            ((-1, slice(None)), kx),
            ((slice(None), 0), -ky),
            ((slice(None), -1), ky),
        ):
            dudn[side] += slope
            count[side] += 1
        dudn = np.where(count > 0, dudn / np.maximum(count, 1), 0) * u_inc
        return dudn - 1j * self.omega / c * u_inc
