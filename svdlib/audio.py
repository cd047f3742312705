"""Audio loading and the differentiable front end: STFT, mel filterbank, log magnitude.

The STFT follows the paper's code (torchaudio's ``Spectrogram`` with ``power=1``): a periodic
Hann window of 1024 samples, hop ``sample_rate // fps`` = 315, centred frames with reflect
padding, linear magnitude, 513 bins. Frame ``i`` is centred on sample ``315 i``. The mel
filterbank is Schlüter's ``mel_orig`` (yaafe-style triangles, each normalised to sum to one).
Everything is torch, so the waveform attack backpropagates from the detector to the samples.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from .config import FrontEndConfig
from .errors import SvdError, first_line

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".m4a", ".opus")


def load_audio(path: str | Path, sample_rate: int = 22050) -> np.ndarray:
    """Load an audio file as mono float32 at ``sample_rate``.

    Any channel count and sample rate is accepted: channels are averaged and the signal is
    resampled with soxr (high quality). If the file is missing but a ``.wav`` with the same
    stem exists (as for the original project's adversarial songs), that file is read.

    Parameters
    ----------
    path : str or Path
        An audio file readable by libsndfile (wav, flac, ogg, mp3, ...) or by audioread.
    sample_rate : int
        Target sample rate in Hz.

    Returns
    -------
    np.ndarray
        1-D float32 array.

    Raises
    ------
    SvdError
        If the file is missing, empty, not finite, not a recognised audio format, or truncated
        or corrupt: a WAV (RIFF, RF64), AIFF or AU file with fewer bytes than its header
        promises (placeholder sizes of streaming writers are accepted), or any file whose
        decoder fails part-way (a cut FLAC).
    """
    path = Path(path)
    if not path.is_file():
        alternative = path.with_suffix(".wav")
        if alternative.is_file():
            path = alternative
        else:
            raise SvdError(f"audio file '{path}' does not exist; check the file list and the "
                           "audio folder")
    signal, rate = _read_any(path)
    if signal.ndim == 2:
        signal = signal.mean(axis=1)
    if signal.size == 0:
        raise SvdError(f"audio file '{path}' is empty or truncated (no samples decoded from "
                       f"{path.stat().st_size} bytes); re-export, replace or remove it")
    if not np.all(np.isfinite(signal)):
        raise SvdError(f"audio file '{path}' contains NaN or infinite samples; re-export or "
                       "replace it")
    if rate != sample_rate:
        import librosa

        signal = librosa.resample(signal, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(signal, dtype=np.float32)


def _read_any(path: Path) -> tuple[np.ndarray, int]:
    """Decode a file with libsndfile (or, for formats it lacks, librosa/audioread), checked.

    C libraries' messages on file descriptor 2 (libmpg123's "giving up searching valid MPEG
    header", ...) are silenced during decoding; every failure is one :class:`SvdError` line.
    """
    size = path.stat().st_size
    if size == 0:
        raise SvdError(f"audio file '{path}' is empty (0 bytes); replace or remove it")
    counts = _header_counts(path, size)
    if counts is not None and counts[1] < counts[0]:
        raise SvdError(f"audio file '{path}' is truncated: header promises {counts[0]} samples, "
                       f"file holds {counts[1]}; re-export or replace it")
    try:
        return _read_soundfile(path, _zero_length_wav(path, size) or path)
    except _OpenError as error:
        first_error = error.reason
    if path.suffix.lower() not in NATIVE_EXTENSIONS:
        try:
            import librosa

            with warnings.catch_warnings(), _quiet_stderr():
                warnings.simplefilter("ignore")
                signal, rate = librosa.load(str(path), sr=None, mono=False)
            return np.asarray(signal, dtype=np.float32).T, int(rate)
        except Exception:
            pass
    kind = _sniff(path)
    what = f"malformed {kind} data" if kind else "not a recognised audio format"
    raise SvdError(f"cannot decode audio file '{path}': {what} ({first_error}); re-export or "
                   "replace it")


#: Extensions libsndfile decodes itself; for these the librosa/audioread fallback is not tried.
NATIVE_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".aifc", ".au",
                     ".snd")


class _OpenError(Exception):
    """libsndfile could not open a file; ``reason`` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_soundfile(path: Path, source: Path | io.BytesIO) -> tuple[np.ndarray, int]:
    """Decode ``source`` (the file at ``path``, or its bytes) with libsndfile."""
    import soundfile

    try:
        with _quiet_stderr():
            sound = soundfile.SoundFile(source if isinstance(source, io.BytesIO) else str(source))
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as error:
        raise _OpenError(_libsndfile_reason(error)) from None
    with sound:
        known = 0 < sound.frames < _UNKNOWN_FRAMES
        try:
            with _quiet_stderr():
                signal = _read_frames(sound, known)
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise SvdError(f"audio file '{path}' is truncated or corrupt: decoding failed part-way "
                           f"({_libsndfile_reason(error)}); re-export or replace it") from None
        return np.asarray(signal, dtype=np.float32), int(sound.samplerate)


#: libsndfile reports 2**63 - 1 frames for a stream of unknown length (e.g. a FLAC whose
#: header says 0 samples).
_UNKNOWN_FRAMES = 1 << 48


def _read_frames(sound: object, known: bool) -> np.ndarray:
    """All remaining frames of an open ``soundfile.SoundFile``.

    Block-wise if the length is unknown: reading "all" frames at once would allocate 2**63.
    """
    if known:
        return sound.read(dtype="float32", always_2d=False)
    blocks = []
    while len(block := sound.read(1 << 16, dtype="float32", always_2d=True)):
        blocks.append(block)
    signal = np.concatenate(blocks) if blocks else np.zeros((0, sound.channels), np.float32)
    return signal[:, 0] if sound.channels == 1 else signal


def _libsndfile_reason(error: Exception) -> str:
    message = first_line(error)
    if message.startswith("Error opening"):
        message = message.split(": ", 1)[-1]
    elif message.startswith("Error : "):
        message = message[len("Error : "):]
    message = message.rstrip(".")
    # libsndfile says "File does not exist or is not a regular file" when its mp3 probe gives
    # up on data it cannot parse; the file was checked to exist, so that is the real reason.
    if "not recognised" in message or "does not exist" in message:
        return "format not recognised by libsndfile"
    if "psf_fseek" in message:  # what libsndfile says when a FLAC's frames stop early
        return "the data ends before its header says or is damaged"
    return f"libsndfile: {message[:1].lower()}{message[1:]}"


def _sniff(path: Path) -> str:
    """The container a file's first bytes announce ("WAV", "FLAC", ...), or "" if none."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    for magic, kind in ((b"fLaC", "FLAC"), (b"OggS", "Ogg"), (b".snd", "AU"), (b"ID3", "MP3")):
        if head.startswith(magic):
            return kind
    return ""


class _StderrSilencer:
    """Point file descriptor 2 at /dev/null while at least one thread is inside."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: int | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            if self.depth == 0:
                self.saved = self._redirect()
            self.depth += 1
        try:
            yield
        finally:
            with self.lock:
                self.depth -= 1
                if self.depth == 0 and self.saved is not None:
                    os.dup2(self.saved, 2)
                    os.close(self.saved)
                    self.saved = None

    @staticmethod
    def _redirect() -> int | None:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:
            return None  # no fd 2 to protect
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        return saved


_quiet_stderr = _StderrSilencer()


def _header_counts(path: Path, size: int) -> tuple[int, int] | None:
    """Samples per channel a WAV, AIFF or AU header promises, and how many the file holds.

    libsndfile silently shortens such a file when it is cut; comparing the data size the header
    states with the bytes present catches that. ``None`` for other formats, unparsable headers
    and the placeholder sizes (0, 0xFFFFFFFF) of streaming writers.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12:
                return None
            if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
                return _wav_counts(f, head[:4], size)
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _aiff_counts(f, head[8:12] == b"AIFC", size)
            if head[:4] == b".snd":
                f.seek(0)
                return _au_counts(f.read(24), size)
    except (OSError, struct.error):
        return None
    return None


def _chunks(f: BinaryIO, order: str, size: int) -> Iterator[tuple[bytes, int, int]]:
    """``(id, length, body offset)`` of the RIFF/IFF chunks after the 12-byte file header."""
    position = 12
    while position + 8 <= size:
        f.seek(position)
        header = f.read(8)
        chunk, length = header[:4], struct.unpack(order + "I", header[4:])[0]
        yield chunk, length, position + 8
        position += 8 + length + (length & 1)


def _wav_counts(f: BinaryIO, magic: bytes, size: int) -> tuple[int, int] | None:
    block_align, data_start, data_size = _wav_data_chunk(f, magic, size)
    if not block_align or data_start is None or not data_size:
        return None
    return data_size // block_align, max(size - data_start, 0) // block_align


def _wav_data_chunk(f: BinaryIO, magic: bytes,
                    size: int) -> tuple[int | None, int | None, int | None]:
    """``(block align, offset of the samples, their size in bytes)`` of a WAV file.

    The block align is ``None`` for compressed data (a block holds many samples), the size is
    ``None`` for a streaming writer's placeholder and 0 if the header says 0.
    """
    order = ">" if magic == b"RIFX" else "<"
    block_align = data_size = data_start = ds64_size = None
    compressed = False
    for chunk, length, body in _chunks(f, order, size):
        if chunk == b"ds64":  # RF64/BW64: the real sizes, as 64-bit numbers
            fields = f.read(16)
            if len(fields) == 16:
                ds64_size = struct.unpack("<Q", fields[8:])[0]
        elif chunk == b"fmt ":
            fields = f.read(min(length, 26))
            if len(fields) < 14:
                return None, None, None
            tag = struct.unpack(order + "H", fields[:2])[0]
            block_align = struct.unpack(order + "H", fields[12:14])[0]
            if tag == 0xFFFE and len(fields) == 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag
                tag = struct.unpack(order + "H", fields[24:26])[0]
            compressed = tag not in _WAV_PCM_TAGS
        elif chunk == b"data":
            data_start = body
            if length == 0xFFFFFFFF and ds64_size is not None:
                data_size = ds64_size
            elif length < _STREAMING_SIZE:
                data_size = length
            if block_align is not None:
                break
    return (None if compressed else block_align), data_start, data_size


def _zero_length_wav(path: Path, size: int) -> io.BytesIO | None:
    """A WAV whose data chunk says 0 bytes but has samples, in memory with the real size.

    Streaming writers leave the size 0 when they cannot seek back; libsndfile would read such a
    file as empty. ``None`` for every other file.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(12)
            if magic[:4] not in (b"RIFF", b"RIFX") or magic[8:12] != b"WAVE":
                return None
            _, data_start, data_size = _wav_data_chunk(f, magic[:4], size)
    except (OSError, struct.error):
        return None
    if data_start is None or data_size != 0 or size <= data_start:
        return None
    order = ">" if magic[:4] == b"RIFX" else "<"
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack(order + "I", min(size - 8, 0xFFFFFFFF))
    data[data_start - 4:data_start] = struct.pack(order + "I", min(size - data_start, 0xFFFFFFFF))
    return io.BytesIO(bytes(data))


#: PCM, IEEE float, A-law and mu-law: a block is one sample of every channel.
_WAV_PCM_TAGS = (1, 3, 6, 7)
#: 32-bit data sizes from here up are placeholders of streaming writers (0xFFFFFFFF; SoX
#: writes 0x7FFFF000), not lengths.
_STREAMING_SIZE = 0x7FFFF000


_AIFC_PCM = (b"NONE", b"sowt", b"twos", b"raw ", b"fl32", b"FL32", b"fl64", b"FL64", b"in24",
             b"in32", b"42ni", b"23ni")


def _aiff_counts(f: BinaryIO, aifc: bool, size: int) -> tuple[int, int] | None:
    frames = frame_bytes = data_start = None
    for chunk, _, body in _chunks(f, ">", size):
        if chunk == b"COMM":
            fields = f.read(22)
            if len(fields) < 8:
                return None
            channels, frames, bits = struct.unpack(">hIh", fields[:8])
            if aifc and (len(fields) < 22 or fields[18:22] not in _AIFC_PCM):
                return None  # compressed: no fixed bytes per frame
            frame_bytes = channels * ((bits + 7) // 8)
        elif chunk == b"SSND":
            offset = struct.unpack(">I", f.read(4))[0]
            data_start = body + 8 + offset
        if frame_bytes is not None and data_start is not None:
            break
    if not frames or not frame_bytes or frame_bytes < 0 or data_start is None:
        return None
    return frames, max(size - data_start, 0) // frame_bytes


#: Bytes per sample of the AU encodings libsndfile reads (mu-law, 8-32 bit PCM, float, A-law).
_AU_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}


def _au_counts(header: bytes, size: int) -> tuple[int, int] | None:
    if len(header) < 24:
        return None
    offset, data_size, encoding, _, channels = struct.unpack(">IIIII", header[4:24])
    frame_bytes = _AU_BYTES.get(encoding, 0) * channels
    if not frame_bytes or data_size in (0, 0xFFFFFFFF):
        return None
    return data_size // frame_bytes, max(size - offset, 0) // frame_bytes


def n_frames(n_samples: int, hop: int) -> int:
    """Number of STFT frames of a signal: ``1 + n_samples // hop`` (centred frames)."""
    return 1 + n_samples // hop


class Spectrogram(nn.Module):
    """Linear-magnitude STFT, as the paper's code computes it (torchaudio defaults).

    Parameters
    ----------
    frontend : FrontEndConfig
        Sample rate, window length and frame rate.

    Notes
    -----
    Input ``(..., n_samples)``; output ``(..., n_frames, n_bins)`` with frames first, the
    layout the detector takes. The signal must be longer than half a window (reflect padding).
    """

    def __init__(self, frontend: FrontEndConfig) -> None:
        super().__init__()
        self.n_fft = frontend.frame_len
        self.hop = frontend.hop
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True),
                             persistent=False)

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


def mel_orig_filterbank(sample_rate: int = 22050, frame_len: int = 1024, n_bands: int = 80,
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


def slaney_filterbank(sample_rate: int = 22050, frame_len: int = 1024, n_bands: int = 80,
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
    """Linear STFT magnitudes ``(..., bins)`` to scaled mel magnitudes ``(..., mel_bands)``."""

    def __init__(self, frontend: FrontEndConfig) -> None:
        super().__init__()
        self.magscale = frontend.magscale
        self.register_buffer("filterbank", torch.from_numpy(filterbank(frontend)),
                             persistent=False)

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
        spec = Spectrogram(frontend)(torch.from_numpy(np.array(signal, dtype=np.float32)))
    return spec.numpy()


def logmel_np(spec: np.ndarray, frontend: FrontEndConfig) -> np.ndarray:
    """Scaled mel spectrogram ``(frames, mel_bands)`` of a linear spectrogram, as numpy."""
    with torch.no_grad():
        return LogMel(frontend)(torch.from_numpy(np.array(spec, dtype=np.float32))).numpy()
