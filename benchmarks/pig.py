"""PIG against a plain PINN on Helmholtz 2-D (METHODS.md §4), side by side in one run.

Both models train by ``opl fit`` from ``configs/train/helmholtz_pig.yaml`` — Δu + k²u = q on
[-1, 1]², exact u = sin(4πx) sin(πy), boundary MSE + 1e-4 × residual MSE, points resampled every
step, L-BFGS steps (strong Wolfe) — with the same points and budget; the PINN run replaces the
model by a tanh MLP (``--pinn-hidden``, default 4 × 50). The report gives the relative L2 error on
the config's 250² grid next to the paper's (PIG 4.13e-5, PINN 4.02e-1), the wall time, the loss
evaluations and the error after every validation, and ``--plot`` draws PIG's prediction and
error (PNG). Options after ``--`` go to ``opl fit`` for both runs (e.g. ``--trainer.max_steps 50``).

    python benchmarks/pig.py --markdown benchmarks/pig_last.md --plot benchmarks/pig_helmholtz.png
    python benchmarks/pig.py --quick      # a smoke run of a few seconds
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

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "train", "helmholtz_pig.yaml")
PAPER = {"PIG": 4.13e-5, "PINN": 4.02e-1}
QUICK = [
    "--trainer.max_steps=2",
    "--model.init_args.steps_per_epoch=1",
    "--model.init_args.points={pde: 500, boundary: 200}",
    "--model.init_args.lbfgs.max_iter=3",
    "--model.init_args.test_resolution=50",
]


def plot(root: str, path: str, resolution: int = 250) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, problem = trained_model(root)
    grid, shape = problem.domain.grid(resolution, dtype=torch.float64)
    with torch.no_grad():
        pred = model(grid).reshape(shape).T.numpy()
        exact = problem.reference(grid).reshape(shape).T.numpy()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    titles = ("exact u", "PIG prediction", "PIG error (prediction - exact)")
    for ax, field, title in zip(axes, (exact, pred, pred - exact), titles, strict=True):
        bound = abs(field).max()  # symmetric colour limits: zero is white
        image = ax.imshow(
            field, origin="lower", extent=(-1, 1, -1, 1), cmap="RdBu_r", vmin=-bound, vmax=bound
        )
        ax.set(title=title, xlabel="x", ylabel="y")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pinn-hidden", type=int, nargs="+", default=[50, 50, 50, 50])
    parser.add_argument("--only", choices=["PIG", "PINN"], help="run one model")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument("--plot", help="PNG of PIG's prediction and error")
    parser.add_argument(
        "--plot-run", help="only draw --plot from this finished `opl fit` run (its root folder)"
    )
    args = parser.parse_args(argv[:split])
    version = code_version()  # the code that runs, not what the checkout holds when it ends
    if args.plot_run:
        plot(args.plot_run, args.plot or "pig_helmholtz.png")
        return 0
    shared = (QUICK if args.quick else []) + argv[split + 1 :]
    pinn = {"class_path": "opl.models.MLP", "init_args": {"hidden": args.pinn_hidden}}
    runs = {"PIG": shared, "PINN": [*shared, f"--model.init_args.model={json.dumps(pinn)}"]}
    if args.quick:
        runs["PIG"] = [*shared, "--model.init_args.model.init_args.n_gaussians=50"]

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in runs.items():
            if args.only in (None, name):
                results[name] = fit(CONFIG, os.path.join(tmp, name), overrides)
        if args.plot and "PIG" in results:
            plot(results["PIG"]["root"], args.plot)

    command = shlex.join(["python", "benchmarks/pig.py", *argv])
    lines = [
        f"- Machine: {machine_name()}; torch {torch.__version__}; code {version}",
        f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- Command: `{command}` (config `configs/train/helmholtz_pig.yaml`)",
        "",
        "| model | relative L2 | paper | ratio to paper | L-BFGS steps | loss evaluations "
        "| wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['rel_l2']:.3e} | {PAPER[name]:.2e} | {r['rel_l2'] / PAPER[name]:.3g} "
            f"| {r['steps']} | {r['evaluations']} | {r['seconds']:.0f} |"
        )
    for name, r in results.items():
        trace = ", ".join(f"{s}: {e:.2e}" for s, e in r["history"])
        lines.append(f"\n{name} relative L2 after step: {trace}")
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
