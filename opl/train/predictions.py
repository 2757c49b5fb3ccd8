"""``opl predict`` writes what it predicts as a dataset file (docs/FORMAT.md).

The file holds, for every sample of the predicted split at the first evaluation resolution, the
input fields, the true output fields where the source has them (role ``output``) and the model's
prediction of each output field, ``<name>_prediction`` (role ``prediction``), with the source's
coordinates (subsampled as the data module reads them) and ``source_sample``, the index of each
sample in the source file. ``opl plot`` then draws truth, prediction and error side by side.
"""

from __future__ import annotations

import math
import os

import lightning as L
import numpy as np

from data_gen.imported import Field, write_dataset
from opl.data.dataset_file import DatasetFile, FieldInfo
from opl.data.grid_datamodule import GridDataModule
from opl.errors import ConfigError
from opl.format import SPATIAL_DIMS


class PredictionFile(L.Callback):
    """Collects the predictions of the first predict loader and writes them to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = os.fspath(path)
        self.batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        if trainer.world_size > 1:
            raise ConfigError(
                "opl predict writes its file from one process; run it without a multi-process "
                "strategy (--trainer.devices 1)"
            )
        if not isinstance(data, GridDataModule):
            raise ConfigError(
                f"opl predict writes prediction files of grid datasets; {type(data).__name__} "
                "is not one (call a mesh operator's bundle, opl.load, on the dofs instead)"
            )
        if os.path.exists(self.path):
            raise ConfigError(f"--predictions: {self.path} exists; remove it or choose another")
        self.batches = []

    def on_predict_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if dataloader_idx == 0:
            x, y = batch
            self.batches.append((x.cpu().numpy(), y.cpu().numpy(), outputs.cpu().numpy()))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        split = data.stage_splits("predict")[0]
        stride = data.eval_strides[0]
        x, y, pred = (np.concatenate(parts) for parts in zip(*self.batches, strict=True))
        source = data.hparams.path
        fields, coords = {}, {}
        with DatasetFile(source) as ds:
            inputs = ds.select_fields(data.hparams.inputs, "input")
            outputs = ds.select_fields(data.hparams.outputs, "output")
            for infos, values, suffix, role in (
                (inputs, x, "", None),
                (outputs, y, "", None),
                (outputs, pred, "_prediction", "prediction"),
            ):
                for info, block in zip(infos, _channel_blocks(infos, values), strict=True):
                    shape = (len(block), *_non_spatial(info), *block.shape[2:])
                    fields[info.name + suffix] = Field(
                        block.reshape(shape), info.dims[1:], role or info.role,
                        info.long_name + (" (predicted)" if suffix else ""), info.units,
                    )  # fmt: skip
            for name in {d for f in fields.values() for d in f.dims}:
                values = ds.coordinate(name)
                coords[name] = values[::stride] if name in SPATIAL_DIMS else values
            indices = np.arange(data.ranges[split].start, data.ranges[split].stop)
            fields["source_sample"] = Field(indices, (), "parameter", "sample index in the source")
            pde = ds.attrs.get("pde", "unknown")
            grid = {axis.name: axis.convention for axis in ds.grid()}
        written = write_dataset(
            self.path,
            fields,
            coords,
            grid=grid,
            pde=str(pde),
            attrs={"predicted_by": type(pl_module.model).__name__},
            source=f"opl predict: {os.path.abspath(source)} ({split} split)",
        )
        print(f"wrote {written}")


def _non_spatial(info: FieldInfo) -> tuple[int, ...]:
    """The sizes of ``info``'s dimensions between ``sample`` and the spatial ones."""
    return tuple(n for d, n in zip(info.dims[1:], info.shape[1:], strict=True)
                 if d not in SPATIAL_DIMS)  # fmt: skip


def _channel_blocks(infos: list[FieldInfo], values: np.ndarray) -> list[np.ndarray]:
    """Split ``values`` (N, C, *spatial) into the channels of each field, in order."""
    sizes = [math.prod(_non_spatial(info)) for info in infos]
    return np.split(values, np.cumsum(sizes)[:-1], axis=1)


def default_path(trainer: L.Trainer) -> str:
    """``<default_root_dir>/predictions.h5``."""
    return os.path.join(trainer.default_root_dir, "predictions.h5")
