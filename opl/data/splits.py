"""Train / validation / test splits as index ranges of a dataset file's samples, and the base
of opl's DataModules, which serve them.

Every split is optional, so one DataModule class serves training (``train`` and ``val``) as well
as a zero-shot evaluation on another file (``test`` alone; the normalisation statistics then come
from the checkpoint). A stage sets up only the splits it uses -- ``fit``: train and val (val
optional), ``validate``: val, ``test``: test, ``predict``: test, else val -- and only their
ranges are checked against the file, so a config's train/val ranges may outrun a smaller test
file.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from opl.data.normalize import ChannelMoments, ChannelNormalizer
from opl.errors import OplInputError

SPLITS = ("train", "val", "test")
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
"""The splits each Lightning stage uses (``predict``: the test split, else the validation one)."""


def check_splits(**named: tuple[int, int] | None) -> dict[str, range]:
    """The given ``[start, stop)`` ranges (``None``: not given) as ``range`` objects; refuse empty
    or overlapping ones, and no range at all."""
    ranges = {}
    for name, bounds in named.items():
        if bounds is None:
            continue
        if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1]:
            raise OplInputError(
                f"{name}: expected [start, stop) with 0 <= start < stop, got {list(bounds)}"
            )
        ranges[name] = range(int(bounds[0]), int(bounds[1]))
    if not ranges:
        raise OplInputError(f"splits: expected at least one of {', '.join(named)} as [start, stop)")
    spans = sorted(ranges.items(), key=lambda item: item[1].start)
    for (first, a), (second, b) in zip(spans, spans[1:], strict=False):
        if b.start < a.stop:
            raise OplInputError(f"{first} and {second}: sample ranges overlap")
    return ranges


def distributed_sampler(dataset: Dataset, shuffle: bool) -> DistributedSampler | None:
    """Under a multi-process strategy, this rank's share of ``dataset`` (rank r takes samples
    r, r + world, ...; shuffled per epoch when ``shuffle``); ``None`` in a single process.

    Lightning would insert a sampler itself, but always a shuffling one for training; this one
    keeps ``shuffle: false`` meaningful, so that a run on P processes with batch B / P sees the
    same global batches as one process with batch B."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return DistributedSampler(dataset, shuffle=shuffle)


def in_memory(dataset: Dataset, batch_size: int = 64) -> TensorDataset:
    """``dataset``'s ``(input, output)`` samples read once and stacked into tensors."""
    loader = DataLoader(dataset, batch_size=batch_size)
    inputs, outputs = zip(*loader, strict=True)
    return TensorDataset(torch.cat(inputs), torch.cat(outputs))


def check_file_has(path: str, n_samples: int, ranges: dict[str, range]) -> None:
    """Refuse ``ranges`` that reach past the ``n_samples`` samples of the file ``path``."""
    for name, indices in ranges.items():
        if indices.stop > n_samples:
            raise OplInputError(
                f"{path}: the {name} split uses samples up to {indices.stop - 1}, but the file "
                f"has {n_samples}"
            )


class SplitDataModule(L.LightningDataModule):
    """What opl's DataModules share: the optional ``train`` / ``val`` / ``test`` index ranges
    (checked by ``check_splits``), stage-wise set-up, streaming or in-memory splits, the
    normalisation statistics of the training split, and the loaders.

    ``shuffle``: whether the training split is shuffled every epoch (under a multi-process
    strategy, ``distributed_sampler`` shuffles or not alike); ``batch_size`` in the subclasses is
    per process, so the global batch is ``batch_size`` times the processes. ``streaming``: None
    streams a split whose tensors would exceed ``memory_budget_gb`` GiB, True / False always /
    never (``streams``).

    A subclass (with a ``path`` hyperparameter: its file) implements ``_setup_split(name,
    indices)`` (fills ``datasets[name]`` and ``streamed[name]``), ``_training_dataset()`` and
    ``_loader(split, shuffle)``, which returns one DataLoader or a list of them (one per
    evaluation resolution).
    """

    def __init__(
        self,
        train: tuple[int, int] | None,
        val: tuple[int, int] | None,
        test: tuple[int, int] | None,
        shuffle: bool = True,
        streaming: bool | None = None,
        memory_budget_gb: float = 4.0,
    ) -> None:
        super().__init__()
        self.ranges = check_splits(train=train, val=val, test=test)
        self.shuffle = shuffle
        if not memory_budget_gb > 0:
            raise OplInputError(f"memory_budget_gb: expected a number > 0, got {memory_budget_gb}")
        self.streaming = streaming
        self.memory_budget_gb = memory_budget_gb
        self.ready: set[str] = set()
        self.datasets: dict[str, dict] = {}
        """Split name -> key (a stride, a space) -> the split's Dataset at that key."""
        self.streamed: dict[str, bool] = {}
        """Split name -> whether it is read from the file batch by batch."""
        self.in_normalizer: ChannelNormalizer | None = None
        self.out_normalizer: ChannelNormalizer | None = None

    def streams(self, nbytes: int) -> bool:
        """Whether a split that takes ``nbytes`` as in-memory tensors is streamed."""
        if self.streaming is not None:
            return bool(self.streaming)
        return nbytes > self.memory_budget_gb * 2**30

    def stage_splits(self, stage: str | None) -> list[str]:
        """The splits ``stage`` uses (all given ones for ``None``); refuse a missing one."""
        if stage is None:
            return list(self.ranges)
        if stage == "predict":
            wanted = ("test",) if "test" in self.ranges or "val" not in self.ranges else ("val",)
        else:
            wanted = STAGE_SPLITS[stage]
        required = wanted[:1]  # fit runs without a validation split
        for name in required:
            if name not in self.ranges:
                raise OplInputError(
                    f"{name}: {stage} needs a {name} range, and none was given to "
                    f"{type(self).__name__} (data.{name}: [start, stop))"
                )
        return [name for name in wanted if name in self.ranges]

    def setup(self, stage: str | None = None) -> None:
        names = [n for n in self.stage_splits(stage) if n not in self.ready]
        self._check_ranges({n: self.ranges[n] for n in names})
        for name in names:
            self._setup_split(name, self.ranges[name])
            self.ready.add(name)
        if "train" in names:
            self._fit_statistics()

    def _fit_statistics(self) -> None:
        """Per-channel statistics of the training split's inputs and outputs, in one pass."""
        moments = None
        for x, y in self.dataset_loader(self._training_dataset(), shuffle=False, whole=True):
            if moments is None:
                moments = ChannelMoments(x.shape[1]), ChannelMoments(y.shape[1])
            moments[0].update(x)
            moments[1].update(y)
        self.in_normalizer = ChannelNormalizer(moments[0].mean.numel()).fit(moments[0])
        self.out_normalizer = ChannelNormalizer(moments[1].mean.numel()).fit(moments[1])

    def dataset_loader(self, dataset: Dataset, shuffle: bool, whole: bool = False) -> DataLoader:
        """Batches of ``dataset``: under a multi-process strategy this rank's share
        (``distributed_sampler``) unless ``whole``; ``num_workers`` processes read them."""
        sampler = None if whole else distributed_sampler(dataset, shuffle)
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle if sampler is None else False,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0 and not whole,
        )

    def input_shapes(self) -> set[tuple[int, ...]]:
        """The shape ``(C_in, *spatial)`` of one input sample of every split set up so far and
        each of its keys (a stride, a space)."""
        return {
            tuple(dataset[0][0].shape)
            for keyed in self.datasets.values()
            for dataset in keyed.values()
            if len(dataset)
        }

    def tensors(self, split: str, key: int | str) -> tuple[torch.Tensor, torch.Tensor]:
        """All inputs and outputs of ``split`` at ``key`` (a stride or a space) as two tensors
        (read from the file when the split streams)."""
        self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        dataset = self.datasets[split][key]
        return (dataset if isinstance(dataset, TensorDataset) else in_memory(dataset)).tensors

    def _check_ranges(self, ranges: dict[str, range]) -> None:
        """Refuse ranges beyond the samples of the data module's file (``hparams.path``)."""
        from opl.data.dataset_file import DatasetFile

        with DatasetFile(self.hparams.path) as ds:
            check_file_has(self.hparams.path, ds.n_samples, ranges)

    def _setup_split(self, name: str, indices: range) -> None:
        raise NotImplementedError

    def _training_dataset(self) -> Dataset:
        raise NotImplementedError

    def _loader(self, split: str, shuffle: bool) -> DataLoader | list[DataLoader]:
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader | list[DataLoader]:
        self.setup("fit")  # a no-op under Lightning, which has set the stage up already
        return self._loader("train", shuffle=self.shuffle)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        if "val" not in self.ranges:
            return []
        self.setup("validate")
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        self.setup("test")
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader | list[DataLoader]:
        self.setup("predict")
        return self._loader(self.stage_splits("predict")[0], shuffle=False)
