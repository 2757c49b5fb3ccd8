"""Solvers that gain from a trained operator: iterations and wall time at equal final residual,
against the strongest classical tools, measured side by side in one run.

What is measured, and how:

* **Operators**: for each grid, an MgNO trained on *(coefficient, source) -> solution*, which is
  residual -> error (``configs/train/{darcy,helmholtz}_residual_mgno.yaml`` read by opl's own
  LightningCLI, with the grid's data file, levels and epochs set here; the data from
  ``configs/data/{darcy,helmholtz}_residual.yaml`` at that grid). Each trains in this process on
  the CPU; its training time is reported, not counted in the solves. Trained operators are
  kept under ``--state`` (default ``data/solvers_state``) and reused by the next run with the
  same settings; an interrupted training continues from its last epoch. On a small machine, two
  processes (``--problems darcy --threads 1``, ``--problems helmholtz --threads 1``) train them
  side by side; the solves reported are those of the last invocation, of both problems, alone
  on the machine.
* **Systems**: fresh coefficients (seed 12345, never seen in training). Darcy: the 5-point
  system of -div(a grad u) = 1, u = 0 on the boundary, a = 12 / 3 (``opl.solvers.darcy_system``),
  at 64², 128², 256² nodes. Helmholtz: the complex symmetric 5-point system of -Δu - (ω/c)²u = f
  with the absorbing impedance boundary (``helmholtz_system``), c = 1 + 0.2 tanh ψ, f the
  generator's point source (a Gaussian of width 0.02 at the centre), at 64² nodes for ω = 10, 20,
  40 (from 20 down to 5 points per wavelength at the slowest speed).
* **Solvers**, all to the same relative residual ``--rtol`` (1e-8), checked on the true
  residual:
  Darcy -- CG with Jacobi, with incomplete Cholesky IC(0) (natural order), with
  pyamg's smoothed-aggregation V-cycle (the strongest classical tool here); Jacobi-CG and
  pyamg-CG warm-started by the operator's prediction for f = 1; flexible CG (``opl.solvers.fcg``)
  preconditioned by the operator's correction alone, and by the hybrid cycle (one symmetric
  Gauss-Seidel sweep around the correction, with the safeguard direction); the hybrid as a
  stationary relaxation.
  Helmholtz -- GMRES(50) with ILU(0) and with ILUT (drop 1e-4, fill 10); flexible GMRES
  (``fgmres``, restart 50) preconditioned by the operator's correction, and by the hybrid cycle.
* **Reported**, mean over the ``--systems`` systems: iterations (preconditioner applications;
  for SciPy's GMRES, inner iterations), solve seconds (setup excluded: IC / ILU factorisation,
  pyamg's hierarchy, the Gauss-Seidel factors; reported apart), the network's share of the
  solve time, and the worst final relative residual. Wall times are of this 2-core CPU, numpy
  / SciPy / pyamg in float64 and the network in float32 eager torch: a GPU would change the
  network's share, not measured here.

The Markdown report (machine, software, date, command, tables) goes to stdout and ``--markdown``;
progress to stderr. ``--quick`` (32² Darcy only, small training) is a smoke run of a few minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pyamg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from machine import code_version, log, machine_name, publish  # benchmarks/machine.py
from resumable import EpochRecorder, WallClock, keep_last, last_checkpoint

from data_gen.config import load_yaml
from data_gen.generator import sample_rng
from data_gen.grid.darcy import Darcy
from data_gen.grid.helmholtz import Helmholtz
from data_gen.run import generate, load_run_config
from opl import solvers
from opl.export import load, write_bundle
from opl.train.cli import instantiate

SEED = 12345
"""Seed of the test systems (the training data use the configs' seed 0)."""
DARCY = {64: (1000, 5, 30), 128: (500, 6, 20), 256: (250, 7, 15)}
"""Darcy grid -> (training samples, MgNO levels, epochs)."""
HELMHOLTZ = {10.0: (1000, 5, 30), 20.0: (1000, 5, 30), 40.0: (1000, 5, 30)}
"""Helmholtz ω (64² nodes) -> (training samples, MgNO levels, epochs)."""
QUICK = {32: (160, 4, 6)}


def train(
    problem: str, samples: int, levels: int, epochs: int, init: dict, state: str
) -> tuple[str, dict]:
    """Generate the residual data of ``problem`` (its config's generator with the settings
    ``init``, see ``configured``) and train its MgNO from the configs; returns the
    bundle's path and the training's record (seconds, final validation L2, torch threads). A
    bundle an earlier run trained with the same settings and configs (their hash names the
    folder) is reused, and an interrupted training continues from its last epoch
    (``benchmarks/resumable.py``)."""
    tag = "_".join(f"{k}{v:g}" for k, v in init.items())
    data_config = f"configs/data/{problem}_residual.yaml"
    train_config = f"configs/train/{problem}_residual_mgno.yaml"
    settings = json.dumps([load_yaml(data_config), load_yaml(train_config)], sort_keys=True)
    configs = hashlib.sha256(settings.encode()).hexdigest()[:8]  # settings: comments don't count
    name = f"{problem}_{tag}_{samples}_levels{levels}_epochs{epochs}_{configs}"
    folder = Path(state) / name
    bundle, record = folder / "model.opl", folder / "training.json"
    if bundle.exists() and record.exists():
        done = json.loads(record.read_text())
        log(f"{problem} {tag}: trained in an earlier run ({bundle})")
        return str(bundle), done
    start = time.perf_counter()
    data = load_run_config(data_config, n_samples=samples)
    generator = configured(data.generator, init)
    path = f"data/bench_{problem}_residual_{tag}_{samples}_{configs}.h5"
    generate(dataclasses.replace(data, generator=generator), path, progress=False)
    config = load_yaml(train_config)
    config["trainer"].pop("callbacks", None)
    config["trainer"].update(
        max_epochs=epochs, logger=False, enable_progress_bar=False, default_root_dir=str(folder)
    )
    config["model"]["init_args"]["model"]["init_args"]["levels"] = levels
    n_val = max(samples // 10, 8)
    config["data"]["init_args"].update(
        path=path, train=[0, samples - n_val], val=[samples - n_val, samples]
    )
    clock, checkpoints = WallClock(start), folder / "checkpoints"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        module, datamodule = instantiate(config)
        callbacks = [clock, EpochRecorder(f"{problem} {tag}"), keep_last(checkpoints)]
        trainer = L.Trainer(**config["trainer"], callbacks=callbacks)
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(checkpoints))
        seconds = clock.seconds_so_far()
        (metrics,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    val = metrics["val/rel_l2"]
    log(f"{problem} {tag}: trained {epochs} epochs in {seconds:.0f} s, validation L2 {val:.3g}")
    write_bundle(bundle, module.model, module.in_normalizer, module.out_normalizer, {}, {})
    done = {"seconds": seconds, "val_rel_l2": val, "threads": torch.get_num_threads()}
    record.write_text(json.dumps(done))
    shutil.rmtree(checkpoints, ignore_errors=True)
    return str(bundle), done


def configured(generator, init: dict):
    """``generator`` with the settings ``init``; a key ``field.name`` sets ``name`` of the
    dataclass in ``field`` (e.g. ``forcing_grf.alpha``)."""
    for key, value in init.items():
        outer, _, inner = key.partition(".")
        if inner:
            value = dataclasses.replace(getattr(generator, outer), **{inner: value})
        generator = dataclasses.replace(generator, **{outer: value})
    return generator


def trained(record: dict) -> str:
    """How an operator's training went, for a table's title."""
    return (
        f"{record['seconds']:.0f} s on {record.get('threads', '?')} torch threads; validation L2 "
        f"{record['val_rel_l2']:.3g}"
    )


def wall_time_line(start: float) -> str:
    """The report line with the wall time since ``start`` (a ``time.perf_counter()`` reading)."""
    return (
        f"- Wall time: {time.perf_counter() - start:.0f} s (trainings in this run included, "
        "operators reused from an earlier run not)"
    )


@dataclasses.dataclass
class Row:
    method: str
    iterations: list[int] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    setup: list[float] = dataclasses.field(default_factory=list)
    network: list[float] = dataclasses.field(default_factory=list)
    residual: list[float] = dataclasses.field(default_factory=list)
    failures: int = 0
    """Systems on which the solver did not reach the tolerance within its iteration limit."""

    def add(self, result: solvers.SolveResult, setup: float = 0.0, network: float = 0.0) -> None:
        if not result.converged:
            self.failures += 1
            log(f"  {self.method}: not converged, residual {result.residuals[-1]:.2e}")
        self.iterations.append(result.iterations)
        self.seconds.append(result.seconds)
        self.setup.append(setup)
        self.network.append(network)
        self.residual.append(result.residuals[-1])


def timed(function, *args, **kwargs):
    """``function(*args, **kwargs)`` and its seconds."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def darcy_rows(s: int, operator, systems: int, rtol: float) -> list[Row]:
    names = [
        "SuperLU (direct)",
        "Jacobi-CG",
        "IC(0)-CG",
        "pyamg SA-CG",
        "Jacobi-CG from the operator",
        "pyamg SA-CG from the operator",
        "operator-FCG",
        "hybrid-FCG (GS + operator)",
        "hybrid relaxation (GS + operator)",
    ]
    rows = {name: Row(name) for name in names}
    generator = Darcy(resolution=s)
    for i in range(systems):
        system = solvers.darcy_system(generator.solve(sample_rng(SEED, i))["coeff"])
        darcy_case(system, operator, rtol, rows)
    return list(rows.values())


def superlu(system: solvers.GridSystem, rtol: float) -> tuple[solvers.SolveResult, float]:
    """The direct reference: SuperLU's sparse LU (SciPy's ``splu``, COLAMD ordering) and its
    solve, with the factorisation's seconds as setup; no iterations."""
    factor, setup = timed(spla.splu, system.matrix.tocsc())
    x, seconds = timed(factor.solve, system.rhs)
    residual = system.relative_residual(x)
    return solvers.SolveResult(x, 0, [residual], residual <= rtol, seconds), setup


def incomplete_cholesky(A) -> spla.LinearOperator:
    """IC(0) of a 5-point matrix (natural order): M = (D + L) D⁻¹ (D + Lᵀ) with L the strictly
    lower part of A and D_i = a_ii - Σ_{j<i} a_ij² / D_j -- exact IC(0), since the 5-point
    pattern has no fill within itself -- applied by two triangular solves."""
    A = sp.csr_matrix(A)
    lower = sp.tril(A, k=-1, format="csr")
    d = A.diagonal().copy()
    for i in range(A.shape[0]):
        row = slice(lower.indptr[i], lower.indptr[i + 1])
        d[i] -= np.sum(lower.data[row] ** 2 / d[lower.indices[row]])
    D = sp.diags(d)
    first = spla.splu((D + lower).tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0)
    second = spla.splu((D + lower.T).tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0)
    return spla.LinearOperator(A.shape, lambda r: second.solve(d * first.solve(r)))


def darcy_case(system: solvers.GridSystem, operator, rtol: float, rows: dict) -> None:
    """Every Darcy solver on one system."""
    A = system.matrix
    rows["SuperLU (direct)"].add(*superlu(system, rtol))
    inverse_diagonal = 1 / A.diagonal()
    jacobi = spla.LinearOperator(A.shape, lambda r: inverse_diagonal * r)
    rows["Jacobi-CG"].add(solvers.krylov(system, "cg", jacobi, rtol=rtol))
    ic, setup = timed(incomplete_cholesky, A)
    rows["IC(0)-CG"].add(solvers.krylov(system, "cg", ic, rtol=rtol), setup)
    hierarchy, setup = timed(pyamg.smoothed_aggregation_solver, A)
    amg = hierarchy.aspreconditioner()
    rows["pyamg SA-CG"].add(solvers.krylov(system, "cg", amg, rtol=rtol), setup)

    def surrogate(a: np.ndarray) -> np.ndarray:  # the solution for f = 1
        return operator(np.concatenate([a, np.ones_like(a)]))

    guess, network = timed(solvers.warm_start, surrogate, system)
    for name, preconditioner, setup_s in (
        ("Jacobi-CG from the operator", jacobi, 0.0),
        ("pyamg SA-CG from the operator", amg, setup),
    ):
        warm = solvers.krylov(system, "cg", preconditioner, x0=guess, rtol=rtol)
        warm.seconds += network
        rows[name].add(warm, setup_s, network)
    correction = solvers.OperatorCorrection(operator, system)
    rows["operator-FCG"].add(solvers.fcg(system, correction, rtol=rtol))
    rows["operator-FCG"].network[-1] = correction.seconds
    for name, run in (
        ("hybrid-FCG (GS + operator)", solvers.fcg),
        ("hybrid relaxation (GS + operator)", solvers.relaxation),
    ):
        correction = solvers.OperatorCorrection(operator, system)
        hybrid, setup = timed(solvers.Hybrid, A, correction)
        rows[name].add(run(system, hybrid, rtol=rtol), setup, correction.seconds)


def helmholtz_rows(
    omega: float, operator, systems: int, rtol: float, resolution: int = 64
) -> list[Row]:
    names = [
        "SuperLU (direct)",
        "ILU(0)-GMRES(50)",
        "ILUT(1e-4, 10)-GMRES(50)",
        "operator-FGMRES",
        "hybrid-FGMRES (GS + operator)",
    ]
    rows = {name: Row(name) for name in names}
    generator = Helmholtz(resolution=resolution, omega=omega)
    x = np.linspace(0, 1, resolution)
    X, Y = np.meshgrid(x, x, indexing="ij")
    width2 = generator.source_width**2
    source = np.exp(-((X - 0.5) ** 2 + (Y - 0.5) ** 2) / (2 * width2)) / (2 * np.pi * width2)
    for i in range(systems):
        c = generator.solve(sample_rng(SEED, i))["wavespeed"]
        helmholtz_case(solvers.helmholtz_system(c, omega, source), operator, rtol, rows)
    return list(rows.values())


def helmholtz_case(system: solvers.GridSystem, operator, rtol: float, rows: dict) -> None:
    """Every Helmholtz solver on one system."""
    A = system.matrix.tocsc()
    rows["SuperLU (direct)"].add(*superlu(system, rtol))
    for name, options in (
        ("ILU(0)-GMRES(50)", {"drop_tol": 0, "fill_factor": 1}),
        ("ILUT(1e-4, 10)-GMRES(50)", {"drop_tol": 1e-4, "fill_factor": 10}),
    ):
        ilu, setup = timed(spla.spilu, A, **options)
        M = spla.LinearOperator(A.shape, ilu.solve, dtype=complex)
        rows[name].add(solvers.krylov(system, "gmres", M, rtol=rtol, maxiter=200), setup)
    correction = solvers.OperatorCorrection(operator, system)
    rows["operator-FGMRES"].add(solvers.fgmres(system, correction, rtol=rtol))
    rows["operator-FGMRES"].network[-1] = correction.seconds
    correction = solvers.OperatorCorrection(operator, system)
    hybrid, setup = timed(solvers.Hybrid, system.matrix, correction)
    result = solvers.fgmres(system, hybrid, rtol=rtol)
    rows["hybrid-FGMRES (GS + operator)"].add(result, setup, correction.seconds)


def table(title: str, rows: list[Row], reference: str) -> list[str]:
    base = next(r for r in rows if r.method == reference)
    lines = [
        f"**{title}**",
        "",
        "| Solver | Iterations | " + reference + "'s iterations ÷ these | Solve s | Setup s | "
        "Network share of solve | Worst final residual |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        failed = f" ({r.failures} of {len(r.iterations)} not converged)" if r.failures else ""
        direct = not any(r.iterations)
        iterations = "direct" if direct else f"{np.mean(r.iterations):.1f}{failed}"
        ratio = "–" if direct else f"{np.mean(base.iterations) / np.mean(r.iterations):.2f}"
        lines.append(
            f"| {r.method} | {iterations} | {ratio} | {np.mean(r.seconds):.3f} | "
            f"{np.mean(r.setup):.3f} | "
            f"{100 * np.sum(r.network) / max(np.sum(r.seconds), 1e-12):.0f} % | "
            f"{max(r.residual):.1e} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="32² Darcy only: a smoke run")
    parser.add_argument("--systems", type=int, default=5, help="test systems per case")
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument(
        "--state",
        default="data/solvers_state",
        help="trained operators and interrupted trainings, reused by the next run "
        "(default data/solvers_state)",
    )
    parser.add_argument(
        "--problems",
        nargs="+",
        choices=["darcy", "helmholtz"],
        default=["darcy", "helmholtz"],
        help="the problems to run (default both): e.g. two processes of --threads 1, one per "
        "problem, train the operators side by side; a last run of both reuses them and solves",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = shlex.join(["python", *sys.argv])
    start = time.perf_counter()
    report = []
    darcy = (QUICK if args.quick else DARCY) if "darcy" in args.problems else {}
    for s, (samples, levels, epochs) in darcy.items():
        init = {"resolution": s}
        bundle, done = train("darcy", samples, levels, epochs, init, args.state)
        rows = darcy_rows(s, load(bundle), args.systems, args.rtol)
        title = (
            f"Darcy {s}², {args.systems} systems; operator: MgNO, {levels} levels, "
            f"{samples} samples, {epochs} epochs ({trained(done)})"
        )
        report += table(title, rows, "pyamg SA-CG")
        log("\n".join(report[-len(rows) - 4 :]))
    if not args.quick and "helmholtz" in args.problems:
        for omega, (samples, levels, epochs) in HELMHOLTZ.items():
            init = {"omega": omega}
            bundle, done = train("helmholtz", samples, levels, epochs, init, args.state)
            rows = helmholtz_rows(omega, load(bundle), args.systems, args.rtol)
            title = (
                f"Helmholtz 64², ω = {omega:g}, {args.systems} systems; operator: MgNO, "
                f"{samples} samples, {epochs} epochs ({trained(done)})"
            )
            report += table(title, rows, "ILU(0)-GMRES(50)")
            log("\n".join(report[-len(rows) - 4 :]))
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    header = [
        f"- Machine: {machine_name()}, no GPU ({platform.platform()})",
        f"- Software: torch {torch.__version__}, scipy {__import__('scipy').__version__}, "
        f"pyamg {pyamg.__version__}; code: git {code_version()}",
        f"- Date: {now}",
        f"- Command: `{command}`",
        wall_time_line(start),
        "",
    ]
    publish(header + report, args.markdown)


if __name__ == "__main__":
    main()
