"""``opl fit | validate | test | predict``: Lightning's own CLI (LightningCLI / jsonargparse).

Configs name the LightningModule and the DataModule by ``class_path`` / ``init_args`` (e.g.
``opl.train.OperatorModule`` with an ``opl.models`` model inside, and ``opl.data.GridDataModule``);
every Trainer option works from the config or the command line (``--trainer.max_epochs 5``).
"""

from __future__ import annotations

import sys
import warnings

import lightning as L
from lightning.pytorch.cli import LightningCLI


def run_lightning(argv: list[str]) -> None:
    """Run one LightningCLI subcommand with ``argv`` (e.g. ``["fit", "--config", "x.yaml"]``)."""
    program, sys.argv = sys.argv, sys.argv[:1]  # the arguments are ``argv``, not the process's
    try:
        with warnings.catch_warnings():
            # a per-epoch OneCycle is deliberate (MgNO's schedule), not the mistake Lightning
            # suspects
            warnings.filterwarnings("ignore", message="A `OneCycleLR` scheduler is using")
            LightningCLI(
                L.LightningModule,
                L.LightningDataModule,
                subclass_mode_model=True,
                subclass_mode_data=True,
                auto_configure_optimizers=False,
                save_config_kwargs={"overwrite": True},
                args=argv,
            )
    finally:
        sys.argv = program
