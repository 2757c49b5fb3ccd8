"""Readers of the opl dataset format -- ``DatasetFile`` (h5py only), ``GridFieldDataset`` (torch),
``MeshGraphDataset`` (torch_geometric), and the Lightning DataModules ``GridDataModule`` and
``MeshDataModule`` (graphs) and ``MeshFieldDataModule`` (dof tensors, for the SPON models) --
and its writer for data made elsewhere, ``write_dataset`` with ``Field`` (``data_gen.imported``).

The torch-based readers are imported lazily so that ``opl info`` and other light tools need no
torch.
"""

from opl.data.dataset_file import DatasetFile, FieldInfo

__all__ = [
    "ChannelNormalizer",
    "DatasetFile",
    "Field",
    "FieldInfo",
    "GridDataModule",
    "GridFieldDataset",
    "MeshDataModule",
    "MeshFieldDataModule",
    "MeshGraphDataset",
    "write_dataset",
]

_LAZY = {
    "Field": "data_gen.imported",
    "write_dataset": "data_gen.imported",
    "ChannelNormalizer": "opl.data.normalize",
    "GridDataModule": "opl.data.grid_datamodule",
    "GridFieldDataset": "opl.data.grid_dataset",
    "MeshGraphDataset": "opl.data.mesh_dataset",
    "MeshDataModule": "opl.data.mesh_datamodule",
    "MeshFieldDataModule": "opl.data.mesh_fields",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'opl.data' has no attribute {name!r}")
