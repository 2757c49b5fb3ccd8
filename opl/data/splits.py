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

from data_gen.errors import OplInputError

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
    (checked by ``check_splits``), stage-wise set-up, and the loaders of each split.

    A subclass implements ``_setup_split(name, indices)`` (read or open one split),
    ``_fit_statistics()`` (normalisation from the training split, once it is set up) and
    ``_loader(split, shuffle)``, which returns one DataLoader or a list of them (one per
    evaluation resolution).
    """

    def __init__(
        self,
        train: tuple[int, int] | None,
        val: tuple[int, int] | None,
        test: tuple[int, int] | None,
    ) -> None:
        super().__init__()
        self.ranges = check_splits(train=train, val=val, test=test)
        self.ready: set[str] = set()

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

    def _check_ranges(self, ranges: dict[str, range]) -> None:
        raise NotImplementedError

    def _setup_split(self, name: str, indices: range) -> None:
        raise NotImplementedError

    def _fit_statistics(self) -> None:
        """Normalisation statistics of the training split (none by default)."""

    def _loader(self, split: str, shuffle: bool):
        raise NotImplementedError

    def train_dataloader(self):
        self.setup("fit")  # a no-op under Lightning, which has set the stage up already
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        if "val" not in self.ranges:
            return []
        self.setup("validate")
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        self.setup("test")
        return self._loader("test", shuffle=False)

    def predict_dataloader(self):
        self.setup("predict")
        return self._loader(self.stage_splits("predict")[0], shuffle=False)
