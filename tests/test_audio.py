import numpy as np
import pytest
import soundfile as sf
import torch

from svdlib.audio import LogMel, Spectrogram, load_audio, mel_orig_filterbank, n_frames
from svdlib.config import FrontEndConfig
from svdlib.errors import SvdError

FE = FrontEndConfig()


def _tone(sr, seconds=1.0, freq=440.0, channels=2):
    t = np.arange(int(sr * seconds)) / sr
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono] * channels, axis=1).astype(np.float32)


@pytest.mark.parametrize("ext,sr,channels", [
    ("wav", 44100, 2), ("flac", 48000, 1), ("ogg", 44100, 2), ("mp3", 44100, 2),
    ("wav", 22050, 1), ("flac", 16000, 3),
])
def test_any_format_rate_and_channels_become_mono_22050(tmp_path, ext, sr, channels):
    path = tmp_path / f"Chanson d'été – {ext}.{ext}"
    sf.write(path, _tone(sr, channels=channels), sr)
    signal = load_audio(path, 22050)
    assert signal.ndim == 1 and signal.dtype == np.float32
    assert abs(len(signal) - 22050) < 2000  # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(signal[2000:20000]))
    peak_hz = np.argmax(spectrum) * 22050 / len(signal[2000:20000])
    assert abs(peak_hz - 440) < 5


def test_wav_fallback_for_missing_listed_file(tmp_path):
    sf.write(tmp_path / "song.wav", _tone(22050, channels=1), 22050)
    assert len(load_audio(tmp_path / "song.mp3")) == 22050


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"), (b"", "empty"), (b"RIFF....garbage" * 10, "cannot decode"),
])
def test_bad_audio_files(tmp_path, content, message):
    path = tmp_path / "bad.ogg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SvdError, match=message) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_audio_without_samples(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 22050)
    with pytest.raises(SvdError, match="empty"):
        load_audio(path)


def test_stft_matches_librosa_and_frame_count():
    import librosa

    rng = np.random.default_rng(0)
    x = rng.standard_normal(22050 * 2).astype(np.float32)
    ours = Spectrogram(FE)(torch.from_numpy(x)).numpy()
    ref = np.abs(librosa.stft(x, n_fft=1024, hop_length=315, window="hann", center=True,
                              pad_mode="reflect")).T
    assert ours.shape == (n_frames(len(x), 315), 513) == ref.shape
    assert np.allclose(ours, ref, rtol=1e-3, atol=1e-3)


def test_mel_orig_matches_the_specification():
    bank = mel_orig_filterbank()
    assert bank.shape == (513, 80)
    assert np.allclose(bank.sum(0), 1.0, atol=1e-5)       # each filter sums to one
    used = np.nonzero(bank.sum(1))[0]
    assert used[0] == 2 and used[-1] == 371 and len(used) == 370
    assert np.all(bank[372:] == 0)
    # band 0 spans bins 2..3 (peaks at bins 2, 3, 4); the yaafe quirk divides Hz by bins
    assert np.count_nonzero(bank[:, 0]) == 2


def test_front_end_is_differentiable_to_the_waveform():
    x = torch.randn(8000, requires_grad=True)
    logmel = LogMel(FE)(Spectrogram(FE)(x))
    assert logmel.shape == (n_frames(8000, 315), 80)
    logmel.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_log_floor():
    out = LogMel(FE)(torch.zeros(3, 513))
    assert torch.allclose(out, torch.full_like(out, float(np.log(1e-7))))
