"""What a dataset generator is: typed hyperparameters, a layout of fields, and "solve sample i".

A generator is a frozen dataclass (its fields are the generator config, checked by
``data_gen.config``) deriving from ``Generator``. It declares the file layout once (``layout``) and
computes one sample from a random generator (``solve``). Sample ``i`` of a dataset with seed ``s``
draws its randomness from ``numpy.random.SeedSequence(s, spawn_key=(i,))`` -- the ``i``-th child of
``SeedSequence(s).spawn`` -- so it is a pure function of (config, seed, i): the same whatever the
number of workers or the order in which they finish.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from data_gen.config import from_mapping
from opl.errors import ConfigError, SolverError
from opl.format import GridConvention, Role


@dataclass(frozen=True)
class Coordinate:
    """A dimension with its coordinate values (1-D, numbers or strings) and CF-style metadata;
    ``grid`` is the convention of a spatial axis (stored as the coordinate's ``grid``
    attribute)."""

    name: str
    values: np.ndarray
    long_name: str
    units: str = "1"
    grid: GridConvention | None = None


@dataclass(frozen=True)
class FieldSpec:
    """One stored variable: its dimensions after ``sample``, role, and metadata.

    ``attrs`` holds further attributes, e.g. ``mesh``, ``location`` and ``element`` of a field
    on a finite-element mesh.
    """

    name: str
    dims: tuple[str, ...]
    role: Role
    long_name: str
    units: str = "1"
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Variable:
    """A variable written once when the file is created (mesh topology, dof coordinates, ...)."""

    name: str
    dims: tuple[str, ...]
    values: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """Everything a dataset file holds besides the samples themselves.

    ``attrs`` become global attributes; by convention they include ``equation``, ``domain`` and
    ``boundary_conditions`` as human-readable text. ``variables`` are written once, at creation.
    """

    coordinates: tuple[Coordinate, ...]
    fields: tuple[FieldSpec, ...]
    attrs: dict[str, str | float | int] = field(default_factory=dict)
    variables: tuple[Variable, ...] = ()

    def sizes(self) -> dict[str, int]:
        """The size of every dimension but ``sample``, from the coordinates and variables."""
        sizes = {c.name: len(c.values) for c in self.coordinates}
        for var in self.variables:
            sizes.update(zip(var.dims, np.shape(var.values), strict=True))
        return sizes

    def shape(self, spec: FieldSpec) -> tuple[int, ...]:
        """The shape of one sample of ``spec`` (without the ``sample`` dimension)."""
        sizes = self.sizes()
        return tuple(sizes[d] for d in spec.dims)


class Generator(ABC):
    """Base class of dataset generators (each a frozen dataclass of hyperparameters)."""

    name: ClassVar[str]
    """Registry name, used as ``class_path`` in configs and stored as the file's ``generator``."""
    pde: ClassVar[str]
    """Short name of the PDE, stored as the file's ``pde`` attribute."""

    @abstractmethod
    def layout(self) -> Layout:
        """Dimensions, coordinates, fields and attributes of the dataset."""

    @abstractmethod
    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One sample: an array per field of ``layout()``, shaped as ``layout().shape(field)``."""


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of sample ``index`` (``SeedSequence(seed).spawn(index + 1)[index]``)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def solve_sample(generator: Generator, seed: int, index: int) -> dict[str, np.ndarray]:
    """Sample ``index`` of the dataset (``generator``, ``seed``): the unit of work of every run.

    A solver that fails (diverges, or refuses its input) raises ``SolverError`` naming the sample.
    """
    try:
        return generator.solve(sample_rng(seed, index))
    except (ArithmeticError, ValueError, np.linalg.LinAlgError) as err:
        raise SolverError(f"sample {index}: {type(err).__name__}: {err}") from err


def grid_coordinates(
    x: np.ndarray, grid: GridConvention, names: tuple[str, ...] = ("x", "y")
) -> tuple[Coordinate, ...]:
    """The coordinates of a tensor-product grid with the same 1-D points ``x`` (of convention
    ``grid``) on every axis."""
    ordinal = ("first", "second", "third")
    return tuple(
        Coordinate(name, x, f"{ordinal[i]} spatial coordinate", grid=grid)
        for i, name in enumerate(names)
    )


GENERATORS: dict[str, str] = {
    "poisson": "data_gen.grid.poisson:Poisson",
    "darcy": "data_gen.grid.darcy:Darcy",
    "navier_stokes": "data_gen.grid.navier_stokes:NavierStokes",
    "burgers": "data_gen.grid.burgers:Burgers",
    "helmholtz": "data_gen.grid.helmholtz:Helmholtz",
    "fem_darcy": "data_gen.fem.generators:FemDarcy",
    "fem_elasticity": "data_gen.fem.generators:FemElasticity",
    "fem_heat": "data_gen.fem.generators:FemHeat",
    "fem_stokes": "data_gen.fem.generators:FemStokes",
}
"""The allow-list of generators: registry name -> ``module:class``. Configs name one of these by its
registry name or by its dotted class path; nothing else is ever imported."""


def generator_class(class_path: Any, where: str) -> type[Generator]:
    """The generator class named ``class_path`` (a registry name or a dotted class path)."""
    by_path = {target.replace(":", "."): name for name, target in GENERATORS.items()}
    name = by_path.get(class_path, class_path) if isinstance(class_path, str) else None
    if name not in GENERATORS:
        known = ", ".join(GENERATORS)
        raise ConfigError(f"{where}: unknown generator {class_path!r}; expected one of: {known}")
    module, cls = GENERATORS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_generator(section: Any, where: str = "generator") -> Generator:
    """Build a generator from a ``{class_path: ..., init_args: {...}}`` config section."""
    if not isinstance(section, dict) or "class_path" not in section:
        raise ConfigError(f"{where}: expected a mapping with 'class_path' (and 'init_args')")
    extra = sorted(set(section) - {"class_path", "init_args"})
    if extra:
        raise ConfigError(f"{where}.{extra[0]}: unknown key; expected 'class_path' and 'init_args'")
    cls = generator_class(section["class_path"], f"{where}.class_path")
    return from_mapping(cls, section.get("init_args"), f"{where}.init_args")
