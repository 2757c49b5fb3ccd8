"""PDE problems for physics-informed training: domains, residuals, conditions, references."""

from opl.physics.domain import SAMPLERS, Box, unit_points
from opl.physics.fields import Fields, fields_by_autograd
from opl.physics.helmholtz import Helmholtz2D
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
    "Box",
    "Condition",
    "Fields",
    "Helmholtz2D",
    "Problem",
    "derivative_condition",
    "dirichlet",
    "fields_by_autograd",
    "pde",
    "periodic",
    "unit_points",
]
