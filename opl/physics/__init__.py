"""PDE problems for physics-informed training: domains, residuals, conditions, references."""

from opl.physics.allen_cahn import AllenCahn1D
from opl.physics.burgers import Burgers1D
from opl.physics.convection import Convection1D
from opl.physics.domain import SAMPLERS, Box, unit_points
from opl.physics.fields import Fields, fields_by_autograd
from opl.physics.grid_reference import GridReference
from opl.physics.helmholtz import Helmholtz2D
from opl.physics.klein_gordon import KleinGordon2D
from opl.physics.lagrangian import Lagrangian, LagrangianFields, periodic_interpolation
from opl.physics.nonlinear_diffusion import NonlinearDiffusion
from opl.physics.poisson import Poisson2D
from opl.physics.problem import (
    Condition,
    Problem,
    derivative_condition,
    dirichlet,
    pde,
    periodic,
)

__all__ = [
    "SAMPLERS",
    "AllenCahn1D",
    "Box",
    "Burgers1D",
    "Condition",
    "Convection1D",
    "Fields",
    "GridReference",
    "Helmholtz2D",
    "KleinGordon2D",
    "Lagrangian",
    "LagrangianFields",
    "NonlinearDiffusion",
    "Poisson2D",
    "Problem",
    "derivative_condition",
    "dirichlet",
    "fields_by_autograd",
    "pde",
    "periodic",
    "periodic_interpolation",
    "unit_points",
]
