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
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from svdlib.audio.headers import UNKNOWN_FRAMES, header_counts, zero_length_wav
from svdlib.errors import DataError, first_line

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

    Examples
    --------
    A stereo tone at 44.1 kHz comes back mono at 22050 Hz:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import soundfile
    >>> from svdlib import load_audio
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = Path(folder.name) / "tone.wav"
    >>> tone = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    >>> soundfile.write(path, np.stack([tone, tone], axis=1), 44100)
    >>> signal = load_audio(path)
    >>> signal.dtype, signal.shape
    (dtype('float32'), (22050,))
    >>> folder.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        alternative = path.with_suffix(".wav")
        if alternative.is_file():
            path = alternative
        else:
            raise DataError(f"audio file '{path}' does not exist; check the file list and the "
                           "audio folder")
    signal, rate = _read_any(path)
    if signal.ndim == 2:
        signal = signal.mean(axis=1)
    if signal.size == 0:
        raise DataError(f"audio file '{path}' is empty or truncated (no samples decoded from "
                       f"{path.stat().st_size} bytes); re-export, replace or remove it")
    if not np.all(np.isfinite(signal)):
        raise DataError(f"audio file '{path}' contains NaN or infinite samples; re-export or "
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
        raise DataError(f"audio file '{path}' is empty (0 bytes); replace or remove it")
    counts = header_counts(path, size)
    if counts is not None and counts[1] < counts[0]:
        raise DataError(f"audio file '{path}' is truncated: header promises {counts[0]} samples, "
                       f"file holds {counts[1]}; re-export or replace it")
    try:
        return _read_soundfile(path, zero_length_wav(path, size) or path)
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
    raise DataError(f"cannot decode audio file '{path}': {what} ({first_error}); re-export or "
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
        known = 0 < sound.frames < UNKNOWN_FRAMES
        try:
            with _quiet_stderr():
                signal = _read_frames(sound, known)
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise DataError(f"audio file '{path}' is truncated or corrupt: decoding failed "
                            f"part-way ({_libsndfile_reason(error)}); re-export or replace "
                            "it") from None
        return np.asarray(signal, dtype=np.float32), int(sound.samplerate)


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


def n_frames(n_samples: int, hop: int) -> int:
    """Number of STFT frames of a signal: ``1 + n_samples // hop`` (centred frames)."""
    return 1 + n_samples // hop
