"""Lightning DataModule over a grid dataset file: splits, subsampling, normalisation statistics.

The splits are ``[start, stop)`` index ranges of the file's samples (each optional, see
``opl.data.splits``), served as ``(input, output)`` tensors shaped ``(N, C, *spatial)`` by
``GridFieldDataset``'s rules (``t`` and ``component`` folded into channels). Training runs at
every ``subsample``-th grid point (``x[..., ::s, ::s]``, the FNO convention: 421 -> 211, 141,
106, 85 for s = 2..5); validation and test run at each stride of ``eval_subsample``, one
dataloader per resolution, so metrics can be reported per resolution. The per-channel Gaussian
statistics of the training split's inputs and outputs are given to the model
(``OperatorModule``), which stores them in its checkpoint.

A split is read into memory once, at the resolutions used (not the file's), or -- when it would
take more than ``memory_budget_gb`` at those resolutions, or always with ``streaming: true`` --
streamed: each sample is read from the file when a batch needs it (in every DataLoader worker and
under every rank of a multi-process strategy), and the statistics come from one streaming pass.
"""

from __future__ import annotations

import math

from torch.utils.data import DataLoader, Dataset

from opl.data.dataset_file import DatasetFile
from opl.data.grid_dataset import GridFieldDataset
from opl.data.splits import SplitDataModule, in_memory
from opl.errors import OplInputError


class GridDataModule(SplitDataModule):
    """Train/val/test fields of a grid dataset file (see the module docstring). Every split is
    optional: ``GridDataModule(path, test=(0, 100), eval_subsample=[1])`` alone evaluates a
    trained model zero-shot on another file (``opl test --ckpt_path ...``).

    ``batch_size`` is per process. ``streaming``: ``None`` (default) streams a split that would
    take more than ``memory_budget_gb`` GiB in memory, ``True`` / ``False`` always / never.
    """

    def __init__(
        self,
        path: str,
        train: tuple[int, int] | None = None,
        val: tuple[int, int] | None = None,
        test: tuple[int, int] | None = None,
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        subsample: int = 1,
        eval_subsample: list[int] | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        shuffle: bool = True,
        streaming: bool | None = None,
        memory_budget_gb: float = 4.0,
    ) -> None:
        super().__init__(train, val, test, shuffle, streaming, memory_budget_gb)
        self.save_hyperparameters()
        strides = [subsample, *(eval_subsample or [])]
        for stride in strides:
            if not isinstance(stride, int) or stride < 1:
                raise OplInputError(f"subsample: expected integers >= 1, got {stride!r}")
        self.eval_strides = list(dict.fromkeys(eval_subsample or [subsample]))
        shapes = {s: self._fields(range(0), s).spatial_shape for s in set(strides)}
        self.resolutions = ["x".join(map(str, shapes[s])) for s in self.eval_strides]
        """``"64x64"``-style names of the evaluation grids, in dataloader order."""
        self.training_grid = shapes[subsample]
        """The spatial shape of the training samples (the file's grid at ``subsample``)."""
        with DatasetFile(path) as ds:
            self.grid_conventions = [axis.convention for axis in ds.grid()]
        """The convention of each spatial axis (``nodes``, ``cells``, ``periodic``), from the
        file's coordinates: models that depend on it take it from here."""

    def _fields(self, indices: range, stride: int) -> GridFieldDataset:
        h = self.hparams
        return GridFieldDataset(h.path, h.inputs, h.outputs, indices, stride=stride)

    def _setup_split(self, name: str, indices: range) -> None:
        strides = [self.hparams.subsample] if name == "train" else self.eval_strides
        lazy = {stride: self._fields(indices, stride) for stride in strides}
        nbytes = sum(
            len(d) * (d.in_channels + d.out_channels) * 4 * math.prod(d.spatial_shape)
            for d in lazy.values()
        )
        self.streamed[name] = self.streams(nbytes)
        self.datasets[name] = {
            stride: d if self.streamed[name] else in_memory(d) for stride, d in lazy.items()
        }

    def _training_dataset(self) -> Dataset:
        return self.datasets["train"][self.hparams.subsample]

    def _loader(self, split: str, shuffle: bool) -> DataLoader | list[DataLoader]:
        """The training split at ``subsample``; the others, one loader per evaluation stride."""
        if split == "train":
            return self.dataset_loader(self._training_dataset(), shuffle)
        return [self.dataset_loader(self.datasets[split][s], shuffle) for s in self.eval_strides]
