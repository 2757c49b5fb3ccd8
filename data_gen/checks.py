"""Argument checks and time-step counts shared by the solvers."""

from __future__ import annotations

import math
from numbers import Real

STEP_COUNT_RTOL = 1e-10
"""Relative slack when counting steps, so that an interval that is a multiple of dt up to
round-off (0.25 / 0.01 = 25.000000000000004) does not get a spurious extra step."""


def positive_finite(name: str, value: float) -> float:
    """``value`` as a float; ``ValueError`` naming ``name`` unless it is a finite real > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{name} must be a positive finite real number, got {value!r}")
    return float(value)


def steps_per_interval(interval: float, dt: float) -> int:
    """The number m of equal steps interval/m covering ``interval`` with steps of at most ``dt``
    (up to round-off), so that a time stepper lands exactly on the interval's end."""
    return max(1, math.ceil(interval / dt * (1.0 - STEP_COUNT_RTOL)))
