r"""The LightningModule of physics-informed training: one PDE instance, no data.

Each training step draws collocation points for every condition of the ``problem`` (every
``resample_every`` steps; the points of step s are a function of ``(seed, s)``, so a resumed run
draws what an uninterrupted one would) and minimises

    loss = Σ_i λ_i mean_n |r_i(x_n)|²

over the conditions i (PDE, boundary and initial terms; λ_i = ``loss_weights[name]``, default
1). ``optimizer`` (e.g. Adam, with an optional ``scheduler`` stepped once per step) runs first;
with ``lbfgs`` set, L-BFGS takes over after ``lbfgs_after`` steps (0: from the start). An
L-BFGS step is one ``LBFGS.step(closure)`` of up to ``lbfgs.max_iter`` iterations on that step's
points (PIG's code runs it so, resampling between steps); optimisation is manual, so the
closure re-evaluates the loss as often as the strong-Wolfe line search needs.

Validation and test report ``rel_l2 = ||u - u*||_2 / ||u*||_2`` on a ``test_resolution``-per-axis
node grid of the box against the problem's exact or reference solution ``u*``. A non-finite loss
stops training with ``TrainingDiverged`` naming the step and the terms.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch.utils.data import DataLoader

from opl.errors import ConfigError
from opl.models.base import PointwiseModel
from opl.physics.domain import Sampler
from opl.physics.problem import Problem
from opl.train.operator_module import TrainingDiverged, make_optimizer


@dataclass(frozen=True)
class LBFGS:
    """Options of ``torch.optim.LBFGS`` (strong-Wolfe line search by default); the tolerances
    are low so that a step stops for lack of progress, not at float32-sized gradients."""

    lr: float = 1.0
    max_iter: int = 20
    history_size: int = 100
    tolerance_grad: float = 1e-12
    tolerance_change: float = 1e-15
    line_search_fn: str | None = "strong_wolfe"


class PhysicsModule(L.LightningModule):
    """Physics-informed training of ``model`` on ``problem`` (module docstring).

    Args:
        model: a physics-informed model with ``fields(points, order, weights)`` (``opl.models``
            PIG, MLP, LPINN; the last returns ``opl.physics.LagrangianFields``).
        problem: an ``opl.physics`` problem.
        points: collocation points per step, by condition name (every condition needs one).
        loss_weights: λ by condition name (default 1).
        sampler: ``uniform``, ``sobol`` or ``lhs`` (``opl.physics.domain``).
        resample_every: draw new points every this many steps.
        optimizer: the first optimiser (default Adam, lr 1e-3); None to use L-BFGS only.
        scheduler: learning-rate schedule of ``optimizer``, stepped once per step.
        lbfgs: L-BFGS options, or None for no L-BFGS.
        lbfgs_after: steps of ``optimizer`` before L-BFGS takes over.
        steps_per_epoch: training steps per Lightning epoch (validation runs between epochs).
        test_resolution: grid points per axis of the error grid.
        seed: seed of the collocation points.
    """

    def __init__(
        self,
        model: PointwiseModel,
        problem: Problem,
        points: dict[str, int],
        loss_weights: dict[str, float] | None = None,
        sampler: Sampler = "uniform",
        resample_every: int = 1,
        optimizer: OptimizerCallable | None = torch.optim.Adam,
        scheduler: LRSchedulerCallable | None = None,
        lbfgs: LBFGS | None = None,
        lbfgs_after: int = 0,
        steps_per_epoch: int = 100,
        test_resolution: int = 250,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(model, PointwiseModel):
            raise ConfigError(
                f"model: {type(model).__name__} is not a pointwise model; PhysicsModule trains "
                "subclasses of opl.models.PointwiseModel (PIG, MLP, LPINN), which have "
                "fields(points, order, weights)"
            )
        names = problem.condition_names
        for what, given in (("points", points), ("loss_weights", loss_weights or {})):
            unknown = sorted(set(given) - set(names))
            if unknown:
                raise ConfigError(
                    f"{what}: unknown condition(s) {unknown}; {type(problem).__name__} has "
                    f"{list(names)}"
                )
        missing = [name for name in names if name not in points]
        if missing:
            raise ConfigError(f"points: give a number of points for {missing} (of {list(names)})")
        if optimizer is None and lbfgs is None:
            raise ConfigError("optimizer and lbfgs are both None: nothing would train")
        if resample_every < 1:
            raise ConfigError(f"resample_every: expected >= 1, got {resample_every}")
        self.save_hyperparameters(ignore=["model", "problem", "optimizer", "scheduler", "lbfgs"])
        # a plain dict, so that checkpoints load with torch.load(weights_only=True)
        self.hparams["lbfgs"] = None if lbfgs is None else asdict(lbfgs)
        self.automatic_optimization = False
        self.model, self.problem = model, problem
        self.points, self.sampler = dict(points), sampler
        self.loss_weights = {name: float((loss_weights or {}).get(name, 1.0)) for name in names}
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.lbfgs, self.lbfgs_after = lbfgs, lbfgs_after
        self.resample_every, self.steps_per_epoch = resample_every, steps_per_epoch
        self.test_resolution, self.seed = test_resolution, seed
        self._collocation: dict[str, torch.Tensor] = {}
        self.evaluations = 0

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["opl_evaluations"] = self.evaluations

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.evaluations = checkpoint.get("opl_evaluations", 0)
        # Lightning loads the weights before its precision plugin converts the module: take the
        # checkpoint's dtype first, or float64 weights would pass through float32 on resume
        dtypes = {t.dtype for t in checkpoint["state_dict"].values() if t.is_floating_point()}
        if len(dtypes) == 1:
            self.to(dtypes.pop())

    # -- data: none; an epoch is ``steps_per_epoch`` steps (a batch is the step's index),
    # validation one pass over the grid
    def train_dataloader(self) -> DataLoader:
        return DataLoader(range(self.steps_per_epoch), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(range(1), batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(range(1), batch_size=None)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.model(points)

    @property
    def parameter_dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def collocation_points(self, step: int) -> dict[str, torch.Tensor]:
        """The points of every condition at training step ``step``."""
        draw = step - step % self.resample_every
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + draw)
        return {
            c.name: c.sample(
                self.problem.domain,
                self.points[c.name],
                generator,
                self.sampler,
                self.parameter_dtype,
            ).to(self.device)
            for c in self.problem.conditions
        }

    def losses(self, points: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``mean |r_i|²`` of every condition at ``points``."""
        weights = self.problem.second_order_weights

        def evaluate(p: torch.Tensor, order: int):
            return self.model.fields(p, order, weights)

        return {
            c.name: c.residual(points[c.name], evaluate).square().mean()
            for c in self.problem.conditions
        }

    def _loss(self) -> torch.Tensor:
        terms = self.losses(self._collocation)
        loss = sum(self.loss_weights[name] * term for name, term in terms.items())
        self.evaluations += 1
        if not torch.isfinite(loss):
            values = {name: term.item() for name, term in terms.items()}
            raise TrainingDiverged(
                f"non-finite physics-informed loss at step {self.global_step}: terms {values}; "
                "lower the learning rate or check the problem's scales"
            )
        self._terms = terms
        return loss

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        step = self.global_step
        if step % self.resample_every == 0 or not self._collocation:
            self._collocation = self.collocation_points(step)
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        use_lbfgs = self.lbfgs is not None and (
            self.optimizer_factory is None or step >= self.lbfgs_after
        )
        optimizer = optimizers[-1] if use_lbfgs else optimizers[0]

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = self._loss()
            self.manual_backward(loss)
            return loss

        loss = optimizer.step(closure=closure)
        if not use_lbfgs and self.scheduler_factory is not None:
            self.lr_schedulers().step()
        self.log("train/loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        for name, term in self._terms.items():
            self.log(f"train/loss_{name}", term.detach(), on_step=True, on_epoch=False)
        self.log("train/evaluations", float(self.evaluations), on_step=True, on_epoch=False)
        return loss

    def relative_l2(self) -> torch.Tensor:
        """``||u - u*|| / ||u*||`` on the test grid."""
        if not self.problem.has_reference:
            raise ConfigError(f"{type(self.problem).__name__} has no reference to test against")
        grid, _ = self.problem.domain.grid(self.test_resolution, dtype=self.parameter_dtype)
        grid = grid.to(self.device)
        with torch.no_grad():
            exact = self.problem.reference(grid)
            pred = torch.cat([self.model(chunk) for chunk in grid.split(1 << 14)])
        return torch.linalg.vector_norm(pred - exact) / torch.linalg.vector_norm(exact)

    def validation_step(self, batch: int, batch_idx: int) -> None:
        if self.problem.has_reference:
            self.log("val/rel_l2", self.relative_l2(), prog_bar=True, batch_size=1)

    def test_step(self, batch: int, batch_idx: int) -> None:
        self.log("test/rel_l2", self.relative_l2(), batch_size=1)

    def configure_optimizers(self) -> OptimizerLRScheduler:
        optimizers, schedulers = [], []
        if self.optimizer_factory is not None:
            first = make_optimizer(self.optimizer_factory, self.model.parameters())
            optimizers.append(first)
            if self.scheduler_factory is not None:
                schedulers.append(self.scheduler_factory(first))
        if self.lbfgs is not None:
            lbfgs = functools.partial(torch.optim.LBFGS, **asdict(self.lbfgs))
            optimizers.append(make_optimizer(lbfgs, self.model.parameters()))
        return optimizers, schedulers
