"""Time × frequency segments of a waveform, seen through an STFT.

A waveform excerpt ``(L,)`` is viewed as its short-time Fourier transform (``torch.stft``,
periodic Hann window of ``n_fft`` samples, hop ``hop_length``, centred frames, zero padding):
``n_fft // 2 + 1`` frequency bins × ``1 + L // hop_length`` frames. The view is cut into
``n_time × n_freq`` rectangles of frames and bins, as the grid cuts a spectrogram; segment id
``c`` is time segment ``c // n_freq`` and frequency segment ``c % n_freq``.

"δ kept in segments S" is ``istft(M_S · stft(δ))``: ``torch.istft`` divides by the window's
squared overlap-add, so ``istft(stft(δ)) = δ`` and, the masks of all segments adding up to 1,
the parts of δ over all segments add up to δ (to float precision). A segment's energy is the
energy of that waveform part, what the model hears, not of the STFT coefficients. The
perturbed inputs of LIME, KernelSHAP and occlusion are ``b + istft(M_S · stft(x − b))``, and
the gradient methods attribute in the view: the model is fed ``istft(z)`` and the gradients
with respect to the coefficients ``z`` (real and imaginary parts, ``torch.view_as_real``) are
summed per segment.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from svdlib.explain.arrays import check_borders, equal_borders
from svdlib.explain.segmentations.base import BaseSegmentation


@dataclass(frozen=True)
class StftSegmentation(BaseSegmentation):
    """Time × frequency rectangles of a waveform's STFT; δ's parts are waveforms.

    Parameters
    ----------
    length : int
        Number of samples ``L`` of an excerpt.
    n_time, n_freq : int
        Number of time and frequency segments.
    n_fft : int
        Window and FFT length (even, at least 4).
    hop_length : int
        Hop between frames, ``1 .. n_fft // 2`` (0: ``n_fft // 4``).
    time_borders : sequence of int, optional
        Borders in STFT frames, from 0 to ``1 + L // hop_length`` (default: equal parts, the
        last absorbing the remainder).
    freq_borders : sequence of int, optional
        Borders in frequency bins, from 0 to ``n_fft // 2 + 1``; bin ``k`` is
        ``k · sample_rate / n_fft`` Hz.

    Examples
    --------
    One second at 16 kHz in 5 × 4 segments; the parts of δ add up to δ, and a tone at 3 kHz
    around 0.3 s puts its energy into time segment 1, frequency segment 1:

    >>> import numpy as np
    >>> from svdlib import StftSegmentation
    >>> seg = StftSegmentation(16000, n_time=5, n_freq=4)
    >>> seg.shape, seg.view_shape, seg.n_components
    ((16000,), (257, 126, 2), 20)
    >>> t = np.arange(16000) / 16000
    >>> tone = np.sin(2 * np.pi * 3000 * t) * np.exp(-((t - 0.3) / 0.03) ** 2)
    >>> bool(np.allclose(seg.parts(tone).sum(axis=0), tone, atol=1e-8))
    True
    >>> energy = seg.energy(tone)
    >>> top = int(energy.argmax())
    >>> top, seg.component(top), bool(energy[top] / energy.sum() > 0.9)
    (5, (1, 1), True)
    """

    length: int
    n_time: int = 5
    n_freq: int = 4
    n_fft: int = 512
    hop_length: int = 0
    time_borders: tuple[int, ...] = ()
    freq_borders: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.n_fft < 4 or self.n_fft % 2:
            raise ValueError(f"n_fft must be even and at least 4, got {self.n_fft}")
        hop = self.hop_length or self.n_fft // 4
        if not 1 <= hop <= self.n_fft // 2:
            raise ValueError(f"hop_length must be in 1..{self.n_fft // 2} (the Hann window's "
                             f"overlap-add must cover every sample), got {hop}")
        if self.length < 1:
            raise ValueError(f"length must be positive, got {self.length}")
        object.__setattr__(self, "hop_length", hop)
        frames, bins = 1 + self.length // hop, self.n_fft // 2 + 1
        tb = (check_borders(self.time_borders, frames, "time") if self.time_borders
              else equal_borders(frames, self.n_time))
        fb = (check_borders(self.freq_borders, bins, "frequency") if self.freq_borders
              else equal_borders(bins, self.n_freq))
        if len(tb) != self.n_time + 1 or len(fb) != self.n_freq + 1:
            raise ValueError(f"need {self.n_time + 1} time and {self.n_freq + 1} frequency "
                             f"borders, got {tb} and {fb}")
        object.__setattr__(self, "time_borders", tb)
        object.__setattr__(self, "freq_borders", fb)

    @property
    def shape(self) -> tuple[int]:
        """``(L,)``."""
        return (self.length,)

    @property
    def n_components(self) -> int:
        """``n_time * n_freq``."""
        return self.n_time * self.n_freq

    @property
    def view_shape(self) -> tuple[int, int, int]:
        """``(bins, frames, 2)``: real and imaginary parts of every STFT coefficient."""
        return (self.n_fft // 2 + 1, self.time_borders[-1], 2)

    def component(self, c: int) -> tuple[int, int]:
        """The ``(time segment, frequency segment)`` of segment ``c``."""
        c = int(self.check_ids([c])[0])
        return c // self.n_freq, c % self.n_freq

    def component_names(self) -> list[str]:
        """``T<t>F<f>`` in id order."""
        return [f"T{c // self.n_freq}F{c % self.n_freq}" for c in range(self.n_components)]

    def view_labels(self) -> np.ndarray:
        """The segment id of every coefficient, ``(bins, frames, 2)`` (read-only)."""
        return _view_labels(self)

    def to_meta(self) -> dict[str, Any]:
        """``kind`` ``'stft'`` and every parameter."""
        meta = {"kind": "stft", **asdict(self)}
        meta["time_borders"], meta["freq_borders"] = list(self.time_borders), list(
            self.freq_borders)
        return meta

    def project(self, delta: torch.Tensor, selection: Any) -> torch.Tensor:
        """``istft(M_S · stft(δ))`` per row (the masks applied to the complex coefficients)."""
        sel = torch.as_tensor(self.check_selection(selection), device=delta.device)
        if len(delta) == 1 and len(sel) > self.n_components:
            return self._combine_parts(delta, sel)
        masks = sel.to(delta.dtype)[..., self._labels_on(delta.device)[..., 0]]
        spec = torch.stft(delta.reshape(-1, self.length), self.n_fft, self.hop_length,
                          window=self._window(delta), center=True, pad_mode="constant",
                          return_complex=True)
        return torch.istft(spec * masks, self.n_fft, self.hop_length,
                           window=self._window(delta), center=True, length=self.length)

    def _window(self, x: torch.Tensor) -> torch.Tensor:
        return torch.hann_window(self.n_fft, dtype=x.dtype, device=x.device)

    def to_view(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., L)`` waveforms → ``(..., bins, frames, 2)`` STFT coefficients."""
        lead = x.shape[:-1]
        spec = torch.stft(x.reshape(-1, self.length), self.n_fft, self.hop_length,
                          window=self._window(x), center=True, pad_mode="constant",
                          return_complex=True)
        return torch.view_as_real(spec).reshape(*lead, *self.view_shape)

    def from_view(self, z: torch.Tensor) -> torch.Tensor:
        """``(..., bins, frames, 2)`` coefficients → ``(..., L)`` waveforms (``torch.istft``)."""
        lead = z.shape[:-3]
        spec = torch.view_as_complex(z.reshape(-1, *self.view_shape).contiguous())
        wave = torch.istft(spec, self.n_fft, self.hop_length, window=self._window(z),
                           center=True, length=self.length)
        return wave.reshape(*lead, self.length)


@functools.lru_cache(maxsize=16)
def _view_labels(seg: StftSegmentation) -> np.ndarray:
    f_of = np.repeat(np.arange(seg.n_freq), np.diff(seg.freq_borders))
    t_of = np.repeat(np.arange(seg.n_time), np.diff(seg.time_borders))
    ids = t_of[None, :] * seg.n_freq + f_of[:, None]
    labels = np.repeat(ids[:, :, None], 2, axis=2)
    labels.setflags(write=False)
    return labels
