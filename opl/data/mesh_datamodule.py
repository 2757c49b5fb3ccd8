"""Lightning DataModule over a finite-element dataset, serving torch_geometric batches."""

from __future__ import annotations

from torch_geometric.loader import DataLoader

from opl.data.mesh_dataset import MeshGraphDataset
from opl.data.splits import SplitDataModule, distributed_sampler


class MeshDataModule(SplitDataModule):
    """Train / validation / test graphs from one dataset file, split by sample index ranges.

    ``train``, ``val`` and ``test`` are ``[start, stop)`` index ranges of the file's samples (they
    must not overlap; each is optional, see ``opl.data.splits``). The other options are those of
    ``MeshGraphDataset``. The graphs are always read from the file batch by batch (streamed), and
    carry no normalisation statistics.
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
        shuffle: bool = True,
    ) -> None:
        super().__init__(train, val, test, shuffle, streaming=True)
        self.save_hyperparameters()

    def _setup_split(self, name: str, indices: range) -> None:
        h = self.hparams
        self.streamed[name] = True
        self.datasets[name] = {
            h.space: MeshGraphDataset(
                h.path,
                space=h.space,
                inputs=h.inputs,
                outputs=h.outputs,
                indices=indices,
                matrices=h.matrices,
            )
        }

    def _fit_statistics(self) -> None:
        """Graphs carry no normalisation statistics."""

    def input_shapes(self) -> set[tuple[int, ...]]:
        """Graphs have no grid to check a model against."""
        return set()

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[name][self.hparams.space]
        sampler = distributed_sampler(dataset, shuffle)
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle if sampler is None else False,
            sampler=sampler,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
        )
