"""attack_excerpts on inputs of any shape: waveform defaults, SNR and ‖δ‖, margin, projection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from svdlib import AttackDomainConfig, attack_defaults, attack_excerpts
from svdlib.attacks.optimise import snr

SR, L = 16000, 2000


def tone_dataset(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noise at -20 dBFS RMS; class 1 adds a sine of 300-1200 Hz at amplitude 0.04."""
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.1, (n, L))
    t = np.arange(L) / SR
    for i in np.flatnonzero(y):
        x[i] += 0.04 * np.sin(2 * np.pi * rng.uniform(300, 1200) * t + rng.uniform(0, 6))
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def tone_model():
    """A tiny 1-D CNN trained to hear the tone: (B, L) samples → logit (B,)."""
    torch.manual_seed(0)
    x, y = tone_dataset(128, np.random.default_rng(0))
    model = nn.Sequential(nn.Unflatten(1, (1, L)), nn.Conv1d(1, 8, 32, stride=16), nn.ReLU(),
                          nn.Conv1d(8, 8, 8, stride=4), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                          nn.Flatten(), nn.Linear(8, 1), nn.Flatten(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).float()
    for _ in range(100):
        loss = nn.functional.binary_cross_entropy_with_logits(model(xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test_x, test_y = tone_dataset(64, np.random.default_rng(1))
    with torch.no_grad():
        logits = model(torch.from_numpy(test_x)).numpy()
    assert ((logits > 0) == test_y).mean() > 0.9          # it learned the task
    keep = (test_y == 0) & (logits < 0)
    return model, test_x[keep][:4]


def test_a_waveform_batch_flips_under_the_waveform_defaults(tone_model):
    model, x = tone_model
    attack = attack_excerpts(model, x)                     # (B, L): the waveform defaults
    assert attack.domain == "waveform"
    assert attack.flipped.all() and attack.reached.all()
    assert (attack.orig_probs < 0.5).all() and (attack.adv_probs > 0.5).all()
    delta = attack.adversarial.astype(np.float64) - x.astype(np.float64)
    # x + δ is rounded to float32: δ may exceed the clip by half an ulp of the sample
    assert (np.abs(delta).max(axis=1) <= attack_defaults("waveform").clip_eps + 1e-7).all()
    expected_snr = [10 * math.log10(float(np.sum(x[b].astype(np.float64) ** 2))
                                    / float(np.sum(delta[b] ** 2))) for b in range(len(x))]
    np.testing.assert_allclose(attack.snr_db, expected_snr, rtol=1e-12)
    # the pipeline's helper drops the last sample (its range is [edge, L - edge - 1)): pad one
    padded = np.pad(x, ((0, 0), (0, 1))), np.pad(attack.adversarial, ((0, 0), (0, 1)))
    np.testing.assert_allclose(attack.snr_db, [snr(padded[0][b], padded[1][b], edge=0)
                                               for b in range(len(x))], atol=1e-6)
    np.testing.assert_allclose(attack.delta_l2, np.linalg.norm(delta, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(attack.delta_linf, np.abs(delta).max(axis=1))
    assert (attack.snr_db > 20).all()                      # δ well below the -20 dBFS noise
    with torch.no_grad():
        probs = torch.sigmoid(model(torch.from_numpy(attack.adversarial))).numpy()
    np.testing.assert_allclose(probs, attack.adv_probs, atol=1e-6)


def test_a_margin_pushes_every_waveform_past_it(tone_model):
    model, x = tone_model
    attack = attack_excerpts(model, x, margin=0.2)
    assert attack.flipped.all() and attack.reached.all()
    assert (attack.adv_probs >= 0.7).all()
    assert (attack.delta_linf <= attack_defaults("waveform").clip_eps + 1e-7).all()


# -- a linear model by hand ---------------------------------------------------------------------
# z_b = Σ w ⊙ (x_b + δ_b), w = ±1 on a (3, 4) grid, x_b = s_b · w / 12, so z_b(δ = 0) = s_b.
# From δ = 0 the gradient of Σ δ² + α · BCE is α (σ_b − y_b) w: δ_b moves against it, towards
# its target. With a sign gradient, Adam's step is exactly ±lr per element while the sign holds
# (it does here: α |σ − y| ≥ 100 · 0.18 outweighs 2 |δ| ≤ 0.5), so after k steps
# δ_b = k · lr · d_b · w (d_b = +1 for target 1, −1 for target 0) and z_b = s_b + 12 k lr d_b.
# The loop stops at the first k where every excerpt is past the threshold by the margin.
S = np.array([-0.5, -1.0, -2.0, 1.0])
W = np.where(np.arange(12).reshape(3, 4) % 3 == 0, -1.0, 1.0)


def linear_model(x: torch.Tensor) -> torch.Tensor:
    return (x * torch.from_numpy(W).float()).sum(dim=(1, 2))


def by_hand(lr: float, margin: float, threshold: float = 0.5) -> tuple[int, np.ndarray]:
    """The steps the attack runs and the adversarial excerpts, from the algebra above."""
    direction = np.where(S > 0, -1.0, 1.0)

    def past(k: int, s: float, d: float) -> bool:
        p = 1 / (1 + math.exp(-(s + 12 * k * lr * d)))
        return p > threshold + margin if d > 0 else not p > threshold - margin

    steps = max(next(k for k in range(1000) if past(k, s, d))
                for s, d in zip(S, direction, strict=True))
    x = S[:, None, None] * W / 12
    return steps, x + steps * lr * direction[:, None, None] * W


def test_margin_zero_is_the_paper_stop_rule_bit_for_bit():
    x = (S[:, None, None] * W / 12).astype(np.float32)
    plain = attack_excerpts(linear_model, x)                       # spectrogram defaults
    zero = attack_excerpts(linear_model, x, margin=0.0)
    for name in ("adversarial", "orig_probs", "adv_probs", "flipped", "delta_l2"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(zero, name))
    assert plain.iterations == zero.iterations
    steps, expected = by_hand(lr=0.01, margin=0.0)
    assert steps == 17 and plain.iterations == steps            # excerpt 2: −2 + 0.12 k > 0
    np.testing.assert_allclose(plain.adversarial, expected, atol=1e-5)
    assert plain.domain == "spectrogram" and plain.snr_db is None
    assert plain.flipped.all() and (plain.reached == plain.flipped).all()


@pytest.mark.parametrize("margin", [0.2, 0.35])
def test_a_margin_is_reached_by_every_excerpt(margin):
    x = (S[:, None, None] * W / 12).astype(np.float32)
    attack = attack_excerpts(linear_model, x, margin=margin)
    steps, expected = by_hand(lr=0.01, margin=margin)
    assert attack.iterations == steps > 17
    np.testing.assert_allclose(attack.adversarial, expected, atol=1e-5)
    up = S < 0
    assert (attack.adv_probs[up] >= 0.5 + margin).all()
    assert (attack.adv_probs[~up] <= 0.5 - margin).all()
    assert attack.flipped.all() and attack.reached.all()


def test_a_projection_holds_at_every_step():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.1, (3, 400)).astype(np.float32)
    w = torch.from_numpy(rng.choice([-1.0, 1.0], 400)).float()
    offset = torch.from_numpy(x) @ w + 1.0              # logit −1 for every clean excerpt
    seen = []

    def model(batch: torch.Tensor) -> torch.Tensor:
        seen.append(batch.detach().numpy().copy())
        return batch @ w - offset

    inside = np.zeros(400, bool)
    inside[100:300] = True
    mask = torch.from_numpy(inside).float()
    for project in (lambda d: d * mask, lambda d: d.masked_fill_(~torch.from_numpy(inside), 0)):
        seen.clear()
        attack = attack_excerpts(model, x, project=project)
        assert attack.flipped.all() and len(seen) > 2
        for batch in seen:
            assert (batch[:, ~inside] == x[:, ~inside]).all()
        assert (attack.adversarial[:, ~inside] == x[:, ~inside]).all()
        assert (attack.adversarial[:, inside] != x[:, inside]).any()


def test_tensors_and_arrays_give_the_same_attack():
    x = (S[:, None, None] * W / 12).astype(np.float32)
    before = x.copy()
    a = attack_excerpts(linear_model, x)
    b = attack_excerpts(linear_model, torch.from_numpy(x))
    np.testing.assert_array_equal(a.adversarial, b.adversarial)
    np.testing.assert_array_equal(x, before)                       # the input is not written


def test_the_spectrogram_defaults_are_the_ones_excerpt_attacks_always_used():
    assert attack_defaults("spectrogram") == AttackDomainConfig(
        lr=0.01, alpha=100.0, clip_eps=1.0, max_iterations=300)
    wave = attack_defaults("waveform")
    assert 20 * math.log10(wave.clip_eps) == pytest.approx(-40)


def _detached(x: torch.Tensor) -> torch.Tensor:
    return x.detach().sum(dim=1)


GOOD = np.zeros((2, 50), np.float32)


@pytest.mark.parametrize("call, names", [
    (lambda: attack_excerpts(_detached, np.zeros(50, np.float32)), "excerpts"),
    (lambda: attack_excerpts(_detached, np.zeros((0, 50), np.float32)), "excerpts"),
    (lambda: attack_excerpts(_detached, np.full((2, 50), np.nan, np.float32)), "NaN"),
    (lambda: attack_excerpts(_detached, GOOD, domain="wave"), "domain"),
    (lambda: attack_excerpts(_detached, GOOD, margin=0.5), "margin"),
    (lambda: attack_excerpts(_detached, GOOD, margin=-0.1), "margin"),
    (lambda: attack_excerpts(_detached, GOOD, threshold=1.0), "threshold"),
    (lambda: attack_excerpts(_detached, GOOD, AttackDomainConfig(lr=0.0)), "params.lr"),
    (lambda: attack_excerpts(_detached, GOOD, AttackDomainConfig(max_iterations=-1)),
     "params.max_iterations"),
    (lambda: attack_excerpts(_detached, GOOD + 3), "excerpts reach"),
    (lambda: attack_excerpts("model.pt", GOOD), "model must be"),
    (lambda: attack_excerpts(lambda x: x, GOOD), "model must return one logit"),
    (lambda: attack_excerpts(_detached, GOOD), "autograd"),
    (lambda: attack_excerpts(lambda x: x.sum(dim=1), GOOD, project=lambda d: d[:, :3]),
     "project must return"),
])
def test_bad_input_raises_one_line_naming_it(call, names):
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert names in message and "\n" not in message
