"""Explainers, measures and the benchmark on excerpts of any shape: waveforms ``(B, L)``.

Every expected number is computed here by another route: partial adversaries by slicing (time
segments) or by ``torch.stft`` / ``torch.istft`` called directly (STFT segments), subsets
enumerated with ``itertools``, gradients of linear models in closed form.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from svdlib import (
    LabelSegmentation,
    Segmentation,
    StftSegmentation,
    TimeSegmentation,
    attack_defaults,
    attack_excerpts,
    attribution_ranking,
    energy_relevances,
    exhaustive_flips,
    make_explainer,
    run_benchmark,
    segment_masks,
    threshold_rule,
)
from svdlib.constants import EXPLAINERS

L = 64
TIME = TimeSegmentation(L, 4)                     # samples 0-15, 16-31, 32-47, 48-63


class Listener(torch.nn.Module):
    """P(class 1) of a waveform that hears only time segments 1 and 3 (weakly)."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(8.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heard = x[:, 16:32].mean(dim=1) + 0.5 * x[:, 48:64].mean(dim=1)
        return torch.sigmoid(self.gain * (heard - 0.5))


def pairs(n: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Originals near silence; δ a different constant in every time segment of every pair."""
    rng = np.random.default_rng(seed)
    original = (0.01 * rng.standard_normal((n, L))).astype(np.float32)
    levels = rng.uniform(0.0, 1.2, (n, 4))
    levels[:, 1] = rng.uniform(0.3, 1.2, n)        # what the model hears most is never silent
    delta = np.repeat(levels, 16, axis=1) * np.sign(rng.standard_normal((n, L)))
    delta[:, 16:32] = np.abs(delta[:, 16:32])
    delta[:, 48:64] = np.abs(delta[:, 48:64])
    return original, (original + delta).astype(np.float32)


def by_slices(original: np.ndarray, adversarial: np.ndarray, kept) -> np.ndarray:
    out = original.copy()
    for c in kept:
        a, b = TIME.borders[c], TIME.borders[c + 1]
        out[:, a:b] = adversarial[:, a:b]
    return out


def test_benchmark_on_waveforms_matches_enumeration():
    model = Listener().eval()
    original, adversarial = pairs()
    rule = threshold_rule(1, 0.5)
    methods = {name: make_explainer(name, model, TIME, baseline=0.0, seed=0,
                                    **({"num_samples": 64} if name in ("lime", "kernelshap")
                                       else {}))
               for name in EXPLAINERS}
    run = run_benchmark(original, adversarial, TIME, model, rule, methods, max_k=3,
                        subset_ks=(1, 2))
    with torch.no_grad():
        def flips(x: np.ndarray) -> np.ndarray:
            return model(torch.from_numpy(x)).numpy() > 0.5

        for k in (1, 2, 3):
            flags = np.stack([flips(by_slices(original, adversarial, kept))
                              for kept in itertools.combinations(range(4), k)], axis=1)
            np.testing.assert_allclose(run.exhaustive.chance[:, k - 1], flags.mean(axis=1))
            np.testing.assert_array_equal(run.exhaustive.attainable[:, k - 1], flags.any(axis=1))
        delta = adversarial - original
        energy = np.stack([(delta[:, a:b].astype(np.float64) ** 2).sum(axis=1)
                           for a, b in itertools.pairwise(TIME.borders)], axis=1)
        order = np.argsort(-energy, axis=1, kind="stable")
        curve = run.curve[run.curve.method == "energy"]
        for k in range(1, 5):
            expected = [flips(by_slices(original[i:i + 1], adversarial[i:i + 1],
                                        order[i, :k]))[0] for i in range(len(original))]
            got = curve[curve.k == k].sort_values("pair").flipped.tolist()
            assert got == expected
    # the model hears segments 1 and 3 only: every explainer but the random one ranks one of
    # them first, and the methods that see exact zeros give the others none
    for name, weights in run.weights.items():
        if name != "random":
            assert np.isin(weights.argmax(axis=1), (1, 3)).all(), name
        if name in ("occlusion", "saliency", "gradient_x_input", "integrated_gradients"):
            assert (weights[:, [0, 2]] == 0).all(), name


def test_grid_and_its_labels_give_the_same_benchmark():
    grid = Segmentation(12, 8, 3, 2)
    labels = LabelSegmentation(grid.cell_ids())
    rng = np.random.default_rng(2)
    weight = torch.from_numpy(rng.standard_normal((12, 8)).astype(np.float32))

    def probability(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((x * weight).sum(dim=(1, 2)) / 4)

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return probability(torch.from_numpy(x)).numpy()

    original = rng.standard_normal((5, 12, 8)).astype(np.float32)
    adversarial = original + rng.standard_normal((5, 12, 8)).astype(np.float32)
    runs = []
    for seg in (grid, labels):
        methods = {name: make_explainer(name, probability, seg, seed=3,
                                        **({"num_samples": 64} if name in ("lime", "kernelshap")
                                           else {}))
                   for name in EXPLAINERS}
        runs.append(run_benchmark(original, adversarial, seg, predict,
                                  threshold_rule(1, 0.5), methods, max_k=2, subset_ks=(1, 2)))
    ours, theirs = runs
    for table in ("curve", "table2", "subsets", "smallest", "costs"):
        a, b = getattr(ours, table), getattr(theirs, table)
        if table == "costs":
            a, b = a.drop(columns=["seconds", "seconds_per_explanation"]), \
                b.drop(columns=["seconds", "seconds_per_explanation"])
        assert a.equals(b), table
    assert ours.exhaustive.to_frame().equals(theirs.exhaustive.to_frame())
    for name in EXPLAINERS:
        np.testing.assert_allclose(ours.weights[name], theirs.weights[name], rtol=1e-9,
                                   atol=1e-12)


def test_gradients_of_a_linear_waveform_model_in_closed_form():
    rng = np.random.default_rng(4)
    w = rng.standard_normal(L)
    x = rng.standard_normal((3, L)).astype(np.float32)
    base = 0.25
    wt = torch.from_numpy(w.astype(np.float32))

    def linear(v: torch.Tensor) -> torch.Tensor:
        return v @ wt

    slices = list(itertools.pairwise(TIME.borders))
    sums = {"gradient_x_input": [[np.sum(w[a:b] * r[a:b]) for a, b in slices] for r in x],
            "integrated_gradients": [[np.sum(w[a:b] * (r[a:b] - base)) for a, b in slices]
                                     for r in x],
            "saliency": [[np.sum(np.abs(w[a:b])) for a, b in slices]] * 3}
    for name, expected in sums.items():
        found = make_explainer(name, linear, TIME, baseline=base, n_steps=4) \
            if name == "integrated_gradients" else make_explainer(name, linear, TIME,
                                                                  baseline=base)
        relevances = found.explain_many(x)
        np.testing.assert_allclose([r.weights for r in relevances], expected, rtol=1e-4,
                                   atol=1e-5)
        assert relevances[0].bin_map.shape == (L,)


def test_every_explainer_attributes_in_the_stft_view():
    seg = StftSegmentation(256, n_time=2, n_freq=2, n_fft=32, hop_length=8)
    rng = np.random.default_rng(5)
    w = rng.standard_normal(256)
    x = rng.standard_normal(256).astype(np.float32)
    wt = torch.from_numpy(w.astype(np.float32))

    def linear(v: torch.Tensor) -> torch.Tensor:
        return v @ wt

    window = torch.hann_window(32, dtype=torch.float64)
    spec = torch.stft(torch.from_numpy(x).double(), 32, 8, window=window, center=True,
                      pad_mode="constant", return_complex=True)

    def heard(kept: int) -> float:
        """w · istft(M_s · stft(x)): the model's output on the part of x in segment s."""
        t, f = divmod(kept, 2)
        mask = torch.zeros(spec.shape, dtype=torch.float64)
        mask[seg.freq_borders[f]:seg.freq_borders[f + 1],
             seg.time_borders[t]:seg.time_borders[t + 1]] = 1
        part = torch.istft(spec * mask, 32, 8, window=window, center=True, length=256)
        return float(part.numpy() @ w)

    expected = [heard(s) for s in range(4)]
    assert np.isclose(sum(expected), float(x.astype(np.float64) @ w))
    for name in ("gradient_x_input", "integrated_gradients", "occlusion", "kernelshap"):
        settings = {"kernelshap": {"num_samples": 64}, "integrated_gradients": {"n_steps": 4}}
        relevance = make_explainer(name, linear, seg, baseline="zero",
                                   **settings.get(name, {}))(x)
        np.testing.assert_allclose(relevance.weights, expected, rtol=1e-3, atol=1e-4,
                                   err_msg=name)
    saliency = make_explainer("saliency", linear, seg)(x)
    assert saliency.bin_map.shape == seg.view_shape and not saliency.signed
    z = seg.to_view(torch.from_numpy(x).double()[None]).requires_grad_()
    (seg.from_view(z) @ torch.from_numpy(w)).sum().backward()
    adjoint = np.abs(z.grad[0].numpy())
    np.testing.assert_allclose(saliency.weights, [adjoint[seg.view_labels() == s].sum()
                                                  for s in range(4)], rtol=1e-4)


def test_exhaustive_search_through_the_stft_view():
    seg = StftSegmentation(256, n_time=2, n_freq=2, n_fft=32, hop_length=8)
    t = np.arange(256)
    low = np.cos(2 * np.pi * 2 * t / 32)           # bin 2: frequency segment 0
    heard = low * (t < 128)                         # the model hears low tones early on

    def predict(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(x.astype(np.float64) @ heard / 20 - 1)))

    rng = np.random.default_rng(6)
    original = (0.01 * rng.standard_normal((3, 256))).astype(np.float32)
    high = np.cos(2 * np.pi * 12 * t / 32)          # bin 12: frequency segment 1
    delta = np.stack([a * low * (t < 120) + b * high + c * low * (t > 136)
                      for a, b, c in ((1.0, 1.0, 1.0), (0.4, 2.0, 1.0), (0.2, 0.0, 0.5))])
    adversarial = (original + delta).astype(np.float32)
    result = exhaustive_flips(original, adversarial, seg, predict, threshold_rule(1, 0.5),
                              max_k=2)
    window = torch.hann_window(32, dtype=torch.float64)
    for k in (1, 2):
        for pair in range(3):
            spec = torch.stft(torch.from_numpy(delta[pair]), 32, 8, window=window,
                              center=True, pad_mode="constant", return_complex=True)
            flags = []
            for kept in itertools.combinations(range(4), k):
                mask = torch.zeros(spec.shape, dtype=torch.float64)
                for c in kept:
                    tt, ff = divmod(c, 2)
                    mask[seg.freq_borders[ff]:seg.freq_borders[ff + 1],
                         seg.time_borders[tt]:seg.time_borders[tt + 1]] = 1
                part = torch.istft(spec * mask, 32, 8, window=window, center=True,
                                   length=256).numpy()
                flags.append(predict((original[pair] + part)[None])[0] > 0.5)
            assert result.flips[k - 1][pair].tolist() == flags
    assert result.smallest[0] == (0,) and result.smallest[2] is None


def test_one_callable_serves_every_explainer():
    model = Listener().eval()

    def probability(x: torch.Tensor) -> torch.Tensor:      # keeps its gradient
        return model(x)

    def numpy_only(x: torch.Tensor) -> np.ndarray:           # LIME's numpy predict of old
        return model(x).detach().numpy()

    _, adversarial = pairs(2)
    stft = StftSegmentation(L, n_time=2, n_freq=2, n_fft=16, hop_length=4)
    for seg in (TIME, stft):
        for name in EXPLAINERS:
            for callable_ in (model, probability):
                settings = {"num_samples": 32} if name in ("lime", "kernelshap") else {}
                relevances = make_explainer(name, callable_, seg, baseline="zero",
                                            **settings).explain_many(adversarial)
                assert all(np.isfinite(r.weights).all() and r.weights.shape == (4,)
                           for r in relevances), (name, seg)
        for name in ("lime", "kernelshap", "occlusion"):
            settings = {"num_samples": 32} if name != "occlusion" else {}
            weights = make_explainer(name, numpy_only, seg, baseline="zero",
                                     **settings)(adversarial[0]).weights
            assert np.isfinite(weights).all()


def test_quantus_masks_of_waveforms_and_no_masks_through_an_stft():
    masks = segment_masks([[1], [0, 3]], TIME)
    assert masks.shape == (2, 1, L) and masks.sum(axis=(1, 2)).tolist() == [16, 32]
    with pytest.raises(ValueError, match="not pointwise"):
        segment_masks([[1]], StftSegmentation(L, n_time=2, n_freq=2, n_fft=16))


def test_wrong_shapes_are_named():
    original, adversarial = pairs(2)
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        run_benchmark(original[:, :60], adversarial[:, :60], TIME, Listener(),
                      threshold_rule(1, 0.5), {})
    with pytest.raises(ValueError, match="excerpts must be"):
        exhaustive_flips(original[:, None], adversarial[:, None], TIME, Listener(),
                         threshold_rule(1, 0.5))
    with pytest.raises(ValueError, match=r"expected \(N, 64\)"):
        make_explainer("occlusion", Listener(), TIME)(np.zeros(63, np.float32))


HEARD = slice(128, 192)            # time segment 2 of TimeSegmentation(256, 4)
TAPS = 16


class SegmentTwoCnn(torch.nn.Module):
    """A waveform CNN whose logit provably depends on samples 128-191 (segment 2) alone.

    A bias-free Conv1d (a band-pass at fs/8 counted for class 1; a low-pass and a high-pass,
    which null that tone, counted against it), ReLU, the mean over only the conv outputs whose
    16 taps all lie in samples 128-191, a bias-free linear layer. White noise excites the three
    filters alike, so the model calls it class 0.
    """

    def __init__(self) -> None:
        super().__init__()
        n = torch.arange(TAPS, dtype=torch.float32)
        filters = torch.stack([torch.cos(2 * torch.pi * n / 8), torch.ones(TAPS) / 2 ** 0.5,
                               torch.cos(torch.pi * n) / 2 ** 0.5])
        self.conv = torch.nn.Conv1d(1, 3, TAPS, bias=False)
        self.linear = torch.nn.Linear(3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(filters[:, None])
            self.linear.weight.copy_(torch.tensor([[200.0, -400.0, -400.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heard = torch.relu(self.conv(x[:, None]))[:, :, HEARD.start:HEARD.stop - TAPS + 1]
        return self.linear(heard.mean(dim=2))[:, 0]


def test_a_waveform_cnn_that_hears_one_segment_is_found_by_every_explainer():
    n, seg = 8, TimeSegmentation(256, 4)
    net = SegmentTwoCnn().eval()

    def probability(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(net(x))

    def p_of(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return probability(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    rng = np.random.default_rng(7)
    original = (0.01 * rng.standard_normal((n, 256))).astype(np.float32)
    assert (p_of(original) < 0.5).all()                           # noise is class 0
    params = replace(attack_defaults("waveform"), clip_eps=0.05, lr=1e-3, max_iterations=300)
    attack = attack_excerpts(net, original, params, margin=0.1)
    assert attack.reached.all()
    delta = attack.adversarial - original
    assert not delta[:, :128].any() and not delta[:, 192:].any()     # the attack's δ: heard
    # noise the model cannot hear in the other segments, 40-60 % of segment 2's energy each
    heard_energy = (delta[:, HEARD].astype(np.float64) ** 2).sum(axis=1, keepdims=True)
    unheard = rng.standard_normal((n, 256))
    unheard[:, HEARD] = 0
    for a, b in ((0, 64), (64, 128), (192, 256)):
        unheard[:, a:b] *= np.sqrt(rng.uniform(0.4, 0.6, (n, 1)) * heard_energy
                                   / (unheard[:, a:b] ** 2).sum(axis=1, keepdims=True))
    adversarial = (attack.adversarial + unheard).astype(np.float32)
    np.testing.assert_allclose(p_of(adversarial), attack.adv_probs, rtol=1e-5)
    # δ kept in segment 2 alone (by slicing) flips every pair; in the other three, none
    only_heard, only_unheard = original.copy(), adversarial.copy()
    only_heard[:, HEARD], only_unheard[:, HEARD] = adversarial[:, HEARD], original[:, HEARD]
    assert (p_of(only_heard) > 0.5).all() and (p_of(only_unheard) < 0.5).all()
    assert list(exhaustive_flips(original, adversarial, seg, p_of, threshold_rule(1, 0.5),
                                 max_k=1).smallest) == [(2,)] * n
    energy = energy_relevances(original, adversarial, seg).weights
    assert (energy.argmax(axis=1) == 2).all()
    # segment 2 carries the most energy of δ, but less than the unheard segments together
    assert (energy[:, [0, 1, 3]].sum(axis=1) > energy[:, 2]).all()
    for name in EXPLAINERS:
        settings = {"num_samples": 128} if name.startswith("lime") or name == "kernelshap" \
            else {}
        found = make_explainer(name, probability, seg, seed=0, **settings).explain_many(
            adversarial)
        first = attribution_ranking(np.stack([r.weights for r in found]), 1,
                                    found[0].signed)[:, 0]
        if name != "random":
            assert (first == 2).all(), (name, first)


@pytest.mark.parametrize("seg", [TIME, StftSegmentation(L, 2, 2, n_fft=16, hop_length=4),
                                 LabelSegmentation(np.arange(L) % 4)],
                         ids=["time", "stft", "labels"])
def test_no_pairs_give_empty_tables(seg):
    # a setting where no attack flipped: every table is empty, nothing raises
    model = Listener()
    none = np.zeros((0, L), np.float32)
    methods = {name: make_explainer(name, model, seg, seed=0)
               for name in ("lime", "occlusion", "saliency", "random")}

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    run = run_benchmark(none, none, seg, predict, threshold_rule(1, 0.5), methods)
    assert run.curve.empty and run.table2.empty and run.subsets.empty
    assert seg.energy(none).shape == (0, 4) and seg.energy(none).dtype == np.float64
