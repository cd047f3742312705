"""The front end's settings: plain values, no configuration machinery."""

from __future__ import annotations

from dataclasses import dataclass

from svdlib.constants import MEL_BANDS


@dataclass
class FrontEndConfig:
    """Audio front end: resampling, STFT, mel filterbank, magnitude scaling.

    Examples
    --------
    >>> import torch
    >>> from svdlib import FrontEndConfig, LogMel, Spectrogram
    >>> frontend = FrontEndConfig()               # the paper's: 22050 Hz, 70 frames/s, 80 bands
    >>> frontend.hop, frontend.n_bins
    (315, 513)
    >>> spec = Spectrogram.from_settings(frontend)(torch.randn(22050))
    >>> tuple(LogMel.from_settings(frontend)(spec).shape)
    (71, 80)
    """

    sample_rate: int = 22050
    frame_len: int = 1024
    fps: int = 70
    filterbank: str = "mel_orig"
    mel_bands: int = MEL_BANDS
    mel_min: float = 27.5
    mel_max: float = 8000.0
    magscale: str = "log"

    @property
    def hop(self) -> int:
        """STFT hop size in samples (315 for 22050 Hz at 70 fps)."""
        return self.sample_rate // self.fps

    @property
    def n_bins(self) -> int:
        """Number of one-sided STFT bins (513 for a 1024-sample window)."""
        return self.frame_len // 2 + 1
