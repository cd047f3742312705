import numpy as np
import pytest
import soundfile as sf
import torch

from svdlib.audio.frontend import LogMel, Spectrogram, mel_orig_filterbank
from svdlib.audio.io import load_audio, n_frames
from svdlib.audio.settings import FrontEndConfig
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
    ours = Spectrogram(n_fft=1024, hop_length=315)(torch.from_numpy(x)).numpy()
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
    logmel = LogMel.from_settings(FE)(Spectrogram.from_settings(FE)(x))
    assert logmel.shape == (n_frames(8000, 315), 80)
    logmel.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_log_floor():
    out = LogMel()(torch.zeros(3, 513))
    assert torch.allclose(out, torch.full_like(out, float(np.log(1e-7))))


# -- truncated, corrupt and unrecognised files: one clean line, nothing on fd 2 ---------------

@pytest.mark.parametrize("fmt,subtype,channels,sample_bytes", [
    ("WAV", "PCM_16", 2, 2), ("WAV", "FLOAT", 1, 4), ("WAVEX", "PCM_24", 3, 3),
    ("RF64", "PCM_16", 2, 2),
])
def test_truncated_wav_names_the_promised_and_the_present_samples(tmp_path, fmt, subtype,
                                                                 channels, sample_bytes):
    path = tmp_path / "cut.wav"
    sf.write(path, _tone(22050, channels=channels), 22050, format=fmt, subtype=subtype)
    assert len(load_audio(path)) == 22050
    data = path.read_bytes()
    samples_start = data.index(b"data") + 8
    path.write_bytes(data[:samples_start + 1000 * channels * sample_bytes + 1])
    with pytest.raises(SvdError) as info:
        load_audio(path)
    assert str(info.value) == (f"audio file '{path}' is truncated: header promises 22050 "
                               "samples, file holds 1000; re-export or replace it")


@pytest.mark.parametrize("ext", ["aiff", "au"])
def test_truncated_aiff_and_au_are_errors(tmp_path, ext):
    path = tmp_path / f"cut.{ext}"
    sf.write(path, _tone(22050, channels=1), 22050, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(SvdError, match=r"is truncated: header promises 22050 samples, file "
                                       r"holds 110\d\d; re-export or replace it"):
        load_audio(path)


@pytest.mark.parametrize("placeholder", [0, 0xFFFFFFFF, 0x7FFFF000])
def test_placeholder_sizes_of_streaming_writers_are_not_truncation(tmp_path, placeholder):
    original = tmp_path / "whole.wav"
    sf.write(original, _tone(22050, channels=1), 22050, subtype="PCM_16")
    data = bytearray(original.read_bytes())
    size_field = data.index(b"data") + 4
    data[4:8] = data[size_field:size_field + 4] = placeholder.to_bytes(4, "little")
    streamed = tmp_path / "streamed.wav"
    streamed.write_bytes(bytes(data))
    np.testing.assert_array_equal(load_audio(streamed), load_audio(original))


def test_flac_cut_part_way_is_one_clean_line(tmp_path, capfd):
    path = tmp_path / "cut.flac"
    sf.write(path, _tone(22050, seconds=3.0, channels=1), 22050)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(SvdError, match="is truncated or corrupt: decoding failed part-way") as info:
        load_audio(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("ext", ["wav", "ogg"])
def test_random_bytes_are_not_a_recognised_format_and_print_nothing(tmp_path, capfd, ext):
    # these bytes make libsndfile's mp3 probe (libmpg123) write to fd 2 and fail with "File
    # does not exist"
    path = tmp_path / f"noise.{ext}"
    path.write_bytes(np.random.default_rng(1).bytes(100_000))
    with pytest.raises(SvdError) as info:
        load_audio(path)
    assert str(info.value) == (f"cannot decode audio file '{path}': not a recognised audio "
                               "format (format not recognised by libsndfile); re-export or "
                               "replace it")
    assert capfd.readouterr().err == ""


# -- silence: finite numbers, no warnings -----------------------------------------------------

def test_silence_gives_finite_numbers_without_warnings(tmp_path):
    import warnings

    from svdlib.attacks.optimise import snr
    from svdlib.audio.frontend import logmel_np, spectrogram_np
    from svdlib.audio.settings import FrontEndConfig

    silence = np.zeros(22050, np.float32)
    noise = 1e-3 * np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    path = tmp_path / "silence.wav"
    sf.write(path, silence, 22050)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert snr(silence, silence) == 0.0
        norm = float(np.linalg.norm(noise.astype(np.float64)))
        assert snr(silence, noise, edge=0) == pytest.approx(20 * np.log10(1e-12 / norm))
        assert snr(noise, noise, edge=0) == pytest.approx(20 * np.log10(norm / 1e-12))
        loaded = load_audio(path)
        assert not loaded.any()
        spec = spectrogram_np(loaded, FE)
        for magscale in ("log", "log1p", "none"):
            front = FrontEndConfig(magscale=magscale)
            assert np.isfinite(logmel_np(spec, front)).all()
