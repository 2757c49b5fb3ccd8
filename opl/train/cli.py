"""``opl fit | validate | test | predict``: Lightning's own CLI (LightningCLI / jsonargparse).

Configs name the LightningModule and the DataModule by ``class_path`` / ``init_args`` (e.g.
``opl.train.OperatorModule`` with an ``opl.models`` model inside, and ``opl.data.GridDataModule``);
every Trainer option works from the config or the command line (``--trainer.max_epochs 5``).
After ``fit`` the trained operator is also written as a bundle (``opl.export``).
"""

from __future__ import annotations

import os
import sys
import warnings

import lightning as L
from lightning.pytorch.cli import LightningCLI


class OplCLI(LightningCLI):
    """LightningCLI that, after ``fit``, writes the trained operator as a bundle
    (``<trainer.default_root_dir>/model.opl``, see ``opl.export``): the best checkpoint's weights
    when a ModelCheckpoint monitored a metric, else the final ones."""

    def after_fit(self) -> None:
        from opl.export import bundle_from_checkpoint

        trainer = self.trainer
        if getattr(self.model, "model_config", None) is None or not trainer.is_global_zero:
            return
        output = os.path.join(trainer.default_root_dir, "model.opl")
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        if not best:
            best = os.path.join(trainer.default_root_dir, "final.ckpt")
            trainer.save_checkpoint(best)
        print(f"wrote {bundle_from_checkpoint(best, output)} (from {best})")


def run_lightning(argv: list[str]) -> None:
    """Run one LightningCLI subcommand with ``argv`` (e.g. ``["fit", "--config", "x.yaml"]``)."""
    program, sys.argv = sys.argv, sys.argv[:1]  # the arguments are ``argv``, not the process's
    try:
        with warnings.catch_warnings():
            # a per-epoch OneCycle is deliberate (MgNO's schedule), not the mistake Lightning
            # suspects
            warnings.filterwarnings("ignore", message="A `OneCycleLR` scheduler is using")
            OplCLI(
                L.LightningModule,
                None,  # any DataModule, and none for modules with their own loaders
                subclass_mode_model=True,
                auto_configure_optimizers=False,
                save_config_kwargs={"overwrite": True},
                args=argv,
            )
    finally:
        sys.argv = program
