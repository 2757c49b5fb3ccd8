r"""Transformer neural operator with continuum attention (Calvello, Kovachki, Levine & Stuart,
2024; code EdoardoCalvello/TransformerNeuralOperators), in plain torch.

Attention is an integral operator over the domain D, per head,

    Att(u)(x) = ∫_D exp(⟨q(x), k(y)⟩ / √d) v(y) dy / ∫_D exp(⟨q(x), k(y)⟩ / √d) dy,

q, k, v pointwise linear maps of u (d channels a head). On a grid with quadrature weights w_y
(``quadrature_weights``: the trapezoidal rule on node grids with the real spacing, equal weights
on cell-centred and periodic grids) both integrals become sums, so the discrete operator is
softmax attention with log w_y added to every score of key y:

    Att(u)(x_i) = Σ_j softmax_j(⟨q_i, k_j⟩ / √d + log w_j) v_j .

That is what makes one set of weights a consistent discretisation at every resolution. The
log-weight enters without an attention mask: one more channel in each head, 1 in q and
√d · log w_j in k, adds exactly log w_j to the scores, so PyTorch's fused attention kernels
(``scaled_dot_product_attention``: flash / memory-efficient, memory linear in the points) apply
as they are.

The grid convention (``grid``: ``nodes``, ``cells`` or ``periodic``, ``data_gen.generator``'s)
is the training data's: left unset, it is taken from the dataset file's coordinates when
training starts (``OperatorModule`` calls ``adopt_grid``) and recorded in ``init_args``.

The model: grid coordinates (in [0, 1] per axis) appended to the input channels, a pointwise
lift to ``width`` channels, ``layers`` post-norm encoder layers ``v = LN(v + MHA(v))``,
``v = LN(v + FFN(v))`` (FFN ``width -> ffn_width -> width``, GELU), and a pointwise projection
``width -> ffn_width -> out_channels``. The paper's runs: 8 heads, 6 layers, FFN width 128, no
positional encoding beyond the coordinates. Cost is quadratic in the points: for large 2-D grids
use the patched variants.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from opl.models.base import FieldOperator

GRIDS = ("nodes", "cells", "periodic")
"""Grid conventions (``opl.format.GRID_CONVENTIONS``): where the points of [0, 1] lie."""


def check_grid(grid: str | None) -> None:
    """Refuse a grid convention this module does not know (None: not set yet)."""
    if grid is not None and grid not in GRIDS:
        raise ValueError(f"grid: expected one of {', '.join(GRIDS)}, got {grid!r}")


def check_heads(width: int, heads: int) -> None:
    """Refuse a width the heads cannot share equally."""
    if width % heads:
        raise ValueError(f"width: expected a multiple of heads ({heads}), got {width}")


def quadrature_weights(
    shape: tuple[int, ...], grid: str, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Weights (Π shape,) of a tensor-product rule on [0, 1]^d, C order: the trapezoidal rule on
    ``nodes`` grids (spacing 1/(n-1), halved at both ends), the midpoint rule on ``cells`` grids
    and the periodic trapezoidal rule on ``periodic`` ones (1/n each). Each integrates constants
    exactly (sum 1)."""
    check_grid(grid)
    weights = torch.ones((), dtype=dtype, device=device)
    for n in shape:
        if grid == "nodes":
            if n < 2:
                raise ValueError(f"a nodes grid needs >= 2 points per axis, got {shape}")
            axis = torch.full((n,), 1.0 / (n - 1), dtype=dtype, device=device)
            axis[0] = axis[-1] = 0.5 / (n - 1)
        else:
            axis = torch.full((n,), 1.0 / n, dtype=dtype, device=device)
        weights = (weights[..., None] * axis).reshape(-1)
    return weights


def grid_coordinates(
    shape: tuple[int, ...], grid: str, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Coordinates (d, *shape) of the grid's points in [0, 1]^d: ``nodes`` i / (n - 1),
    ``cells`` (i + ½) / n, ``periodic`` i / n."""
    check_grid(grid)
    offset = 0.5 if grid == "cells" else 0.0
    axes = [
        (torch.arange(n, dtype=dtype, device=device) + offset) / (n - 1 if grid == "nodes" else n)
        for n in shape
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


class OnGrid:
    """Mixin of the models whose arithmetic depends on the grid convention (``self.grid``):
    discretisation-invariant operators, so other grids are accepted."""

    grid: str | None
    other_grids = "accept"

    def adopt_grid(self, conventions: list[str]) -> None:
        """Take the data's convention (one per spatial axis) if unset; refuse another one."""
        if len(set(conventions)) != 1:
            raise ValueError(
                f"{type(self).__name__} needs one grid convention on every axis; the data have "
                + ", ".join(conventions)
            )
        if self.grid is None:
            self.grid = self.init_args["grid"] = conventions[0]
        elif self.grid != conventions[0]:
            raise ValueError(
                f"grid: {type(self).__name__} was built for {self.grid} grids, the data are on "
                f"{conventions[0]} grids (leave grid unset to take the data's)"
            )

    def checked_grid(self) -> str:
        """``self.grid``, which must be set by now."""
        if self.grid is None:
            raise ValueError(
                f"grid: {type(self).__name__} does not know its grid convention; train it on a "
                f"dataset (it takes the file's) or give grid= one of {', '.join(GRIDS)}"
            )
        return self.grid


class ContinuumAttention(nn.Module):
    """Multi-head attention as the quadrature of the continuum integral operator (module
    docstring): ``forward(v (B, N, width), log_weights (N,)) -> (B, N, width)``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        check_heads(width, heads)
        self.heads, self.head_dim = heads, width // heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, v: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
        b, n, width = v.shape
        q, k, val = self.qkv(v).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        d = self.head_dim
        # one extra channel: 1 in q, √d log w in k, so <q', k'>/√d = <q, k>/√d + log w_j;
        # zeros up to a multiple of 8 keep the fused kernels' alignment
        pad = (-(d + 1)) % 8
        ones = torch.ones_like(q[..., :1])
        log_w = (math.sqrt(d) * log_weights).to(k.dtype).expand(b, self.heads, n)[..., None]
        q = F.pad(torch.cat([q, ones], -1), (0, pad))
        k = F.pad(torch.cat([k, log_w], -1), (0, pad))
        val = F.pad(val, (0, 1 + pad))
        out = F.scaled_dot_product_attention(q, k, val, scale=1.0 / math.sqrt(d))[..., :d]
        return self.out(out.transpose(1, 2).reshape(b, n, width))


class EncoderLayer(nn.Module):
    """Post-norm transformer layer: ``v = LN(v + Att(v))``, ``v = LN(v + FFN(v))``."""

    def __init__(self, width: int, heads: int, ffn_width: int) -> None:
        super().__init__()
        self.attention = ContinuumAttention(width, heads)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ffn = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, width)
        )

    def forward(self, v: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
        v = self.norm1(v + self.attention(v, log_weights))
        return self.norm2(v + self.ffn(v))


class TNO(OnGrid, FieldOperator):
    """Transformer neural operator with point-wise continuum attention (module docstring).

    Args:
        in_channels: input function channels.
        out_channels: output function channels.
        n_dim: spatial dimensions of the grid (1 or 2).
        width: channels of the encoder (a multiple of ``heads``).
        heads: attention heads.
        layers: encoder layers.
        ffn_width: hidden width of the feed-forward blocks and of the projection.
        grid: the grid convention, ``nodes``, ``cells`` or ``periodic`` (default: the training
            data's, see the module docstring).
    """

    ARG_LIMITS = {
        "in_channels": 1024,
        "out_channels": 1024,
        "width": 4096,
        "heads": 64,
        "layers": 64,
        "ffn_width": 16384,
    }

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        n_dim: int = 2,
        width: int = 64,
        heads: int = 8,
        layers: int = 6,
        ffn_width: int = 128,
        grid: str | None = None,
    ) -> None:
        super().__init__()
        if n_dim not in (1, 2):
            raise ValueError(f"n_dim: expected 1 or 2, got {n_dim}")
        check_grid(grid)
        self.in_channels, self.out_channels, self.n_dim = in_channels, out_channels, n_dim
        self.grid = grid
        self.lift = nn.Linear(in_channels + n_dim, width)
        self.encoder = nn.ModuleList(EncoderLayer(width, heads, ffn_width) for _ in range(layers))
        self.project = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, *spatial) -> (B, out_channels, *spatial)`` at any resolution."""
        if x.dim() != 2 + self.n_dim or x.shape[1] != self.in_channels:
            raise ValueError(
                f"input: expected (B, {self.in_channels}, "
                + ", ".join(["n"] * self.n_dim)
                + f"), got shape {tuple(x.shape)}"
            )
        b, shape, grid = x.shape[0], tuple(x.shape[2:]), self.checked_grid()
        coords = grid_coordinates(shape, grid, x.dtype, x.device)
        v = torch.cat([x, coords.expand(b, *coords.shape)], 1).flatten(2).transpose(1, 2)
        log_weights = quadrature_weights(shape, grid, x.dtype, x.device).log()
        v = self.lift(v)
        for layer in self.encoder:
            v = layer(v, log_weights)
        return self.project(v).transpose(1, 2).reshape(b, self.out_channels, *shape)


class SpectralConv2d(nn.Module):
    r"""``(…, C_in, n1, n2) -> (…, C_out, n1, n2)``: multiply the Fourier coefficients with
    wavenumbers |k1| < modes, 0 <= k2 < modes by learned complex matrices, drop the rest.
    Coefficients are means (``norm="forward"``), so the map is the same operator on every grid
    that resolves those modes; a grid too small for some of them uses the ones it has (the
    Nyquist wavenumber of an even size is never used)."""

    def __init__(self, in_channels: int, out_channels: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        scale = 1.0 / (in_channels * out_channels)
        # real and imaginary parts last (a real tensor: dtype casts, safetensors and export work)
        shape = (in_channels, out_channels, 2 * modes - 1, modes, 2)
        self.weight = nn.Parameter(scale * torch.randn(*shape) / math.sqrt(2))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        n1, n2 = v.shape[-2:]
        work = v if v.dtype in (torch.float32, torch.float64) else v.float()  # FFTs of half types
        spectrum = torch.fft.rfft2(work, norm="forward")
        m1, m2 = min(self.modes, (n1 + 1) // 2), min(self.modes, (n2 + 1) // 2)
        # wavenumbers k1 = 0..m1-1 and -(m1-1)..-1 (weight rows modes-1+k1), k2 = 0..m2-1;
        # slices and concatenations only, no indexed writes (the ONNX exporter takes these)
        centre = self.modes - 1
        weight = torch.cat(
            [self.weight[:, :, centre : centre + m1], self.weight[:, :, centre - m1 + 1 : centre]],
            2,
        )[:, :, :, :m2]
        weight = weight.to(work.dtype)
        kept = torch.cat([spectrum[..., :m1, :m2], spectrum[..., n1 - m1 + 1 :, :m2]], -2)
        kept = torch.view_as_real(kept)  # the complex product in real arithmetic (ONNX has none)
        re, im = kept[..., 0], kept[..., 1]
        w_re, w_im = weight[..., 0], weight[..., 1]
        product = "...ixy,ioxy->...oxy"
        mixed = torch.stack(  # (..., C_out, rows, m2, 2): real and imaginary parts
            [
                torch.einsum(product, re, w_re) - torch.einsum(product, im, w_im),
                torch.einsum(product, re, w_im) + torch.einsum(product, im, w_re),
            ],
            -1,
        )
        low, high = mixed[..., :m1, :, :], mixed[..., m1:, :, :]
        gap = mixed.new_zeros(*mixed.shape[:-3], n1 - 2 * m1 + 1, m2, 2)
        columns = torch.cat([low, gap, high], -3)
        rest = mixed.new_zeros(*columns.shape[:-2], n2 // 2 + 1 - m2, 2)
        out = torch.view_as_complex(torch.cat([columns, rest], -2).contiguous())
        return torch.fft.irfft2(out, s=(n1, n2), norm="forward").to(v.dtype)


def to_patches(v: torch.Tensor, patches: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, patches², C, H / patches, W / patches)``, patches in C order."""
    b, c, h, w = v.shape
    if h % patches or w % patches:
        raise ValueError(
            f"grid {h} x {w}: the patches have a fixed physical size, {patches} per axis, so "
            f"each side must be a multiple of {patches}"
        )
    p1, p2 = h // patches, w // patches
    v = v.view(b, c, patches, p1, patches, p2).permute(0, 2, 4, 1, 3, 5)
    return v.reshape(b, patches * patches, c, p1, p2)


def from_patches(tokens: torch.Tensor, patches: int) -> torch.Tensor:
    """The inverse of ``to_patches``."""
    b, _, c, p1, p2 = tokens.shape
    v = tokens.view(b, patches, patches, c, p1, p2).permute(0, 3, 1, 4, 2, 5)
    return v.reshape(b, c, patches * p1, patches * p2)


class PatchAttention(nn.Module):
    r"""Attention between patches, each token a function on its patch (tokens
    ``(B, T, width, p1, p2)``): per head, the score of patches i, j is the quadrature of
    ``∫ ⟨q_i(x), k_j(x)⟩ dx`` over the patch (x the position within it), i.e. the sum over the
    patch's cells and the head's channels divided by the cells of the whole grid -- no 1/√d --
    so it is the same number at every resolution; the output is ``Σ_j softmax_j v_j``, a
    function on the patch. Q, K, V are pointwise linear maps (``qkv="pointwise"``, ViT-NO) or
    per-patch spectral convolutions (``qkv="spectral"``, FANO)."""

    def __init__(self, width: int, heads: int, qkv: str, qkv_modes: int) -> None:
        super().__init__()
        check_heads(width, heads)
        if qkv not in QKV:
            raise ValueError(f"qkv: expected one of {', '.join(QKV)}, got {qkv!r}")
        self.heads, self.qkv_kind = heads, qkv
        if qkv == "pointwise":
            self.qkv = nn.Linear(width, 3 * width)
        else:
            self.qkv = SpectralConv2d(width, 3 * width, qkv_modes)
        self.out = nn.Linear(width, width)

    def forward(self, tokens: torch.Tensor, cells: int) -> torch.Tensor:
        b, t, width, p1, p2 = tokens.shape
        if self.qkv_kind == "pointwise":
            qkv = self.qkv(tokens.movedim(2, -1)).movedim(-1, 2)
        else:
            qkv = self.qkv(tokens)
        d = width // self.heads
        q, k, v = qkv.reshape(b, t, 3, self.heads, d * p1 * p2).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0 / cells)
        out = out.transpose(1, 2).reshape(b, t, width, p1, p2)
        return self.out(out.movedim(2, -1)).movedim(-1, 2)


QKV = ("pointwise", "spectral")


class PatchEncoderLayer(nn.Module):
    """Post-norm layer on patch tokens: ``v = LN(v + PatchAtt(v))``, ``v = LN(v + FFN(v))``,
    LayerNorm and FFN pointwise (over the channels at each point)."""

    def __init__(self, width: int, heads: int, ffn_width: int, qkv: str, qkv_modes: int) -> None:
        super().__init__()
        self.attention = PatchAttention(width, heads, qkv, qkv_modes)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ffn = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, width)
        )

    def forward(self, tokens: torch.Tensor, cells: int) -> torch.Tensor:
        v = tokens.movedim(2, -1)
        v = self.norm1(v + self.attention(tokens, cells).movedim(2, -1))
        return self.norm2(v + self.ffn(v)).movedim(-1, 2)


class PatchTNO(OnGrid, FieldOperator):
    """Transformer neural operator on function-space patches, 2-D (METHODS.md §2): the grid is
    cut into ``patches`` x ``patches`` patches of fixed physical size (the cells per patch scale
    with the resolution, the tokens do not), each token the function on its patch.

    Input: coordinates appended, a per-patch spectral embedding (``embed_modes`` per axis) plus
    a pointwise map to ``width`` channels; ``layers`` ``PatchEncoderLayer``s; a global spectral
    smoother over the whole grid (``smoother_modes``, residual, GELU); a pointwise projection
    ``width -> ffn_width -> out_channels``. ``qkv="pointwise"`` is ViT-NO, ``"spectral"`` FANO
    (per-patch spectral Q/K/V with ``qkv_modes``).

    Args:
        in_channels, out_channels: function channels.
        patches: patches per axis (sides that are not a multiple of it are padded, see forward).
        width, heads, layers, ffn_width: as in ``TNO``.
        qkv: ``pointwise`` or ``spectral``.
        embed_modes, qkv_modes, smoother_modes: Fourier modes per axis of the spectral maps.
        grid: the grid convention of the coordinates (default: the training data's, as
            ``TNO``'s).
    """

    ARG_LIMITS = {
        "in_channels": 1024,
        "out_channels": 1024,
        "width": 4096,
        "heads": 64,
        "layers": 64,
        "ffn_width": 16384,
        "patches": 256,
        "embed_modes": 256,
        "qkv_modes": 256,
        "smoother_modes": 256,
    }

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        patches: int = 8,
        width: int = 32,
        heads: int = 4,
        layers: int = 4,
        ffn_width: int = 128,
        qkv: str = "pointwise",
        embed_modes: int = 9,
        qkv_modes: int = 9,
        smoother_modes: int = 12,
        grid: str | None = None,
    ) -> None:
        super().__init__()
        check_grid(grid)
        self.in_channels, self.out_channels, self.n_dim = in_channels, out_channels, 2
        self.patches, self.grid = patches, grid
        self.embed_spectral = SpectralConv2d(in_channels + 2, width, embed_modes)
        self.embed_pointwise = nn.Linear(in_channels + 2, width)
        self.encoder = nn.ModuleList(
            PatchEncoderLayer(width, heads, ffn_width, qkv, qkv_modes) for _ in range(layers)
        )
        self.smoother = SpectralConv2d(width, width, smoother_modes)
        self.smoother_pointwise = nn.Linear(width, width)
        self.project = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, out_channels, H, W)``. A side that is not a multiple
        of ``patches`` is padded at its far end (replicating the last row or column) up to the
        next multiple and cropped back after the encoder, so a patch there reaches up to
        ``patches - 1`` cells beyond the domain (127² with 8 patches: one cell)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"input: expected (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        b, _, h, w = x.shape
        coords = grid_coordinates((h, w), self.checked_grid(), x.dtype, x.device)
        v = torch.cat([x, coords.expand(b, *coords.shape)], 1)
        pad_h, pad_w = (-h) % self.patches, (-w) % self.patches
        if pad_h or pad_w:  # to the next multiple of the patch count, cropped at the end
            v = F.pad(v, (0, pad_w, 0, pad_h), mode="replicate")
        tokens = to_patches(v, self.patches)
        pointwise = self.embed_pointwise(tokens.movedim(2, -1)).movedim(-1, 2)
        tokens = self.embed_spectral(tokens) + pointwise
        for layer in self.encoder:
            tokens = layer(tokens, v.shape[-2] * v.shape[-1])
        v = from_patches(tokens, self.patches)[..., :h, :w]
        smoothed = self.smoother(v) + self.smoother_pointwise(v.movedim(1, -1)).movedim(-1, 1)
        v = v + F.gelu(smoothed)
        return self.project(v.movedim(1, -1)).movedim(-1, 1)
