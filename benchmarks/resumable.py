"""Training runs of a benchmark that survive an interruption: a checkpoint after every epoch,
a wall clock that counts every process a run took, and a per-epoch record (progress lines on
stderr) that a resumed run continues.

A benchmark that trains for hours on a small machine is sometimes stopped part-way (the machine
is reclaimed, the session ends). Run again with the same command, it continues each training
from its last epoch (model, optimizer, schedule, callbacks' state) instead of starting over. The
data order after a resume differs from an uninterrupted run's: the shuffling generator is not
part of a Lightning checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from machine import log, machine_name  # benchmarks/machine.py


class WallClock(L.Callback):
    """Wall seconds of a training summed over the processes it took, how many there were, and
    the machines they ran on.

    ``seconds_so_far()`` is the seconds of earlier processes (up to their last checkpoint; what
    an interrupted process did after it is lost with it) plus this process's since ``start``.
    ``machines``: ``machine_name()`` of each process, each once, in order of first appearance: a
    training resumed on another host has its per-epoch times from both.
    """

    def __init__(self, start: float | None = None) -> None:
        self.start = time.perf_counter() if start is None else start
        self.earlier_seconds = 0.0
        self.processes = 1
        self.machines = [machine_name()]

    def seconds_so_far(self) -> float:
        return self.earlier_seconds + time.perf_counter() - self.start

    def state_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds_so_far(),
            "processes": self.processes,
            "machines": self.machines,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.earlier_seconds = state_dict["seconds"]
        self.processes = state_dict["processes"] + 1
        earlier = state_dict.get("machines", [])  # absent from checkpoints before it was kept
        self.machines = list(dict.fromkeys([*earlier, machine_name()]))


def keep_last(folder: Path) -> ModelCheckpoint:
    """A checkpoint callback writing ``folder/last.ckpt`` at the end of every training epoch
    (after the other callbacks' end-of-epoch work, so their state is in it), replacing the
    previous one. (Lightning 2.6 writes ``save_last`` only when a top-k checkpoint was written in
    the same step, so ``save_top_k=0, save_last=True`` writes nothing until training ends: the
    epoch's checkpoint is the one top-1 checkpoint without a monitor, named ``last``.)"""
    return ModelCheckpoint(
        dirpath=folder,
        filename="last",
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )


def last_checkpoint(folder: Path) -> str | None:
    """``folder/last.ckpt`` if an earlier run left one, for ``trainer.fit(ckpt_path=...)``."""
    path = Path(folder) / "last.ckpt"
    return str(path) if path.exists() else None


class EpochRecorder(L.Callback):
    """Training seconds per epoch (validation excluded) and the validation L2 after each epoch
    (kept in the checkpoints, so a resumed run reports every epoch)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.epoch_seconds: list[float] = []
        self.val_rel_l2: list[float] = []
        self._start = 0.0
        self._val_start = 0.0
        self._val_seconds = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_seconds": self.epoch_seconds, "val_rel_l2": self.val_rel_l2}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch_seconds = list(state_dict["epoch_seconds"])
        self.val_rel_l2 = list(state_dict["val_rel_l2"])
        log(f"{self.name}: resumed after epoch {len(self.epoch_seconds)}")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._val_seconds = 0.0

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_seconds += time.perf_counter() - self._val_start
        self.val_rel_l2.append(float(trainer.callback_metrics["val/rel_l2"]))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = time.perf_counter() - self._start - self._val_seconds
        self.epoch_seconds.append(seconds)
        loss = float(trainer.callback_metrics["train/loss"])
        val = self.val_rel_l2[-1] if self.val_rel_l2 else float("nan")
        log(
            f"{self.name}: epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: train loss "
            f"{loss:.4g}, val L2 {val:.4g}, {seconds:.1f} s"
        )
