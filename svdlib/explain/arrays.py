"""Plain-array helpers every segmentation shares: borders, baselines, composition.

Moved out of :mod:`svdlib.explain.segments` (which re-exports them) so that the segmentations
of :mod:`svdlib.explain.segmentations` use them too. Everything works on excerpts of any
shape, numpy arrays and torch tensors on any device.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

BASELINES = ("zero", "min", "mean", "max", "unif", "shuffle")

ArrayLike = np.ndarray | torch.Tensor


def equal_borders(length: int, parts: int) -> tuple[int, ...]:
    """Borders of ``parts`` equal segments of ``range(length)``; the last absorbs the rest.

    Parameters
    ----------
    length : int
        Number of frames or bands.
    parts : int
        Number of segments, ``1 <= parts <= length``.

    Returns
    -------
    tuple of int
        ``parts + 1`` increasing borders from 0 to ``length``, e.g. ``(0, 23, 46, 69, 92, 115)``
        for 115 frames in 5 parts.
    """
    if parts < 1 or parts > length:
        raise ValueError(f"cannot cut {length} frames/bands into {parts} non-empty segments")
    step = length // parts
    return (*(i * step for i in range(parts)), length)


def check_borders(borders: Sequence[int], length: int, what: str) -> tuple[int, ...]:
    """``borders`` as ints, checked to run strictly increasing from 0 to ``length``."""
    out = tuple(int(b) for b in borders)
    if len(out) < 2 or out[0] != 0 or out[-1] != length:
        raise ValueError(f"{what} borders must run from 0 to {length}, got {out}")
    if any(b >= e for b, e in itertools.pairwise(out)):
        raise ValueError(f"{what} borders must be strictly increasing, got {out}")
    return out


def to_numpy(x: ArrayLike) -> np.ndarray:
    """An array or tensor as a numpy array (a tensor detached and moved to the CPU).

    Parameters
    ----------
    x : array_like or torch.Tensor
        The values.

    Returns
    -------
    numpy.ndarray
        The same values.
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def make_baseline(excerpt: ArrayLike, kind: str = "mean",
                  seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """The baseline that switched-off components show, shaped like the excerpt.

    Parameters
    ----------
    excerpt : array or tensor
        ``(frames, bands)`` log-mel excerpt.
    kind : str
        ``'zero'``; ``'min'``, ``'mean'`` (the paper's) or ``'max'``: that global statistic of
        the excerpt as a constant; ``'unif'``: uniform in ``[0, max)`` per cell (kept for
        parity with audioLIME; meaningless for negative log values); ``'shuffle'``: a random
        permutation of the excerpt's cells.
    seed : int, np.random.Generator or None
        Randomness for ``'unif'`` and ``'shuffle'``.

    Returns
    -------
    np.ndarray
        float32 array of the excerpt's shape.
    """
    x = to_numpy(excerpt).astype(np.float32)
    if kind == "zero":
        return np.zeros_like(x)
    if kind in ("min", "mean", "max"):
        value = getattr(x.astype(np.float64), kind)()
        return np.full_like(x, value)
    if kind == "unif":
        return (_as_generator(seed).random(x.shape) * float(x.max())).astype(np.float32)
    if kind == "shuffle":
        return _as_generator(seed).permutation(x.ravel()).reshape(x.shape)
    raise ValueError(f"unknown baseline '{kind}'; choose one of {', '.join(BASELINES)}")


def compose(excerpt: ArrayLike, masks: ArrayLike, baseline: ArrayLike | float) -> Any:
    """Perturbed inputs ``excerpt · masks + baseline · (1 − masks)``.

    Parameters
    ----------
    excerpt : array or tensor
        ``(frames, bands)``.
    masks : array or tensor
        ``(..., frames, bands)`` binary masks (bool, or 0/1 floats).
    baseline : array, tensor or float
        Broadcastable to the excerpt.

    Returns
    -------
    np.ndarray or torch.Tensor
        ``(..., frames, bands)``; a tensor if ``masks`` is one. Boolean masks select with
        ``where``, which equals the formula exactly for finite values.
    """
    if isinstance(masks, torch.Tensor):
        x = torch.as_tensor(excerpt, device=masks.device)
        b = torch.as_tensor(baseline, device=masks.device, dtype=x.dtype)
        if masks.dtype == torch.bool:
            return torch.where(masks, x, b)
        m = masks.to(x.dtype)
        return x * m + b * (1 - m)
    x = to_numpy(excerpt)
    b = np.asarray(to_numpy(baseline) if isinstance(baseline, torch.Tensor) else baseline,
                   dtype=x.dtype)
    m = np.asarray(masks)
    if m.dtype == bool:
        return np.where(m, x, b)
    m = m.astype(x.dtype)
    return x * m + b * (1 - m)
