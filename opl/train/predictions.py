"""``opl predict`` writes what it predicts as a dataset file (docs/FORMAT.md).

The file holds, for every sample of the predicted split, the input fields, the true output
fields where the source has them (role ``output``) and the model's prediction of each output
field, ``<name>_prediction`` (role ``prediction``), and ``source_sample``, the index of each sample
in the source file. ``opl plot`` then draws truth, prediction and error side by side.

* Grid data (``GridDataModule``): at the first evaluation resolution, with the source's
  coordinates subsampled as the data module reads them.
* Finite-element data (``MeshFieldDataModule``): on the source's mesh (stored in the file); the
  inputs and outputs as the source stores them, each prediction on the dofs of the data module's
  ``space`` (``node`` for P1, ``p2_dof`` for P2), whatever space its truth is on.
"""

from __future__ import annotations

import math
import os

import lightning as L
import numpy as np
import torch

from data_gen.fem.mesh import load_mesh
from data_gen.imported import Field, write_dataset
from opl.data.dataset_file import DatasetFile, FieldInfo
from opl.data.grid_datamodule import GridDataModule
from opl.data.mesh_fields import MeshFieldDataModule
from opl.errors import ConfigError
from opl.format import DOF_DIMS, MESH_DIMS, SPATIAL_DIMS


class PredictionFile(L.Callback):
    """Collects the predictions of the first predict loader and writes them to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = os.fspath(path)
        self.predictions: list[np.ndarray] = []
        self.grid_batches: list[tuple[np.ndarray, np.ndarray]] = []  # (x, y): grid data only

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        if trainer.world_size > 1:
            raise ConfigError(
                "opl predict writes its file from one process; run it without a multi-process "
                "strategy (--trainer.devices 1)"
            )
        if not isinstance(data, GridDataModule | MeshFieldDataModule):
            raise ConfigError(
                "opl predict writes prediction files from a GridDataModule or a "
                f"MeshFieldDataModule, not a {type(data).__name__}"
            )
        if os.path.exists(self.path):
            raise ConfigError(f"--predictions: {self.path} exists; remove it or choose another")
        self.predictions, self.grid_batches = [], []

    def on_predict_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: torch.Tensor,
        batch: tuple[torch.Tensor, ...],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if dataloader_idx != 0:
            return
        self.predictions.append(outputs.cpu().numpy())
        if isinstance(trainer.datamodule, GridDataModule):  # mesh files are re-read as stored
            x, y = batch
            self.grid_batches.append((x.cpu().numpy(), y.cpu().numpy()))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        split = data.stage_splits("predict")[0]
        pred = np.concatenate(self.predictions)
        source = data.hparams.path
        indices = np.arange(data.ranges[split].start, data.ranges[split].stop)
        with DatasetFile(source) as ds:
            inputs = ds.select_fields(data.hparams.inputs, "input")
            outputs = ds.select_fields(data.hparams.outputs, "output")
            if isinstance(data, GridDataModule):
                x, y = (np.concatenate(parts) for parts in zip(*self.grid_batches, strict=True))
                fields, coords = _grid_fields(ds, inputs, outputs, x, y, pred,
                                              data.eval_strides[0])  # fmt: skip
                options = {"grid": {axis.name: axis.convention for axis in ds.grid()}}
            else:
                fields = _mesh_fields(ds, inputs, outputs, pred, indices, data.hparams.space)
                coords = _coordinates(ds, fields, stride=1)
                options = {"mesh": load_mesh(source)}
            fields["source_sample"] = Field(indices, (), "parameter", "sample index in the source")
            pde = ds.attrs.get("pde", "unknown")
        written = write_dataset(
            self.path,
            fields,
            coords,
            pde=str(pde),
            attrs={"predicted_by": type(pl_module.model).__name__},
            source=f"opl predict: {os.path.abspath(source)} ({split} split)",
            **options,
        )
        print(f"wrote {written}")


def _grid_fields(
    ds: DatasetFile,
    inputs: list[FieldInfo],
    outputs: list[FieldInfo],
    x: np.ndarray,
    y: np.ndarray,
    pred: np.ndarray,
    stride: int,
) -> tuple[dict[str, Field], dict[str, np.ndarray]]:
    """The batches (N, C, *spatial) as fields, and their coordinates subsampled by ``stride``."""
    fields = {}
    parts = ((inputs, x, ""), (outputs, y, ""), (outputs, pred, "_prediction"))
    for infos, values, suffix in parts:
        for info, block in zip(infos, _channel_blocks(infos, values), strict=True):
            shape = (len(block), *_non_spatial(info), *block.shape[2:])
            fields[info.name + suffix] = _field(info, block.reshape(shape), info.dims[1:], suffix)
    return fields, _coordinates(ds, fields, stride)


def _mesh_fields(
    ds: DatasetFile,
    inputs: list[FieldInfo],
    outputs: list[FieldInfo],
    pred: np.ndarray,
    indices: np.ndarray,
    space: str,
) -> dict[str, Field]:
    """The source's inputs and outputs of samples ``indices`` as stored, and the predictions
    (N, C_out, n_dofs of ``space``) as fields on the dofs of ``space``."""
    fields = {info.name: _field(info, ds.read(info.name, indices), info.dims[1:], "")
              for info in (*inputs, *outputs)}  # fmt: skip
    for info, block in zip(outputs, _channel_blocks(outputs, pred), strict=True):
        dims = (*(d for d in info.dims[1:] if d not in MESH_DIMS), DOF_DIMS[space])
        shape = (len(block), *_non_spatial(info), block.shape[-1])
        fields[info.name + "_prediction"] = _field(info, block.reshape(shape), dims, "_prediction")
    return fields


def _field(info: FieldInfo, values: np.ndarray, dims: tuple[str, ...], suffix: str) -> Field:
    """``values`` as a field named after ``info``: its prediction when ``suffix`` is given."""
    if not suffix:
        return Field(values, dims, info.role, info.long_name, info.units)
    return Field(values, dims, "prediction", info.long_name + " (predicted)", info.units)


def _coordinates(ds: DatasetFile, fields: dict[str, Field], stride: int) -> dict[str, np.ndarray]:
    """The source's coordinates of the fields' dimensions (the mesh sizes its own), spatial
    ones subsampled by ``stride``."""
    names = {d for f in fields.values() for d in f.dims if d not in MESH_DIMS}
    return {name: ds.coordinate(name)[::stride] if name in SPATIAL_DIMS else ds.coordinate(name)
            for name in names}  # fmt: skip


def _non_spatial(info: FieldInfo) -> tuple[int, ...]:
    """The sizes of ``info``'s dimensions between ``sample`` and the spatial (grid or mesh) ones."""
    return tuple(n for d, n in zip(info.dims[1:], info.shape[1:], strict=True)
                 if d not in SPATIAL_DIMS and d not in MESH_DIMS)  # fmt: skip


def _channel_blocks(infos: list[FieldInfo], values: np.ndarray) -> list[np.ndarray]:
    """Split ``values`` (N, C, *spatial) into the channels of each field, in order."""
    sizes = [math.prod(_non_spatial(info)) for info in infos]
    return np.split(values, np.cumsum(sizes)[:-1], axis=1)


def default_path(trainer: L.Trainer) -> str:
    """``<default_root_dir>/predictions.h5``."""
    return os.path.join(trainer.default_root_dir, "predictions.h5")
