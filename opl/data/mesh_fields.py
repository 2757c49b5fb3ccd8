"""Lightning DataModule of a finite-element dataset as dof tensors, for operators built on its mesh.

The mesh operators of ``opl.models.spon`` (SPON, MultigridSPON, MeshGNN) hold their mesh, its FE
spaces and graph themselves, so a batch is just the fields' dofs: inputs ``(B, C_in, n_in)`` at the
dofs of ``input_space`` (default ``space``) and outputs ``(B, C_out, n)`` at the dofs of ``space``,
converted and folded into channels by ``MeshGraphDataset``'s rules (per-sample vectors such as a
traction become constant channels). The splits are read into memory once, and the per-channel
Gaussian statistics of the training split are given to the model as ``GridDataModule``'s are.
``input_positions`` / ``output_positions`` (float64 dof coordinates) let the training module check
that the model was built on the dataset's mesh.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from opl.data.grid_datamodule import tensor_loader
from opl.data.mesh_dataset import MeshGraphDataset
from opl.data.normalize import ChannelNormalizer
from opl.data.dataset_file import DatasetFile
from opl.data.splits import SplitDataModule, check_file_has


class MeshFieldDataModule(SplitDataModule):
    """Train/val/test dof tensors of a finite-element dataset file (see the module docstring)."""

    def __init__(
        self,
        path: str,
        train: tuple[int, int] | None = None,
        val: tuple[int, int] | None = None,
        test: tuple[int, int] | None = None,
        space: str = "P1",
        input_space: str | None = None,
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(train, val, test)
        self.save_hyperparameters()
        self.data: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
        self.in_normalizer: ChannelNormalizer | None = None
        self.out_normalizer: ChannelNormalizer | None = None
        self.resolutions: list[str] = []
        self.input_positions: np.ndarray | None = None
        self.output_positions: np.ndarray | None = None

    def _check_ranges(self, ranges: dict[str, range]) -> None:
        with DatasetFile(self.hparams.path) as ds:
            check_file_has(self.hparams.path, ds.n_samples, ranges)

    def _setup_split(self, name: str, indices: range) -> None:
        h = self.hparams
        input_space = h.input_space or h.space
        outputs = self._samples(h.space, indices)  # their inputs too, if on the same space
        inputs = outputs if input_space == h.space else self._samples(input_space, indices)
        x = torch.stack([s.x.T for s in inputs]).float()
        y = torch.stack([s.y.T for s in outputs]).float()
        self.data[name] = {h.space: (x, y)}
        self.input_positions = inputs[0].pos.numpy()
        self.output_positions = outputs[0].pos.numpy()
        self.resolutions = [f"{h.space}_{self.output_positions.shape[0]}"]

    def _fit_statistics(self) -> None:
        x, y = self.data["train"][self.hparams.space]
        self.in_normalizer = ChannelNormalizer(x.shape[1]).fit(x)
        self.out_normalizer = ChannelNormalizer(y.shape[1]).fit(y)

    def _samples(self, space: str, indices: range) -> list:
        """The split's samples as graphs on ``space`` (float64, so positions keep every digit)."""
        h = self.hparams
        dataset = MeshGraphDataset(h.path, space, h.inputs, h.outputs, indices, dtype=torch.float64)
        return [dataset[i] for i in range(len(dataset))]

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        x, y = self.data[name][self.hparams.space]
        h = self.hparams
        return tensor_loader(x, y, h.batch_size, shuffle, h.num_workers)
