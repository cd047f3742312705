"""The front end: magnitude STFT, mel filterbanks and scaling, as functions and modules."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from svdlib.audio.settings import FrontEndConfig
from svdlib.constants import MEL_BANDS
from svdlib.errors import SvdError


class Spectrogram(nn.Module):
    """Linear-magnitude STFT, as the paper's code computes it (torchaudio defaults).

    Parameters
    ----------
    n_fft : int
        Window (and FFT) length in samples (1024).
    hop_length : int
        Hop in samples (315: 70 frames per second at 22050 Hz).

    Notes
    -----
    Input ``(..., n_samples)``; output ``(..., n_frames, n_bins)`` with frames first, the
    layout the detector takes. The signal must be longer than half a window (reflect padding).

    Examples
    --------
    One second of a 440 Hz tone at 22050 Hz gives 71 frames of 513 bins, loudest in the bin
    nearest 440 Hz (bin 20, 20 × 22050 / 1024 ≈ 431 Hz):

    >>> import torch
    >>> from svdlib import Spectrogram
    >>> wave = torch.sin(2 * torch.pi * 440 * torch.arange(22050) / 22050)
    >>> spec = Spectrogram()(wave)
    >>> tuple(spec.shape), int(spec[35].argmax())
    ((71, 513), 20)
    """

    def __init__(self, n_fft: int = 1024, hop_length: int = 315) -> None:
        super().__init__()
        self.n_fft = int(n_fft)
        self.hop = int(hop_length)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True),
                             persistent=False)

    @classmethod
    def from_settings(cls, frontend: FrontEndConfig) -> Spectrogram:
        """The STFT of a front end's settings (window length and frame rate)."""
        return cls(frontend.frame_len, frontend.hop)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Return ``|STFT(waveform)|`` as ``(..., frames, bins)``."""
        shape = waveform.shape
        flat = waveform.reshape(-1, shape[-1])
        if shape[-1] <= self.n_fft // 2:
            raise SvdError(f"signal of {shape[-1]} samples is too short for the STFT "
                           f"(needs more than {self.n_fft // 2})")
        spec = torch.stft(flat, n_fft=self.n_fft, hop_length=self.hop, win_length=self.n_fft,
                          window=self.window, center=True, pad_mode="reflect",
                          normalized=False, onesided=True, return_complex=True)
        magnitude = spec.abs().transpose(-1, -2)
        return magnitude.reshape(*shape[:-1], *magnitude.shape[-2:])


def mel_orig_filterbank(sample_rate: int = 22050, frame_len: int = 1024, n_bands: int = MEL_BANDS,
                        min_freq: float = 27.5, max_freq: float = 8000.0) -> np.ndarray:
    """Schlüter's ``mel_orig`` filterbank (yaafe-compatible triangles).

    ``n_bands + 2`` peaks lie equally spaced on the mel scale ``1127 ln(1 + f / 700)``
    between ``min_freq`` and ``max_freq``; each peak snaps to the first FFT bin at or above
    it. The rising slope is ``(f - f_left) / (bin_top - bin_left)``, a Hz difference over a bin
    count, as in yaafe; each filter is then normalised to sum to one.

    Returns
    -------
    np.ndarray
        float32 matrix of shape ``(frame_len // 2 + 1, n_bands)``.
    """
    n_bins = frame_len // 2 + 1
    fft_freqs = np.linspace(0, sample_rate / 2, n_bins)
    mel_lo, mel_hi = (1127 * np.log1p(np.array([min_freq, max_freq]) / 700.0))
    peaks_mel = np.linspace(mel_lo, mel_hi, n_bands + 2)
    peaks_hz = 700 * (np.exp(peaks_mel / 1127) - 1)
    peak_bins = np.searchsorted(fft_freqs, peaks_hz)
    bank = np.zeros((n_bins, n_bands), dtype=np.float64)
    for band in range(n_bands):
        left_hz, top_hz, right_hz = peaks_hz[band:band + 3]
        left, top, right = peak_bins[band:band + 3]
        if top > left:
            bank[left:top, band] = (fft_freqs[left:top] - left_hz) / (top - left)
        if right > top:
            bank[top:right, band] = (right_hz - fft_freqs[top:right]) / (right - top)
        total = bank[:, band].sum()
        if total > 0:
            bank[:, band] /= total
    del top_hz
    return bank.astype(np.float32)


def slaney_filterbank(sample_rate: int = 22050, frame_len: int = 1024, n_bands: int = MEL_BANDS,
                      min_freq: float = 27.5, max_freq: float = 8000.0) -> np.ndarray:
    """The alternative ``mel`` filterbank: HTK mel scale, Slaney area normalisation."""
    import librosa

    bank = librosa.filters.mel(sr=sample_rate, n_fft=frame_len, n_mels=n_bands, fmin=min_freq,
                               fmax=max_freq, htk=True, norm="slaney")
    return bank.T.astype(np.float32)


def filterbank(frontend: FrontEndConfig) -> np.ndarray:
    """The filterbank matrix ``(n_bins, mel_bands)`` named by ``frontend.filterbank``."""
    make = mel_orig_filterbank if frontend.filterbank == "mel_orig" else slaney_filterbank
    return make(frontend.sample_rate, frontend.frame_len, frontend.mel_bands, frontend.mel_min,
                frontend.mel_max)


class LogMel(nn.Module):
    """Linear STFT magnitudes ``(..., bins)`` to scaled mel magnitudes ``(..., n_mels)``.

    Parameters
    ----------
    sample_rate, n_fft : int
        Sample rate and window length of the STFT the input comes from.
    n_mels : int
        Mel bands.
    f_min, f_max : float
        Lowest and highest filter frequency in Hz.
    filterbank : {"mel_orig", "mel"}
        Schlüter's yaafe-style triangles (the paper's), or HTK mel with Slaney normalisation.
    magscale : {"log", "log1p", "linear"}
        Magnitude scaling after the filterbank (``log`` clamps at 1e-7).

    Examples
    --------
    The detector's 80 log-mel bands of one second of a tone:

    >>> import torch
    >>> from svdlib import LogMel, Spectrogram
    >>> wave = torch.sin(2 * torch.pi * 440 * torch.arange(22050) / 22050)
    >>> logmel = LogMel()(Spectrogram()(wave))
    >>> tuple(logmel.shape), bool(torch.isfinite(logmel).all())
    ((71, 80), True)
    """

    def __init__(self, sample_rate: int = 22050, n_fft: int = 1024, n_mels: int = MEL_BANDS,
                 f_min: float = 27.5, f_max: float = 8000.0, filterbank: str = "mel_orig",
                 magscale: str = "log") -> None:
        super().__init__()
        self.magscale = magscale
        make = mel_orig_filterbank if filterbank == "mel_orig" else slaney_filterbank
        self.register_buffer("filterbank",
                             torch.from_numpy(make(sample_rate, n_fft, n_mels, f_min, f_max)),
                             persistent=False)

    @classmethod
    def from_settings(cls, frontend: FrontEndConfig) -> LogMel:
        """The mel stage of a front end's settings."""
        return cls(frontend.sample_rate, frontend.frame_len, frontend.mel_bands,
                   frontend.mel_min, frontend.mel_max, frontend.filterbank, frontend.magscale)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """Apply the filterbank and the magnitude scaling."""
        mel = spec @ self.filterbank
        if self.magscale == "log":
            return torch.log(torch.clamp(mel, min=1e-7))
        if self.magscale == "log1p":
            return torch.log1p(mel)
        return mel


def spectrogram_np(signal: np.ndarray, frontend: FrontEndConfig) -> np.ndarray:
    """Linear-magnitude spectrogram ``(frames, bins)`` of a 1-D signal, as float32 numpy."""
    with torch.no_grad():
        samples = torch.from_numpy(np.array(signal, dtype=np.float32))
        spec = Spectrogram.from_settings(frontend)(samples)
    return spec.numpy()


def logmel_np(spec: np.ndarray, frontend: FrontEndConfig) -> np.ndarray:
    """Scaled mel spectrogram ``(frames, mel_bands)`` of a linear spectrogram, as numpy."""
    with torch.no_grad():
        magnitudes = torch.from_numpy(np.array(spec, dtype=np.float32))
        return LogMel.from_settings(frontend)(magnitudes).numpy()
