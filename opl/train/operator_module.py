"""The LightningModule of data-driven operator learning on grids.

A batch ``(x, y)`` of input and output fields ``(B, C, *spatial)`` in physical units is normalised
per channel (statistics of the training split, kept in the checkpoint), mapped by the model, and
the prediction decoded back to physical units; the loss and every metric compare physical
fields. Validation and test report the relative L2 and spectral H1 errors at each resolution of
the data module (``val/rel_l2/64x64`` ...); ``val/rel_l2`` is the error at the first one, for
checkpoint monitoring. A non-finite training loss stops training with ``TrainingDiverged``
naming the epoch and batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities.types import OptimizerLRScheduler

from opl.data.normalize import ChannelNormalizer
from opl.errors import ConfigError
from opl.losses import LOSSES, RelativeH1FiniteDifference, RelativeH1Spectral, RelativeL2
from opl.models import MODELS
from opl.models.base import FieldOperator, check_grid, predict

Batch = tuple[torch.Tensor, torch.Tensor]
"""Inputs and targets of a batch, (B, C_in, ...) and (B, C_out, ...)."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss."""


@dataclass(frozen=True)
class OneCycle:
    """One-cycle learning-rate schedule (``torch.optim.lr_scheduler.OneCycleLR``) peaking at the
    optimiser's learning rate: starts at lr/div_factor, rises for pct_start of the run, then anneals
    to lr/(div_factor·final_div_factor), where it stays if the run is extended
    (``HeldOneCycleLR``). ``interval="epoch"`` steps once per epoch (as MgNO's code), ``"step"``
    once per batch."""

    pct_start: float = 0.2
    div_factor: float = 2.0
    final_div_factor: float = 100.0
    interval: Literal["epoch", "step"] = "epoch"


class HeldOneCycleLR(torch.optim.lr_scheduler.OneCycleLR):
    """``OneCycleLR`` that holds its final learning rate ``lr / (div_factor · final_div_factor)``
    past its ``total_steps``: a finished run extended with more epochs (``--ckpt_path last.ckpt
    --trainer.max_epochs more``) goes on at the annealed rate instead of failing."""

    def get_lr(self) -> list[float]:
        if self.last_epoch < self.total_steps:  # steps 0 .. total_steps - 1 make the cycle
            return super().get_lr()
        return [group["min_lr"] for group in self.optimizer.param_groups]


def make_optimizer(
    factory: Callable[..., torch.optim.Optimizer], parameters: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """``factory(parameters)``; a hyperparameter torch refuses (``lr: -1``, ``lr: .nan``) or
    lets through although it is not finite (``lr: .inf``) is one ``ConfigError`` naming it."""
    try:
        optimizer = factory(parameters)
    except ValueError as err:
        raise ConfigError(f"optimizer: {err}") from None
    for group in optimizer.param_groups:
        for key, value in group.items():
            numbers = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                raise ConfigError(f"optimizer: {key} = {value}; expected finite values")
    return optimizer


class OperatorModule(L.LightningModule):
    """Trains ``model`` (a ``FieldOperator``: on grids or on FE dofs) to map input fields to
    output fields.

    ``loss``: ``rel_h1_spectral`` (MgNO's training loss, with ``h1_k_max`` = 20), ``rel_l2`` or
    ``rel_h1_fd``. ``optimizer``: any torch optimiser (default Adam, lr 1e-3). ``scheduler``: a
    ``OneCycle`` schedule or None for a constant learning rate.
    """

    def __init__(
        self,
        model: FieldOperator,
        loss: Literal["rel_h1_spectral", "rel_l2", "rel_h1_fd"] = "rel_h1_spectral",
        h1_k_max: int | None = 20,
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: OneCycle | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, FieldOperator):
            raise ConfigError(
                f"model: {type(model).__name__} is not a field operator; OperatorModule trains "
                "subclasses of opl.models.FieldOperator (MgNO, TNO, PatchTNO, SPON, ...; a "
                "model of your own subclasses it and sets in_channels, out_channels and n_dim)"
            )
        if model.on_mesh and loss != "rel_l2":
            raise ConfigError(
                f"loss: {loss} differentiates on a grid; {type(model).__name__} works on FE "
                "dofs, use loss: rel_l2"
            )
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"])
        # a plain dict, so that checkpoints load with torch.load(weights_only=True)
        self.hparams["scheduler"] = None if scheduler is None else asdict(scheduler)
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler = scheduler
        self.loss = LOSSES[loss](k_max=h1_k_max) if loss == "rel_h1_spectral" else LOSSES[loss]()
        self.rel_l2 = RelativeL2()
        self.rel_h1 = RelativeH1Spectral(k_max=h1_k_max)
        self.in_normalizer = ChannelNormalizer(model.in_channels)
        self.out_normalizer = ChannelNormalizer(model.out_channels)
        self.training_grid: tuple[int, ...] | None = None
        """The spatial shape the model was trained on (grid data; kept in the checkpoint), so
        that validation, test and predict act on other grids as ``model.other_grids`` says."""
        self._warned_grids: set[tuple[int, ...]] = set()

    @property
    def model_config(self) -> dict | None:
        """The model's class and constructor arguments (what a bundle needs to build it again),
        or None for a model outside the bundle allow-list ``opl.models.MODELS``."""
        if MODELS.get(type(self.model).__name__) is not type(self.model):
            return None
        return {"class": type(self.model).__name__, "init_args": self.model.init_args}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # kept beside, not among, the hyperparameters: LightningCLI rebuilds the module from
        # those when it resumes or tests a checkpoint
        if self.model_config is not None:
            checkpoint["opl_model_config"] = self.model_config
        if self.training_grid:
            checkpoint["opl_training_grid"] = list(self.training_grid)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        grid = checkpoint.get("opl_training_grid")  # absent from checkpoints of mesh data
        if grid:
            self.training_grid = tuple(grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction in physical units for inputs ``x`` in physical units (``predict``: encode,
        the model, decode, the model's constraints)."""
        return predict(self.model, self.in_normalizer, self.out_normalizer, x)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None:
            return
        if getattr(datamodule, "in_normalizer", None) is not None:  # a training split: fitted
            self._take_statistics(datamodule)
            grid = getattr(datamodule, "training_grid", None)
            self.training_grid = tuple(grid) if grid else None
        conventions = getattr(datamodule, "grid_conventions", None)
        if conventions:
            try:
                self.model.adopt_grid(conventions)
            except ValueError as err:
                raise ConfigError(f"model: {err}") from None
        if conventions and isinstance(self.loss, RelativeH1FiniteDifference):
            self.loss.adopt_grid(conventions)
        if self.model.on_mesh:
            try:
                self.model.check_mesh(datamodule.input_positions, datamodule.output_positions)
            except (AttributeError, ValueError) as err:
                raise ConfigError(f"data: {err}") from None
        self._check_grids(datamodule)

    def _take_statistics(self, datamodule: L.LightningDataModule) -> None:
        """The data module's normalisation statistics (a checkpoint, if resumed, overrides them;
        a test-only data module has none, and the checkpoint's are used)."""
        for mine, theirs, name in (
            (self.in_normalizer, datamodule.in_normalizer, "in_channels"),
            (self.out_normalizer, datamodule.out_normalizer, "out_channels"),
        ):
            if mine.mean.numel() != theirs.mean.numel():
                raise ConfigError(
                    f"model.{name} = {mine.mean.numel()}, but the data has "
                    f"{theirs.mean.numel()} channels of that kind; set model.{name} to match"
                )
            mine.load_state_dict(theirs.state_dict())

    def _check_grids(self, datamodule: L.LightningDataModule) -> None:
        """Run one zero sample through the model at every grid the data module will use, so a
        grid the model cannot take is refused now, not after an epoch of training."""
        shapes = {tuple(shape[1:]) for shape in getattr(datamodule, "input_shapes", list)()}
        parameter = next(self.model.parameters())
        for shape in sorted(shapes):
            probe = torch.zeros(
                1, self.model.in_channels, *shape, device=parameter.device, dtype=parameter.dtype
            )
            try:
                with torch.no_grad():
                    self.model(probe)
            except ValueError as err:
                grid = "x".join(map(str, shape))
                raise ConfigError(
                    f"data: the model cannot run on the {grid} grid ({err})"
                ) from None

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"non-finite training loss ({loss.item()}) at epoch {self.current_epoch}, batch "
                f"{batch_idx}: lower the learning rate, or check the data with `opl info`"
            )
        self.log(
            "train/loss",
            loss,
            prog_bar=True,
            on_step=False,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=True,  # the mean over all ranks' samples under a multi-process strategy
        )
        return loss

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate("val", batch, dataloader_idx)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate("test", batch, dataloader_idx)

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        self._act_on_grid(batch[0])
        return self(batch[0])

    def _act_on_grid(self, x: torch.Tensor) -> None:
        """``check_grid`` for a batch of grid inputs: a ``GridWarning`` once per grid where the
        model is another operator than the one trained."""
        if not self.model.on_mesh:
            check_grid(self.model, self.training_grid, x.shape[2:], self._warned_grids)

    def _evaluate(self, split: str, batch: Batch, dataloader_idx: int) -> None:
        x, y = batch
        self._act_on_grid(x)
        pred = self(x)
        resolutions = getattr(self.trainer.datamodule, "resolutions", None) or [
            "x".join(str(n) for n in x.shape[2:])
        ]
        where = resolutions[dataloader_idx]
        for name, value in self._metrics(pred, y).items():
            reduce = "max" if name == "boundary_error" else "mean"
            options = {
                "batch_size": x.shape[0],
                "add_dataloader_idx": False,
                "reduce_fx": reduce,
                "sync_dist": True,
            }
            self.log(f"{split}/{name}/{where}", value, **options)
            if dataloader_idx == 0:
                self.log(f"{split}/{name}", value, prog_bar=name == "rel_l2", **options)

    def _metrics(self, pred: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Grids: relative L2 and spectral H1. Meshes: relative l2 of the dofs, relative L2 of
        the FE functions (mass matrix) and the largest error at the Dirichlet dofs."""
        if not self.model.on_mesh:
            return {"rel_l2": self.rel_l2(pred, y), "rel_h1": self.rel_h1(pred, y)}
        return {
            "rel_l2": self.rel_l2(pred, y),
            "rel_l2_fe": self.model.fe_relative_l2(pred, y),
            "boundary_error": self.model.boundary_error(pred, y),
        }

    def configure_optimizers(self) -> OptimizerLRScheduler:
        optimizer = make_optimizer(self.optimizer_factory, self.parameters())
        if self.scheduler is None:
            return optimizer
        s = self.scheduler
        if s.interval == "epoch":
            if not self.trainer.max_epochs or self.trainer.max_epochs < 1:
                raise ConfigError("scheduler: a per-epoch OneCycle needs trainer.max_epochs")
            total = self.trainer.max_epochs
        else:
            total = int(self.trainer.estimated_stepping_batches)
        if s.pct_start * total <= 1:
            raise ConfigError(
                f"scheduler: OneCycle needs pct_start x steps > 1 to warm up, got "
                f"{s.pct_start:g} x {total} {s.interval}s; train longer or use interval: step"
            )
        schedule = HeldOneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=total,
            pct_start=s.pct_start,
            div_factor=s.div_factor,
            final_div_factor=s.final_div_factor,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": schedule, "interval": s.interval},
        }
