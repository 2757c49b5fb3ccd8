"""Dataset-generation throughput of opl's generators, measured side by side in one run.

For each case -- Darcy (piecewise-constant coefficient, the default config) at 128², 256² and
421², Navier–Stokes at 64² and 256² on a short, stated trajectory, and the four finite-element
generators as shipped in configs/data/fem_*.yaml -- this measures:

* samples per second of ``data_gen.run.generate`` with ``workers=1`` (a spawn process pool of
  one, so pool start-up, pickling, GRF sampling, the solve and HDF5 writing in the parent are
  all included) and with ``workers=None`` (a pool of one process per core), timed by the wall
  clock around the whole ``generate`` call, each run writing a fresh file;
* the bare solve alone, in this process: ``solve_dirichlet`` (Darcy), ``solve_vorticity``
  (Navier–Stokes) or the FE solver call, assembly included (``solve_diffusion``,
  ``solve_elasticity``, ``solve_heat``, ``solve_stokes``), on the inputs of sample 0, the
  median of ``--repeats`` timed calls after one untimed call;
* the floor ratio = (1-worker seconds per sample) / (bare solve seconds): 1.0 would mean that
  everything but the solve is free;
* the file size per sample (float32, gzip + shuffle as the writer stores it).

Each case generates ``max(--min-samples, ceil(--target-seconds / bare solve))`` samples, so that
pool start-up (about half a second on a 2-core machine) does not dominate. ``--quick`` runs tiny
cases as a smoke test. The Markdown report (machine, date, command, table) goes to stdout and
optionally to ``--markdown FILE``; progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from machine import code_version, log, machine_name  # benchmarks/machine.py

from data_gen.config import load_yaml
from data_gen.fem.diffusion import solve_diffusion
from data_gen.fem.elasticity import solve_elasticity
from data_gen.fem.generators import FemDarcy, FemElasticity, FemHeat, FemStokes, MeshGenerator
from data_gen.fem.heat import solve_heat
from data_gen.fem.stokes import solve_stokes
from data_gen.generator import solve_sample
from data_gen.grid.darcy import Darcy
from data_gen.grid.fd import solve_dirichlet
from data_gen.grid.navier_stokes import NavierStokes, kolmogorov_forcing, solve_vorticity
from data_gen.run import RunConfig, generate, parse_run_config
from data_gen.writer import lock_path, software_versions

SEED = 0
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that set the BLAS thread count, shown with the command when set."""
FULL = {"target_seconds": 8.0, "min_samples": 8, "repeats": 5}
"""Defaults of the measurement options in a full run."""
QUICK = {"target_seconds": 0.0, "min_samples": 2, "repeats": 1}
"""Defaults of the measurement options with ``--quick``."""


@dataclass(frozen=True)
class Case:
    """One row of the table: a generator config and how to describe it."""

    label: str
    setup: str
    generator: dict[str, Any]

    def config(self, n_samples: int) -> RunConfig:
        """The run config of this case with ``n_samples`` samples."""
        mapping = {"generator": self.generator, "n_samples": n_samples, "seed": SEED}
        return parse_run_config(mapping, self.label)


@dataclass(frozen=True)
class Row:
    """The measurements of one case."""

    case: Case
    n_samples: int
    one_worker_s: float
    all_cores_s: float
    bare_s: float
    file_bytes: int

    def cells(self) -> list[str]:
        """The Markdown table cells of this row."""
        per_sample = self.one_worker_s / self.n_samples
        return [
            self.case.label,
            self.case.setup,
            str(self.n_samples),
            f"{self.n_samples / self.one_worker_s:.3g}",
            f"{self.n_samples / self.all_cores_s:.3g}",
            f"{self.one_worker_s / self.all_cores_s:.2f}×",
            f"{self.bare_s:.3g}",
            f"{per_sample / self.bare_s:.3g}",
            f"{self.file_bytes / self.n_samples / 1e6:.3g}",
        ]


def darcy_case(resolution: int) -> Case:
    """Darcy flow with the default (piecewise-constant) coefficient at ``resolution``²."""
    return Case(
        f"Darcy {resolution}²",
        "piecewise a (default config)",
        {"class_path": "darcy", "init_args": {"resolution": resolution}},
    )


def ns_case(resolution: int, t_end: float, dt_step: float) -> Case:
    """Navier–Stokes (ν = 1e-3, Kolmogorov forcing, one snapshot) at ``resolution``²."""
    steps = round(t_end / dt_step)
    return Case(
        f"Navier–Stokes {resolution}²",
        f"ν=1e-3, t_end={t_end:g}, dt={dt_step:g} ({steps} steps), 1 snapshot",
        {
            "class_path": "navier_stokes",
            "init_args": {
                "resolution": resolution,
                "nu": 1e-3,
                "t_end": t_end,
                "n_snapshots": 1,
                "dt": dt_step,
            },
        },
    )


def full_cases() -> list[Case]:
    """The benchmark's cases (NS: 1000 steps each; dt = 1e-4 is FNO's step at 256²)."""
    return [
        darcy_case(128),
        darcy_case(256),
        darcy_case(421),
        ns_case(64, t_end=1.0, dt_step=1e-3),
        ns_case(256, t_end=0.1, dt_step=1e-4),
        *fem_cases(),
    ]


def fem_case(config_name: str, setup: str) -> Case:
    """A finite-element generator as configured in ``configs/data/<config_name>.yaml``."""
    path = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "configs", "data", f"{config_name}.yaml"
    )
    generator = load_yaml(path)["generator"]
    return Case(f"{generator['class_path']}", setup, generator)


def fem_cases() -> list[Case]:
    """The shipped finite-element configs."""
    return [
        fem_case("fem_darcy_lshape", "L-shape level 2, P2"),
        fem_case("fem_elasticity_plate", "plate with holes level 1, P2 vector"),
        fem_case("fem_heat_disk", "disk with inclusions level 2, P1, 100 CN steps, 20 snapshots"),
        fem_case("fem_stokes_cylinder", "DFG channel level 1, Taylor–Hood P2–P1"),
    ]


def quick_cases() -> list[Case]:
    """Tiny cases for a smoke run of the script."""
    small_fem = Case(
        "fem_darcy", "L-shape level 0, P1", {"class_path": "fem_darcy", "init_args": {"level": 0}}
    )
    return [darcy_case(32), ns_case(32, t_end=0.01, dt_step=1e-3), small_fem]


def bare_solve(config: RunConfig) -> Callable[[], object]:
    """The generator's solver alone, on the input of sample 0 (computed here, untimed)."""
    gen = config.generator
    sample = solve_sample(gen, SEED, 0)
    if isinstance(gen, Darcy):
        a = sample["coeff"]
        f = np.full(a.shape, gen.forcing)
        return lambda: solve_dirichlet(a, f, gen.face_average)
    if isinstance(gen, NavierStokes):
        w0 = sample["vorticity0"]
        forcing = kolmogorov_forcing(gen.resolution) if gen.forcing == "kolmogorov" else None
        return lambda: solve_vorticity(
            w0, nu=gen.nu, t_end=gen.t_end, n_snapshots=gen.n_snapshots, dt=gen.dt, forcing=forcing
        )
    return fem_bare_solve(gen, sample)


def fem_bare_solve(gen: MeshGenerator, sample: dict[str, np.ndarray]) -> Callable[[], object]:
    """The FE solver call -- assembly and sparse solve -- on the inputs of ``sample``."""
    mesh = gen.load_mesh()
    if isinstance(gen, FemDarcy):
        source = sample.get("forcing", np.full(sample["coeff"].shape, gen.forcing))
        return lambda: solve_diffusion(
            mesh,
            element=gen.element,
            coefficient=sample["coeff"],
            source=source,
            dirichlet=dict.fromkeys(gen.dirichlet, 0.0),
            neumann=dict.fromkeys(gen.neumann, gen.neumann_flux),
        )
    if isinstance(gen, FemElasticity):
        traction = {gen.loaded: tuple(float(t) for t in sample["traction"])}
        return lambda: solve_elasticity(
            mesh,
            element=gen.element,
            youngs_modulus=sample["youngs_modulus"],
            poisson_ratio=gen.poisson_ratio,
            clamped=gen.clamped,
            traction=traction,
        )
    if isinstance(gen, FemHeat):
        return lambda: solve_heat(
            mesh,
            element=gen.element,
            u0=sample["u0"],
            kappa=sample["kappa"],
            t_end=gen.t_end,
            n_snapshots=gen.n_snapshots,
            dt=gen.dt,
            theta=gen.theta,
            dirichlet=gen.dirichlet,
        )
    if isinstance(gen, FemStokes):
        return lambda: solve_stokes(
            mesh,
            viscosity=gen.viscosity,
            inlet=gen.inlet,
            inflow=sample["inflow"],
            walls=gen.walls,
            outlet=gen.outlet,
        )
    raise TypeError(f"no bare solve known for generator {gen.name!r}")


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_generate(config: RunConfig, path: str, workers: int | None) -> float:
    """Seconds taken by ``generate`` writing a fresh file at ``path``."""
    for stale in (path, lock_path(path)):
        if os.path.exists(stale):
            os.remove(stale)
    start = time.perf_counter()
    generate(config, path, workers=workers, progress=False)
    return time.perf_counter() - start


def measure(case: Case, args: argparse.Namespace, out_dir: str) -> Row:
    """Bare solve, then generation with 1 worker and with all cores, for one case."""
    bare_s = median_seconds(bare_solve(case.config(1)), args.repeats)
    n = max(args.min_samples, math.ceil(args.target_seconds / bare_s))
    log(f"{case.label}: bare solve {bare_s:.3g} s; generating {n} samples")
    config = case.config(n)
    stem = os.path.join(out_dir, re.sub(r"[^A-Za-z0-9]+", "-", case.label))
    one = timed_generate(config, f"{stem}-w1.h5", workers=1)
    log(f"{case.label}: 1 worker {n / one:.3g} samples/s ({one:.1f} s)")
    size = os.path.getsize(f"{stem}-w1.h5")
    every = timed_generate(config, f"{stem}-all.h5", workers=None)
    log(f"{case.label}: all cores {n / every:.3g} samples/s ({every:.1f} s)")
    return Row(case, n, one, every, bare_s, size)


def command_line() -> str:
    """The command that ran this script, with any BLAS thread variables that were set."""
    env = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    return shlex.join([*env, "python", *sys.argv])


def header(command: str) -> list[str]:
    """Machine, software, date and command lines of the report."""
    versions = ", ".join(f"{k} {v}" for k, v in software_versions().items())
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return [
        f"- Machine: {machine_name()} ({platform.platform()})",
        f"- Software: {versions}; code: git {code_version()}",
        f"- Date: {now}",
        f"- Command: `{command}`",
    ]


def table(rows: list[Row]) -> list[str]:
    """The Markdown table of the measurements."""
    cores = os.cpu_count()
    columns = [
        "Case",
        "Setup",
        "Samples",
        "1 worker (samples/s)",
        f"All {cores} cores (samples/s)",
        "Speed-up",
        "Bare solve (s/sample)",
        "Floor ratio",
        "File (MB/sample)",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(row.cells()) + " |" for row in rows]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command-line options, with the defaults of a full or a quick run filled in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny cases: a smoke run")
    parser.add_argument("--out", help="folder for the dataset files (default: a temporary one)")
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument(
        "--target-seconds",
        type=float,
        help="aim for at least this long a 1-worker run per case (default 8; 0 with --quick)",
    )
    parser.add_argument(
        "--min-samples", type=int, help="fewest samples per case (default 8; 2 with --quick)"
    )
    parser.add_argument(
        "--repeats", type=int, help="timed bare solves per case (default 5; 1 with --quick)"
    )
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def run(args: argparse.Namespace, out_dir: str) -> list[Row]:
    """Measure every case, writing dataset files under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    cases = quick_cases() if args.quick else full_cases()
    return [measure(case, args, out_dir) for case in cases]


def main() -> None:
    args = parse_args(sys.argv[1:])
    command = command_line()
    start = time.perf_counter()
    if args.out:
        rows = run(args, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="opl-bench-") as tmp:
            rows = run(args, tmp)
    log(f"done in {time.perf_counter() - start:.0f} s")
    report = "\n".join([*header(command), "", *table(rows)]) + "\n"
    print(report, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
