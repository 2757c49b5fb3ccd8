"""Readers of the opl dataset format: ``DatasetFile`` (h5py only) and ``GridFieldDataset`` (torch).

``GridFieldDataset`` is imported lazily so that ``opl info`` and other light tools need no torch.
"""

from opl.data.dataset_file import DatasetFile, FieldInfo

__all__ = ["DatasetFile", "FieldInfo", "GridFieldDataset"]


def __getattr__(name: str):
    if name == "GridFieldDataset":
        from opl.data.grid_dataset import GridFieldDataset

        return GridFieldDataset
    raise AttributeError(f"module 'opl.data' has no attribute {name!r}")
