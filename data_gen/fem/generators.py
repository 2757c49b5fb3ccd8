"""Finite-element dataset generators on the meshes of meshes/: each a "solve sample i" dataclass.

* ``fem_darcy``: -div(a grad u) = f with a random coefficient (log-normal or two-valued) and
  optionally a random source, Dirichlet and Neumann parts, P1 or P2;
* ``fem_elasticity``: plane-stress elasticity of a plate with holes, random Young's modulus field
  and a random traction -> displacement and von Mises stress;
* ``fem_heat``: the heat equation with a two-material conductivity, random initial temperature ->
  trajectory (θ-scheme);
* ``fem_stokes``: Stokes flow past a cylinder (Taylor-Hood P2-P1), random inflow profile ->
  velocity and pressure.

Random fields are Gaussian random fields sampled on the square box around the mesh and
interpolated at the dofs (``data_gen.random_fields.sample_at_points``). The mesh and its spaces
are stored in UGRID form (``data_gen.fem.ugrid``). Quantities are nondimensional.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import skfem

from data_gen.config import bounds
from data_gen.fem.diffusion import solve_diffusion
from data_gen.fem.elasticity import solve_elasticity
from data_gen.fem.heat import solve_heat
from data_gen.fem.mesh import load_mesh, require_boundaries
from data_gen.fem.stokes import solve_stokes
from data_gen.fem.ugrid import (
    ELEMENTS,
    component_coordinate,
    field_attrs,
    mesh_variables,
)
from data_gen.generator import Coordinate, FieldSpec, Generator, Layout
from data_gen.random_fields import GaussianRandomField, sample_at_points
from opl.format import DOF_DIMS

Element = Literal["P1", "P2"]


@functools.lru_cache(maxsize=8)
def _mesh(name: str, level: int, refine: int) -> skfem.MeshTri:
    """Meshes are loaded once per process (generators are re-created in each worker)."""
    return load_mesh(name, level, refine)


@functools.lru_cache(maxsize=8)
def _dof_locations(name: str, level: int, refine: int, element: str) -> np.ndarray:
    return skfem.Basis(_mesh(name, level, refine), ELEMENTS[element]()).doflocs


@dataclass(frozen=True)
class MeshGenerator(Generator):
    """Common options and plumbing of the finite-element generators."""

    mesh: str = "lshape"
    """A mesh of meshes/ by name (lshape, plate_hole, plate_holes, channel_cylinder,
    disk_inclusions) or the path of a mesh file meshio reads."""
    level: int = field(default=1, metadata=bounds(ge=0))
    """Refinement level of a named mesh (0 coarsest; the element size halves per level)."""
    refine: int = field(default=0, metadata=bounds(ge=0))
    """Uniform refinements of that mesh (scikit-fem, each triangle into four): a mesh nested in
    the coarser one, for the multigrid models (``opl.models.MultigridSPON``)."""

    def boundary_parts(self) -> tuple[str, ...]:
        """The boundary names this generator's options refer to (checked against the mesh)."""
        return ()

    def __post_init__(self) -> None:
        require_boundaries(self.load_mesh(), self.boundary_parts(), f"{self.name} boundaries")

    def load_mesh(self) -> skfem.MeshTri:
        return _mesh(self.mesh, self.level, self.refine)

    def dofs(self, element: str) -> np.ndarray:
        """The (2, n) dof locations of ``element`` on the mesh."""
        return _dof_locations(self.mesh, self.level, self.refine, element)

    def mesh_layout(
        self,
        fields: tuple[FieldSpec, ...],
        attrs: dict,
        coordinates: tuple[Coordinate, ...] = (),
    ) -> Layout:
        elements = tuple(sorted({f.attrs["element"] for f in fields if "element" in f.attrs}))
        mesh = self.load_mesh()
        attrs = {
            **attrs,
            "mesh_source": self.mesh
            + ("" if self.mesh.endswith(".msh") else f", level {self.level}")
            + (f", refined {self.refine}x" if self.refine else ""),
            "mesh_summary": f"{mesh.p.shape[1]} nodes, {mesh.t.shape[1]} triangles",
        }
        return Layout(coordinates, fields, attrs, mesh_variables(mesh, elements))


def _on(
    element: str, name: str, role: str, long_name: str, vector: bool = False, time: bool = False
):
    """A field on the dofs of ``element`` (optionally with ``t`` and/or ``component`` first)."""
    dims = (("t",) if time else ()) + (("component",) if vector else ()) + (DOF_DIMS[element],)
    return FieldSpec(name, dims, role, long_name, attrs=field_attrs(element))


@dataclass(frozen=True)
class FemDarcy(MeshGenerator):
    """-div(a grad u) = f in Ω, u = 0 on ``dirichlet`` parts, a ∂u/∂n = ``neumann_flux`` on
    ``neumann`` parts (zero flux on the rest). ``a`` = exp(ψ) (``lognormal``) or high/low on the
    sign of ψ (``piecewise``), ψ a GRF; f = ``forcing`` or, if ``random_forcing``, a second GRF.
    """

    name: ClassVar[str] = "fem_darcy"
    pde: ClassVar[str] = "darcy"

    element: Element = "P1"
    coefficient: Literal["lognormal", "piecewise"] = "lognormal"
    grf: GaussianRandomField = GaussianRandomField(alpha=2.0, tau=3.0, boundary="neumann")
    high: float = field(default=12.0, metadata=bounds(gt=0))
    low: float = field(default=3.0, metadata=bounds(gt=0))
    forcing: float = 1.0
    random_forcing: bool = False
    dirichlet: tuple[str, ...] = ("bottom", "right", "top", "left")
    neumann: tuple[str, ...] = ("reentrant",)
    neumann_flux: float = 0.0

    def boundary_parts(self) -> tuple[str, ...]:
        return self.dirichlet + self.neumann

    def layout(self) -> Layout:
        fields = [_on(self.element, "coeff", "input", "diffusion coefficient a")]
        if self.random_forcing:
            fields.append(_on(self.element, "forcing", "input", "source term f"))
        fields.append(_on(self.element, "solution", "output", "solution u"))
        return self.mesh_layout(
            tuple(fields),
            {
                "equation": "-div(a grad u) = f",
                "domain": f"mesh {self.mesh}",
                "boundary_conditions": f"u = 0 on {', '.join(self.dirichlet)}; a du/dn = "
                f"{self.neumann_flux:g} on {', '.join(self.neumann) or 'none'}; "
                "zero flux elsewhere",
            },
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        points = self.dofs(self.element)
        psi = sample_at_points(self.grf, rng, points)
        a = (
            np.exp(psi)
            if self.coefficient == "lognormal"
            else np.where(psi >= 0, self.high, self.low)
        )
        f = (
            sample_at_points(self.grf, rng, points)
            if self.random_forcing
            else np.full(psi.shape, self.forcing)
        )
        u, _ = solve_diffusion(
            self.load_mesh(),
            element=self.element,
            coefficient=a,
            source=f,
            dirichlet=dict.fromkeys(self.dirichlet, 0.0),
            neumann=dict.fromkeys(self.neumann, self.neumann_flux),
        )
        out = {"coeff": a, "solution": u}
        if self.random_forcing:
            out["forcing"] = f
        return out


@dataclass(frozen=True)
class FemElasticity(MeshGenerator):
    """Plane-stress elasticity: the plate is clamped on ``clamped`` and pulled on ``loaded`` by
    a random traction t = (t_x, t_y), t_x ~ U(traction_x), t_y ~ U(traction_y); Young's modulus
    E = youngs_modulus · exp(ψ), ψ a GRF. Output: displacement and von Mises stress."""

    name: ClassVar[str] = "fem_elasticity"
    pde: ClassVar[str] = "linear_elasticity"

    mesh: str = "plate_holes"
    element: Element = "P2"
    youngs_modulus: float = field(default=1.0, metadata=bounds(gt=0))
    poisson_ratio: float = field(default=0.3, metadata=bounds(gt=-1, le=0.49))
    grf: GaussianRandomField = GaussianRandomField(
        alpha=2.0, tau=4.0, sigma=2.0, boundary="neumann"
    )
    clamped: tuple[str, ...] = ("left",)
    loaded: str = "right"
    traction_x: tuple[float, ...] = (0.5, 1.5)
    traction_y: tuple[float, ...] = (-0.5, 0.5)

    def boundary_parts(self) -> tuple[str, ...]:
        return (*self.clamped, self.loaded)

    def __post_init__(self) -> None:
        for name in ("traction_x", "traction_y"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                raise ValueError(
                    f"{name}: expected [low, high] with low <= high, got {list(value)}"
                )
        super().__post_init__()

    def layout(self) -> Layout:
        fields = (
            _on(self.element, "youngs_modulus", "input", "Young's modulus E"),
            FieldSpec("traction", ("component",), "parameter", f"traction on {self.loaded}"),
            _on(self.element, "displacement", "output", "displacement u", vector=True),
            _on("P1", "von_mises", "output", "von Mises stress"),
        )
        return self.mesh_layout(
            fields,
            {
                "equation": f"-div(sigma(u)) = 0, plane stress, nu = {self.poisson_ratio:g}",
                "domain": f"mesh {self.mesh}",
                "boundary_conditions": f"u = 0 on {', '.join(self.clamped)}; sigma n = traction "
                f"on {self.loaded}; sigma n = 0 elsewhere",
            },
            coordinates=(component_coordinate(),),
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        E = self.youngs_modulus * np.exp(sample_at_points(self.grf, rng, self.dofs(self.element)))
        traction = np.array([rng.uniform(*self.traction_x), rng.uniform(*self.traction_y)])
        u, von_mises, _ = solve_elasticity(
            self.load_mesh(),
            element=self.element,
            youngs_modulus=E,
            poisson_ratio=self.poisson_ratio,
            clamped=self.clamped,
            traction={self.loaded: (float(traction[0]), float(traction[1]))},
        )
        return {
            "youngs_modulus": E,
            "traction": traction,
            "displacement": u,
            "von_mises": von_mises,
        }


@dataclass(frozen=True)
class FemHeat(MeshGenerator):
    """∂u/∂t = div(κ grad u), u = 0 on ``dirichlet``; κ = ``kappa`` in the subdomain
    ``matrix`` and ``kappa_inclusions`` in ``inclusions`` (one value if the mesh has no such
    subdomains); u0 a GRF. Output: u at ``n_snapshots`` times up to ``t_end``."""

    name: ClassVar[str] = "fem_heat"
    pde: ClassVar[str] = "heat"

    mesh: str = "disk_inclusions"
    element: Element = "P1"
    kappa: float = field(default=1.0, metadata=bounds(gt=0))
    kappa_inclusions: float = field(default=10.0, metadata=bounds(gt=0))
    grf: GaussianRandomField = GaussianRandomField(alpha=2.0, tau=5.0, boundary="neumann")
    t_end: float = field(default=0.1, metadata=bounds(gt=0))
    n_snapshots: int = field(default=10, metadata=bounds(ge=1))
    dt: float = field(default=1e-3, metadata=bounds(gt=0))
    theta: float = field(default=0.5, metadata=bounds(ge=0.5, le=1.0))
    dirichlet: tuple[str, ...] = ("circle",)

    def boundary_parts(self) -> tuple[str, ...]:
        return self.dirichlet

    def layout(self) -> Layout:
        times = self.t_end * np.arange(1, self.n_snapshots + 1) / self.n_snapshots
        fields = (
            _on(self.element, "kappa", "parameter", "conductivity κ"),
            _on(self.element, "u0", "input", "initial temperature u(x, 0)"),
            _on(self.element, "solution", "output", "temperature u(x, t)", time=True),
        )
        return self.mesh_layout(
            fields,
            {
                "equation": "u_t = div(kappa grad u)",
                "domain": f"mesh {self.mesh}",
                "boundary_conditions": f"u = 0 on {', '.join(self.dirichlet)}",
                "time_stepping": f"theta = {self.theta:g}, dt = {self.dt:g}",
            },
            coordinates=(Coordinate("t", times, "time"),),
        )

    def conductivity(self) -> np.ndarray:
        """κ at the dofs: ``kappa_inclusions`` at every dof of an inclusion triangle."""
        mesh = self.load_mesh()
        basis = skfem.Basis(mesh, ELEMENTS[self.element]())
        kappa = np.full(basis.N, self.kappa)
        inclusions = (mesh.subdomains or {}).get("inclusions")
        if inclusions is not None:
            kappa[np.unique(basis.element_dofs[:, inclusions])] = self.kappa_inclusions
        return kappa

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        u0 = sample_at_points(self.grf, rng, self.dofs(self.element))
        kappa = self.conductivity()
        u, _ = solve_heat(
            self.load_mesh(),
            element=self.element,
            u0=u0,
            kappa=kappa,
            t_end=self.t_end,
            n_snapshots=self.n_snapshots,
            dt=self.dt,
            theta=self.theta,
            dirichlet=self.dirichlet,
        )
        return {"kappa": kappa, "u0": u0, "solution": u}


@dataclass(frozen=True)
class FemStokes(MeshGenerator):
    """-ν Δu + ∇p = 0, div u = 0 past an obstacle; u = (g(y), 0) on ``inlet`` with the random
    profile g(y) = U · (1 + Σ_k a_k sin(kπ s)) · 4 s (1 - s), s = (y - y0)/H, a_k ~ N(0, (0.5/k)²),
    k = 1..``modes``; no slip on ``walls``; do-nothing outflow on ``outlet`` (Taylor-Hood P2-P1)."""

    name: ClassVar[str] = "fem_stokes"
    pde: ClassVar[str] = "stokes"

    mesh: str = "channel_cylinder"
    level: int = field(default=0, metadata=bounds(ge=0))
    viscosity: float = field(default=1e-3, metadata=bounds(gt=0))
    mean_velocity: float = field(default=0.3, metadata=bounds(gt=0))
    modes: int = field(default=4, metadata=bounds(ge=0))
    inlet: str = "inlet"
    walls: tuple[str, ...] = ("walls", "cylinder")
    outlet: str = "outlet"

    def boundary_parts(self) -> tuple[str, ...]:
        return (self.inlet, *self.walls, self.outlet)

    def layout(self) -> Layout:
        fields = (
            _on("P2", "inflow", "input", "inlet velocity (zero off the inlet)", vector=True),
            _on("P2", "velocity", "output", "velocity u", vector=True),
            _on("P1", "pressure", "output", "pressure p"),
        )
        return self.mesh_layout(
            fields,
            {
                "equation": f"-{self.viscosity:g} laplace(u) + grad(p) = 0, div(u) = 0",
                "domain": f"mesh {self.mesh}",
                "boundary_conditions": f"u = inflow on {self.inlet}; u = 0 on "
                f"{', '.join(self.walls)}; do-nothing on {self.outlet}",
            },
            coordinates=(component_coordinate(),),
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        weights = rng.normal(0.0, 0.5 / np.arange(1, self.modes + 1))
        mesh = self.load_mesh()
        inlet_nodes = np.unique(mesh.facets[:, mesh.boundaries[self.inlet]])
        y0, y1 = mesh.p[1, inlet_nodes].min(), mesh.p[1, inlet_nodes].max()

        def profile(points: np.ndarray) -> np.ndarray:
            s = np.clip((points[1] - y0) / (y1 - y0), 0.0, 1.0)
            bumps = sum(w * np.sin((k + 1) * math.pi * s) for k, w in enumerate(weights))
            g = self.mean_velocity * 6.0 * s * (1.0 - s) * (1.0 + bumps)
            return np.stack([g, np.zeros_like(g)])

        velocity, pressure, p2, _ = solve_stokes(
            mesh,
            viscosity=self.viscosity,
            inlet=self.inlet,
            inflow=profile,
            walls=self.walls,
            outlet=self.outlet,
        )
        inflow = np.zeros_like(velocity)
        on_inlet = p2.get_dofs(self.inlet).all()
        inflow[:, on_inlet] = profile(p2.doflocs[:, on_inlet])
        return {"inflow": inflow, "velocity": velocity, "pressure": pressure}
