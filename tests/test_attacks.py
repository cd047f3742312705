"""Attacks: both domains flip frames within their bounds; storage, statistics, resume, CLI.

The toy detector is far more robust than the paper's, so the attack tests use larger learning
rates, bounds and BCE weights than the paper's settings (the mechanism is what is tested).
"""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import toy_config, toy_song

import svdlib.attacks as attacks
from svdlib.attacks import (
    LOG_COLUMNS,
    attack_spectrogram,
    attack_waveform,
    iter_successful_excerpts,
    load_adversarial_spectrogram,
    load_record,
    overall_statistics,
    read_log,
    record_path,
    run_attack,
    snr,
    song_key,
    song_statistics,
)
from svdlib.audio import load_audio, spectrogram_np
from svdlib.cli import main
from svdlib.config import AttackDomainConfig
from svdlib.data import load_store_split
from svdlib.evaluate import load_trained, predict_song
from svdlib.store import Store

WAVE = AttackDomainConfig(lr=3e-3, alpha=50.0, clip_eps=0.02, max_iterations=20)
SPEC = AttackDomainConfig(lr=0.05, alpha=1e5, clip_eps=1.0, max_iterations=20)
FAST = {"attack.wave.lr": 3e-3, "attack.wave.alpha": 50.0, "attack.wave.clip_eps": 0.02,
        "attack.wave.max_iterations": 5, "attack.spec.lr": 0.05, "attack.spec.alpha": 1e5,
        "attack.spec.clip_eps": 1.0, "attack.spec.max_iterations": 5}
TRAIN_ARGS = ["--set", "train.epochs=3", "--set", "train.epochsize=40", "--set",
              "train.batchsize=16"]


@pytest.fixture(scope="module")
def net(toy_store):
    return load_trained(toy_store, device="cpu")


@pytest.fixture(scope="module")
def short_song():
    signal, _ = toy_song(np.random.default_rng(5), 3.0)
    return signal.astype(np.float32)


def copy_results(toy_store, tmp_path):
    """A private copy of the toy results tree (trained model included)."""
    root = tmp_path / "results"
    shutil.copytree(toy_store.root, root)
    return root


@pytest.fixture(scope="module")
def attacked(toy_store, toy_corpus, tmp_path_factory):
    """Both attacks run over the toy test split in a private results folder."""
    root = copy_results(toy_store, tmp_path_factory.mktemp("attacked"))
    store = Store(toy_config(root, toy_corpus, **FAST))
    assert (store.model_dir() / "model.safetensors").is_file()   # same model key, copied
    return store, {domain: run_attack(store, domain) for domain in ("wave", "spec")}


def padding_watch(net):
    """Record whether every network input had all-zero padding frames."""
    seen = []

    def hook(module, inputs):
        x = inputs[0]
        seen.append(bool((x[:, :57] == 0).all() and (x[:, -57:] == 0).all()))

    return seen, net.register_forward_pre_hook(hook)


def test_waveform_attack_flips_most_frames_within_eps(net, short_song):
    flags = [p.requires_grad for p in net.parameters()]
    seen, handle = padding_watch(net)
    try:
        result = attack_waveform(net, short_song, WAVE, threshold=0.5)
    finally:
        handle.remove()
    assert result.domain == "wave"
    assert result.adversary.dtype == np.float32
    assert result.adversary.shape == short_song.shape
    assert np.abs(result.adversary - short_song).max() <= WAVE.clip_eps + 1e-6
    assert result.flip_rate > 0.6
    assert result.iterations <= WAVE.max_iterations
    assert len(seen) == result.iterations + 1
    assert all(seen)
    clean = predict_song(net, spectrogram_np(short_song, net.frontend_config))
    assert np.allclose(result.orig_probs, clean, atol=1e-5)
    assert np.array_equal(result.flipped, result.adv_pred != result.orig_pred)
    assert result.distortion == pytest.approx(snr(short_song, result.adversary))
    assert 10 < result.distortion < 80
    assert [p.requires_grad for p in net.parameters()] == flags    # restored afterwards


def test_spectrogram_attack_flips_most_frames_nonnegative_and_bounded(net, short_song):
    spec = spectrogram_np(short_song, net.frontend_config)
    flags = [p.requires_grad for p in net.parameters()]
    seen, handle = padding_watch(net)
    try:
        result = attack_spectrogram(net, spec, SPEC, threshold=0.5)
    finally:
        handle.remove()
    assert [p.requires_grad for p in net.parameters()] == flags
    assert result.adversary.shape == spec.shape
    assert (result.adversary >= 0).all()
    delta = result.adversary - spec
    assert np.abs(delta).max() <= SPEC.clip_eps + 1e-6
    assert result.flip_rate > 0.6
    assert all(seen)                                # the 57 + 57 padding frames stay zero
    assert result.distortion == pytest.approx(float((delta.astype(np.float64) ** 2).sum()),
                                              rel=1e-4)
    again = predict_song(net, result.adversary)
    assert np.allclose(again, result.adv_probs, atol=1e-5)


def test_early_stop_and_kept_best(net, short_song):
    spec = spectrogram_np(short_song, net.frontend_config)
    easy = AttackDomainConfig(lr=0.05, alpha=1e5, clip_eps=1.0, max_iterations=20,
                              req_change_factor=0.05)
    result = attack_spectrogram(net, spec, easy, threshold=0.5)
    assert result.converged
    assert result.iterations == result.best_iteration < 20
    assert result.n_flipped >= 0.05 * result.n_frames


def test_song_key_is_safe_and_unique():
    a, b = song_key("01 - Chanson d'été 1.flac"), song_key("01 - Chanson d'ete 1.flac")
    assert a != b
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in a)
    assert a.startswith("01_-_Chanson_d_ete_1-")


def test_stored_adversaries_reproduce_logged_predictions(attacked, net):
    store, folders = attacked
    songs = load_store_split(store, "test")
    for domain, folder in folders.items():
        assert (folder / "config.json").is_file()
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["domain"] == domain
        assert len(summary["songs"]) == len(songs)
        log = read_log(folder)
        assert list(log.columns) == list(LOG_COLUMNS)
        assert len(log) == sum(s.n_frames for s in songs)
        for song in songs:
            rec = load_record(folder, song.name)
            assert np.array_equal(rec["ground_truth"], song.targets)
            adv = load_adversarial_spectrogram(folder, song.name)
            assert adv.shape == song.spec.shape
            probs = predict_song(net, adv)
            assert np.allclose(probs, rec["adv_probs"], atol=1e-4)
            clear = np.abs(probs - 0.5) > 1e-4
            assert np.array_equal((probs > 0.5)[clear], rec["adv_pred"][clear])
            if domain == "wave":
                path = folder / f"{song_key(song.name)}.wav"
                info = sf.info(str(path))
                assert info.samplerate == 22050
                assert info.subtype == "FLOAT"
                original = load_audio(song.path)
                stored = load_audio(path)
                assert np.abs(stored - original).max() <= 0.02 + 1e-6
                assert rec["distortion"] == pytest.approx(snr(original, stored))
            else:
                assert (adv >= 0).all()
                assert np.abs(adv - song.spec).max() <= 1.0 + 1e-5
        assert summary["overall"]["flipped"] == int(log["convergences"].sum())


def test_successful_excerpts(attacked):
    store, folders = attacked
    songs = load_store_split(store, "test")
    folder = folders["wave"]
    excerpts = list(iter_successful_excerpts(folder, songs))
    expected = 0
    for song in songs:
        flipped = load_record(folder, song.name)["flipped"]
        frames = np.flatnonzero(flipped)
        expected += int(((frames >= 57) & (frames < song.n_frames - 57)).sum())
    assert len(excerpts) == expected > 0
    by_name = {s.name: s for s in songs}
    adv_cache = {}
    for ex in excerpts[:: max(1, len(excerpts) // 20)]:
        song = by_name[ex.song]
        assert 57 <= ex.frame < song.n_frames - 57
        assert ex.original.shape == ex.adversarial.shape == (115, 513)
        assert np.array_equal(ex.original, song.spec[ex.frame - 57:ex.frame + 58])
        if ex.song not in adv_cache:
            adv_cache[ex.song] = load_adversarial_spectrogram(folder, ex.song)
        assert np.array_equal(ex.adversarial, adv_cache[ex.song][ex.frame - 57:ex.frame + 58])
        assert ex.orig_pred != ex.adv_pred
    to_sing = list(iter_successful_excerpts(folder, songs, target=1))
    assert all(ex.adv_pred and not ex.orig_pred for ex in to_sing)
    to_nosing = [ex for ex in excerpts if not ex.adv_pred]
    assert len(to_sing) + len(to_nosing) == len(excerpts)


def test_statistics_by_hand(tmp_path):
    (tmp_path / "logger.csv").write_text(
        "file,frame,ground truth,orig pred,mod pred,snr,convergences\n"
        "a b.mp3,0,True,True,False,30.5,True\n"
        "a b.mp3,1,True,True,True,30.5,False\n"
        "a b.mp3,2,False,False,True,30.5,True\n"
        "a b.mp3,3,False,False,True,30.5,True\n"
        "c'd.ogg,0,False,True,True,20.0,False\n"
        "c'd.ogg,1,True,False,False,20.0,False\n", encoding="utf-8")
    per_song = song_statistics(tmp_path)
    assert list(per_song.index) == ["a b.mp3", "c'd.ogg"]
    a, c = per_song.loc["a b.mp3"], per_song.loc["c'd.ogg"]
    assert (a["frames"], a["flipped"], a["flip_rate"]) == (4, 3, 0.75)
    assert (a["sing_frames"], a["sing_flipped"], a["sing_to_nosing"]) == (2, 1, 0.5)
    assert (a["nosing_frames"], a["nosing_flipped"], a["nosing_to_sing"]) == (2, 2, 1.0)
    assert (c["frames"], c["flipped"], c["sing_to_nosing"], c["nosing_to_sing"]) == (2, 0, 0, 0)
    overall = overall_statistics(read_log(tmp_path / "logger.csv"), "wave")
    assert overall["frames"] == 6
    assert overall["flipped"] == 3
    assert overall["flip_rate"] == pytest.approx(0.5)
    assert overall["sing_to_nosing"] == pytest.approx(1 / 3)
    assert overall["nosing_to_sing"] == pytest.approx(2 / 3)
    assert overall["mean_snr_db"] == pytest.approx(25.25)
    assert overall["songs"] == 2
    assert overall["songs_without_flips"] == 1


def test_resume_skips_finished_songs(toy_store, toy_corpus, tmp_path, monkeypatch):
    root = copy_results(toy_store, tmp_path)
    store = Store(toy_config(root, toy_corpus, **{**FAST, "attack.spec.max_iterations": 2}))
    folder = run_attack(store, "spec")
    songs = load_store_split(store, "test")
    first, second = (record_path(folder, s.name) for s in songs)
    kept = first.stat().st_mtime_ns
    second.unlink()
    calls = []
    real = attacks.attack_song

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(attacks, "attack_song", counting)
    run_attack(store, "spec")
    assert len(calls) == 1
    assert first.stat().st_mtime_ns == kept
    assert second.is_file()
    assert len(read_log(folder)) == sum(s.n_frames for s in songs)


def test_song_without_flips_is_recorded(toy_store, toy_corpus, tmp_path):
    root = copy_results(toy_store, tmp_path)
    store = Store(toy_config(root, toy_corpus, **{"attack.spec.max_iterations": 0}))
    folder = run_attack(store, "spec")
    songs = load_store_split(store, "test")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["no_flip_songs"] == [s.name for s in songs]
    assert summary["overall"]["flipped"] == 0
    assert not read_log(folder)["convergences"].any()
    for song in songs:
        rec = load_record(folder, song.name)
        assert rec["iterations"] == 0
        assert not rec["flipped"].any()
        assert np.array_equal(load_adversarial_spectrogram(folder, song.name), song.spec)
    assert list(iter_successful_excerpts(folder, songs)) == []


def test_cli_attack(toy_store, toy_corpus, tmp_path, capsys):
    root = copy_results(toy_store, tmp_path)
    base = ["--profile", "tiny", "--results", str(root), "--data", str(toy_corpus), "--quiet",
            *TRAIN_ARGS, "--set", "attack.spec.max_iterations=2"]
    assert main(["attack", "--domain", "spec", "--subset", "valid", "--threshold", "0.6",
                 *base]) == 0
    out = capsys.readouterr().out
    assert "attack spec (valid, 1 songs)" in out
    folder = next((root / "attacks").glob("spec-valid-*"))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["threshold"] == 0.6
    assert summary["subset"] == "valid"
    config = json.loads((folder / "config.json").read_text())
    assert config["evaluate"]["threshold"] == 0.6
    assert config["attack"]["subset"] == "valid"

    assert main(["attack", "--domain", "pixels", *base]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pixels" in err

    empty = ["--profile", "tiny", "--results", str(tmp_path / "empty"), "--data",
             str(toy_corpus), "--quiet", *TRAIN_ARGS]
    assert main(["attack", "--domain", "wave", *empty]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no trained model" in err


def test_nan_gradients_are_zeroed(net):
    # digital silence: |STFT| is exactly zero, whose gradient is NaN or 0; the attack survives
    signal = np.zeros(22050, np.float32)
    signal[8000:9000] = 0.1 * np.sin(np.arange(1000) / 5)
    result = attack_waveform(net, signal, AttackDomainConfig(lr=1e-3, max_iterations=3), 0.5)
    assert np.isfinite(result.adversary).all()
    assert torch.isfinite(torch.from_numpy(result.adv_probs)).all()
