"""``opl fit | validate | test | predict``: Lightning's own CLI (LightningCLI / jsonargparse).

Configs name the LightningModule and the DataModule by ``class_path`` / ``init_args`` (e.g.
``opl.train.OperatorModule`` with an ``opl.models`` model inside, and ``opl.data.GridDataModule``);
every Trainer option works from the config or the command line (``--trainer.max_epochs 5``).
After ``fit`` the trained operator is also written as a bundle (``opl.export``).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from opl.errors import ConfigError
from opl.train.operator_module import OperatorModule

IGNORED_WARNINGS = (
    # a per-epoch OneCycle is deliberate (MgNO's schedule), not the mistake Lightning suspects
    "A `OneCycleLR` scheduler is using",
    # Lightning's default logger is CSV when TensorBoard is not installed, as opl documents
    "Starting from v1.9.0, `tensorboardX` has been removed",
    # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates: nothing a user can change
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
"""Lightning warnings that ``opl fit | validate | test | predict`` do not show (regexes matched
at the start of the message)."""


class _NoLitLoggerTip(logging.Filter):
    """Drops Lightning's "💡 Tip: ... try installing litlogger" line, printed at every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


class OplCLI(LightningCLI):
    """LightningCLI that keeps checkpoints in ``<trainer.default_root_dir>/checkpoints`` (a
    ModelCheckpoint without ``dirpath``) and, after ``fit``, writes the trained operator as a
    bundle (``<trainer.default_root_dir>/model.opl``, see ``opl.export``): the best checkpoint's
    weights when a ModelCheckpoint monitored a metric, else the final ones. Under a multi-process
    strategy every rank takes part in saving the final checkpoint (a collective) and rank 0 alone
    writes the bundle."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--predictions",
            default=None,
            help="opl predict: the dataset file to write the predictions to (default: "
            "<trainer.default_root_dir>/predictions.h5); other commands ignore it",
        )

    def before_fit(self) -> None:
        self._default_checkpoint_dirs()

    def before_test(self) -> None:
        self._default_checkpoint_dirs()

    def before_predict(self) -> None:
        from opl.train.predictions import PredictionFile, default_path

        path = self.config["predict"].get("predictions") or default_path(self.trainer)
        self.trainer.callbacks.append(PredictionFile(path))

    def _parse_ckpt_path(self) -> None:
        """Refuse a ``--ckpt_path`` that is missing or an opl bundle in one line, before
        Lightning reads it (``torch.load`` would say ``enforce fail at inline_container.cc``)."""
        subcommand = self.config.get("subcommand")  # None with run=False
        path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if path is not None and path not in ("best", "last", "hpc", "registry"):
            if not os.path.exists(path):
                raise ConfigError(f"--ckpt_path {path}: no such checkpoint")
            if zipfile.is_zipfile(path) and "model.json" in zipfile.ZipFile(path).namelist():
                raise ConfigError(
                    f"--ckpt_path {path}: an opl bundle, not a checkpoint; give the .ckpt of "
                    "opl fit (a bundle is loaded with opl.load)"
                )
        super()._parse_ckpt_path()

    def _default_checkpoint_dirs(self) -> None:
        directory = os.path.join(self.trainer.default_root_dir, "checkpoints")
        for callback in self.trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
                callback.dirpath = os.path.realpath(directory)

    def after_fit(self) -> None:
        from opl.export import bundle_from_checkpoint

        trainer = self.trainer
        if not isinstance(self.model, OperatorModule) or self.model.model_config is None:
            return
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        if not best:
            best = os.path.join(trainer.default_root_dir, "final.ckpt")
            trainer.save_checkpoint(best)  # on every rank: it ends with a barrier
        if trainer.is_global_zero:
            output = os.path.join(trainer.default_root_dir, "model.opl")
            print(f"wrote {bundle_from_checkpoint(best, output)} (from {best})")


def _opl_cli(**options: Any) -> OplCLI:
    """OplCLI as every opl entry point builds it: any LightningModule subclass, any DataModule
    (and none for modules with their own loaders), the optimizers the module configures, and
    parse errors raised (opl's CLI reports them in one line) instead of exiting."""
    return OplCLI(
        L.LightningModule,
        None,
        subclass_mode_model=True,
        auto_configure_optimizers=False,
        parser_kwargs={"exit_on_error": False},
        **options,
    )


def run_lightning(argv: list[str]) -> None:
    """Run one LightningCLI subcommand with ``argv`` (e.g. ``["fit", "--config", "x.yaml"]``).

    ``sys.argv`` is set to this command line for the duration (LightningCLI reads it, and
    Lightning's multi-process strategies, ``ddp``, start the other ranks by running it again).
    Parse errors raise ``jsonargparse.ArgumentError`` instead of exiting. Lightning's notices
    that ask nothing of an opl user (``IGNORED_WARNINGS``, the litlogger tip) are not shown.

    Subnormal floats (|x| < 1.2e-38 in float32) are flushed to zero in this process from here on
    (``torch.set_flush_denormal``), as TensorFlow and XLA do on the CPU by default: weights that
    get no gradient from the data are pulled toward zero by an L2 weight decay under Adam and
    become subnormal, which x86 CPUs compute with slowly (PatchTNO's training steps took twice
    as long in ``benchmarks/accuracy.py``'s 85² run).
    """
    torch.set_flush_denormal(True)
    program, sys.argv = sys.argv, [sys.argv[0], *argv]
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    no_tip = _NoLitLoggerTip()
    rank_zero_log.addFilter(no_tip)
    try:
        with warnings.catch_warnings():
            for message in IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            _opl_cli(save_config_kwargs={"overwrite": True})
    finally:
        rank_zero_log.removeFilter(no_tip)
        sys.argv = program


def instantiate(
    config: Mapping[str, Any],
) -> tuple[L.LightningModule, L.LightningDataModule | None]:
    """The LightningModule and the DataModule (``None`` if the config has no ``data``) that a fit
    config names, built as ``opl fit --config`` builds them but not run: for scripts that drive
    their own ``lightning.Trainer``. ``config`` is the YAML as a dict (``model``, ``data``,
    ``trainer``, ...); its ``trainer`` section is checked, not used. Errors raise
    ``jsonargparse.ArgumentError``. Unlike ``opl fit`` (``run_lightning``) it leaves the
    process's float mode alone: a script training on the CPU calls
    ``torch.set_flush_denormal(True)`` itself for the same speed."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        cli = _opl_cli(run=False, args=dict(config))
    return cli.model, cli.datamodule
