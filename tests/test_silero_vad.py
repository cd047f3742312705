"""Silero VAD (svdlib.pretrained): our torch port against the package's own ONNX model run by
onnxruntime, its gradients and batching, and one clear line for every broken weights file.

The tests that need the ``silero-vad`` package (the ``pretrained`` extra) are skipped without
it; it is never imported (``import silero_vad`` sets torch to one thread for the process), only
found through its metadata.
"""

from __future__ import annotations

import doctest
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from svdlib.errors import DataError, SvdError
from svdlib.pretrained import onnx_file, silero_vad
from svdlib.pretrained.corpus import VadExcerpts
from svdlib.pretrained.onnx_file import fields, onnx_initializers
from svdlib.pretrained.silero_vad import (
    CHUNK,
    CONTEXT,
    SAMPLE_RATE,
    WEIGHT_FILES,
    SileroVad,
    load_silero_vad,
    read_weights,
)

try:
    DIST = metadata.distribution("silero-vad")
except metadata.PackageNotFoundError:
    DIST = None
needs_package = pytest.mark.skipif(
    DIST is None, reason="silero-vad is not installed (pip install 'svdlib[pretrained]')")


def vowel(seconds: float, f0: float = 150.0, formants=((700, 110), (1220, 120), (2600, 160)),
          seed: int = 0) -> np.ndarray:
    """A sung /a/: a glottal-like harmonic series with vibrato and jitter, shaped by three
    formant resonances, with a syllable-like loudness envelope (4 per second)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5.5 * t)) * (1 + 0.005 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    signal = np.zeros_like(t)
    for k in range(1, int(4000 / f0)):
        gain = sum(1 / (1 + ((k * f0 - f) / bw) ** 2) for f, bw in formants) / k ** 0.5
        signal += gain * np.sin(k * phase)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    signal *= envelope
    return (0.3 * signal / np.abs(signal).max()).astype(np.float32)


def mixed_signal(seed: int = 0) -> np.ndarray:
    """1 s of quiet noise, 2 s of vowel, 0.5 s of digital silence: 109 chunks."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([0.01 * rng.standard_normal(SAMPLE_RATE), vowel(2.0, seed=seed),
                        np.zeros(SAMPLE_RATE // 2)]).astype(np.float32)
    return x[:len(x) // CHUNK * CHUNK]


def reference_loop(vad: SileroVad, x: torch.Tensor) -> torch.Tensor:
    """The package's streaming loop, written out: chunk by chunk, an LSTMCell, context kept."""
    cell = torch.nn.LSTMCell(128, 128)
    for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, part).data = getattr(vad.lstm, f"{part}_l0").data
    x = torch.nn.functional.pad(x, (0, -x.shape[1] % CHUNK))
    context = torch.zeros(x.shape[0], CONTEXT)
    h = c = torch.zeros(x.shape[0], 128)
    out = []
    for start in range(0, x.shape[1], CHUNK):
        chunk = torch.cat([context, x[:, start:start + CHUNK]], dim=1)
        context = chunk[:, -CONTEXT:]
        h, c = cell(vad.features(chunk), (h, c))
        out.append(torch.sigmoid(vad.head(torch.relu(h))).squeeze(1))
    return torch.stack(out, dim=1)


# -- the module with random weights (no package needed) ----------------------------------------
def random_vad(seed: int = 0) -> SileroVad:
    torch.manual_seed(seed)
    return SileroVad().eval()


def test_chunks_carry_the_previous_context():
    x = torch.arange(2 * 1100, dtype=torch.float32).reshape(2, 1100)
    chunks = SileroVad.chunks(x)
    assert chunks.shape == (2, 3, CONTEXT + CHUNK)
    assert torch.equal(chunks[:, 0, :CONTEXT], torch.zeros(2, CONTEXT))
    assert torch.equal(chunks[:, 1, :CONTEXT], x[:, CHUNK - CONTEXT:CHUNK])
    assert torch.equal(chunks[:, 2, CONTEXT:CONTEXT + 1100 - 2 * CHUNK], x[:, 2 * CHUNK:])
    assert torch.equal(chunks[:, 2, CONTEXT + 1100 - 2 * CHUNK:], torch.zeros(2, 3 * CHUNK - 1100))


def test_port_equals_the_streaming_loop_and_pads_with_zeros():
    vad = random_vad()
    x = torch.from_numpy(mixed_signal()[None, :20 * CHUNK + 100]) * 10
    with torch.no_grad():
        ours = vad.chunk_probabilities(x)
        assert ours.shape == (1, 21)
        torch.testing.assert_close(ours, reference_loop(vad, x), atol=1e-6, rtol=0)
        padded = torch.nn.functional.pad(x, (0, 21 * CHUNK - x.shape[1]))
        torch.testing.assert_close(vad.chunk_probabilities(padded), ours, atol=0, rtol=0)


def test_logit_and_probability_are_the_mean_chunk_probability():
    vad = random_vad(1)
    x = torch.from_numpy(np.stack([mixed_signal(0), mixed_signal(1)])[:, :8 * CHUNK])
    with torch.no_grad():
        mean = vad.chunk_probabilities(x).double().mean(dim=1)
        torch.testing.assert_close(vad.probability(x).double(), mean, atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.sigmoid(vad(x)).double(), mean, atol=1e-6, rtol=0)
        logit = torch.log(mean) - torch.log1p(-mean)
        torch.testing.assert_close(vad(x).double(), logit, atol=1e-4, rtol=1e-4)


def test_batch_of_two_equals_two_singles():
    vad = random_vad(2)
    x = torch.from_numpy(np.stack([mixed_signal(0), mixed_signal(3)]))
    with torch.no_grad():
        both = vad.chunk_probabilities(x)
        one = torch.cat([vad.chunk_probabilities(x[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(both, one, atol=1e-6, rtol=0)


def test_a_gradient_reaches_every_sample_even_through_silence():
    vad = random_vad(3)
    x = torch.from_numpy(mixed_signal()[None]).requires_grad_(True)
    vad.probability(x).sum().backward()
    # the last 0.5 s are digital silence, where sqrt's slope is infinite: no NaN
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert (x.grad[0, :SAMPLE_RATE] != 0).any() and (x.grad[0, SAMPLE_RATE:] != 0).any()


def test_wrong_input_shape_is_an_error():
    with pytest.raises(ValueError, match="batch, samples"):
        SileroVad.chunks(torch.zeros(CHUNK))
    with pytest.raises(ValueError, match="batch, samples"):
        SileroVad.chunks(torch.zeros(1, 0))


# -- the ONNX reader ---------------------------------------------------------------------------
def message(*parts: tuple[int, int, bytes | int]) -> bytes:
    """A protobuf message from (field, wire type, value) triples (varint or bytes)."""
    out = b""
    for number, wire, value in parts:
        out += varint(number << 3 | wire)
        out += varint(value) if wire == 0 else varint(len(value)) + value
    return out


def varint(value: int) -> bytes:
    out = b""
    while True:
        out += bytes([value & 0x7F | (0x80 if value > 0x7F else 0)])
        value >>= 7
        if not value:
            return out


def test_onnx_reader_reads_raw_packed_and_skips_the_rest():
    values = np.arange(6, dtype="<f4") - 2.5
    raw = message((1, 0, 3), (1, 0, 2), (2, 0, 1), (8, 2, b"raw"), (9, 2, values.tobytes()))
    packed = message((1, 2, varint(2)), (2, 0, 1), (4, 2, values[:2].tobytes()),
                     (8, 2, b"packed"))
    ints = message((1, 0, 2), (2, 0, 7), (8, 2, b"int64"), (9, 2, np.arange(2).tobytes()))
    external = message((1, 0, 6), (2, 0, 1), (8, 2, b"far"), (14, 0, 1))
    graph = b"".join(message((5, 2, t)) for t in (raw, packed, ints, external))
    model = message((1, 0, 8), (7, 2, message((1, 2, b"node"), (2, 2, b"name")) + graph))
    got = onnx_initializers(model)
    assert sorted(got) == ["packed", "raw"]
    np.testing.assert_array_equal(got["raw"], values.reshape(3, 2))
    np.testing.assert_array_equal(got["packed"], values[:2])


@pytest.mark.parametrize("data, match", [
    (b"", "no graph"), (message((7, 2, b"\x2a\x05ab")), "past the end"),
    (b"\x3a\x80", "past the end of the data"), (b"\x0b", "wire type 3"),
    (message((7, 2, message((5, 2, message((1, 0, 4), (2, 0, 1), (9, 2, b"1234")))))),
     "1 values for shape"),
])
def test_onnx_reader_rejects_malformed_bytes(data, match):
    with pytest.raises(ValueError, match=match):
        onnx_initializers(data)


def test_onnx_reader_examples_run():
    assert doctest.testmod(onnx_file).failed == 0
    assert fields(memoryview(message((3, 0, 300))))[0][:2] == (3, 0)


def test_missing_package_is_one_line(monkeypatch):
    monkeypatch.setattr(silero_vad, "DISTRIBUTION", "svdlib-no-such-distribution")
    with pytest.raises(SvdError) as err:
        load_silero_vad()
    assert "\n" not in str(err.value)
    assert "pip install 'svdlib[pretrained]'" in str(err.value)


def test_wrong_weights_suffix_is_one_line(tmp_path):
    path = tmp_path / "vad.pt"
    path.write_bytes(b"not a pickle we would read")
    with pytest.raises(DataError, match=r"expected a \.onnx or \.safetensors file"):
        read_weights(path)


# -- the package's weights (the pretrained extra) ---------------------------------------------
def onnx_chunk_probabilities(x: np.ndarray) -> np.ndarray:
    """The package's default ONNX model (silero_vad.onnx, 8 and 16 kHz) run by onnxruntime
    chunk by chunk as the package's OnnxWrapper runs it: (B, n) probabilities."""
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(DIST.locate_file("silero_vad/data/silero_vad.onnx")),
                                   options, providers=["CPUExecutionProvider"])
    state = np.zeros((2, len(x), 128), np.float32)
    context = np.zeros((len(x), CONTEXT), np.float32)
    out = []
    for start in range(0, x.shape[1], CHUNK):
        chunk = np.concatenate([context, x[:, start:start + CHUNK]], axis=1)
        p, state = session.run(None, {"input": chunk, "state": state,
                                      "sr": np.array(SAMPLE_RATE, np.int64)})
        out.append(p[:, 0])
        context = chunk[:, -CONTEXT:]
    return np.stack(out, axis=1)


@needs_package
def test_port_agrees_with_the_package_onnx_model_per_chunk():
    x = np.stack([mixed_signal(0), mixed_signal(1)[::-1].copy()])
    reference = onnx_chunk_probabilities(x)
    vad = load_silero_vad()
    with torch.no_grad():
        ours = vad.chunk_probabilities(torch.from_numpy(x)).numpy()
    assert ours.shape == reference.shape == (2, 109)
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)
    assert reference.max() > 0.5 > reference.min()    # the signal is not trivially one class


@needs_package
def test_the_package_safetensors_file_is_another_network():
    """silero-vad 6.2.3's safetensors file (its tinygrad example's) loads, but its outputs are
    not the package's model's: the reason the ONNX file is the default (upstream issue #768)."""
    x = mixed_signal(0)[None]
    with torch.no_grad():
        other = load_silero_vad(kind="safetensors").chunk_probabilities(torch.from_numpy(x))
    assert np.abs(other.numpy() - onnx_chunk_probabilities(x)).max() > 0.05


@needs_package
def test_loaded_model_is_differentiable_and_documents_its_source():
    vad = load_silero_vad()
    assert vad.source == f"silero-vad {DIST.version}: silero_vad_16k_op15.onnx"
    x = torch.from_numpy(mixed_signal()[None]).requires_grad_(True)
    vad.probability(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() > 0
    assert doctest.testmod(silero_vad).failed == 0


def fake_installation(root: Path, kind: str) -> Path:
    """A copy of the installed package's metadata and one weights file under root."""
    info = Path(DIST._path)    # the .dist-info folder
    shutil.copytree(info, root / info.name)
    target = root / WEIGHT_FILES[kind]
    target.parent.mkdir(parents=True)
    shutil.copy(DIST.locate_file(WEIGHT_FILES[kind]), target)
    return target


def one_line_error(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        call(*args, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


@needs_package
@pytest.mark.parametrize("kind", sorted(WEIGHT_FILES))
def test_a_changed_installed_file_is_one_line_naming_the_reinstall(tmp_path, monkeypatch, kind):
    target = fake_installation(tmp_path, kind)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01                # one bit of one weight
    target.write_bytes(bytes(data))
    message = one_line_error(load_silero_vad, kind=kind)
    assert str(target) in message and "hash mismatch" in message
    assert f"pip install --force-reinstall --no-deps 'silero-vad=={DIST.version}'" in message
    target.unlink()
    message = one_line_error(load_silero_vad, kind=kind)
    assert str(target) in message and "reinstall it" in message


@needs_package
@pytest.mark.parametrize("kind", sorted(WEIGHT_FILES))
def test_a_cut_or_garbled_weights_file_is_one_line(tmp_path, kind):
    data = Path(DIST.locate_file(WEIGHT_FILES[kind])).read_bytes()
    cut = tmp_path / Path(WEIGHT_FILES[kind]).name
    cut.write_bytes(data[:len(data) // 3])
    message = one_line_error(load_silero_vad, cut)
    assert str(cut) in message and "do not decode" in message and "replace the file" in message
    garbled = tmp_path / f"garbled{cut.suffix}"
    garbled.write_bytes(bytes(b ^ 0x5A for b in data[:64]) + data[64:])
    assert str(garbled) in one_line_error(load_silero_vad, garbled)


@needs_package
def test_weights_without_a_tensor_or_with_a_wrong_shape_are_one_line(tmp_path):
    from safetensors.torch import save_file

    weights = read_weights(DIST.locate_file(WEIGHT_FILES["safetensors"]))
    short = tmp_path / "short.safetensors"
    save_file({k: v for k, v in weights.items() if k != "conv3.bias"}, str(short))
    assert "no tensor 'conv3.bias'" in one_line_error(load_silero_vad, short)
    wrong = tmp_path / "wrong.safetensors"
    save_file({**weights, "conv3.bias": torch.zeros(32)}, str(wrong))
    assert "'conv3.bias' is torch.float32 of shape (32,)" in one_line_error(load_silero_vad, wrong)
    nan = tmp_path / "nan.safetensors"
    save_file({**weights, "conv3.bias": torch.full((64,), float("nan"))}, str(nan))
    assert "NaN or infinite" in one_line_error(load_silero_vad, nan)


# -- a corpus as VAD excerpts (svdlib.pretrained.corpus) ---------------------------------------
def test_corpus_excerpts_cut_resample_and_label(tmp_path):
    from conftest import write_toy_corpus

    from svdlib.audio.io import load_audio
    from svdlib.pretrained.corpus import vad_excerpts

    root = write_toy_corpus(tmp_path / "corpus", n_train=1, n_valid=0, n_test=2, seconds=5.0)
    vad = random_vad(4)
    length = 16 * CHUNK                                 # 0.512 s: 9 excerpts of a 5 s song
    got = vad_excerpts(root, "test", vad, length=length, batch=4)
    names = (root / "filelists" / "test").read_text().split("\n")[:2]
    assert list(got.songs) == [names[0]] * 9 + [names[1]] * 9
    np.testing.assert_allclose(got.starts[:9], np.arange(9) * length / SAMPLE_RATE)
    signal = load_audio(root / "audio" / names[1], SAMPLE_RATE)     # 22.05 kHz → 16 kHz
    np.testing.assert_array_equal(got.waveforms[9 + 4], signal[4 * length:5 * length])
    with torch.no_grad():
        direct = vad.chunk_probabilities(torch.from_numpy(got.waveforms[5:7])).numpy()
    np.testing.assert_allclose(got.chunk_probabilities[5:7], direct, atol=1e-6)
    np.testing.assert_allclose(got.probabilities, got.chunk_probabilities.mean(axis=1))
    lab = [line.split() for line in (root / "labels" / (Path(names[0]).stem + ".lab"))
           .read_text().splitlines()]
    for i in (0, 3, 8):
        for k in (0, 7, 15):
            t = got.starts[i] + (k + 0.5) * CHUNK / SAMPLE_RATE
            label = [name for start, end, name in lab if float(start) <= t < float(end)]
            assert got.chunk_singing[i, k] == (label == ["sing"]), (i, k, t, label)
    frame = got.frame()
    assert list(frame.columns) == ["song", "start (s)", "singing share", "sung", "P(voice)",
                                   "voice"]
    assert frame["voice"].tolist() == (got.probabilities > 0.5).tolist()
    assert 0 < got.singing.mean() < 1


def test_corpus_excerpts_errors_are_one_line(tmp_path):
    from svdlib.pretrained.corpus import vad_excerpts

    with pytest.raises(DataError) as err:
        vad_excerpts(tmp_path / "nowhere", "test", random_vad())
    assert "nowhere" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="multiple of 512"):
        vad_excerpts(tmp_path, "test", random_vad(), length=1000)


def test_spread_picks_evenly_among_the_qualifying_excerpts_of_each_song():
    songs = np.array(["a"] * 10 + ["b"] * 3 + ["c"] * 2, dtype=object)
    excerpts = VadExcerpts(np.zeros((15, 512), np.float32), songs, np.zeros(15),
                           np.zeros((15, 1), np.float32), np.zeros((15, 1), bool))
    where = np.ones(15, bool)
    where[[1, 2, 3]] = False                # song a qualifies at 0, 4..9; c never
    where[13:] = False
    # a: 7 candidates 0,4,5,6,7,8,9 at positions 0, 3, 6 → 0, 6, 9; b: 10, 11, 12 → all
    assert excerpts.spread(where, 3).tolist() == [0, 6, 9, 10, 11, 12]
    assert excerpts.spread(where, 1).tolist() == [0, 10]
    with pytest.raises(ValueError, match="per_song"):
        excerpts.spread(where, 0)
