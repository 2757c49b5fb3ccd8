"""Physics-informed training runs for the benchmarks: ``opl fit`` from a config with overrides,
the logged metrics, and the trained model of a finished run."""

from __future__ import annotations

import csv
import glob
import os
import shlex
import time

import torch
import yaml
from jsonargparse import ArgumentParser

from opl.cli import main as opl_main
from opl.physics import Problem


def fit(config: str, root: str, overrides: list[str]) -> dict:
    """``opl fit --config config`` with ``overrides`` under ``root``: the last validation error
    ``rel_l2``, its ``history`` [(step, error)], loss ``evaluations``, ``steps``, ``seconds``."""
    argv = ["fit", "--config", config, f"--trainer.default_root_dir={root}", *overrides]
    start = time.perf_counter()
    if opl_main(argv) != 0:
        raise SystemExit(f"opl fit failed: {shlex.join(argv)}")
    seconds = time.perf_counter() - start
    (metrics,) = glob.glob(os.path.join(root, "lightning_logs", "*", "metrics.csv"))
    rows = list(csv.DictReader(open(metrics)))
    history = [(int(r["step"]) + 1, float(r["val/rel_l2"])) for r in rows if r.get("val/rel_l2")]
    evaluations = [float(r["train/evaluations"]) for r in rows if r.get("train/evaluations")]
    return {
        "rel_l2": history[-1][1],
        "history": history,
        "evaluations": int(evaluations[-1]),
        "steps": int(rows[-1]["step"]) + 1,
        "seconds": seconds,
        "root": root,
    }


def trained_model(root: str) -> tuple[torch.nn.Module, Problem]:
    """The model (float64, eval mode) and problem of a finished run: built from its saved
    config, weights from its last checkpoint."""
    (saved,) = glob.glob(os.path.join(root, "lightning_logs", "*", "config.yaml"))
    module = yaml.safe_load(open(saved))["model"]["init_args"]
    parser = ArgumentParser()
    parser.add_argument("--model", type=torch.nn.Module)
    parser.add_argument("--problem", type=Problem)
    built = parser.instantiate_classes(
        parser.parse_object({"model": module["model"], "problem": module["problem"]})
    )
    (checkpoint,) = glob.glob(os.path.join(root, "lightning_logs", "*", "checkpoints", "*.ckpt"))
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    model = built.model.double()
    model.load_state_dict({k[len("model.") :]: v for k, v in state.items()})
    return model.eval(), built.problem
