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

import svdlib.attacks.optimise as opt
import svdlib.experiments.artifacts.attack as attack_stage
from svdlib.attacks.optimise import attack_spectrogram, attack_waveform, snr
from svdlib.attacks.records import (
    LOG_COLUMNS,
    load_adversarial_spectrogram,
    load_record,
    read_log,
    record_path,
    song_key,
)
from svdlib.attacks.settings import AttackDomainConfig
from svdlib.attacks.statistics import iter_successful_excerpts, overall_statistics, song_statistics
from svdlib.audio.frontend import spectrogram_np
from svdlib.audio.io import load_audio
from svdlib.cli import main
from svdlib.detector.inference import predict_song
from svdlib.experiments.artifacts.attack import run_attack
from svdlib.experiments.artifacts.detectors import load_trained
from svdlib.experiments.storage.splits import load_store_split
from svdlib.experiments.storage.store import Store

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
    real = attack_stage.attack_song

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(attack_stage, "attack_song", counting)
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


# -- one step by hand ---------------------------------------------------------------------------
# The loss is L = Σ δ² + α · mean_t BCE(z_t, y_t), z_t the logit of frame t and y_t the target
# (the opposite of the clean prediction). For a logit that is linear in δ, z_t = Σ_b a_b δ_tb + c_t,
#   ∂L/∂δ_tb = 2 δ_tb + (α / T) · (σ(z_t) − y_t) · a_b.
# Adam's first step from zero moments: m = (1 − β1) g, v = (1 − β2) g², bias corrections
# m̂ = m / (1 − β1) = g and v̂ = v / (1 − β2) = g², so the step is lr · g / (|g| + eps) (eps = 1e-8):
# ±lr for a sign gradient (and for any |g| ≫ eps), 0 where g = 0. Then δ is clipped to [−ε, ε]
# (and, in the spectrogram domain, raised to at least −x).
ADAM_EPS = 1e-8


def adam_first_step(g: np.ndarray, lr: float) -> np.ndarray:
    return lr * g / (np.abs(g) + ADAM_EPS)


@pytest.mark.parametrize("sign", [True, False])
def test_one_optimisation_step_by_hand(sign):
    # two frames, five "bins"; the analytic model: z = δ @ a + c, with c chosen so that at the
    # starting δ0 the logits are −ln 3 (σ = .25, "no sing", target 1) and ln 3 (σ = .75, "sing",
    # target 0). α = 2 over T = 2 frames: the BCE part of the gradient is (σ − y) · a_b,
    # −.75 · a for frame 0 and +.75 · a for frame 1.
    a = np.array([1.0, -2.0, 0.0, 0.1, 1e-9])
    delta0 = np.array([[0.2, 0.0, 0.0, 0.05, 0.0],
                       [-0.2, 0.1, -0.05, -0.2, 0.0]])
    z0 = np.array([-np.log(3), np.log(3)])
    c = z0 - delta0 @ a
    a_t, c_t = torch.tensor(a, dtype=torch.float32), torch.tensor(c, dtype=torch.float32)
    params = AttackDomainConfig(lr=0.1, alpha=2.0, clip_eps=0.25, max_iterations=1, sign=sign,
                                clipping=True, req_change_factor=1.0)
    seen = {}

    def callback(step, n_flipped, delta):
        seen[step] = delta.clone().numpy()

    out = opt.optimise_delta(lambda d: d @ a_t + c_t, torch.tensor(delta0, dtype=torch.float32),
                            params, 0.5, None, callback)
    # the gradient at δ0, by hand:
    #   frame 0: 2δ0 = [.4, 0, 0, .1, 0],     BCE [−.75, 1.5, 0, −.075, −7.5e-10]
    #            g = [−.35, 1.5, 0, .025, −7.5e-10]      (bin 3: Σδ² outweighs the BCE part)
    #   frame 1: 2δ0 = [−.4, .2, −.1, −.4, 0], BCE [.75, −1.5, 0, .075, 7.5e-10]
    #            g = [.35, −1.3, −.1, −.325, 7.5e-10]    (bin 2: only Σδ² pulls)
    g = np.array([[-0.35, 1.5, 0.0, 0.025, -7.5e-10],
                  [0.35, -1.3, -0.1, -0.325, 7.5e-10]])
    np.testing.assert_allclose(2 * delta0 + (np.array([-0.75, 0.75])[:, None] * a), g,
                               rtol=0, atol=1e-12)
    # δ0 − lr · sign(g), then the clip to ±.25 (active in bin 0 of both frames):
    #   frame 0: [.3 → .25, −.1, 0, −.05, .1];  frame 1: [−.3 → −.25, .2, .05, −.1, −.1]
    # Without the sign, bin 4's gradient (7.5e-10) is far below Adam's eps: it moves by
    # .1 · 7.5e-10 / (7.5e-10 + 1e-8) = .1 · .075 / 1.075 instead of .1; the rest as with it.
    expected = np.array([[0.25, -0.1, 0.0, -0.05, 0.1],
                         [-0.25, 0.2, 0.05, -0.1, -0.1]])
    if not sign:
        expected[:, 4] = [0.1 * 0.075 / 1.075, -0.1 * 0.075 / 1.075]
    step = adam_first_step(np.sign(g) if sign else g, params.lr)
    np.testing.assert_allclose(np.clip(delta0 - step, -0.25, 0.25), expected, rtol=0, atol=1e-7)
    assert out["iterations"] == 1
    np.testing.assert_allclose(seen[0], delta0, atol=1e-7)
    np.testing.assert_allclose(seen[1], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["delta"].numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["orig_probs"].numpy(), [0.25, 0.75], atol=1e-6)


class FrameLinear(torch.nn.Module):
    """A detector whose logit for frame t is ``a · x[t] + c[t]`` (padded input, like the CNN)."""

    def __init__(self, a, c):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float32))
        self.register_buffer("c", torch.tensor(c, dtype=torch.float32))

    def forward(self, x):
        assert x.shape[1] == len(self.c) + 114
        assert (x[:, :57] == 0).all() and (x[:, -57:] == 0).all()
        return x[:, 57:-57] @ self.a + self.c


@pytest.mark.parametrize("lr, expected", [
    # lr = .2 > ε = .1: the clip is active for every moved bin, then δ ≥ −x lifts two of them
    (0.2, [[0.1, -0.05, 0.0], [-0.02, 0.1, 0.0], [0.1, -0.1, 0.0]]),
    # lr = .08 < ε: no clip; δ ≥ −x is still active for the same two bins
    (0.08, [[0.08, -0.05, 0.0], [-0.02, 0.08, 0.0], [0.08, -0.08, 0.0]]),
])
def test_one_spectrogram_attack_step_by_hand(lr, expected):
    # three frames of three bins; a = [1, −1, 0]; c gives the logits [−1, 2, −.5]:
    # predictions no sing, sing, no sing → targets 1, 0, 1, so σ − y is −, +, −.
    # From δ = 0 only the BCE part is left: sign(g_tb) = sign(σ_t − y_t) · sign(a_b), and δ moves
    # against it: frames 0 and 2 by [+lr, −lr, 0], frame 1 by [−lr, +lr, 0] (bin 2: g = 0).
    # Clip to ±.1, then δ ≥ −x: x[0, 1] = .05 and x[1, 0] = .02 cap the decreases there.
    x = np.array([[0.5, 0.05, 0.3], [0.02, 0.4, 0.1], [0.3, 0.3, 0.3]], np.float32)
    a = np.array([1.0, -1.0, 0.0])
    c = np.array([-1.0, 2.0, -0.5]) - x.astype(np.float64) @ a
    net = FrameLinear(a, c)
    params = AttackDomainConfig(lr=lr, alpha=3.0, clip_eps=0.1, max_iterations=1)
    result = attack_spectrogram(net, x, params, threshold=0.5, device="cpu")
    expected = np.array(expected)
    assert result.iterations == 1
    np.testing.assert_allclose(result.adversary - x, expected, rtol=0, atol=1e-6)
    assert (result.adversary >= 0).all()
    assert result.distortion == pytest.approx((expected ** 2).sum(), rel=1e-5)
    np.testing.assert_allclose(result.orig_probs, 1 / (1 + np.exp(-np.array([-1.0, 2.0, -0.5]))),
                               atol=1e-6)
    assert net.a.requires_grad                      # frozen during the attack, restored after
    np.testing.assert_array_equal(net.a.detach().numpy(), a.astype(np.float32))
