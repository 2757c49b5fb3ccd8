"""The losses equal their docstring definitions on cases computed by hand (float64)."""

import math

import numpy as np
import pytest
import torch

from opl.data.normalize import ChannelNormalizer
from opl.losses import RelativeH1FiniteDifference, RelativeH1Spectral, RelativeL2


def test_relative_l2_is_the_mean_of_per_sample_ratios():
    target = torch.ones(2, 1, 4, 4, dtype=torch.float64)
    target[1] *= 10.0
    pred = target.clone()
    pred[0] += 0.5  # ||e||/||y|| = 0.5
    pred[1] += 2.0  # 2 / 10 = 0.2: each sample counts the same whatever its size
    assert RelativeL2()(pred, target).item() == pytest.approx(0.35, rel=1e-14)


def test_spectral_h1_weights_a_single_mode_by_sqrt_one_plus_k_squared():
    n = 32
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    target = torch.ones(1, 1, n, n, dtype=torch.float64)  # only the k = 0 mode
    error = 0.1 * torch.cos(2 * math.pi * (3 * X + 4 * Y))[None, None]  # |k|² = 25
    # ||w ê|| / ||w ŷ|| with w² = 1 + 25 on the error and 1 on the mean mode; Parseval:
    # ||ê||² = N² · 0.1² / 2 (two modes of amplitude 0.05 N), ||ŷ||² = N²
    expected = math.sqrt(26 * 0.01 / 2)
    assert RelativeH1Spectral()(target + error, target).item() == pytest.approx(expected, 1e-12)
    # MgNO's truncation: beyond k_max a wavenumber counts as 0, the mode with weight 1
    capped = RelativeH1Spectral(k_max=4)(target + error, target).item()
    assert capped == pytest.approx(math.sqrt((1 + 9) * 0.01 / 2), rel=1e-12)  # k_y = 4 dropped


def test_finite_difference_h1_of_a_linear_error_is_exact():
    # on [0, 1]² with e = x, y = 1: ||e||² = ∫x² = 1/3 (trapezoid-free sum h² Σ), ||∇e||² = 1
    n = 201
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    X, _ = torch.meshgrid(x, x, indexing="ij")
    target = torch.ones(1, 1, n, n, dtype=torch.float64)
    value = RelativeH1FiniteDifference()(target + X[None, None], target).item()
    h = 1 / (n - 1)
    sum_x2 = float((x**2).sum()) * n * h**2  # the discrete ||e||² the definition uses
    expected = math.sqrt(sum_x2 + n * n * h * h) / math.sqrt(n * n * h * h)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(math.sqrt(1 / 3 + 1), rel=2e-2)  # → the continuum value


def test_losses_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="pred and target: expected equal shapes"):
        RelativeL2()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))


def test_channel_normalizer_round_trip_and_statistics():
    rng = np.random.default_rng(0)
    data = torch.from_numpy(rng.normal([[3.0], [-2.0]], [[2.0], [0.5]], size=(50, 2, 64)))
    data = data.reshape(50, 2, 8, 8)
    norm = ChannelNormalizer(2).fit(data)
    encoded = norm.encode(data)
    # the statistics are float32 buffers (saved with the model): relative precision ~6e-8
    assert torch.allclose(
        encoded.mean(dim=(0, 2, 3)), torch.zeros(2, dtype=torch.float64), atol=1e-6
    )
    # σ/(σ + ε) with ε = 1e-5: exactly 1 - ε/σ up to float32 storage of the statistics
    sigma = data.std(dim=(0, 2, 3))
    assert torch.allclose(encoded.std(dim=(0, 2, 3)), sigma / (sigma + 1e-5), atol=1e-6)
    torch.testing.assert_close(norm.decode(encoded), data, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"expected data of shape \(N, 2, ...\)"):
        norm.fit(torch.zeros(3, 3, 4))


def test_moments_of_batches_equal_those_of_the_whole_split():
    from opl.data.normalize import ChannelMoments

    rng = np.random.default_rng(1)
    # a large offset against a small spread: the naive Σx² - n·mean² would lose ~8 digits here
    data = torch.from_numpy(rng.normal([[1e4], [-3.0]], [[1e-2], [2.0]], size=(37, 2, 30)))
    moments = ChannelMoments(2)
    for start in range(0, 37, 5):  # uneven batches, the last one of 2
        moments.update(data[start : start + 5])
    whole = data.transpose(0, 1).reshape(2, -1)
    # float64 throughout: the pairwise update agrees with the two-pass formulas to ~1e-15
    torch.testing.assert_close(moments.mean, whole.mean(1), rtol=1e-14, atol=0)
    torch.testing.assert_close(moments.std, whole.std(1), rtol=1e-10, atol=0)


def test_splits_refuse_overlap_and_empty_ranges():
    from opl.data.splits import check_splits
    from opl.errors import OplInputError

    assert check_splits(train=(0, 8), val=(8, 10), test=(10, 12))["val"] == range(8, 10)
    assert list(check_splits(train=None, val=None, test=(0, 5))) == ["test"]
    with pytest.raises(OplInputError, match="train and val: sample ranges overlap"):
        check_splits(train=(0, 8), val=(7, 10), test=None)
    with pytest.raises(OplInputError, match=r"test: expected \[start, stop\)"):
        check_splits(train=(0, 8), val=(8, 10), test=(12, 12))
    with pytest.raises(OplInputError, match="splits: expected at least one of train, val, test"):
        check_splits(train=None, val=None, test=None)
