"""How rough should the sources be that a residual -> error operator is trained on? Iterations of
the operator-preconditioned solvers of ``benchmarks/solvers.py`` for operators trained on sources
of smoothness α, side by side in one run.

A solver feeds its preconditioner residuals, and after the first step these are rough: the
error the operator and the smoother leave behind. An operator trained only on smooth sources
sees inputs unlike any it learned from. This script trains one small MgNO per α on (coefficient,
source) -> solution pairs whose source is a Gaussian random field N(0, (-Δ + 9 I)^-α) (Darcy:
``forcing_grf``, Helmholtz: ``source_grf`` of ``configs/data/{darcy,helmholtz}_residual.yaml``,
everything else from those configs and ``configs/train/*_residual_mgno.yaml``) and runs every
solver of ``benchmarks/solvers.py`` with it on the same fresh systems: the number to read is the
iterations of the operator-FCG / -FGMRES (the operator alone) and of the hybrid cycles. Small
by default (32², 600 samples, 15 epochs, 3 systems: a few minutes per α on 2 cores), so it
chooses the configs' α, not the benchmark's figures. Trained operators are kept under
``--state`` like those of ``benchmarks/solvers.py``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import torch
from machine import code_version, machine_name, publish  # benchmarks/machine.py
from solvers import darcy_rows, helmholtz_rows, table, train, trained, wall_time_line

from opl.export import load

SOURCE = {"darcy": "forcing_grf", "helmholtz": "source_grf"}
"""The generator field of each problem's random source."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--problem", choices=sorted(SOURCE), default="darcy")
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.5, 1.0, 0.5, 0.25])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--omega", type=float, default=10.0, help="Helmholtz only")
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--levels", type=int, default=4, help="MgNO levels")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--systems", type=int, default=3)
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--state", default="data/residual_sources_state")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    report = []
    for alpha in args.alphas:
        init = {"resolution": args.resolution, f"{SOURCE[args.problem]}.alpha": alpha}
        if args.problem == "helmholtz":
            init["omega"] = args.omega
        bundle, done = train(args.problem, args.samples, args.levels, args.epochs, init, args.state)
        operator = load(bundle)
        if args.problem == "darcy":
            rows = darcy_rows(args.resolution, operator, args.systems, args.rtol)
            reference = "pyamg SA-CG"
        else:
            rows = helmholtz_rows(args.omega, operator, args.systems, args.rtol, args.resolution)
            reference = "ILU(0)-GMRES(50)"
        title = f"α = {alpha:g}: {trained(done)}"
        report += table(title, rows, reference)
    where = f", ω = {args.omega:g}" if args.problem == "helmholtz" else ""
    header = [
        f"- Problem: {args.problem} {args.resolution}²{where}; MgNO, {args.levels} levels, "
        f"{args.samples} samples, {args.epochs} epochs; {args.systems} systems, rtol "
        f"{args.rtol:g}",
        f"- Machine: {machine_name()}; code: git {code_version()}",
        f"- Date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        wall_time_line(start),
        "",
    ]
    publish(header + report, args.markdown)


if __name__ == "__main__":
    main()
