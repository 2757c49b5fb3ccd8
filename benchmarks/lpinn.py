"""The PINN failure mode on convection and the Lagrangian PINN that fixes it (METHODS.md §5),
side by side in one run: relative L2 against the exact solution for wave speeds c.

For each c, ``u_t + c u_x = 0`` on [0, 2π) periodic × [0, 1], u0 = sin x, is solved twice with
the same optimiser schedule (Adam lr 1e-2, then L-BFGS steps) and the same number of interior
points per step:

* **PINN**: a tanh MLP u(x, t) (``--pinn-hidden``, default 5 × 50) on ``Convection1D`` with the
  standard loss (residual + initial + periodic, weights 1);
* **LPINN**: ``configs/train/convection_lpinn.yaml`` (characteristics and state on labels).

Errors are on the Eulerian 256 x 256 grid (the LPINN's prediction mapped back, x mod 2π and
interpolation). ``--plot`` draws reference, predictions and errors at the largest c (PNG);
``--plot-sweep`` the error against c. Options after ``--`` go to ``opl fit`` for every run.

    python benchmarks/lpinn.py --markdown benchmarks/lpinn_last.md --plot benchmarks/lpinn_c.png \
        --plot-sweep benchmarks/lpinn_sweep.png
    python benchmarks/lpinn.py --quick      # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import tempfile

import torch
from machine import code_version, machine_name, publish  # benchmarks/machine.py
from physics_runs import fit, trained_model  # benchmarks/physics_runs.py

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "train", "convection_lpinn.yaml")
SPEEDS = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 70.0]
QUICK = [
    "--trainer.max_steps=4",
    "--trainer.log_every_n_steps=1",
    "--model.init_args.steps_per_epoch=2",
    "--model.init_args.lbfgs_after=2",
    "--model.init_args.lbfgs.max_iter=3",
    "--model.init_args.test_resolution=32",
]


def overrides_for(name: str, c: float, args: argparse.Namespace) -> list[str]:
    """The ``opl fit`` options of model ``name`` at speed ``c`` (beyond the shared ones)."""
    eulerian = {"class_path": "opl.physics.Convection1D", "init_args": {"c": c}}
    if name == "LPINN":
        quick = ["--model.init_args.model.init_args.hidden=[10, 10]"] if args.quick else []
        return [f"--model.init_args.problem.init_args.eulerian={json.dumps(eulerian)}", *quick]
    points = {"pde": args.interior, "initial": 256, "periodic": 256}
    mlp = {"class_path": "opl.models.MLP", "init_args": {"hidden": args.pinn_hidden}}
    return [
        f"--model.init_args.model={json.dumps(mlp)}",
        f"--model.init_args.problem={json.dumps(eulerian)}",
        f"--model.init_args.points={json.dumps(points)}",
        "--model.init_args.loss_weights={pde: 1.0, initial: 1.0, periodic: 1.0}",
    ]


def plot(roots: dict[str, str], c: float, path: str, resolution: int = 256) -> None:
    """Reference, predictions and errors of both models at speed ``c`` on the Eulerian grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(roots), 3, figsize=(13, 3.4 * len(roots)), squeeze=False)
    for row, (name, root) in zip(axes, roots.items(), strict=True):
        model, problem = trained_model(root)
        grid, shape = problem.domain.grid(resolution, dtype=torch.float64)
        with torch.no_grad():
            pred = model(grid).reshape(shape).T.numpy()
            exact = problem.reference(grid).reshape(shape).T.numpy()
        titles = (f"exact u, c = {c:g}", f"{name} prediction", f"{name} error (prediction - exact)")
        for ax, field, title in zip(row, (exact, pred, pred - exact), titles, strict=True):
            bound = max(abs(field).max(), 1e-12)  # symmetric colour limits: zero is white
            image = ax.imshow(
                field,
                origin="lower",
                extent=(*problem.domain.lower[:1], *problem.domain.upper[:1], 0, 1),
                aspect="auto",
                cmap="RdBu_r",
                vmin=-bound,
                vmax=bound,
            )
            ax.set(title=title, xlabel="x", ylabel="t")
            fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_sweep(results: dict[float, dict[str, dict]], path: str) -> None:
    """Relative L2 against c for both models (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    speeds = sorted(results)
    for name, marker in (("PINN", "s"), ("LPINN", "o")):
        ax.semilogy(speeds, [results[c][name]["rel_l2"] for c in speeds], marker=marker, label=name)
    ax.set(xlabel="wave speed c", ylabel="relative L2 error", title="u_t + c u_x = 0, u0 = sin x")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speeds", type=float, nargs="+", default=SPEEDS)
    parser.add_argument("--pinn-hidden", type=int, nargs="+", default=[50, 50, 50, 50, 50])
    parser.add_argument(
        "--interior", type=int, default=2000, help="PINN interior points (LPINN: its config's)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument("--plot", help="PNG of both models at the largest speed")
    parser.add_argument("--plot-sweep", help="PNG of the error against the speed")
    args = parser.parse_args(argv[:split])
    if args.quick:
        args.speeds, args.pinn_hidden, args.interior = args.speeds[:2], [10, 10], 200
    version = code_version()  # the code that runs, not what the checkout holds when it ends
    shared = (QUICK if args.quick else []) + argv[split + 1 :]
    if args.quick:
        shared.append("--model.init_args.points={characteristic: 200, state: 200, initial: 64}")

    results: dict[float, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for c in args.speeds:
            results[c] = {}
            for name in ("PINN", "LPINN"):
                root = os.path.join(tmp, f"{name}_c{c:g}")
                # the LPINN config's point counts are replaced for the PINN's conditions
                results[c][name] = fit(CONFIG, root, [*shared, *overrides_for(name, c, args)])
        top = max(args.speeds)
        if args.plot:
            plot({n: r["root"] for n, r in results[top].items()}, top, args.plot)
        if args.plot_sweep:
            plot_sweep(results, args.plot_sweep)

    command = shlex.join(["python", "benchmarks/lpinn.py", *argv])
    any_run = results[args.speeds[0]]["LPINN"]
    lines = [
        f"- Machine: {machine_name()}; torch {torch.__version__}; code {version}",
        f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- Command: `{command}` (config `configs/train/convection_lpinn.yaml`; "
        f"{any_run['steps']} steps per run)",
        "",
        "| c | PINN relative L2 | LPINN relative L2 | PINN / LPINN | PINN time (s) "
        "| LPINN time (s) | PINN loss evaluations | LPINN loss evaluations |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c, r in results.items():
        p, q = r["PINN"], r["LPINN"]
        lines.append(
            f"| {c:g} | {p['rel_l2']:.3e} | {q['rel_l2']:.3e} | {p['rel_l2'] / q['rel_l2']:.3g} "
            f"| {p['seconds']:.0f} | {q['seconds']:.0f} | {p['evaluations']} "
            f"| {q['evaluations']} |"
        )
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
