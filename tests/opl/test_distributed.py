"""Multi-process training from the command line: ``opl fit`` with Lightning's ``ddp`` and
``ddp_spawn`` strategies on 2 CPU processes (gloo), against 1 process with the same global batch,
and resumed from its last checkpoint.

With ``data.shuffle: false`` rank r of P takes samples r, r + P, ... (``distributed_sampler``), so
P processes with batch B / P see the same global batches as one process with batch B, and DDP's
averaged gradient is the one process's gradient up to float32 summation order; so it is when
each rank streams its samples from the file (``data.streaming: true``). The runs are
subprocesses of the ``opl`` command, as a user runs them (``ddp`` starts its second rank by running
the command line again).
"""

import csv
import subprocess
import sys

import pytest
import torch
import yaml

import opl

EPOCHS = 2


@pytest.fixture(scope="module")
def config(tmp_path_factory, small_dataset):
    """A tiny MgNO on 32 + 8 Darcy samples at 33², SGD with momentum (its update is linear in
    the gradient, so rounding differences stay rounding-sized; Adam's g / sqrt(v) amplifies
    them where a gradient is near 0)."""
    root = tmp_path_factory.mktemp("ddp")
    data = small_dataset(root / "d33.h5", "darcy", {"resolution": 33}, 40)[1]
    checkpoint = {
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"save_last": True, "filename": "{epoch}"},
    }
    config = {
        "seed_everything": 0,
        "trainer": {
            "max_epochs": EPOCHS,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "callbacks": [checkpoint],
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger"},
        },
        "model": {
            "class_path": "opl.train.OperatorModule",
            "init_args": {
                "model": {
                    "class_path": "opl.models.MgNO",
                    "init_args": {"channels": 4, "n_layers": 2, "levels": 3},
                },
                "loss": "rel_l2",
                "optimizer": {
                    "class_path": "torch.optim.SGD",
                    "init_args": {"lr": 0.05, "momentum": 0.9},
                },
            },
        },
        "data": {
            "class_path": "opl.data.GridDataModule",
            "init_args": {"path": data, "train": [0, 32], "val": [32, 40], "shuffle": False},
        },
    }
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def fit(config, root, *options):
    """``opl fit`` in a subprocess writing to ``root``; returns the trained bundle."""
    command = [sys.executable, "-m", "opl", "fit", "--config", str(config)]
    command += ["--trainer.default_root_dir", str(root)]
    command += ["--trainer.logger.init_args.save_dir", str(root), *options]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return opl.load(root / "model.opl")


def parameters(operator):
    return torch.cat([p.detach().flatten() for p in operator.model.parameters()])


def validation_errors(root):
    """``val/rel_l2`` per epoch from the CSV log (rank 0 writes it)."""
    (log,) = root.glob("lightning_logs/version_*/metrics.csv")
    with open(log) as f:
        return [float(row["val/rel_l2"]) for row in csv.DictReader(f) if row.get("val/rel_l2")]


@pytest.fixture(scope="module")
def one_process(config, tmp_path_factory):
    root = tmp_path_factory.mktemp("one")
    return root, fit(config, root, "--data.batch_size", "8")


@pytest.mark.parametrize("strategy, streaming", [("ddp", "false"), ("ddp_spawn", "true")])
def test_two_processes_match_one_with_the_same_global_batch(
    config, one_process, tmp_path, strategy, streaming
):
    root, single = one_process
    two = ["--trainer.strategy", strategy, "--trainer.devices", "2", "--data.batch_size", "4"]
    double = fit(config, tmp_path, *two, "--data.streaming", streaming)
    # rounding of float32 reductions in another order, over 8 SGD steps: measured ~1e-7 of the
    # gradient on the first step; 1e-4 of the largest weight leaves room for its growth
    a, b = parameters(single), parameters(double)
    assert (a - b).abs().max() < 1e-4 * a.abs().max()
    # the validation metric is synced over the ranks (4 + 4 samples): the mean over all 8
    single_val, double_val = validation_errors(root), validation_errors(tmp_path)
    assert len(double_val) == len(single_val) == EPOCHS
    assert double_val == pytest.approx(single_val, rel=1e-4)
    # one bundle, one set of checkpoints: rank 0 wrote them
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        f"epoch={EPOCHS - 1}.ckpt",
        "last.ckpt",
    ]


def test_a_two_process_run_resumes_where_it_stopped(config, tmp_path):
    two = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--data.batch_size", "4"]
    straight = fit(config, tmp_path / "straight", *two)
    fit(config, tmp_path / "split", *two, "--trainer.max_epochs", "1")
    last = tmp_path / "split" / "checkpoints" / "last.ckpt"
    resumed = fit(config, tmp_path / "split", *two, "--ckpt_path", str(last))
    # same processes, same order of operations: the resumed run is the straight one
    torch.testing.assert_close(parameters(resumed), parameters(straight), rtol=0, atol=1e-6)
