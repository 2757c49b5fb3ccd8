"""The Lightning stack: a short fit reduces the loss, checkpoints round-trip, metrics per
resolution, a diverging run stops with a message, bad configs are refused clearly."""

import csv
import logging
import math
import warnings

import lightning as L
import numpy as np
import pytest
import torch
import yaml

from opl.cli import main
from opl.data import GridDataModule
from opl.errors import ConfigError
from opl.models import PIG, MgNO
from opl.models.base import GridWarning
from opl.train import OneCycle, OperatorModule, TrainingDiverged

TINY_MGNO = {"in_channels": 1, "out_channels": 1, "channels": 4, "n_layers": 2, "levels": 3}


@pytest.fixture(scope="module")
def darcy_file(tmp_path_factory, small_dataset):
    path = tmp_path_factory.mktemp("darcy") / "darcy33.h5"
    return small_dataset(path, "darcy", {"resolution": 33}, 24)[1]


def datamodule(path, **kwargs):
    options = {
        "train": (0, 16),
        "val": (16, 20),
        "test": (20, 24),
        "batch_size": 4,
        "eval_subsample": [1, 2],
        **kwargs,
    }
    return GridDataModule(path, **options)


def trainer(tmp_path, epochs):
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def test_a_short_fit_reduces_the_loss_and_logs_every_resolution(darcy_file, tmp_path):
    torch.manual_seed(0)
    module = OperatorModule(
        MgNO(**TINY_MGNO), loss="rel_l2", optimizer=lambda p: torch.optim.Adam(p, lr=3e-3)
    )
    data = datamodule(darcy_file)
    fit = trainer(tmp_path, epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridWarning)  # untrained: no training grid yet
        fit.validate(module, datamodule=data, verbose=False)
    before = fit.callback_metrics["val/rel_l2"].item()
    fit = trainer(tmp_path, epochs=15)
    # MgNO's stencils are tied to the training spacing: said once, not at every validation
    with pytest.warns(GridWarning, match="MgNO was trained on 33x33, not 17x17") as said:
        fit.fit(module, datamodule=data)
    assert len([w for w in said if w.category is GridWarning]) == 1
    after = fit.callback_metrics["val/rel_l2"].item()
    assert after < 0.5 * before, (before, after)
    assert {"val/rel_l2/33x33", "val/rel_l2/17x17", "val/rel_h1/33x33"} <= set(fit.callback_metrics)
    # the training split's statistics travel with the model
    torch.testing.assert_close(module.in_normalizer.mean, data.in_normalizer.mean)
    torch.testing.assert_close(module.out_normalizer.std, data.out_normalizer.std)


def test_one_cycle_schedule_follows_its_definition(darcy_file, tmp_path):
    module = OperatorModule(
        MgNO(**TINY_MGNO),
        scheduler=OneCycle(interval="epoch"),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-3),
    )
    fit = trainer(tmp_path, epochs=10)
    rates = []

    class Record(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    fit.callbacks.append(Record())
    fit.fit(module, datamodule=datamodule(darcy_file))
    assert rates[0] == pytest.approx(1e-3 / 2.0)  # starts at lr / div_factor
    assert max(rates) == pytest.approx(1e-3, rel=0.05)  # peaks at the optimiser's lr
    assert rates[-1] < rates[0]  # and anneals below where it started
    from opl.errors import ConfigError

    with pytest.raises(ConfigError, match=r"OneCycle needs pct_start x steps > 1.*0.2 x 5 epochs"):
        trainer(tmp_path, epochs=5).fit(module, datamodule=datamodule(darcy_file))


def test_checkpoint_round_trip_gives_identical_predictions(darcy_file, tmp_path):
    module = OperatorModule(MgNO(**TINY_MGNO))
    fit = trainer(tmp_path, epochs=2)
    data = datamodule(darcy_file)
    fit.fit(module, datamodule=data)
    path = tmp_path / "model.ckpt"
    fit.save_checkpoint(path)
    restored = OperatorModule.load_from_checkpoint(path, model=MgNO(**TINY_MGNO))
    x, _ = next(iter(data.test_dataloader()[0]))
    module.eval()
    restored.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(x), module(x), rtol=0, atol=0)


def test_non_finite_loss_stops_training_naming_epoch_and_batch(darcy_file, tmp_path):
    model = MgNO(**TINY_MGNO)
    with torch.no_grad():
        next(model.parameters()).fill_(math.nan)
    with pytest.raises(
        TrainingDiverged,
        match=r"non-finite training loss \(nan\) at epoch 0, "
        r"batch 0",
    ):
        trainer(tmp_path, epochs=1).fit(OperatorModule(model), datamodule=datamodule(darcy_file))


def write_training_config(tmp_path, path, trainer=None, module=None, **model_args):
    config = {
        "trainer": {
            "max_epochs": 1,
            "accelerator": "cpu",
            "default_root_dir": str(tmp_path),
            "logger": False,
            "enable_progress_bar": False,
            "enable_checkpointing": False,
            **(trainer or {}),
        },
        "model": {
            "class_path": "opl.train.OperatorModule",
            "init_args": {
                "model": {
                    "class_path": "opl.models.MgNO",
                    "init_args": {**TINY_MGNO, **model_args},
                },
                **(module or {}),
            },
        },
        "data": {
            "class_path": "opl.data.GridDataModule",
            "init_args": {
                "path": path,
                "train": [0, 16],
                "val": [16, 20],
                "test": [20, 24],
                "batch_size": 4,
            },
        },
    }
    target = tmp_path / "train.yaml"
    target.write_text(yaml.safe_dump(config))
    return str(target)


def test_opl_fit_runs_from_a_config_and_errors_are_clear(darcy_file, tmp_path, capsys):
    config = write_training_config(tmp_path, darcy_file)
    assert main(["fit", "--config", config]) == 0
    # fit wrote its final checkpoint and the bundle; test and resume from that checkpoint
    assert (tmp_path / "model.opl").exists()
    final = str(tmp_path / "final.ckpt")
    assert main(["test", "--config", config, "--ckpt_path", final]) == 0
    assert main(["fit", "--config", config, "--trainer.max_epochs", "2", "--ckpt_path", final]) == 0
    code = main(["fit", "--config", write_training_config(tmp_path, darcy_file, in_channels=3)])
    err = capsys.readouterr().err
    assert code == 2
    assert "model.in_channels = 3, but the data has 1 channels of that kind" in err
    assert main(["fit", "--config", write_training_config(tmp_path, darcy_file, chanels=8)]) == 2
    assert "Option 'chanels' is not accepted" in capsys.readouterr().err


def test_lightning_commands_flush_subnormal_floats(darcy_file, tmp_path, capsys):
    torch.set_flush_denormal(False)
    subnormal = torch.tensor([1e-39])  # below float32's smallest normal, 1.2e-38
    assert (subnormal * 1.0).item() != 0
    try:
        with pytest.raises(SystemExit):  # --print_config: parse, print, stop before training
            main(["fit", "--config", write_training_config(tmp_path, darcy_file), "--print_config"])
        assert (subnormal * 1.0).item() == 0
    finally:
        torch.set_flush_denormal(False)


def test_opl_fit_shows_lightnings_progress_but_not_its_notices(darcy_file, tmp_path):
    """Lightning's info lines still come; its TensorBoard notice, litlogger tip and torch-pytree
    deprecation (nothing a user of opl can act on) do not."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero_log.addHandler(handler)
    config = write_training_config(tmp_path, darcy_file, trainer={"logger": True})
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(["fit", "--config", config]) == 0
    finally:
        rank_zero_log.removeHandler(handler)
    logged = [record.getMessage() for record in records]
    assert any(line.startswith("GPU available") for line in logged)
    assert not any("litlogger" in line for line in logged)
    shown = [str(warning.message) for warning in caught]
    assert not any("tensorboardX" in text or "LeafSpec" in text for text in shown), shown
    assert list((tmp_path / "lightning_logs").glob("version_*/metrics.csv"))


def test_instantiate_builds_what_opl_fit_trains_and_refuses_bad_keys(darcy_file, tmp_path):
    from jsonargparse import ArgumentError

    from opl.train.cli import instantiate

    config = yaml.safe_load(open(write_training_config(tmp_path, darcy_file, channels=6)))
    module, data = instantiate(config)
    assert isinstance(module, OperatorModule) and isinstance(data, GridDataModule)
    assert isinstance(module.model, MgNO) and module.model.init_args["channels"] == 6
    assert (data.hparams.train, data.hparams.val) == ([0, 16], [16, 20])
    config["model"]["init_args"]["model"]["init_args"]["chanels"] = 8
    with pytest.raises(ArgumentError, match="'chanels' is not accepted"):
        instantiate(config)


def test_checkpoints_live_under_the_root_dir_and_a_finished_run_extends(darcy_file, tmp_path):
    """A ModelCheckpoint without dirpath writes to <default_root_dir>/checkpoints; a finished
    per-epoch OneCycle run resumed with more epochs goes on at its final learning rate."""
    checkpoint = {
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"filename": "best", "monitor": "val/rel_l2", "save_last": True},
    }
    lr_monitor = {"class_path": "lightning.pytorch.callbacks.LearningRateMonitor"}
    config = write_training_config(
        tmp_path,
        darcy_file,
        trainer={
            "max_epochs": 6,
            "enable_checkpointing": True,
            "callbacks": [checkpoint, lr_monitor],
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(tmp_path), "version": "v"},
            },
        },
        module={
            "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}},
            "scheduler": {"interval": "epoch", "div_factor": 2.0, "final_div_factor": 10.0},
        },
    )
    assert main(["fit", "--config", config]) == 0
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert last.exists() and (tmp_path / "checkpoints" / "best.ckpt").exists()
    more = ["--ckpt_path", str(last), "--trainer.max_epochs", "8"]
    assert main(["fit", "--config", config, *more, "--trainer.logger.init_args.version", "w"]) == 0

    def rates(version):
        with open(tmp_path / "lightning_logs" / version / "metrics.csv") as f:
            return [float(r["lr-Adam"]) for r in csv.DictReader(f) if r.get("lr-Adam")]

    # 6 epochs of the cycle, from lr / 2 to lr / (2 · 10), then 2 more at lr / (2 · 10)
    first, extension = rates("v"), rates("w")
    assert len(first) == 6 and first[0] == pytest.approx(5e-4) and max(first) > 9e-4
    assert first[-1] == pytest.approx(5e-5)
    assert extension == [pytest.approx(5e-5)] * 2


def test_splits_beyond_the_file_are_refused_when_a_stage_needs_them(darcy_file):
    from opl.errors import OplInputError

    data = GridDataModule(darcy_file, train=(0, 20), val=(20, 30), test=(30, 31))
    with pytest.raises(
        OplInputError, match="the val split uses samples up to 29, but the file has 24"
    ):
        data.setup("fit")
    with pytest.raises(OplInputError, match="test: test needs a test range, and none was given"):
        GridDataModule(darcy_file, train=(0, 20)).setup("test")


@pytest.fixture(scope="module")
def fine_darcy_file(tmp_path_factory, small_dataset):
    path = tmp_path_factory.mktemp("darcy_fine") / "darcy65.h5"
    return small_dataset(path, "darcy", {"resolution": 65}, 6)[1]


def test_a_test_only_data_module_evaluates_a_trained_model_on_another_file(
    darcy_file, fine_darcy_file, tmp_path
):
    torch.manual_seed(0)
    module = OperatorModule(MgNO(**TINY_MGNO), loss="rel_l2")
    trainer(tmp_path, epochs=2).fit(module, datamodule=datamodule(darcy_file))
    mean = module.out_normalizer.mean.clone()
    zero_shot = GridDataModule(fine_darcy_file, test=(0, 6), eval_subsample=[1, 2])
    per_loader = trainer(tmp_path, epochs=1).test(module, datamodule=zero_shot, verbose=False)
    metrics = {k: v for loader in per_loader for k, v in loader.items()}
    # the model keeps its training statistics; the metric is the mean over samples of
    # ||pred - u|| / ||u|| on the file's own 65² grid
    torch.testing.assert_close(module.out_normalizer.mean, mean)
    x, y = zero_shot.tensors("test", 1)
    module.eval()
    with torch.no_grad():
        pred = module(x)
    expected = ((pred - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean().item()
    assert metrics["test/rel_l2/65x65"] == pytest.approx(expected, rel=1e-5)
    assert "test/rel_l2/33x33" in metrics


def test_opl_test_runs_zero_shot_on_a_finer_file_without_training_ranges(
    darcy_file, fine_darcy_file, tmp_path, capsys
):
    config = write_training_config(tmp_path, darcy_file)
    assert main(["fit", "--config", config]) == 0
    zero_shot = ["--data.path", fine_darcy_file, "--data.train", "null", "--data.val", "null"]
    # the checkpoint carries the training grid, so MgNO's test on another one says what it is
    with pytest.warns(GridWarning, match="MgNO was trained on 33x33, not 65x65: its learned"):
        code = main(
            [
                "test",
                "--config",
                config,
                "--ckpt_path",
                str(tmp_path / "final.ckpt"),
                *zero_shot,
                "--data.test",
                "[0, 6]",
            ]
        )
    assert code == 0
    assert "test/rel_l2/65x65" in capsys.readouterr().out


def test_fit_resumes_from_its_last_checkpoint(darcy_file, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    def run(epochs, ckpt_path=None):
        checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
        fit = L.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            default_root_dir=tmp_path,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[checkpoint],
        )
        module = OperatorModule(MgNO(**TINY_MGNO))
        fit.fit(module, datamodule=datamodule(darcy_file), ckpt_path=ckpt_path)
        return fit

    first = run(2)
    steps_per_epoch = first.global_step // 2
    resumed = run(3, ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert resumed.current_epoch == 3
    assert resumed.global_step == 3 * steps_per_epoch  # continued, not restarted


def test_a_grid_the_model_cannot_take_is_refused_before_training(darcy_file, tmp_path):
    from opl.errors import ConfigError

    module = OperatorModule(MgNO(**{**TINY_MGNO, "levels": 5}))  # needs >= 17 points per side
    data = datamodule(darcy_file, eval_subsample=[1, 4])  # 33² and 9²
    with pytest.raises(ConfigError, match="data: the model cannot run on the 9x9 grid"):
        trainer(tmp_path, epochs=1).fit(module, datamodule=data)


def test_subsampled_splits_are_every_stride_th_point_of_the_file(darcy_file):
    import h5py

    data = datamodule(darcy_file, subsample=2, eval_subsample=[1, 2, 3])
    data.setup()
    with h5py.File(darcy_file, "r") as f:
        coeff, solution = f["coeff"][()], f["solution"][()]
    x, y = data.tensors("train", 2)
    assert x.shape == (16, 1, 17, 17)
    np.testing.assert_array_equal(x[:, 0].numpy(), coeff[:16, ::2, ::2])
    xv, yv = data.tensors("val", 3)
    np.testing.assert_array_equal(yv[:, 0].numpy(), solution[16:20, ::3, ::3])
    assert data.resolutions == ["33x33", "17x17", "11x11"]


def test_hyperparameters_load_without_unpickling_classes(tmp_path):
    # resuming (`opl fit --ckpt_path`) reads checkpoints with torch.load(weights_only=True)
    module = OperatorModule(MgNO(**TINY_MGNO), scheduler=OneCycle(interval="step"))
    torch.save({"hyper_parameters": dict(module.hparams)}, tmp_path / "h.ckpt")
    loaded = torch.load(tmp_path / "h.ckpt", weights_only=True)["hyper_parameters"]
    assert loaded["scheduler"] == {
        "pct_start": 0.2,
        "div_factor": 2.0,
        "final_div_factor": 100.0,
        "interval": "step",
    }


def test_opl_predict_writes_a_dataset_file_that_opl_plot_draws(darcy_file, tmp_path, capsys):
    import h5py

    import opl

    config = write_training_config(tmp_path, darcy_file)
    assert main(["fit", "--config", config]) == 0
    out = tmp_path / "pred.h5"
    predict = ["predict", "--config", config, "--ckpt_path", str(tmp_path / "final.ckpt")]
    assert main([*predict, "--predictions", str(out)]) == 0
    with h5py.File(out, "r") as f:
        roles = {name: f[name].attrs["role"] for name in f if "role" in f[name].attrs}
        assert roles == {
            "coeff": "input",
            "solution": "output",
            "solution_prediction": "prediction",
            "source_sample": "parameter",
        }
        np.testing.assert_array_equal(f["source_sample"][()], np.arange(20, 24))  # the test split
        with h5py.File(darcy_file, "r") as source:
            np.testing.assert_array_equal(f["solution"][()], source["solution"][20:24])
        # the prediction is the trained operator's, as its bundle computes it
        expected = opl.load(tmp_path / "model.opl")(f["coeff"][()][:, None])[:, 0]
        np.testing.assert_allclose(f["solution_prediction"][()], expected, rtol=0, atol=1e-6)
    assert main(["plot", str(out), "--sample", "1", "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main([*predict, "--predictions", str(out)]) == 2  # nothing written is overwritten
    assert f"--predictions: {out} exists" in capsys.readouterr().err
    assert main(["predict", "--config", config, "--ckpt_path", str(tmp_path / "model.opl")]) == 2
    assert "an opl bundle, not a checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize(
    "model", [torch.nn.Conv2d(1, 1, 3), PIG(n_gaussians=4, n_features=2)], ids=["Conv2d", "PIG"]
)
def test_the_operator_module_trains_field_operators_only(model):
    with pytest.raises(ConfigError, match=f"model: {type(model).__name__} is not a field operator"):
        OperatorModule(model)
