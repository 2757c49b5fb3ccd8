"""Lightning DataModule over a grid dataset file: splits, subsampling, normalisation statistics.

The splits are ``[start, stop)`` index ranges of the file's samples (each optional, see
``opl.data.splits``), read into memory once when a stage needs them (at the resolutions used,
not the file's) as ``(input, output)`` tensors shaped ``(N, C, *spatial)``
by ``GridFieldDataset``'s rules (``t`` and ``component`` folded into channels). Training runs at
every ``subsample``-th grid point (``x[..., ::s, ::s]``, the FNO convention: 421 -> 211, 141,
106, 85 for s = 2..5); validation and test run at each stride of ``eval_subsample``, one
dataloader per resolution, so metrics can be reported per resolution. The per-channel Gaussian
statistics of the training split's inputs and outputs are given to the model
(``OperatorModule``), which stores them in its checkpoint.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from data_gen.errors import OplInputError
from opl.data.dataset_file import DatasetFile
from opl.data.grid_dataset import GridFieldDataset
from opl.data.normalize import ChannelNormalizer
from opl.data.splits import SplitDataModule, check_file_has


class GridDataModule(SplitDataModule):
    """Train/val/test tensors of a grid dataset file (see the module docstring). Every split is
    optional: ``GridDataModule(path, test=(0, 100), eval_subsample=[1])`` alone evaluates a
    trained model zero-shot on another file (``opl test --ckpt_path ...``)."""

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
    ) -> None:
        super().__init__(train, val, test)
        self.save_hyperparameters()
        strides = [subsample, *(eval_subsample or [])]
        for stride in strides:
            if not isinstance(stride, int) or stride < 1:
                raise OplInputError(f"subsample: expected integers >= 1, got {stride!r}")
        self.eval_strides = list(dict.fromkeys(eval_subsample or [subsample]))
        spatial = GridFieldDataset(path, inputs, outputs, indices=range(0)).spatial_shape
        self.resolutions = [
            "x".join(str(n) for n in _strided(spatial, s)) for s in self.eval_strides
        ]
        """``"64x64"``-style names of the evaluation grids, in dataloader order."""
        self.data: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]] = {}
        self.in_normalizer: ChannelNormalizer | None = None
        self.out_normalizer: ChannelNormalizer | None = None

    def _check_ranges(self, ranges: dict[str, range]) -> None:
        with DatasetFile(self.hparams.path) as ds:
            check_file_has(self.hparams.path, ds.n_samples, ranges)

    def _setup_split(self, name: str, indices: range) -> None:
        h = self.hparams
        strides = [h.subsample] if name == "train" else self.eval_strides
        self.data[name] = _load(h.path, h.inputs, h.outputs, indices, strides)

    def _fit_statistics(self) -> None:
        x, y = self.data["train"][self.hparams.subsample]
        self.in_normalizer = ChannelNormalizer(x.shape[1]).fit(x)
        self.out_normalizer = ChannelNormalizer(y.shape[1]).fit(y)

    def _loader(self, split: str, shuffle: bool) -> DataLoader | list[DataLoader]:
        """The training split at ``subsample``; the others, one loader per evaluation stride."""
        if split == "train":
            return self._strided_loader(split, self.hparams.subsample, shuffle)
        return [self._strided_loader(split, s, shuffle) for s in self.eval_strides]

    def _strided_loader(self, split: str, stride: int, shuffle: bool) -> DataLoader:
        x, y = self.data[split][stride]
        return tensor_loader(x, y, self.hparams.batch_size, shuffle, self.hparams.num_workers)


def tensor_loader(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, num_workers: int
) -> DataLoader:
    """Batches of ``(x, y)`` pairs of in-memory tensors (the first dimension is the sample)."""
    return DataLoader(
        TensorDataset(x, y),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def _load(
    path: str, inputs, outputs, indices: range, strides: list[int]
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """The split ``indices`` at each stride, each read from the file at that stride."""
    dataset = GridFieldDataset(path, inputs=inputs, outputs=outputs, indices=indices)
    rows = slice(indices.start, indices.stop)
    out = {}
    with DatasetFile(path) as ds:
        for stride in strides:
            out[stride] = tuple(
                torch.from_numpy(
                    np.concatenate(
                        [
                            ds.read(f.name, rows, stride).reshape(
                                len(indices), -1, *_strided(dataset.spatial_shape, stride)
                            )
                            for f in fields
                        ],
                        axis=1,
                    )
                ).float()
                for fields in (dataset.inputs, dataset.outputs)
            )
    return out


def _strided(shape: tuple[int, ...], stride: int) -> tuple[int, ...]:
    """The spatial shape of every ``stride``-th point of a grid of ``shape``."""
    return tuple(len(range(0, n, stride)) for n in shape)
