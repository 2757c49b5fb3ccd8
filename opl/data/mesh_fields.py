"""Lightning DataModule of a finite-element dataset as dof tensors, for operators built on its mesh.

The mesh operators of ``opl.models.spon`` (SPON, MultigridSPON, MeshGNN) hold their mesh, its FE
spaces and graph themselves, so a batch is just the fields' dofs: inputs ``(B, C_in, n_in)`` at the
dofs of ``input_space`` (default ``space``) and outputs ``(B, C_out, n)`` at the dofs of ``space``,
converted and folded into channels by ``MeshGraphDataset``'s rules (per-sample vectors such as a
traction become constant channels). A split is read into memory once, or streamed from the file
batch by batch when it would exceed ``memory_budget_gb`` (or with ``streaming: true``), and the
per-channel Gaussian statistics of the training split are given to the model as
``GridDataModule``'s are. ``input_positions`` / ``output_positions`` (float64 dof coordinates)
let the training module check that the model was built on the dataset's mesh.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from opl.data.mesh_dataset import MeshGraphDataset
from opl.data.splits import SplitDataModule, in_memory


class MeshFieldDataset(Dataset):
    """Samples as ``(x, y)`` dof tensors ``(C_in, n_in)``, ``(C_out, n)``: the outputs of the
    graphs of ``outputs``, the inputs of those of ``inputs`` (default: the same graphs)."""

    def __init__(self, outputs: MeshGraphDataset, inputs: MeshGraphDataset | None = None) -> None:
        self.outputs = outputs
        self.inputs = inputs

    def __len__(self) -> int:
        return len(self.outputs)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        graph = self.outputs[item]
        source = graph if self.inputs is None else self.inputs[item]
        return source.x.T, graph.y.T


class MeshFieldDataModule(SplitDataModule):
    """Train/val/test dof tensors of a finite-element dataset file (see the module docstring).

    ``batch_size`` is per process; ``streaming`` and ``memory_budget_gb`` as ``GridDataModule``'s.
    """

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
        shuffle: bool = True,
        streaming: bool | None = None,
        memory_budget_gb: float = 4.0,
    ) -> None:
        super().__init__(train, val, test, shuffle, streaming, memory_budget_gb)
        self.save_hyperparameters()
        h = self.hparams
        self.output_positions = self._graphs(h.space, range(0)).fe.positions
        self.input_positions = (
            self._graphs(h.input_space, range(0)).fe.positions
            if h.input_space not in (None, h.space)
            else self.output_positions
        )
        self.resolutions = [f"{h.space}_{self.output_positions.shape[0]}"]

    def _graphs(self, space: str, indices: range) -> MeshGraphDataset:
        h = self.hparams
        return MeshGraphDataset(h.path, space, h.inputs, h.outputs, indices)

    def _setup_split(self, name: str, indices: range) -> None:
        h = self.hparams
        input_space = h.input_space or h.space
        outputs = self._graphs(h.space, indices)
        inputs = None if input_space == h.space else self._graphs(input_space, indices)
        lazy = MeshFieldDataset(outputs, inputs)
        x, y = lazy[0]
        nbytes = len(lazy) * (x.numel() + y.numel()) * 4
        self.streamed[name] = self.streams(nbytes)
        self.datasets[name] = {h.space: lazy if self.streamed[name] else in_memory(lazy)}

    def _training_dataset(self) -> Dataset:
        return self.datasets["train"][self.hparams.space]

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return self.dataset_loader(self.datasets[name][self.hparams.space], shuffle)
