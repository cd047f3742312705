import json

import numpy as np
import pytest
import torch

from svdlib.data.songs import Song
from svdlib.detector.checkpoint import load_model
from svdlib.detector.state import load_state
from svdlib.detector.training import (
    CHECKPOINT,
    excerpt_frames,
    random_filters,
    stretch_shift,
    train_detector,
)
from svdlib.digests import sidecar_path
from svdlib.errors import SvdError
from svdlib.experiments.config.loading import load_config


def toy_songs(n, seed, frames=400):
    """Spectrograms where 'singing' frames carry a harmonic comb, others only noise."""
    rng = np.random.default_rng(seed)
    songs = []
    for i in range(n):
        spec = rng.random((frames, 513)).astype(np.float32) * 0.2
        targets = np.zeros(frames, bool)
        for start in range(rng.integers(0, 60), frames, 120):
            targets[start:start + 60] = True
        f0 = rng.integers(8, 20)
        spec[np.ix_(targets, np.arange(f0, 300, f0))] += 2.0
        songs.append(Song(f"song {i}", None, spec, targets))
    return songs


def train_tiny(cfg, train_songs, valid_songs, out_dir, seed, **kwargs):
    """``train_detector`` with the settings of a whole configuration, on the CPU."""
    return train_detector(cfg.model, cfg.frontend, cfg.train, train_songs, valid_songs, out_dir,
                          seed, torch.device("cpu"), smooth_width=cfg.evaluate.smooth_width,
                          smooth_method=cfg.evaluate.smooth_method, **kwargs)


@pytest.fixture
def tiny_cfg(tmp_path):
    return load_config("tiny", {"train.epochs": 2, "train.epochsize": 12, "train.batchsize": 8},
                       results=str(tmp_path))


def test_stretch_shift_keeps_centre_and_shapes():
    rng = np.random.default_rng(0)
    x = np.zeros((3, 164, 513), np.float32)
    x[:, 82, :] = 1.0                                  # a click at the centre frame
    out = stretch_shift(x, rng, 0.3, 0.3, order=1)
    assert out.shape == (3, 115, 513)
    assert np.all(np.argmax(out.sum(2), axis=1) == 57)   # still centred
    x = np.random.default_rng(1).random((2, 164, 513)).astype(np.float32)
    identity = stretch_shift(x, rng, 0.0, 0.0, order=1)
    # the original's offset 0.5 * (164 - 115) = 24.5 lands between two frames
    assert np.allclose(identity, 0.5 * (x[:, 24:139] + x[:, 25:140]), atol=1e-5)
    assert (out >= 0).all()


def test_random_filter_centres_lie_between_150_hz_and_8_khz():
    rng = np.random.default_rng(0)
    ones = np.ones((400, 1, 513), np.float32)
    gains = random_filters(ones, rng, 22050, max_db=10)[:, 0, :]
    peaks_hz = np.argmax(np.abs(np.log(gains)), axis=1) * 22050 / 2 / 512
    assert peaks_hz.min() > 100 and peaks_hz.max() < 8500
    assert np.abs(20 * np.log10(gains)).max() <= 10 + 1e-4


def test_resume_from_checkpoint_matches_uninterrupted(tmp_path, tiny_cfg, monkeypatch):
    train, valid = toy_songs(3, 0), toy_songs(1, 1)
    straight = train_tiny(tiny_cfg, train, valid, tmp_path / "a", 7, progress=False)

    import svdlib.detector.training as train_module

    calls = {"n": 0}
    original = train_module.validate

    def crash_in_the_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:   # epoch 2 trained, its checkpoint not yet written
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "validate", crash_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_tiny(tiny_cfg, train, valid, tmp_path / "b", 7, progress=False)
    checkpoint = tmp_path / "b" / CHECKPOINT
    assert load_state(checkpoint)["epoch"] == 1
    assert not (tmp_path / "b" / "model.safetensors").exists()
    monkeypatch.setattr(train_module, "validate", original)
    trained = []
    real_epoch = train_module._train_epoch

    def counted_epoch(*args, **kwargs):
        trained.append(args[4])
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "_train_epoch", counted_epoch)
    resumed = train_tiny(tiny_cfg, train, valid, tmp_path / "b", 7, progress=False)
    assert trained == ["seed 7 epoch 2/2"]   # resumed after epoch 1, not trained again
    a = load_model(straight, tiny_cfg.model, tiny_cfg.frontend).state_dict()
    b = load_model(resumed, tiny_cfg.model, tiny_cfg.frontend).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    history = [json.loads((tmp_path / run / "history.json").read_text()) for run in "ab"]
    assert history[0] == history[1]
    assert not checkpoint.exists() and not sidecar_path(checkpoint).exists()


def test_training_reduces_the_loss(tmp_path, tiny_cfg):
    tiny_cfg.train.epochs = 4
    tiny_cfg.train.epochsize = 25
    tiny_cfg.train.augment = False
    out = tmp_path / "m"
    train_tiny(tiny_cfg, toy_songs(3, 0), toy_songs(1, 1), out, 0, progress=False)
    import json

    history = json.loads((out / "history.json").read_text())
    assert history["train_loss"][-1] < 0.8 * history["train_loss"][0]
    assert history["valid_error"][-1] < 0.3
    assert history["learning_rate"] == pytest.approx([1e-3 * 0.85 ** e for e in range(4)])


def test_excerpt_length_with_and_without_augmentation(tiny_cfg):
    assert excerpt_frames(tiny_cfg.train) == 164
    tiny_cfg.train.augment = False
    assert excerpt_frames(tiny_cfg.train) == 115


def test_corrupt_checkpoint_is_reported(tmp_path, tiny_cfg):
    out = tmp_path / "m"
    out.mkdir()
    checkpoint = out / CHECKPOINT
    checkpoint.write_bytes(b"garbage")   # no recorded digest: refused before it is read
    with pytest.raises(SvdError, match="no recorded digest") as caught:
        train_tiny(tiny_cfg, toy_songs(2, 0), toy_songs(1, 1), out, 0, progress=False)
    assert str(checkpoint) in str(caught.value) and "\n" not in str(caught.value)
    # a file that matches its digest but is no training state (a model saved under its name)
    from svdlib.detector.checkpoint import save_model
    from svdlib.detector.model import build_model

    save_model(checkpoint, build_model(tiny_cfg.model, tiny_cfg.frontend))
    with pytest.raises(SvdError, match="cannot be read"):
        train_tiny(tiny_cfg, toy_songs(2, 0), toy_songs(1, 1), out, 0, progress=False)
    assert not (out / "model.safetensors").exists()
