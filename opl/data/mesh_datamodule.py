"""Lightning DataModule over a finite-element dataset, serving torch_geometric batches."""

from __future__ import annotations

from torch_geometric.loader import DataLoader

from opl.data.mesh_dataset import MeshGraphDataset
from opl.data.dataset_file import DatasetFile
from opl.data.splits import SplitDataModule, check_file_has


class MeshDataModule(SplitDataModule):
    """Train / validation / test graphs from one dataset file, split by sample index ranges.

    ``train``, ``val`` and ``test`` are ``[start, stop)`` index ranges of the file's samples (they
    must not overlap; each is optional, see ``opl.data.splits``). The other options are those of ``MeshGraphDataset``.
    """

    def __init__(
        self,
        path: str,
        train: tuple[int, int] | None = None,
        val: tuple[int, int] | None = None,
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

    def _check_ranges(self, ranges: dict[str, range]) -> None:
        with DatasetFile(self.hparams.path) as ds:
            check_file_has(self.hparams.path, ds.n_samples, ranges)

    def _setup_split(self, name: str, indices: range) -> None:
        h = self.hparams
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
