"""Streaming data modules: a split read batch by batch from the file serves the same samples and
the same normalisation statistics as the split held in memory, in DataLoader workers too, and the
choice between the two follows the memory budget."""

import lightning as L
import pytest
import torch

from opl.data import GridDataModule, MeshFieldDataModule
from opl.models import MgNO
from opl.train import OperatorModule


@pytest.fixture(scope="module")
def darcy_file(tmp_path_factory, small_dataset):
    path = tmp_path_factory.mktemp("stream") / "darcy33.h5"
    return small_dataset(path, "darcy", {"resolution": 33}, 24)[1]


def grid_module(path, **options):
    splits = {"train": (0, 16), "val": (16, 20), "test": (20, 24), "shuffle": False}
    return GridDataModule(
        path, subsample=2, eval_subsample=[1, 2], batch_size=4, **splits, **options
    )


def batches(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_streamed_grid_split_equals_the_split_in_memory(darcy_file, workers):
    memory = grid_module(darcy_file, streaming=False)
    streamed = grid_module(darcy_file, streaming=True, num_workers=workers)
    for data in (memory, streamed):
        data.setup("fit")
        data.setup("test")
    assert not any(memory.streamed.values()) and all(streamed.streamed.values())
    # the same float32 values from the file, in the same order (shuffle off), batch by batch
    for a, b in zip(batches(memory.train_dataloader()), batches(streamed.train_dataloader()),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for loader_a, loader_b in zip(
        memory.test_dataloader(), streamed.test_dataloader(), strict=True
    ):
        for a, b in zip(batches(loader_a), batches(loader_b), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # one streaming pass, the same moments: identical statistics
    for name in ("in_normalizer", "out_normalizer"):
        torch.testing.assert_close(
            getattr(memory, name).state_dict(), getattr(streamed, name).state_dict(), rtol=0, atol=0
        )
    assert memory.input_shapes() == streamed.input_shapes() == {(1, 17, 17), (1, 33, 33)}


def test_the_memory_budget_chooses_streaming_per_split(darcy_file):
    # train at 17² (16 samples x 2 channels x 289 points x 4 bytes = 37 KB); val and test at 33²
    # and 17² (4 x 2 x (1089 + 289) x 4 = 44 KB)
    data = grid_module(darcy_file, memory_budget_gb=40e3 / 2**30)
    data.setup("fit")
    data.setup("test")
    assert data.streamed == {"train": False, "val": True, "test": True}
    with pytest.raises(Exception, match="memory_budget_gb: expected a number > 0"):
        grid_module(darcy_file, memory_budget_gb=0)


def test_training_on_a_streamed_split_matches_training_in_memory(darcy_file, tmp_path):
    def fit(**options):
        L.seed_everything(0)
        module = OperatorModule(
            MgNO(channels=4, n_layers=2, levels=3),
            loss="rel_l2",
            optimizer=lambda p: torch.optim.SGD(p, lr=0.05),
        )
        trainer = L.Trainer(
            max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
        )  # fmt: skip
        trainer.fit(module, datamodule=grid_module(darcy_file, **options))
        return torch.cat([p.detach().flatten() for p in module.parameters()])

    # the same batches and statistics: the same float32 arithmetic, step for step
    torch.testing.assert_close(fit(streaming=True, num_workers=2), fit(streaming=False))


def test_a_streamed_mesh_split_equals_the_split_in_memory(tmp_path, small_dataset):
    options = {"mesh": "lshape", "level": 0, "element": "P2"}
    path = small_dataset(tmp_path / "fem.h5", "fem_darcy", options, 6)[1]
    modules = [
        MeshFieldDataModule(
            path,
            train=(0, 4),
            test=(4, 6),
            input_space="P2",
            batch_size=2,
            shuffle=False,
            streaming=streaming,
        )  # fmt: skip
        for streaming in (False, True)
    ]
    for data in modules:
        data.setup("fit")
        data.setup("test")
    memory, streamed = modules
    assert streamed.streamed == {"train": True, "test": True} and not any(memory.streamed.values())
    for a, b in zip(batches(memory.train_dataloader()), batches(streamed.train_dataloader()),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(
        memory.out_normalizer.state_dict(), streamed.out_normalizer.state_dict(), rtol=0, atol=0
    )
