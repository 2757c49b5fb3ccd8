r"""MgNO: the multigrid neural operator (He, Liu, Xu, ICLR 2024), in plain torch.

A layer maps ``v`` (``C_in`` channels) to ``u = σ(W v + B v)`` (``C_u`` channels), where ``B`` is
a 1x1 convolution with bias (the function-valued bias) and ``W`` a multi-channel multigrid
V-cycle (:class:`VCycle`) that treats the layer input as a right-hand side ``f = v``. There is no
lifting layer: layer 1 maps ``in_channels -> channels``, the next ones ``channels -> channels``,
and a 1x1 convolution without bias maps ``channels -> out_channels``.

V-cycle on levels ``l = 0..J-1`` (level 0 the input grid, each next one a factor 2 coarser), with
learned 3^d convolutions without bias (``d`` = ``n_dim``): stiffness ``A: C_u -> C_f``,
smoother ``S: C_f -> C_u``, restrictions ``Π: C_u -> C_u`` and ``R: C_f -> C_f`` (stride 2) and
prolongation ``P: C_u -> C_u`` (stride-2 transposed convolution)::

    u_0 = S_{0,0} f_0                                    (zero initial guess)
    u_l <- u_l + S_{l,i} (f_l - A_{l,i} u_l)             (smoothing step, any further step)
    u_{l+1} = Π_l u_l,   f_{l+1} = R_l f_l               (restrict="f", the official code)
                         f_{l+1} = R_l (f_l - A^r_l u_l) (restrict="residual", classical form)
    u_l <- u_l + P_l u_{l+1}, then post-smoothing steps  (going up, l = J-2..0)

and ``W v = u_0``. Every level carries its own smoother and stiffness per step: nothing is shared.

Boundary conditions enter through the padding of every 3^d convolution: ``"zeros"`` (Dirichlet,
Darcy), ``"circular"`` (periodic, Navier-Stokes), ``"reflect"`` (Helmholtz). The prolongation
is the transposed convolution followed by the adjoint of that padding, so ``P`` is the exact
adjoint of a stride-2 convolution with the same boundary condition (with zeros this is
``ConvTranspose(k, stride=2, padding=1)`` as in the official code; with circular padding the
whole model is translation-equivariant on periodic grids).

Against the official code (``xlliu2017/MgNO``, ``models.py``, ``MgNO_DC``): its Darcy
configuration (4 layers, 24 channels, 6 levels, pre-smoothing ``(1, 1, 1, 1, 1, 2)``, no
post-smoothing, restriction of ``f``, zero padding, prolongation kernel 4) is ``MgNO()`` here and
has the same **572,661** parameters, module for module. The official Navier-Stokes and Helmholtz
models are variants of it (LayerNorms of a fixed grid size, a skip connection, growing channels)
that are not reproduced here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from opl.models.base import FieldOperator
from opl.ops.mg_smooth import fold_boundary, smoothing_step

__all__ = ["MgNO", "MgNOLayer", "Prolongation", "VCycle", "prolongation_kernels_for"]

PADDING_MODES = ("zeros", "circular", "reflect")
RESTRICT_MODES = ("f", "residual")
PROLONGATION_KERNELS = (3, 4)
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_MIN_POINTS = 2  # points per dimension on the coarsest level


def _coarsen(n: int) -> int:
    """Points of a 3-tap stride-2 convolution with padding 1 on ``n`` points: ``ceil(n / 2)``."""
    return (n + 1) // 2


def prolongation_kernels_for(size: int, levels: int) -> list[int]:
    """Kernel per prolongation (finest first) that fits a grid of ``size`` points exactly.

    Kernel 3 where the finer grid is odd, 4 where it is even: ``ConvTranspose(k, stride=2,
    padding=1)`` then maps ``ceil(n/2)`` points back onto exactly ``n``. This is how the official
    code picks its kernels per data set (``(3, 4, 3, 3, 4)`` for the 211-point smooth Darcy grid,
    all 4 for power-of-two grids). :class:`Prolongation` accepts any size with either kernel, so
    this only matters for reproducing the official models.
    """
    kernels = []
    for _ in range(levels - 1):
        kernels.append(3 if size % 2 else 4)
        size = _coarsen(size)
    return kernels


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


def _check_counts(name: str, values: Sequence[int], length: int, minimum: int = 0) -> None:
    if len(values) != length or not all(_is_int(v) and v >= minimum for v in values):
        raise ValueError(
            f"{name}: expected {length} integers >= {minimum} (one per level), got {list(values)}"
        )


class Prolongation(nn.Module):
    r"""Prolongation ``P: C_u -> C_u`` from ``m = ceil(n/2)`` points to ``n`` points per dimension.

    ``(P u)_o = Σ_i Σ_t w_t u_i [o = 2i + t - 1]`` for taps ``t = 0..k-1`` (``k`` = 3 or 4), i.e.
    ``ConvTranspose(k, stride=2, padding=1, bias=False)``; contributions that fall outside the
    grid are handled as the adjoint of the boundary padding
    (:func:`opl.ops.mg_smooth.fold_boundary`), which makes ``P`` the exact adjoint of a stride-2
    convolution padded by the same mode (1 point on the left, what it needs on the right). Any
    ``n`` works with either kernel; the official code uses 4 on even grids and 3 on odd ones.
    Parameters: ``k^d C_u^2``.
    """

    def __init__(self, channels: int, n_dim: int, kernel_size: int, padding: str) -> None:
        super().__init__()
        self.padding = padding
        self.conv = _CONV_TRANSPOSE[n_dim](
            channels, channels, kernel_size, stride=2, padding=0, bias=False
        )

    def forward(self, u: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Prolong ``u`` of shape ``(B, C_u, *coarse)`` onto the fine grid ``size``."""
        full = self.conv(u)
        for axis, n in enumerate(size):
            full = fold_boundary(full, axis + 2, n, self.padding)
        return full


CPU_LAYOUTS = {4: torch.channels_last, 5: torch.channels_last_3d}
"""Channels-last memory formats by tensor rank: 2-D and 3-D fields."""


def cpu_layout(u: torch.Tensor) -> torch.Tensor:
    """``u`` in the memory layout MgNO's convolutions are fastest with: channels-last for 2-D
    and 3-D fields on the CPU (oneDNN's convolutions: a 2-D training step 1.5-1.8x and
    inference 1.3-1.7x faster from 64² to 256², 3-D 1.4x and 1.2x at 33³ and 49³,
    ``benchmarks/mgno_layout.py``), as it is elsewhere (the fused CUDA kernel takes contiguous
    tensors; 1-D has no such layout). A convolution keeps its input's layout, so setting it on
    the first hidden field of a V-cycle carries it through the cycle; the values are the same up
    to the order of floating-point sums."""
    if u.is_cpu and u.dim() in CPU_LAYOUTS:
        return u.contiguous(memory_format=CPU_LAYOUTS[u.dim()])
    return u


class VCycle(nn.Module):
    r"""One multi-channel V-cycle ``W: f (C_f channels) -> u (C_u channels)``, linear in ``f``.

    Levels ``l = 0..J-1`` (``J = len(pre_smooth)``; level 0 the input grid of ``n`` points per
    dimension, level ``l+1`` has ``ceil(n_l / 2)``). All convolutions are 3^d, stride 1,
    padding 1 by ``padding``, without bias, unless stated.

    1. Level 0: ``u = S_{0,0} f`` (one smoothing step from ``u = 0``), then
       ``u <- u + S_{0,i} (f - A_{0,i} u)`` for the remaining ``pre_smooth[0] - 1`` steps.
    2. Down, ``l = 1..J-1``: ``u_l = Π_l u_{l-1}`` and ``f_l = R_l f_{l-1}`` (``restrict="f"``,
       the official code's default) or ``f_l = R_l (f_{l-1} - A^r_l u_{l-1})``
       (``restrict="residual"``, the classical multigrid form, with its own learned ``A^r_l``),
       ``Π, R`` stride-2 convolutions; then ``pre_smooth[l]`` smoothing steps.
    3. Up, ``l = J-2..0``: ``u_l <- u_l + P_l u_{l+1}`` (:class:`Prolongation`), then
       ``post_smooth[l]`` smoothing steps with their own ``S``, ``A``.

    Output ``u_0``. Each smoothing step has its own ``S: C_f -> C_u`` and ``A: C_u -> C_f``
    (no ``A`` for the very first step, which starts from zero), so with ``T = Σ (pre + post)``
    steps, ``k = 3^d`` taps and prolongation kernels ``K_l`` there are
    ``(2T - 1) k C_u C_f + (J-1) k (C_u² + C_f²) + Σ_l K_l^d C_u²`` parameters, plus
    ``(J-1) k C_u C_f`` for ``restrict="residual"``.

    Args:
        u_channels: ``C_u``, channels of the output (the "solution").
        f_channels: ``C_f``, channels of the input (the "right-hand side").
        n_dim: number of spatial dimensions (1, 2 or 3).
        pre_smooth: smoothing steps per level going down, finest first; the finest needs >= 1.
        post_smooth: smoothing steps per level after the coarse correction; the coarsest
            level's entry must be 0 (it has no coarse correction).
        restrict: ``"f"`` or ``"residual"``: what ``R`` coarsens.
        padding: ``"zeros"``, ``"circular"`` or ``"reflect"``.
        prolongation_kernel: kernel (3 or 4) of each of the ``J-1`` prolongations, finest first.
    """

    def __init__(
        self,
        u_channels: int,
        f_channels: int,
        n_dim: int,
        pre_smooth: Sequence[int],
        post_smooth: Sequence[int],
        restrict: str = "f",
        padding: str = "zeros",
        prolongation_kernel: Sequence[int] = (),
    ) -> None:
        super().__init__()
        for name, value in (("u_channels", u_channels), ("f_channels", f_channels)):
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        _check_choice("n_dim", n_dim, tuple(_CONV))
        _check_choice("restrict", restrict, RESTRICT_MODES)
        _check_choice("padding", padding, PADDING_MODES)
        levels = len(pre_smooth)
        if levels < 1:
            raise ValueError("pre_smooth: expected at least one level, got none")
        _check_counts("pre_smooth", pre_smooth, levels)
        if pre_smooth[0] < 1:
            raise ValueError(
                f"pre_smooth: the finest level needs at least one step, got {list(pre_smooth)}"
            )
        _check_counts("post_smooth", post_smooth, levels)
        if post_smooth[-1] != 0:
            raise ValueError(
                "post_smooth: the coarsest level has no coarse correction to smooth after; "
                f"its entry must be 0 (add the steps to pre_smooth), got {list(post_smooth)}"
            )
        if len(prolongation_kernel) != levels - 1 or not all(
            k in PROLONGATION_KERNELS for k in prolongation_kernel
        ):
            raise ValueError(
                f"prolongation_kernel: expected {levels - 1} kernels (one per coarse level) from "
                f"{list(PROLONGATION_KERNELS)}, got {list(prolongation_kernel)}"
            )
        self.pre_smooth = tuple(pre_smooth)
        self.post_smooth = tuple(post_smooth)
        self.restrict_mode = restrict
        self.padding = padding

        def conv(c_in: int, c_out: int, stride: int = 1) -> nn.Module:
            return _CONV[n_dim](
                c_in, c_out, 3, stride=stride, padding=1, bias=False, padding_mode=padding
            )

        steps = [pre + post for pre, post in zip(self.pre_smooth, self.post_smooth, strict=True)]
        self.smoothers = nn.ModuleList(
            nn.ModuleList(conv(f_channels, u_channels) for _ in range(n)) for n in steps
        )
        # Level 0's first step starts from u = 0 and needs no stiffness.
        self.stiffness = nn.ModuleList(
            nn.ModuleList(conv(u_channels, f_channels) for _ in range(n - 1 if level == 0 else n))
            for level, n in enumerate(steps)
        )
        self.restrict_u = nn.ModuleList(
            conv(u_channels, u_channels, stride=2) for _ in range(levels - 1)
        )
        self.restrict_f = nn.ModuleList(
            conv(f_channels, f_channels, stride=2) for _ in range(levels - 1)
        )
        if restrict == "residual":
            self.residual_stiffness = nn.ModuleList(
                conv(u_channels, f_channels) for _ in range(levels - 1)
            )
        self.prolong = nn.ModuleList(
            Prolongation(u_channels, n_dim, k, padding) for k in prolongation_kernel
        )

    @property
    def levels(self) -> int:
        return len(self.pre_smooth)

    def level_sizes(self, size: Sequence[int]) -> list[tuple[int, ...]]:
        """Grid size of every level, finest first; ValueError if the coarsest is too small."""
        sizes = [tuple(size)]
        for _ in range(self.levels - 1):
            sizes.append(tuple(_coarsen(n) for n in sizes[-1]))
        if min(sizes[-1]) < _MIN_POINTS:
            shown = [s[0] if len(set(s)) == 1 else s for s in sizes]
            need = 2 ** (self.levels - 1) + 1
            raise ValueError(
                f"input grid {tuple(size)} is too small for levels={self.levels}: the levels "
                f"would have {shown} points, and each needs at least {_MIN_POINTS} per dimension; "
                f"use at least {need} points per dimension or fewer levels"
            )
        return sizes

    def smooth(
        self, u: torch.Tensor | None, f: torch.Tensor, level: int, step: int
    ) -> torch.Tensor:
        """Smoothing step ``step`` of ``level``: ``u + S (f - A u)``, or ``S f`` when ``u`` is None.

        Steps ``0..pre_smooth[level]-1`` are pre-smoothing, the next ones post-smoothing. This is
        the only place that applies ``S`` and ``A``, through ``opl.ops.mg_smooth.smoothing_step``,
        which picks the fused CUDA kernel or the convolutions; the first step is one convolution.
        """
        smoother = self.smoothers[level][step]
        if u is None:
            return cpu_layout(smoother(f))
        stiffness = self.stiffness[level][step - 1 if level == 0 else step]
        return smoothing_step(u, f, stiffness, smoother, self.padding)

    def restrict(
        self, u: torch.Tensor, f: torch.Tensor, level: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Carry ``(u, f)`` from ``level - 1`` to ``level``.

        Returns ``(Π u, R f)`` (``restrict="f"``) or ``(Π u, R (f - A^r u))`` (``"residual"``).
        """
        if self.restrict_mode == "residual":
            f = f - self.residual_stiffness[level - 1](u)
        return self.restrict_u[level - 1](u), self.restrict_f[level - 1](f)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """Apply the V-cycle to ``f (B, C_f, *spatial)``; returns ``u (B, C_u, *spatial)``."""
        sizes = self.level_sizes(f.shape[2:])
        u: torch.Tensor | None = None
        u_levels: list[torch.Tensor] = []
        f_levels: list[torch.Tensor] = []
        for level, n_pre in enumerate(self.pre_smooth):
            if level > 0:
                u, f = self.restrict(u, f, level)
            for step in range(n_pre):
                u = self.smooth(u, f, level, step)
            u_levels.append(u)
            f_levels.append(f)
        for level in range(self.levels - 2, -1, -1):
            u = u_levels[level] + self.prolong[level](u, sizes[level])
            n_pre = self.pre_smooth[level]
            for step in range(n_pre, n_pre + self.post_smooth[level]):
                u = self.smooth(u, f_levels[level], level, step)
        return u


class MgNOLayer(nn.Module):
    r"""One MgNO layer ``v -> σ(W v + B v)``: ``W`` a :class:`VCycle` with ``f = v``, ``B`` 1x1.

    ``W`` has ``C_f = in_channels`` (the layer input is the right-hand side) and
    ``C_u = out_channels``; ``B v = b + Σ_j w_j v_j`` pointwise, ``(C_in + 1) C_u`` parameters.
    The other arguments are those of :class:`VCycle`; ``activation`` names ``σ``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_dim: int,
        pre_smooth: Sequence[int],
        post_smooth: Sequence[int],
        restrict: str = "f",
        padding: str = "zeros",
        prolongation_kernel: Sequence[int] = (),
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        _check_choice("activation", activation, tuple(ACTIVATIONS))
        self.operator = VCycle(
            out_channels,
            in_channels,
            n_dim,
            pre_smooth,
            post_smooth,
            restrict=restrict,
            padding=padding,
            prolongation_kernel=prolongation_kernel,
        )
        self.bias = _CONV[n_dim](in_channels, out_channels, 1, bias=True)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.activation(self.operator(v) + self.bias(v))


def _per_level(name: str, value: int | Sequence[int], count: int) -> list[int]:
    """``value`` repeated ``count`` times if it is an integer, else ``value`` as a list."""
    if _is_int(value):
        return [value] * count
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    raise ValueError(f"{name}: expected an integer or a list of integers, got {value!r}")


class MgNO(FieldOperator):
    r"""Multigrid neural operator: ``n_layers`` :class:`MgNOLayer` then a 1x1 head.

    ``x (B, in_channels, *spatial) -> (B, out_channels, *spatial)``; any grid with at least
    ``2^(levels-1) + 1`` points per dimension, odd or even, square or not (e.g. 64, 85, 211,
    421 for 6 levels). All hyperparameters are JSON-friendly (ints, strings, lists).

    The defaults are the official Darcy configuration: 4 layers of 24 channels, 6 levels, one
    pre-smoothing step per level and two on the coarsest, no post-smoothing, restriction of
    ``f``, zero padding, prolongation kernel 4, GELU: **572,661** parameters, as the official
    ``MgNO_DC`` (which creates no stiffness for the first smoothing step either: it starts from
    ``u = 0``). In general, with ``V(C_u, C_f)`` the :class:`VCycle` count,
    ``V(C, C_in) + (n_layers-1) V(C, C) + (C_in + 1) C + (n_layers-1)(C + 1) C + C C_out``.

    Args:
        in_channels: input channels ``C_in`` (also ``C_f`` of the first V-cycle).
        out_channels: output channels ``C_out``.
        n_dim: spatial dimensions (1, 2 or 3).
        channels: hidden channels ``C`` (``C_u`` of every V-cycle, ``C_f`` after layer 1).
        n_layers: number of MgNO layers.
        levels: grid levels ``J`` of every V-cycle.
        pre_smooth: steps per level going down (finest first); an integer is used on every
            level; default one per level and two on the coarsest.
        post_smooth: steps per level after the coarse correction; an integer is used on every
            level but the coarsest (which has none).
        restrict: ``"f"`` (restrict the right-hand side, official) or ``"residual"`` (restrict
            ``f - A u``, classical multigrid; adds ``(J-1) 3^d C C_f`` per layer).
        padding: ``"zeros"`` (Dirichlet), ``"circular"`` (periodic) or ``"reflect"``.
        prolongation_kernel: 3 or 4, or one per prolongation (finest first), e.g.
            ``prolongation_kernels_for(211, 6)``.
        activation: ``"gelu"``, ``"relu"``, ``"tanh"`` or ``"silu"``.
    """

    ARG_LIMITS = {
        "in_channels": 1024,
        "out_channels": 1024,
        "channels": 4096,
        "n_layers": 64,
        "levels": 16,
        "pre_smooth": 64,
        "post_smooth": 64,
    }

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        n_dim: int = 2,
        channels: int = 24,
        n_layers: int = 4,
        levels: int = 6,
        pre_smooth: int | Sequence[int] | None = None,
        post_smooth: int | Sequence[int] = 0,
        restrict: str = "f",
        padding: str = "zeros",
        prolongation_kernel: int | Sequence[int] = 4,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("channels", channels),
            ("n_layers", n_layers),
            ("levels", levels),
        ):
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if pre_smooth is None:
            pre_smooth = [1] * (levels - 1) + [2]
        pre = _per_level("pre_smooth", pre_smooth, levels)
        post = _per_level("post_smooth", post_smooth, levels)
        if _is_int(post_smooth):
            post[-1] = 0  # the coarsest level has no coarse correction to smooth after
        _check_counts("pre_smooth", pre, levels)
        _check_counts("post_smooth", post, levels)
        kernels = _per_level("prolongation_kernel", prolongation_kernel, levels - 1)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.n_dim = n_dim
        widths = [in_channels] + [channels] * n_layers
        self.layers = nn.ModuleList(
            MgNOLayer(
                c_in,
                c_out,
                n_dim,
                pre_smooth=pre,
                post_smooth=post,
                restrict=restrict,
                padding=padding,
                prolongation_kernel=kernels,
                activation=activation,
            )
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.head = _CONV[n_dim](channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x (B, in_channels, *spatial)`` to ``(B, out_channels, *spatial)``."""
        if x.dim() != self.n_dim + 2:
            raise ValueError(
                f"x: expected shape (batch, {self.in_channels}, <{self.n_dim} spatial sizes>), "
                f"got {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x: expected {self.in_channels} channels (dimension 1), got shape {tuple(x.shape)}"
            )
        self.layers[0].operator.level_sizes(x.shape[2:])
        for layer in self.layers:
            x = layer(x)
        return self.head(x)
