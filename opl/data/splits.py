"""Train / validation / test splits as index ranges of a dataset file's samples, and the base
of opl's DataModules, which serve them."""

from __future__ import annotations

import lightning as L

from data_gen.errors import OplInputError


def check_splits(
    train: tuple[int, int], val: tuple[int, int], test: tuple[int, int] | None
) -> dict[str, range]:
    """The named ``[start, stop)`` ranges as ``range`` objects; refuse empty or overlapping ones."""
    named = {"train": train, "val": val, **({"test": test} if test is not None else {})}
    ranges = {}
    for name, bounds in named.items():
        if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1]:
            raise OplInputError(
                f"{name}: expected [start, stop) with 0 <= start < stop, got {list(bounds)}"
            )
        ranges[name] = range(int(bounds[0]), int(bounds[1]))
    spans = sorted(ranges.items(), key=lambda item: item[1].start)
    for (first, a), (second, b) in zip(spans, spans[1:], strict=False):
        if b.start < a.stop:
            raise OplInputError(f"{first} and {second}: sample ranges overlap")
    return ranges


class SplitDataModule(L.LightningDataModule):
    """What opl's DataModules share: the ``train`` / ``val`` / ``test`` index ranges (checked by
    ``check_splits``; ``test`` optional) and the loaders of each split. A subclass sets up its
    data and implements ``_loader(split, shuffle)``, which returns one DataLoader or a list of
    them (one per evaluation resolution)."""

    def __init__(
        self, train: tuple[int, int], val: tuple[int, int], test: tuple[int, int] | None
    ) -> None:
        super().__init__()
        self.ranges = check_splits(train, val, test)

    def _loader(self, split: str, shuffle: bool):
        raise NotImplementedError

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        if "test" not in self.ranges:
            raise OplInputError(f"test: no test range was given to {type(self).__name__}")
        return self._loader("test", shuffle=False)

    def predict_dataloader(self):
        """The test split's loaders, or the validation split's when there is no test range."""
        return self.test_dataloader() if "test" in self.ranges else self.val_dataloader()
