"""Time-frequency factorization of a log-mel excerpt into interpretable components.

This is audioLIME's ``TimeFrequencyTorchFactorization`` (the SLIME grid) re-done directly in
frames. An excerpt is ``(frames, bands)`` = ``(115, 80)``, time first, the orientation the
detector takes. It is cut into ``n_time × n_freq`` rectangles (the paper: 5 × 4 = 20);
component id ``c`` is time segment ``t = c // n_freq`` and frequency segment
``f = c % n_freq`` (frequency varies fastest, as in audioLIME and SLIME). A perturbed input
keeps the selected rectangles and shows the baseline elsewhere:
``x · m + b · (1 − m)``.

Deliberate differences from audioLIME v0.0.3 (see ``reference/audiolime-and-detector-spec.md``
A.7.6):

* Borders are computed in frames and bands directly: equal parts of ``L // n``, the last part
  absorbing the remainder. audioLIME leaves the ``F mod n_freq`` top rows uncovered (they
  always show the baseline), and its integer temporal segmentation measures the length of the
  *frequency* axis, so all but its last time segment are empty. For 115 × 80 and 5 × 4 the
  borders here are exactly the paper's: frames 0, 23, 46, 69, 92, 115 and bands 0, 20, 40,
  60, 80.
* The ``'unif'`` and ``'shuffle'`` baselines use an explicit seeded ``np.random.Generator``
  instead of torch's and numpy's global random state.
* Everything works on numpy arrays and on torch tensors on any device.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from svdlib.constants import EXCERPT_FRAMES, MEL_BANDS
from svdlib.explain.arrays import (
    BASELINES,
    ArrayLike,
    check_borders,
    compose,
    equal_borders,
    make_baseline,
    to_numpy,
)
from svdlib.explain.segmentations.pointwise import PointwiseSegmentation

__all__ = ["BASELINES", "ArrayLike", "Segmentation", "compose", "equal_borders",
           "make_baseline", "to_numpy"]


@dataclass(frozen=True)
class Segmentation(PointwiseSegmentation):
    """A grid of ``n_time × n_freq`` rectangles over a ``(frames, bands)`` excerpt.

    One of the segmentations of :class:`~svdlib.explain.segmentations.base.BaseSegmentation`'s
    protocol (pointwise: the view is the excerpt itself), with fast paths of its own for the
    masks, the energy and the per-segment sums; a
    :class:`~svdlib.explain.segmentations.labels.LabelSegmentation` of :meth:`cell_ids` cuts
    the same segments.

    Parameters
    ----------
    n_frames, n_bands : int
        Shape of the excerpt (time first): 115 × 80 for the detector.
    n_time, n_freq : int
        Number of time and frequency segments (the paper: 5 and 4).
    time_borders, freq_borders : sequence of int, optional
        Explicit borders (``n + 1`` increasing values from 0 to the length). By default equal
        parts with the remainder in the last segment (:func:`equal_borders`).

    Notes
    -----
    Component id ``c`` covers frames ``time_borders[c // n_freq] : time_borders[c // n_freq + 1]``
    and bands ``freq_borders[c % n_freq] : freq_borders[c % n_freq + 1]``.

    Examples
    --------
    The paper's grid: 5 time × 4 frequency segments over 115 frames × 80 bands; component ``c``
    is time segment ``c // 4`` and frequency segment ``c % 4``:

    >>> import numpy as np
    >>> from svdlib import Segmentation
    >>> seg = Segmentation()
    >>> seg.n_components, seg.shape, seg.component(6)
    (20, (115, 80), (1, 2))
    >>> seg.component_slices(6)
    (slice(23, 46, None), slice(40, 60, None))
    >>> seg.masks_np(np.eye(20)).shape                  # one mask per selection
    (20, 115, 80)
    >>> delta = np.zeros(seg.shape); delta[30, 50] = 2.0
    >>> int(seg.energy(delta).argmax())                  # the segment holding δ
    6
    """

    n_frames: int = EXCERPT_FRAMES
    n_bands: int = MEL_BANDS
    n_time: int = 5
    n_freq: int = 4
    time_borders: tuple[int, ...] = field(default=(), compare=True)
    freq_borders: tuple[int, ...] = field(default=(), compare=True)

    def __post_init__(self) -> None:
        tb = (check_borders(self.time_borders, self.n_frames, "time")
              if self.time_borders else equal_borders(self.n_frames, self.n_time))
        fb = (check_borders(self.freq_borders, self.n_bands, "frequency")
              if self.freq_borders else equal_borders(self.n_bands, self.n_freq))
        if len(tb) != self.n_time + 1 or len(fb) != self.n_freq + 1:
            raise ValueError(f"need {self.n_time + 1} time and {self.n_freq + 1} frequency "
                             f"borders, got {tb} and {fb}")
        object.__setattr__(self, "time_borders", tb)
        object.__setattr__(self, "freq_borders", fb)

    @property
    def n_components(self) -> int:
        """Number of components (rectangles), ``n_time * n_freq``."""
        return self.n_time * self.n_freq

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(frames, bands)`` of the excerpts this grid applies to."""
        return (self.n_frames, self.n_bands)

    def component(self, c: int) -> tuple[int, int]:
        """The ``(time segment, frequency segment)`` of component ``c``."""
        c = self._check_id(c)
        return c // self.n_freq, c % self.n_freq

    def component_id(self, t: int, f: int) -> int:
        """The component id of time segment ``t`` and frequency segment ``f``."""
        if not (0 <= t < self.n_time and 0 <= f < self.n_freq):
            raise ValueError(f"segment ({t}, {f}) outside the {self.n_time} × {self.n_freq} grid")
        return t * self.n_freq + f

    def component_slices(self, c: int) -> tuple[slice, slice]:
        """The ``(frames, bands)`` slices of component ``c``."""
        t, f = self.component(c)
        return (slice(self.time_borders[t], self.time_borders[t + 1]),
                slice(self.freq_borders[f], self.freq_borders[f + 1]))

    def component_names(self) -> list[str]:
        """Names ``T<t>F<f>`` of the components in id order (0-based segments)."""
        return [f"T{c // self.n_freq}F{c % self.n_freq}" for c in range(self.n_components)]

    def _check_id(self, c: Any) -> int:
        c = int(c)
        if not 0 <= c < self.n_components:
            raise ValueError(f"component id {c} outside 0..{self.n_components - 1}")
        return c

    def _check_ids(self, ids: Any) -> np.ndarray:
        arr = np.asarray(ids if ids is not None else [], dtype=np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_components):
            raise ValueError(f"component ids {arr.tolist()} outside 0..{self.n_components - 1}")
        return arr

    def cell_ids(self) -> np.ndarray:
        """The component id of every cell: an int64 ``(frames, bands)`` label image."""
        return _cell_ids(self).copy()

    def view_labels(self) -> np.ndarray:
        """The component id of every cell (read-only; :meth:`cell_ids` gives a copy)."""
        return _cell_ids(self)

    def to_meta(self) -> dict[str, Any]:
        """The grid's description (``kind`` ``'grid'``, its shape, segments and borders)."""
        return {"kind": "grid", "n_frames": self.n_frames, "n_bands": self.n_bands,
                "n_time": self.n_time, "n_freq": self.n_freq,
                "time_borders": list(self.time_borders), "freq_borders": list(self.freq_borders)}

    def segment_sums(self, maps: np.ndarray) -> np.ndarray:
        """``(N, frames, bands)`` per-bin maps summed inside every rectangle: ``(N, n)``."""
        sums = np.add.reduceat(np.asarray(maps, dtype=np.float64), self.time_borders[:-1],
                               axis=-2)
        sums = np.add.reduceat(sums, self.freq_borders[:-1], axis=-1)
        return sums.reshape(len(maps), self.n_components)

    def check_selection(self, selection: Any) -> Any:
        """``selection`` after checking that it has one column per rectangle."""
        return self._check_selection(selection)

    def check_ids(self, ids: Any) -> np.ndarray:
        """Component ids as int64, checked against the grid."""
        return self._check_ids(ids)

    def _check_selection(self, selection: Any) -> Any:
        if selection.shape[-1] != self.n_components:
            raise ValueError(f"selection has {selection.shape[-1]} columns, the grid has "
                             f"{self.n_components} components")
        return selection

    def masks(self, selection: ArrayLike, device: torch.device | str | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Binary masks of a batch of selections, as a torch tensor.

        Parameters
        ----------
        selection : array or tensor
            ``(S, n_components)`` or ``(n_components,)`` with 1 (or True) where a component is
            kept.
        device : torch.device or str, optional
            Where the masks live; by default the selection's device (CPU for numpy).
        dtype : torch.dtype
            ``torch.bool`` for :func:`compose`'s exact ``where`` path, a float type to multiply.

        Returns
        -------
        torch.Tensor
            ``(S, frames, bands)`` (or ``(frames, bands)``): 1 inside the selected rectangles.
        """
        sel = torch.as_tensor(self._check_selection(selection), device=device)
        ids = _cell_ids_tensor(self, str(sel.device))
        return sel.to(dtype)[..., ids]

    def masks_np(self, selection: ArrayLike, dtype: Any = np.float32) -> np.ndarray:
        """Binary masks of a batch of selections, as a numpy array (see :meth:`masks`).

        Parameters
        ----------
        selection : array or tensor
            ``(S, n_components)`` or ``(n_components,)``, 1 where a component is kept.
        dtype : numpy dtype
            Type of the result (``bool`` or a float type).

        Returns
        -------
        np.ndarray
            ``(S, frames, bands)`` (or ``(frames, bands)``).
        """
        if isinstance(selection, torch.Tensor):
            selection = selection.detach().cpu().numpy()
        sel = np.asarray(self._check_selection(selection)).astype(dtype)
        return sel[..., _cell_ids(self)]

    def mask_of(self, ids: Sequence[int] | np.ndarray | None,
                dtype: Any = np.float32) -> np.ndarray:
        """The ``(frames, bands)`` mask of a set of component ids (their union).

        Parameters
        ----------
        ids : sequence of int or None
            Component ids; empty or None gives an all-zero mask.
        dtype : numpy dtype
            Type of the result.

        Returns
        -------
        np.ndarray
            1 inside the selected rectangles, 0 elsewhere.
        """
        selection = np.zeros(self.n_components, dtype=np.uint8)
        selection[self._check_ids(ids)] = 1
        return self.masks_np(selection, dtype=dtype)

    def energy(self, perturbation: ArrayLike) -> np.ndarray:
        """Sum of squares of a perturbation inside each rectangle.

        Parameters
        ----------
        perturbation : array or tensor
            ``(..., frames, bands)``, e.g. a log-mel difference adversarial − original.

        Returns
        -------
        np.ndarray
            ``(..., n_components)`` float64 energies, indexed by component id.
        """
        p = to_numpy(perturbation).astype(np.float64)
        if p.shape[-2:] != self.shape:
            raise ValueError(f"perturbation shape {p.shape} does not end with {self.shape}")
        sq = np.add.reduceat(p * p, self.time_borders[:-1], axis=-2)
        sq = np.add.reduceat(sq, self.freq_borders[:-1], axis=-1)
        return sq.reshape(*p.shape[:-2], self.n_components)

    def top_energy(self, perturbation: ArrayLike, k: int,
                   dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """The mask of the ``k`` segments with the highest perturbation energy ("norm-based").

        Parameters
        ----------
        perturbation : array or tensor
            ``(frames, bands)``.
        k : int
            Number of segments, ``0 <= k <= n_components``.
        dtype : numpy dtype
            Type of the mask.

        Returns
        -------
        mask : np.ndarray
            ``(frames, bands)``: 1 on the union of the chosen segments.
        ids : np.ndarray
            The chosen component ids, highest energy first. Ties go to the lower id (a stable
            sort; the original's ``argsort()[::-1]`` leaves them unspecified).
        """
        energy = self.energy(perturbation)
        if energy.ndim != 1:
            raise ValueError("top_energy takes one (frames, bands) perturbation")
        if not 0 <= k <= self.n_components:
            raise ValueError(f"k must be in 0..{self.n_components}, got {k}")
        ids = np.argsort(-energy, kind="stable")[:k]
        return self.mask_of(ids, dtype=dtype), ids


@functools.lru_cache(maxsize=64)
def _cell_ids(seg: Segmentation) -> np.ndarray:
    t_of = np.repeat(np.arange(seg.n_time), np.diff(seg.time_borders))
    f_of = np.repeat(np.arange(seg.n_freq), np.diff(seg.freq_borders))
    ids = t_of[:, None] * seg.n_freq + f_of[None, :]
    ids.setflags(write=False)
    return ids


@functools.lru_cache(maxsize=64)
def _cell_ids_tensor(seg: Segmentation, device: str) -> torch.Tensor:
    return torch.as_tensor(np.array(_cell_ids(seg)), device=device)
