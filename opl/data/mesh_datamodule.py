"""Lightning DataModule over a finite-element dataset, serving torch_geometric batches."""

from __future__ import annotations

from torch_geometric.loader import DataLoader

from opl.data.mesh_dataset import MeshGraphDataset
from opl.data.splits import SplitDataModule


class MeshDataModule(SplitDataModule):
    """Train / validation / test graphs from one dataset file, split by sample index ranges.

    ``train``, ``val`` and ``test`` are ``[start, stop)`` index ranges of the file's samples (they
    must not overlap). The other options are those of ``MeshGraphDataset``.
    """

    def __init__(
        self,
        path: str,
        train: tuple[int, int],
        val: tuple[int, int],
        test: tuple[int, int] | None = None,
        space: str = "P1",
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        matrices: tuple[str, ...] = (),
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(train, val, test)
        self.save_hyperparameters()
        self.datasets: dict[str, MeshGraphDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        for name, indices in self.ranges.items():
            if name not in self.datasets:
                self.datasets[name] = MeshGraphDataset(
                    h.path,
                    space=h.space,
                    inputs=h.inputs,
                    outputs=h.outputs,
                    indices=indices,
                    matrices=h.matrices,
                )

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[name],
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
        )
