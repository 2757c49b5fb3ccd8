"""SPON vs multigrid SPON vs a plain mesh GNN on opl's two nested finite-element datasets,
trained side by side in one run from the configs users train with.

What is measured, and how:

* **Data**: ``configs/data/fem_darcy_lshape_nested.yaml`` (Darcy on the L-shape, level 0 refined
  twice, 1,601 P1 dofs, P2 data, u = 0 on the outer sides) and
  ``configs/data/fem_elasticity_plate_nested.yaml`` (plane-stress elasticity of the plate with
  three holes, level 0 refined once, 1,269 P1 dofs per component, P2 data, clamped on the left),
  generated to the configs' ``output`` paths unless complete there already.
* **Models**: the train configs ``configs/train/fem_{darcy,elasticity}_{spon,mgspon}.yaml``, read
  by opl's own LightningCLI (``opl.train.cli.instantiate``), so the models, optimiser,
  schedule, seed and data splits are exactly what ``opl fit --config ...`` trains: SPON (width
  32, 8 message-passing layers on the P1 dof graph of the data's mesh, P2 input L2-projected
  onto P1, exact Dirichlet values) and multigrid SPON (width 32, 1 layer before each restriction
  and after each prolongation on the finer levels, 8 on the coarsest: three levels for Darcy,
  116 / 421 / 1,601 dofs, two for elasticity, 339 / 1,269). The ``MeshGNN`` row is
  the SPON config with ``class_path: opl.models.MeshGNN``: the same processor on the same graph
  without the projection encoder, the FE decoder and exact boundary values (its input is the P2
  data interpolated at the P1 dofs). Only the epochs, if ``--epochs`` is given (default: the
  configs' own 40), and, for ``--quick``, the splits are overridden; the checkpoint callback is
  dropped (the last epoch's model is tested).
* **Training**: one model after the other in this process, on the CPU, with
  ``torch.set_num_threads(os.cpu_count())``, so no run competes with another.
* **Reported per model**: trainable parameters; epochs; seconds per epoch of training only (from
  the start of an epoch to the start of its validation, median over epochs, so that a moment of
  other load on the machine does not count); on the test split
  (the configs' samples 250-299): the FE relative L2 error, mean over samples of
  ``‖u_pred − u‖_L2(Ω) / ‖u‖_L2(Ω)`` with the P1 mass matrix (exact for FE functions, both
  displacement components together), the relative l2 error of the dof vectors, and the boundary
  error ``max |u_pred − u|`` over all test samples' Dirichlet dofs, next to ``max |u|`` over the
  test set for scale.

The figure (``--plot``) shows the validation FE L2 error per epoch on both datasets and, for
Darcy test sample 0, u and each model's error on the mesh. The Markdown report (machine,
software, date, command, table) goes to stdout and optionally to ``--markdown FILE``; progress
lines go to stderr. ``--quick`` (2 epochs, 48 / 8 / 8 samples: enough optimiser steps for the
configs' OneCycle warm-up) is a smoke run of about half a minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import shlex
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from machine import code_version, log, machine_name, publish  # benchmarks/machine.py

from data_gen.config import load_yaml
from data_gen.run import generate, load_run_config
from data_gen.writer import software_versions
from opl.train.cli import instantiate
from opl.train.operator_module import OperatorModule

DATASETS = {
    "Darcy (L-shape)": ("fem_darcy_lshape_nested", "fem_darcy"),
    "Elasticity (plate with holes)": ("fem_elasticity_plate_nested", "fem_elasticity"),
}
"""Dataset name -> (data config name, train config prefix)."""
MODELS = {
    "SPON": ("spon", None),
    "Multigrid SPON": ("mgspon", None),
    "MeshGNN": ("spon", "opl.models.MeshGNN"),
}
"""Row name -> (train config suffix, model class_path replacing the config's, if any)."""
QUICK_SPLITS = {"train": [0, 48], "val": [48, 56], "test": [56, 64]}
DEFAULT_PLOT = "benchmarks/spon.png"


@dataclass
class Result:
    """The measurements of one model on one dataset."""

    dataset: str
    model: str
    parameters: int
    n_train: int
    n_test: int
    epoch_seconds: list[float]
    val_rel_l2_fe: list[float]
    test_rel_l2_fe: float
    test_rel_l2: float
    boundary_error: float
    max_abs_u: float
    sample: dict[str, np.ndarray]
    """Darcy test sample 0: ``u``, ``pred``, and the P1 triangulation ``points`` / ``triangles``."""


class EpochTimer(L.Callback):
    """Seconds of training per epoch (until validation starts) and the validation FE L2 after
    each epoch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.epoch_seconds: list[float] = []
        self.val_rel_l2_fe: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.epoch_seconds.append(time.perf_counter() - self._start)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.val_rel_l2_fe.append(float(trainer.callback_metrics["val/rel_l2_fe"]))
        log(
            f"{self.name}: epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: val FE L2 "
            f"{self.val_rel_l2_fe[-1]:.4g}, {self.epoch_seconds[-1]:.1f} s of training"
        )


def ensure_data(name: str) -> float:
    """Generate ``configs/data/<name>.yaml`` to its output unless complete; returns seconds."""
    path = f"configs/data/{name}.yaml"
    start = time.perf_counter()
    output = generate(load_run_config(path), progress=False)
    seconds = time.perf_counter() - start
    log(f"data: {output} ready in {seconds:.1f} s")
    return seconds


def train_config(prefix: str, suffix: str, class_path: str | None, args) -> dict[str, Any]:
    """The train config ``configs/train/<prefix>_<suffix>.yaml`` with this run's overrides."""
    config = load_yaml(f"configs/train/{prefix}_{suffix}.yaml")
    trainer = config["trainer"]
    trainer.pop("callbacks", None)
    trainer.update(
        max_epochs=args.epochs or trainer["max_epochs"],
        enable_checkpointing=False,
        enable_progress_bar=False,
        logger=False,
        default_root_dir=tempfile.mkdtemp(prefix="opl_spon_bench_"),
    )
    if class_path:
        config["model"]["init_args"]["model"]["class_path"] = class_path
    if args.quick:
        config["data"]["init_args"].update(QUICK_SPLITS)
    return config


def fe_sample(module: OperatorModule, dm) -> dict[str, np.ndarray]:
    """Test sample 0, the model's prediction of it and the P1 mesh to draw them on."""
    x, y = dm.tensors("test", dm.hparams.space)
    module.eval()
    with torch.no_grad():
        pred = module(x[:1])
    space = module.model.space
    return {
        "u": y[0, 0].numpy(),
        "pred": pred[0, 0].numpy(),
        "points": space.positions,
        "triangles": space.mesh.t.T,
    }


def run_one(dataset: str, model: str, args) -> Result:
    """Train one row's model from its config and measure it (see the module docstring)."""
    data_name, prefix = DATASETS[dataset]
    suffix, class_path = MODELS[model]
    config = train_config(prefix, suffix, class_path, args)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        module, dm = instantiate(config)
        timer = EpochTimer(f"{dataset} / {model}")
        trainer = L.Trainer(**{**config["trainer"], "callbacks": [timer]}, num_sanity_val_steps=0)
        parameters = sum(p.numel() for p in module.parameters() if p.requires_grad)
        epochs = config["trainer"]["max_epochs"]
        log(f"{dataset} / {model}: {parameters:,} parameters; training {epochs} epochs")
        trainer.fit(module, datamodule=dm)
        metrics = trainer.test(module, datamodule=dm, verbose=False)[0]
    splits = config["data"]["init_args"]
    y_test = dm.tensors("test", dm.hparams.space)[1]
    return Result(
        dataset=dataset,
        model=model,
        parameters=parameters,
        n_train=splits["train"][1] - splits["train"][0],
        n_test=splits["test"][1] - splits["test"][0],
        epoch_seconds=timer.epoch_seconds,
        val_rel_l2_fe=timer.val_rel_l2_fe,
        test_rel_l2_fe=metrics["test/rel_l2_fe"],
        test_rel_l2=metrics["test/rel_l2"],
        boundary_error=metrics["test/boundary_error"],
        max_abs_u=float(y_test.abs().max()),
        sample=fe_sample(module, dm) if prefix == "fem_darcy" else {},
    )


def markdown_rows(rows: list[list[str]]) -> list[str]:
    """``rows[0]`` as the header of a Markdown table, the others as its rows."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return lines + ["| " + " | ".join(row) + " |" for row in rows[1:]]


def table(results: list[Result]) -> list[str]:
    """One row per (dataset, model)."""
    rows = [
        [
            "Dataset (train / test samples)",
            "Model",
            "Parameters",
            "Epochs",
            "s / epoch (training only, median)",
            "Test FE rel. L2 (×10⁻²)",
            "Test dof rel. l2 (×10⁻²)",
            "Boundary error max |u_pred − u| (max |u|)",
        ]
    ]
    for r in results:
        rows.append(
            [
                f"{r.dataset}, {r.n_train} / {r.n_test}",
                r.model,
                f"{r.parameters:,}",
                str(len(r.epoch_seconds)),
                f"{np.median(r.epoch_seconds):.1f}",
                f"{100 * r.test_rel_l2_fe:.2f}",
                f"{100 * r.test_rel_l2:.2f}",
                f"{r.boundary_error:.3g} ({r.max_abs_u:.3g})",
            ]
        )
    return markdown_rows(rows)


def plot(results: list[Result], path: str) -> None:
    """Validation curves per dataset; Darcy test sample 0 and each model's error on the mesh."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    darcy = [r for r in results if r.sample]
    columns = max(len(DATASETS), 1 + len(darcy))
    fig, axes = plt.subplots(2, columns, figsize=(4.2 * columns, 7.5), layout="constrained")
    for ax, dataset in zip(axes[0], DATASETS, strict=False):
        for r in (r for r in results if r.dataset == dataset):
            epochs = np.arange(1, len(r.val_rel_l2_fe) + 1)
            ax.semilogy(epochs, r.val_rel_l2_fe, "o-", ms=3, label=r.model)
        ax.set(xlabel="epoch", ylabel="validation FE relative L2", title=dataset)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    for ax in axes[0][len(DATASETS) :]:
        ax.axis("off")
    if darcy:
        s = darcy[0].sample
        tri = Triangulation(s["points"][:, 0], s["points"][:, 1], s["triangles"])
        bound = max(float(np.abs(r.sample["pred"] - r.sample["u"]).max()) for r in darcy)
        panels = [(s["u"], "Darcy test sample 0: u", {"cmap": "viridis"})]
        signed = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
        panels += [(r.sample["pred"] - r.sample["u"], f"{r.model} error", signed) for r in darcy]
        for ax, (values, title, kwargs) in zip(axes[1], panels, strict=False):
            image = ax.tripcolor(tri, values, shading="gouraud", **kwargs)
            ax.set(title=title, xticks=[], yticks=[], aspect="equal")
            fig.colorbar(image, ax=ax, shrink=0.8)
    for ax in axes[1][1 + len(darcy) :]:
        ax.axis("off")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    log(f"figure: {path}")


def header(command: str, total_s: float, data_s: float) -> list[str]:
    """Machine, software, date, command and timing lines of the report."""
    found = software_versions()
    for dist in ("torch", "torch_geometric", "lightning"):
        found[dist] = importlib.metadata.version(dist)
    software = ", ".join(f"{k} {v}" for k, v in found.items())
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return [
        f"- Machine: {machine_name()}, no GPU used ({platform.platform()})",
        f"- Software: {software}; code: git {code_version()}",
        f"- Date: {now}",
        f"- Command: `{command}`",
        f"- Wall time: {total_s:.0f} s in all, of which data generation / check {data_s:.0f} s",
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, 48 / 8 / 8 samples")
    parser.add_argument("--epochs", type=int, help="epochs per model (default: the configs')")
    parser.add_argument("--plot", help=f"figure path (default {DEFAULT_PLOT}; a temp file quick)")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.quick and args.epochs is None:
        args.epochs = 2
    if args.plot is None:
        quick_plot = os.path.join(tempfile.gettempdir(), "opl_spon_quick.png")
        args.plot = quick_plot if args.quick else DEFAULT_PLOT
    return args


def main() -> None:
    args = parse_args(sys.argv[1:])
    command = shlex.join(["python", *sys.argv])
    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    data_s = sum(ensure_data(data_name) for data_name, _ in DATASETS.values())
    results = []
    for dataset in DATASETS:
        for model in MODELS:
            results.append(run_one(dataset, model, args))
            r = results[-1]
            log(
                f"{dataset} / {model}: test FE L2 {r.test_rel_l2_fe:.4g}, boundary error "
                f"{r.boundary_error:.3g}"
            )
    plot(results, args.plot)
    total_s = time.perf_counter() - start
    publish([*header(command, total_s, data_s), "", *table(results)], args.markdown)


if __name__ == "__main__":
    main()
