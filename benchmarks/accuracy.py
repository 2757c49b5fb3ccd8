"""Accuracy of MgNO, neuraloperator's FNO and a transformer neural operator in the FNO paper's
Darcy setting, trained side by side in one run, and how each carries over to other resolutions.

What is measured, and how:

* **Data**: ``configs/data/darcy_piecewise.yaml``, the benchmark's coefficient law (a = 12 / 3 on
  the sign of FNO's Gaussian random field: constant mode removed, cell-centred DCT grid,
  ``convention: fno``; f = 1, u = 0 on the boundary) at 421² points, seed 0, 1200 samples,
  generated with ``opl generate`` into ``data/darcy_piecewise_421.h5`` unless complete already
  (``--data FILE`` uses another file of the same layout). Samples 0-999 train, 1000-1099
  validate, 1100-1199 test (the FNO paper: 1000 train / 100 test). Training, validation and the
  main test use every 5th point (421 -> **85²**, the FNO paper's Darcy table); the trained models
  are then evaluated zero-shot, by a test-only ``GridDataModule`` on the same test samples, at
  every 3rd point (**141²**), every 2nd (**211²**, 2.5 x the training resolution) and every 10th
  (**43²**, half of it).
* **Models**: ``opl.models.MgNO`` (the official Darcy configuration: 4 layers, 24 channels,
  6 levels, prolongation kernels picked for the 85² grid as the official code picks them,
  ``prolongation_kernels_for(85, 6)`` = 3, 3, 4, 3, 4) and ``neuralop.models.FNO(n_modes=(24,
  22), hidden_channels=32, in_channels=1, out_channels=1)`` (4 layers). neuralop counts
  ``n_modes`` as *all* modes kept along an axis (24 -> wavenumbers -12..11, and 22 -> 0..11
  along the last, rfft, axis): 24 x 12 modes per channel pair, the FNO paper's Darcy model
  (modes = 12, width 32). The FNO paper's code pads the (non-periodic) Darcy input by 9 cells at
  the end of each axis (85 -> 94) and crops the output; so does ``PaddedFNO`` here, about 10 %
  rounded to an even total, because neuraloperator 2.0's ``SpectralConv`` undoes its
  ``fftshift`` with a second ``fftshift`` instead of ``ifftshift``
  (``neuralop/layers/spectral_convolution.py``, line 516), which shifts the kept spectrum by one
  row on an odd grid: even padded sizes keep the FNO the FNO at 85², 141², 211² and 43².
  ``opl.models.PatchTNO`` (ViT-NO, METHODS.md §2: 8 x 8 patches of fixed physical size, width
  32, 4 heads, 4 post-norm layers, FFN 128, per-patch spectral embedding with 9 modes, global
  spectral smoother with 12; 650,977 parameters) is the ``TNO`` row; it pads its sides to the
  next multiple of 8 (``PatchTNO.forward``). neuralop is an optional dependency
  (``opl[bench]``): without it the FNO row says so and the others run.
* **Training**, the same for all: ``opl.train.OperatorModule`` (per-channel Gaussian
  normalisation of inputs and outputs, loss = relative spectral H1 with |k| < 20, MgNO's loss),
  Adam (MgNO: lr 5e-4, FNO and TNO: lr 1e-3, weight decay 1e-4 for all, as in their papers), a
  one-cycle schedule stepped per epoch (div 2, final div 100, 20 % warm-up), batch 8,
  ``--epochs`` epochs (default 100), seed 0 (``lightning.seed_everything`` before the model is
  built), ``lightning.Trainer(accelerator="cpu", logger=False)``. ``--quick`` steps the
  schedule per batch instead, as a per-epoch one-cycle needs more than 5 epochs. Each training
  process flushes subnormal floats to zero (``torch.set_flush_denormal(True)``): weights that
  get no gradient from the data (PatchTNO's embedding modes above what an 11-point patch
  resolves, some of its Q/K/V weights) are pulled toward zero by Adam's L2 term and end up
  subnormal, and the CPU computes with those slowly. Measured on the 85² run's PatchTNO after
  22 epochs (22 % of its embedding weights subnormal): a training step took 2.0 x as long
  without flushing, and its epochs had slowed from 80 s to 175 s. Flushing changes values
  below 1.2e-38 only.
* **Interrupted runs resume** (``benchmarks/resumable.py``): each model writes a checkpoint
  after every epoch, and its result once it is tested, under ``--state DIR`` (default
  ``data/accuracy_state``, next to the data), keyed by the run's settings. Running the same
  command again skips the models already done and continues the others from their last epoch
  (optimizer, schedule and the per-epoch record restored). The report says how many processes
  each model took and, when they did not all run on this machine, on which machines (seconds
  per epoch differ between hosts); ``--fresh`` discards the state first.
* **Reported per model**: parameters (real numbers: a complex weight counts twice; the FNO's
  spectral weights are complex); epochs; seconds per epoch of training only (wall clock from the
  start of an epoch to its end, minus the validation run inside it; median over epochs, so
  an epoch during which the run was paused or shared the CPU does not move it); memory:
  each model trains in a fresh process (multiprocessing, spawn), which reports its peak resident
  set after its imports, after loading the data, and at the end of training, so the table shows
  what training itself adds. The peak is ``VmHWM`` of ``/proc/self/status``: on Linux
  ``getrusage(RUSAGE_SELF).ru_maxrss`` of a spawned child starts at the *parent's* peak (the
  high-water mark survives fork and exec), so it would not measure the child alone
  (``ru_maxrss`` is the fallback where ``/proc`` is missing). The peak after loading includes
  ``GridDataModule`` reading each split at 421² before subsampling it, so a training whose own
  peak stays below that transient adds 0 MB here. Test relative L2 and relative H1
  (spectral, |k| < 20; mean over the 100 test samples of ``||pred - u|| / ||u||``) of the model
  after the **last** epoch (no checkpoint selection), at every test grid (a grid a model rejects
  is reported with its message); and the validation relative L2 at 85² after every epoch (for
  the figure).

The Markdown report (machine, software, date, command, wall time, table, the papers' reference
numbers) goes to stdout and optionally to ``--markdown FILE``; progress lines go to stderr. The
figure (``--plot``) shows the validation curves, the test error on every test grid, and test
sample 0: a, u, each model's prediction and error. ``--quick`` (48 samples at 211², 2 epochs)
is a smoke run of a few minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from machine import code_version, log, machine_name, peak_rss_mb
from resumable import EpochRecorder, WallClock, keep_last, last_checkpoint
from torch import nn
from torch.nn import functional as F

from data_gen.run import generate, load_run_config
from data_gen.writer import software_versions
from opl.data.dataset_file import DatasetFile
from opl.data.grid_datamodule import GridDataModule
from opl.models import FieldOperator, MgNO, PatchTNO
from opl.models.mgno import prolongation_kernels_for
from opl.train.operator_module import OneCycle, OperatorModule

SEED = 0
DATA_CONFIG = "configs/data/darcy_piecewise.yaml"
"""The benchmark's data: FNO's Darcy law at 421² (``convention: fno``)."""
TRAIN_STRIDE = 5
"""Training, validation and the main test run at every 5th point: 421 -> 85."""
TEST_STRIDES = (5, 3, 2, 10)
"""The test runs at every 5th point (the training grid, 85), every 3rd (141), every 2nd (211, 2.5
times as fine) and every 10th (43, half the training resolution)."""
BATCH_SIZE = 8
WEIGHT_DECAY = 1e-4
LEARNING_RATES = {"MgNO": 5e-4, "FNO": 1e-3, "TNO": 1e-3}
"""Adam's peak learning rate per model, as in the MgNO and FNO papers (TNO: as the FNO)."""
FULL = {"epochs": 100, "n_train": 1000, "n_val": 100, "n_test": 100, "resolution": 421}
"""Defaults of a full run: the FNO paper's 85² Darcy table, 100 epochs."""
QUICK = {"epochs": 2, "n_train": 32, "n_val": 8, "n_test": 8, "resolution": 211}
"""Defaults of a ``--quick`` smoke run (at 211², every 5th point is 43²)."""
DEFAULT_DATA = {False: "data/darcy_piecewise_421.h5", True: "data/bench_darcy_211_quick.h5"}
DEFAULT_PLOT = "benchmarks/accuracy_darcy85.png"
DEFAULT_STATE = "data/accuracy_state"
PAPER_ROWS = [
    ["FNO (FNO paper)", "FNO Darcy 85², 1000 / 100", "–", "500", "–", "1.08", "–"],
    ["MgNO (paper)", "Darcy smooth 211², 1000 / 100", "0.57 M", "500", "–", "0.176", "0.576"],
    ["MgNO (paper)", "Darcy rough 256², 1280 / 112", "0.57 M", "500", "6.6 A100", "0.339", "1.380"],
]
"""Reference numbers quoted from the papers (METHODS.md §1), not measured here."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Settings:
    """What a training process needs to know (picklable)."""

    data: str
    epochs: int
    n_train: int
    n_val: int
    n_test: int
    fno_modes: tuple[int, int]
    schedule_interval: str
    train_size: int
    """Points per side of the training grid."""
    state: str
    """The folder of this run's checkpoints and finished results (see ``RunState``)."""

    def key(self) -> str:
        """A short hash of everything that shapes the results (the state folder aside)."""
        fields = dataclasses.asdict(self)
        del fields["state"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Result:
    """The measurements of one model, returned by its training process."""

    name: str
    parameters: int
    epochs: int
    epoch_seconds: list[float]
    val_rel_l2: list[float]
    rss_imports_mb: float
    rss_data_mb: float
    rss_peak_mb: float
    test: dict[str, tuple[float, float]]
    """Resolution name (``"85x85"``) -> (relative L2, relative H1) on the test split."""
    refused: dict[str, str] = field(default_factory=dict)
    """Resolution name -> why the model cannot be evaluated there."""
    sample: dict[str, np.ndarray] = field(default_factory=dict)
    """Test sample 0 at the training resolution: ``a``, ``u`` and ``pred``."""
    total_seconds: float = 0.0
    """Wall seconds of the model's processes, summed over resumes."""
    processes: int = 1
    """How many processes the model's training took (1 unless it was interrupted)."""
    machines: list[str] = field(default_factory=list)
    """The machines those processes ran on (``WallClock.machines``; empty in results saved
    before it was recorded)."""

    def to_json(self) -> dict:
        fields = dataclasses.asdict(self)
        fields["sample"] = {k: v.tolist() for k, v in self.sample.items()}
        return fields

    @classmethod
    def from_json(cls, fields: dict) -> Result:
        fields["test"] = {k: tuple(v) for k, v in fields["test"].items()}
        fields["sample"] = {k: np.asarray(v, dtype=np.float32) for k, v in fields["sample"].items()}
        return cls(**fields)


class RunState:
    """Where an interrupted run picks up: ``<state>/<settings key>/<model>/last.ckpt`` while a
    model trains, ``<state>/<settings key>/<model>.json`` once its result is in."""

    def __init__(self, settings: Settings) -> None:
        self.folder = Path(settings.state) / settings.key()

    def checkpoints(self, name: str) -> Path:
        return self.folder / name

    def result(self, name: str) -> Result | None:
        path = self.folder / f"{name}.json"
        return Result.from_json(json.loads(path.read_text())) if path.exists() else None

    def save_result(self, result: Result) -> None:
        path = self.folder / f"{result.name}.json"
        partial = path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(result.to_json()))
        partial.replace(path)
        shutil.rmtree(self.checkpoints(result.name), ignore_errors=True)


class PaddedFNO(FieldOperator):
    """neuralop's FNO on the input padded with zeros at the end of each spatial axis, output
    cropped back (the FNO paper's Darcy padding; see the module docstring for why the padded
    size is even): a ``FieldOperator``, as OperatorModule trains."""

    def __init__(self, modes: tuple[int, int], width: int = 32) -> None:
        super().__init__()
        from neuralop.models import FNO

        self.in_channels, self.out_channels, self.n_dim = 1, 1, 2
        self.fno = FNO(n_modes=modes, hidden_channels=width, in_channels=1, out_channels=1)

    @staticmethod
    def padding(n: int) -> int:
        """About 10 % of ``n`` (9 at 85), one more where ``n`` plus it would be odd."""
        pad = round(n / 10)
        return pad + (n + pad) % 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nx, ny = x.shape[-2:]
        padded = F.pad(x, (0, self.padding(ny), 0, self.padding(nx)))
        return self.fno(padded)[..., :nx, :ny]

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The tensors only: neuralop's FNO adds its constructor arguments (``F.gelu`` among
        them) under the key ``_metadata``, which a weights-only ``torch.load`` (Lightning's
        resume) refuses and a strict ``load_state_dict`` calls unexpected."""
        state = super().state_dict(*args, **kwargs)
        state.pop("_metadata", None)
        return state


def count_parameters(model: nn.Module) -> int:
    """Real numbers among the parameters: a complex entry counts twice."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def build_model(name: str, settings: Settings) -> nn.Module:
    """The network ``name`` ("MgNO", "FNO" or "TNO")."""
    if name == "MgNO":
        return MgNO(prolongation_kernel=prolongation_kernels_for(settings.train_size, 6))
    if name == "TNO":
        return PatchTNO(
            patches=8, width=32, heads=4, layers=4, ffn_width=128, embed_modes=9, smoother_modes=12
        )
    return PaddedFNO(settings.fno_modes)


def training_data(settings: Settings) -> GridDataModule:
    """Train / validation splits of the data file at every ``TRAIN_STRIDE``-th point."""
    n_train, n_val = settings.n_train, settings.n_val
    return GridDataModule(
        settings.data,
        train=(0, n_train),
        val=(n_train, n_train + n_val),
        subsample=TRAIN_STRIDE,
        batch_size=BATCH_SIZE,
    )


def test_data(settings: Settings, strides: list[int]) -> GridDataModule:
    """The test split alone (the model brings its normalisation), at every stride of
    ``strides``: the zero-shot evaluation of a trained model at other resolutions."""
    start = settings.n_train + settings.n_val
    return GridDataModule(
        settings.data,
        test=(start, start + settings.n_test),
        eval_subsample=strides,
        batch_size=BATCH_SIZE,
    )


def make_trainer(epochs: int, callbacks: list[L.Callback], checkpoints: Path) -> L.Trainer:
    """The CPU trainer every model uses; it keeps ``checkpoints/last.ckpt`` after each epoch."""
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        callbacks=[*callbacks, keep_last(checkpoints)],
        max_epochs=epochs,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def refusals(module: OperatorModule, settings: Settings) -> dict[int, tuple[str, str]]:
    """Test strides whose grid the model rejects (ValueError on a zero input): stride -> (grid
    name, the model's message)."""
    refused = {}
    grids = test_data(settings, list(TEST_STRIDES)).resolutions
    for stride, where in zip(TEST_STRIDES, grids, strict=True):
        grid = [int(n) for n in where.split("x")]
        try:
            with torch.no_grad():
                module.model(torch.zeros(1, module.model.in_channels, *grid))
        except ValueError as err:
            refused[stride] = ("x".join(map(str, grid)), str(err))
    return refused


def test_errors(trainer: L.Trainer, module: OperatorModule, dm: GridDataModule) -> dict:
    """Relative L2 and H1 on the test split at each of ``dm``'s evaluation resolutions."""
    outputs = trainer.test(module, datamodule=dm, verbose=False)
    merged = {k: v for per_loader in outputs for k, v in per_loader.items()}
    return {
        where: (merged[f"test/rel_l2/{where}"], merged[f"test/rel_h1/{where}"])
        for where in dm.resolutions
    }


def test_sample(module: OperatorModule, dm: GridDataModule) -> dict[str, np.ndarray]:
    """Test sample 0 at the training resolution (the first of ``dm``'s) and the model's
    prediction of it."""
    x, y = dm.tensors("test", TRAIN_STRIDE)
    module.eval()
    with torch.no_grad():
        pred = module(x[:1])
    return {"a": x[0, 0].numpy(), "u": y[0, 0].numpy(), "pred": pred[0, 0].numpy()}


def train_model(name: str, settings: Settings) -> Result:
    """Train ``name`` in this (fresh) process, from its last checkpoint if an earlier run was
    interrupted, and measure it; see the module docstring."""
    start = time.perf_counter()
    state = RunState(settings)
    torch.set_num_threads(os.cpu_count() or 1)
    torch.set_flush_denormal(True)  # subnormal weights; see "Training" in the module docstring
    warnings.filterwarnings("ignore", message="A `OneCycleLR` scheduler is using")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    if name == "FNO":
        import neuralop.models  # noqa: F401  (counted with the imports)
    rss_imports = peak_rss_mb()
    dm = training_data(settings)
    dm.setup("fit")
    rss_data = peak_rss_mb()
    L.seed_everything(SEED, verbose=False)
    model = build_model(name, settings)
    module = OperatorModule(
        model,
        loss="rel_h1_spectral",
        h1_k_max=20,
        optimizer=functools.partial(
            torch.optim.Adam, lr=LEARNING_RATES[name], weight_decay=WEIGHT_DECAY
        ),
        scheduler=OneCycle(
            pct_start=0.2,
            div_factor=2.0,
            final_div_factor=100.0,
            interval=settings.schedule_interval,
        ),
    )
    recorder, clock = EpochRecorder(name), WallClock(start)
    log(f"{name}: {count_parameters(model):,} parameters; training {settings.epochs} epochs")
    trainer = make_trainer(settings.epochs, [recorder, clock], state.checkpoints(name))
    trainer.fit(module, datamodule=dm, ckpt_path=last_checkpoint(state.checkpoints(name)))
    rss_peak = peak_rss_mb()
    refused = refusals(module, settings)
    test_dm = test_data(settings, [s for s in TEST_STRIDES if s not in refused])
    errors = test_errors(trainer, module, test_dm)
    return Result(
        name=name,
        parameters=count_parameters(model),
        epochs=trainer.current_epoch,
        epoch_seconds=recorder.epoch_seconds,
        val_rel_l2=recorder.val_rel_l2,
        rss_imports_mb=rss_imports,
        rss_data_mb=rss_data,
        rss_peak_mb=rss_peak,
        test=errors,
        refused=dict(refused.values()),
        sample=test_sample(module, test_dm),
        total_seconds=clock.seconds_so_far(),
        processes=clock.processes,
        machines=clock.machines,
    )


def train_in_fresh_process(name: str, settings: Settings) -> Result:
    """``train_model`` in a new spawned process, so that its memory peak is its own; a result
    an earlier run finished is read back instead, and each new one is kept."""
    state = RunState(settings)
    done = state.result(name)
    if done is not None:
        log(f"{name}: done in an earlier run ({state.folder / name}.json)")
        return done
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        result = pool.submit(train_model, name, settings).result()
    state.save_result(result)
    return result


def ensure_data(path: str, n_samples: int, resolution: int) -> float:
    """Generate ``DATA_CONFIG``'s Darcy data (at ``resolution``) at ``path`` unless it is
    complete already; returns the seconds."""
    config = load_run_config(DATA_CONFIG, n_samples=n_samples)
    config = dataclasses.replace(
        config, generator=dataclasses.replace(config.generator, resolution=resolution)
    )
    start = time.perf_counter()
    generate(config, path, workers=None, progress=False)
    seconds = time.perf_counter() - start
    log(f"data: {path} ({n_samples} samples at {resolution}²) ready in {seconds:.1f} s")
    return seconds


def neuralop_available() -> bool:
    return importlib.util.find_spec("neuralop") is not None


def sci(value: float) -> str:
    """``value`` in units of 1e-2, as the papers quote errors."""
    return f"{value * 100:.3f}"


def markdown_rows(rows: list[list[str]]) -> list[str]:
    """``rows[0]`` as the header of a Markdown table, the others as its rows."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return lines + ["| " + " | ".join(row) + " |" for row in rows[1:]]


def grid_label(where: str) -> str:
    """``"64x64"`` -> ``"64²"``."""
    sizes = where.split("x")
    return f"{sizes[0]}²" if len(set(sizes)) == 1 else where


def main_table(results: list[Result], skipped: list[str], settings: Settings) -> list[str]:
    """Measured rows, skipped models, then the papers' reference rows."""
    fine = grid_label(next(iter(results[0].test)))
    rows = [
        [
            "Model",
            "Data (train / test samples)",
            "Parameters",
            "Epochs",
            "s / epoch (training only, median)",
            "Peak RSS MB: imports / +data / end of training",
            "Training adds (MB)",
            "Test rel. L2 (×10⁻²)",
            "Test rel. H1 (×10⁻²)",
        ]
    ]
    for r in results:
        l2, h1 = next(iter(r.test.values()))
        rows.append(
            [
                f"{r.name} (measured)",
                f"opl FNO-law Darcy {fine}, {settings.n_train} / {settings.n_test}",
                f"{r.parameters:,}",
                str(r.epochs),
                f"{np.median(r.epoch_seconds):.1f}",
                f"{r.rss_imports_mb:.0f} / {r.rss_data_mb:.0f} / {r.rss_peak_mb:.0f}",
                f"{r.rss_peak_mb - r.rss_data_mb:.0f}",
                sci(l2),
                sci(h1),
            ]
        )
    rows += [[name, f"not run: {skipped_reason()}", *["–"] * 7] for name in skipped]
    rows += [[*row[:5], "not measured here", "–", row[5], row[6]] for row in PAPER_ROWS]
    return markdown_rows(rows)


def grid_table(results: list[Result]) -> list[str]:
    """Test errors of each trained model on every test grid (trained at the first one)."""
    grids = list(dict.fromkeys(g for r in results for g in [*r.test, *r.refused]))
    trained_at = next(iter(results[0].test))
    grids.sort(key=lambda g: (g != trained_at, -int(g.split("x")[0])))  # training grid first
    header = ["Model (trained at " + grid_label(grids[0]) + ")"]
    for g in grids:
        header += [f"L2 at {grid_label(g)} (×10⁻²)", f"H1 at {grid_label(g)} (×10⁻²)"]
    rows, notes = [header], []
    for r in results:
        cells = [r.name]
        for g in grids:
            if g in r.test:
                cells += [sci(v) for v in r.test[g]]
            else:
                cells += ["refused", "refused"]
                notes.append(f"- {r.name} at {grid_label(g)}: {r.refused.get(g, 'not run')}")
        rows.append(cells)
    return markdown_rows(rows) + ([""] + notes if notes else [])


def skipped_reason() -> str:
    return "neuralop is not installed (`pip install neuraloperator`)"


def plot(results: list[Result], path: str) -> None:
    """Validation L2 per epoch (log scale), test L2 per test grid (with three models or more)
    and test sample 0 with each model's prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(4, 2 * len(results))
    fig = plt.figure(figsize=(4 * columns, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, columns)
    curves = fig.add_subplot(grid[0, 0:2])
    for result in results:
        epochs = np.arange(1, len(result.val_rel_l2) + 1)
        curves.semilogy(epochs, result.val_rel_l2, "o-", label=result.name)
    trained_at = grid_label(next(iter(results[0].test)))
    curves.set(
        xlabel="epoch", ylabel="validation relative L2", title=f"Validation error ({trained_at})"
    )
    curves.grid(True, which="both", alpha=0.3)
    curves.legend()
    if columns >= 6:
        resolution_panel(fig.add_subplot(grid[0, 4:6]), results)
    sample = results[0].sample
    panels = [(grid[0, 2], sample["a"], "input a", False), (grid[0, 3], sample["u"], "u", False)]
    for i, result in enumerate(results):
        error = result.sample["pred"] - sample["u"]
        panels.append((grid[1, 2 * i], result.sample["pred"], f"{result.name} prediction", False))
        panels.append((grid[1, 2 * i + 1], error, f"{result.name} error", True))
    for spec, values, title, signed in panels:
        ax = fig.add_subplot(spec)
        bound = float(np.abs(values).max())
        kwargs: dict[str, Any] = (
            {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound} if signed else {"cmap": "viridis"}
        )
        image = ax.imshow(values.T, origin="lower", **kwargs)
        ax.set(title=title, xticks=[], yticks=[])
        fig.colorbar(image, ax=ax, shrink=0.8)
    names = " vs ".join(r.name for r in results)
    fig.suptitle(f"{names} on Darcy (piecewise a = 12 / 3), {trained_at}, test sample 0")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    log(f"figure: {path}")


def resolution_panel(ax: Any, results: list[Result]) -> None:
    """Test relative L2 against points per axis, one line per model, the training grid dashed;
    grids a model refused are left out of its line."""
    trained_at = int(next(iter(results[0].test)).split("x")[0])
    for result in results:
        points = np.array(sorted((int(g.split("x")[0]), l2) for g, (l2, _) in result.test.items()))
        ax.loglog(points[:, 0], points[:, 1], "o-", label=result.name)
    sizes = sorted({int(g.split("x")[0]) for r in results for g in r.test})
    ax.axvline(trained_at, color="grey", linestyle="--", label="training grid")
    ax.set_xticks(sizes, [f"{n}²" for n in sizes])
    ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
    ax.set(xlabel="test grid", ylabel="test relative L2", title="Zero-shot on other grids")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def versions() -> str:
    """Software versions: the data stack's, torch's, lightning's and neuralop's."""
    found = software_versions()
    for dist in ("torch", "lightning", "neuraloperator"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return ", ".join(f"{k} {v}" for k, v in found.items())


def command_line() -> str:
    """The command that ran this script, with any BLAS thread variables that were set."""
    env = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    return shlex.join([*env, "python", *sys.argv])


def header(command: str, results: list[Result], this_run_s: float, data_s: float) -> list[str]:
    """Machine, software, date, command and timing lines of the report."""
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    trained = sum(r.total_seconds for r in results)
    return [
        f"- Machine: {machine_name()}, no GPU used ({platform.platform()})",
        f"- Software: {versions()}; code: git {code_version()}",
        f"- Date: {now}",
        f"- Command: `{command}`",
        f"- Wall time: {trained:.0f} s in the models' processes (summed over resumes); this "
        f"invocation {this_run_s:.0f} s, of which data generation / check {data_s:.0f} s",
    ]


def summary(results: list[Result]) -> list[str]:
    """One line per model: its process's wall time and its best validation epoch; and, when the
    models' processes did not all run on this machine, on which they did."""
    lines = []
    for r in results:
        best = int(np.argmin(r.val_rel_l2)) + 1 if r.val_rel_l2 else 0
        processes = "its process" if r.processes == 1 else f"its {r.processes} processes"
        lines.append(
            f"- {r.name}: {r.total_seconds:.0f} s in {processes} (data loading, training, "
            f"validation, test); validation L2 last {r.val_rel_l2[-1]:.4g}, best "
            f"{min(r.val_rel_l2):.4g} at epoch {best}"
        )
    if any(r.machines != [machine_name()] for r in results):
        where = "; ".join(
            f"{r.name} on {' then '.join(r.machines) or 'machines not recorded'}" for r in results
        )
        lines.append(
            f"- Not all on this machine: {where}. Seconds per epoch compare models only where "
            "they ran on the same machine."
        )
    return lines


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command-line options, with the defaults of a full or a quick run filled in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="48 samples at 211², 2 epochs: a smoke run"
    )
    parser.add_argument("--epochs", type=int, help=f"epochs per model (default {FULL['epochs']})")
    parser.add_argument("--data", help="use this existing Darcy file (no generation)")
    parser.add_argument(
        "--out", help=f"where to generate / cache the data (default {DEFAULT_DATA[False]})"
    )
    parser.add_argument("--plot", help=f"figure path (default {DEFAULT_PLOT}; a temp file quick)")
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument(
        "--state",
        help=f"checkpoints and finished results, for resuming (default {DEFAULT_STATE}; "
        "a temp folder quick)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard this run's saved state and start over"
    )
    parser.add_argument(
        "--models",
        default="MgNO,FNO,TNO",
        help="comma-separated subset of MgNO,FNO,TNO (default all three)",
    )
    parser.add_argument(
        "--fno-modes",
        type=int,
        nargs=2,
        default=(24, 22),
        metavar=("KX", "KY"),
        help="neuralop n_modes of the FNO (default 24 22: the FNO paper's 12 modes per axis)",
    )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.out = args.out or DEFAULT_DATA[args.quick]
    if args.plot is None:
        quick_plot = os.path.join(tempfile.gettempdir(), "opl_accuracy_quick.png")
        args.plot = quick_plot if args.quick else DEFAULT_PLOT
    if args.state is None:
        quick_state = os.path.join(tempfile.gettempdir(), "opl_accuracy_quick_state")
        args.state = quick_state if args.quick else DEFAULT_STATE
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(args.models) - set(LEARNING_RATES)
    if unknown or not args.models:
        parser.error(f"--models: expected names from {list(LEARNING_RATES)}, got {args.models}")
    return args


def main() -> None:
    args = parse_args(sys.argv[1:])
    command = command_line()
    start = time.perf_counter()
    n_samples = args.n_train + args.n_val + args.n_test
    data_s = 0.0 if args.data else ensure_data(args.out, n_samples, args.resolution)
    data = args.data or args.out
    with DatasetFile(data) as ds:
        train_size = len(range(0, ds.dims()["x"], TRAIN_STRIDE))
    settings = Settings(
        data=data,
        epochs=args.epochs,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
        fno_modes=tuple(args.fno_modes),
        schedule_interval="step" if args.quick else "epoch",
        train_size=train_size,
        state=args.state,
    )
    if args.fresh:
        shutil.rmtree(RunState(settings).folder, ignore_errors=True)
    results, skipped = [], []
    for name in args.models:
        if name == "FNO" and not neuralop_available():
            log(f"FNO: skipped -- {skipped_reason()}; the others run")
            skipped.append(name)
            continue
        log(f"{name}: training in a fresh process")
        results.append(train_in_fresh_process(name, settings))
        log(f"{name}: done, test {results[-1].test}")
    if not results:
        sys.exit("no model was trained: nothing to report")
    plot(results, args.plot)
    total_s = time.perf_counter() - start
    log(f"done in {total_s:.0f} s")
    report = [
        *header(command, results, total_s, data_s),
        *summary(results),
        "",
        *main_table(results, skipped, settings),
        "",
        *grid_table(results),
    ]
    text = "\n".join(report) + "\n"
    print(text, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
