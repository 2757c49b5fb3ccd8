"""Train / validation / test splits as index ranges of a dataset file's samples."""

from __future__ import annotations

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
