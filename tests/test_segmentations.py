"""Segmentations of any excerpt behind one protocol: labels, time segments, STFT segments.

Answers are computed here by an independent route: slices for time segments, the grid's own
masks for labels, and ``torch.stft`` / ``torch.istft`` called directly for the STFT view.
"""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
import torch

from svdlib import (
    BaseSegmentation,
    LabelSegmentation,
    PointwiseSegmentation,
    Segmentation,
    StftSegmentation,
    TimeSegmentation,
)
from svdlib.explain.explainers import LimeExplainer
from svdlib.explain.explanation import Explanation
from svdlib.explain.segmentations.meta import segmentation_from_meta

RNG = np.random.default_rng(0)


def stft_part(delta: np.ndarray, seg: StftSegmentation, kept) -> np.ndarray:
    """``istft(M_S · stft(δ))`` by hand: the rectangles of ``kept`` cut from the spectrum."""
    window = torch.hann_window(seg.n_fft, dtype=torch.float64)
    spec = torch.stft(torch.as_tensor(delta, dtype=torch.float64), seg.n_fft, seg.hop_length,
                      window=window, center=True, pad_mode="constant", return_complex=True)
    mask = torch.zeros(spec.shape[-2:], dtype=torch.float64)
    for c in kept:
        t, f = divmod(int(c), seg.n_freq)
        mask[seg.freq_borders[f]:seg.freq_borders[f + 1],
             seg.time_borders[t]:seg.time_borders[t + 1]] = 1
    return torch.istft(spec * mask, seg.n_fft, seg.hop_length, window=window, center=True,
                       length=seg.length).numpy()


# -- the STFT view ------------------------------------------------------------------------------
def test_stft_parts_add_up_to_delta():
    seg = StftSegmentation(4000, n_time=4, n_freq=3, n_fft=256)
    delta = RNG.standard_normal((2, 4000)).astype(np.float32)
    parts = seg.parts(delta)
    assert parts.shape == (2, 12, 4000)
    np.testing.assert_allclose(parts.sum(axis=1), delta, atol=1e-5)
    # float32 through the torch view as the explainers use it: still exact to float precision
    z = seg.to_view(torch.from_numpy(delta))
    assert tuple(z.shape[1:]) == seg.view_shape == (129, 1 + 4000 // 64, 2)
    np.testing.assert_allclose(seg.from_view(z).numpy(), delta, atol=1e-5)
    composed = seg.compose(delta[0], 0.0, np.eye(12)).numpy()
    np.testing.assert_allclose(composed.sum(axis=0), delta[0], atol=1e-5)


def test_stft_parts_are_istft_of_masked_stft():
    seg = StftSegmentation(2000, n_time=3, n_freq=2, n_fft=128, hop_length=32)
    delta = RNG.standard_normal(2000)
    for kept in ([0], [1, 4], [2, 3, 5]):
        selection = np.zeros((1, 6))
        selection[0, kept] = 1
        original = RNG.standard_normal((1, 2000))
        partial = seg.keep(original, original + delta, selection)
        np.testing.assert_allclose(partial[0], original[0] + stft_part(delta, seg, kept),
                                   atol=1e-5)
    energy = seg.energy(delta)
    by_hand = [np.sum(stft_part(delta, seg, [c]) ** 2) for c in range(6)]
    np.testing.assert_allclose(energy, by_hand, rtol=1e-10)


def test_many_selections_of_repeated_and_distinct_pairs():
    # the exhaustive search keeps each pair in many subsets (rows given by `pairs`), LIME
    # composes one excerpt over its samples: both take the parts-once route; the pairs with
    # few rows the direct one. All equal the masked inverse STFT by hand, in any row order,
    # and with the pairs' rows repeated instead of indexed.
    seg = StftSegmentation(1500, n_time=3, n_freq=2, n_fft=128, hop_length=32)
    original, delta = RNG.standard_normal((3, 1500)), RNG.standard_normal((3, 1500))
    subsets = [s for k in (1, 2, 3) for s in itertools.combinations(range(6), k)]
    rows = [0] * len(subsets) + [1, 2, 0] + [2] * len(subsets)     # many, few, many
    kept = [*subsets, (0,), (3, 5), (1, 2), *subsets]
    selection = np.zeros((len(rows), 6))
    for i, cells in enumerate(kept):
        selection[i, list(cells)] = 1
    by_hand = np.array([original[r] + stft_part(delta[r], seg, kept[i])
                        for i, r in enumerate(rows)])
    partial = seg.keep(original, original + delta, selection, pairs=rows)
    np.testing.assert_allclose(partial, by_hand, atol=1e-5)
    shuffled = RNG.permutation(len(rows))
    np.testing.assert_allclose(seg.keep(original, original + delta, selection[shuffled],
                                        pairs=np.array(rows)[shuffled]), by_hand[shuffled],
                               atol=1e-5)
    repeated = seg.keep(original[rows], (original + delta)[rows], selection)
    np.testing.assert_allclose(repeated, by_hand, atol=1e-5)
    for _ in range(2):                      # the second time from the kept parts, the same
        composed = seg.compose(original[1], 0.25, selection[:len(subsets)]).numpy()
        by_hand_c = [0.25 + stft_part(original[1] - 0.25, seg, cells) for cells in subsets]
        np.testing.assert_allclose(composed, np.array(by_hand_c), atol=1e-5)
    other = seg.compose(original[2], 0.25, selection[:len(subsets)]).numpy()  # a new excerpt
    np.testing.assert_allclose(other[0], 0.25 + stft_part(original[2] - 0.25, seg, subsets[0]),
                               atol=1e-5)


def test_keep_checks_its_pairs():
    seg = TimeSegmentation(10, 2)
    pair = np.zeros((2, 10)), np.ones((2, 10))
    with pytest.raises(ValueError, match="give `pairs`"):
        seg.keep(*pair, np.ones((3, 2)))
    with pytest.raises(ValueError, match="outside 0..1"):
        seg.keep(*pair, np.ones((3, 2)), pairs=[0, 1, 2])
    with pytest.raises(ValueError, match="3 pair indices for 2 selections"):
        seg.keep(*pair, np.ones((2, 2)), pairs=[0, 1, 1])
    with pytest.raises(ValueError, match="differ in shape"):
        seg.keep(np.zeros((2, 10)), np.ones((3, 10)), np.ones((2, 2)))
    kept = seg.keep(*pair, [[1, 0], [0, 1], [1, 1]], pairs=[1, 1, 0])
    np.testing.assert_array_equal(kept, [[1] * 5 + [0] * 5, [0] * 5 + [1] * 5, [1] * 10])


def test_a_tone_in_one_cell_puts_its_energy_there():
    sr, seg = 16000, StftSegmentation(16000, n_time=5, n_freq=4, n_fft=512)
    t = np.arange(16000) / sr
    # 3 kHz is bin 96 (frequency segment 1: bins 64-127); 0.25-0.35 s are frames 31-44
    # (time segment 1: frames 25-49)
    tone = np.sin(2 * np.pi * 3000 * t) * np.exp(-((t - 0.3) / 0.02) ** 2)
    energy = seg.energy(tone)
    assert int(energy.argmax()) == seg.component_names().index("T1F1") == 5
    assert energy[5] / energy.sum() > 0.95
    # what the model hears: the part's waveform energy, not the coefficients'
    np.testing.assert_allclose(energy[5], np.sum(stft_part(tone, seg, [5]) ** 2))


def test_stft_settings_are_checked():
    with pytest.raises(ValueError, match="hop_length"):
        StftSegmentation(1000, n_fft=64, hop_length=40)
    with pytest.raises(ValueError, match="n_fft"):
        StftSegmentation(1000, n_fft=63)
    with pytest.raises(ValueError, match="borders"):
        StftSegmentation(1000, n_time=2, n_fft=64, time_borders=(0, 5, 40))
    seg = StftSegmentation(1000, n_time=2, n_freq=2, n_fft=64, freq_borders=(0, 4, 33))
    assert seg.freq_borders == (0, 4, 33) and seg.time_borders == (0, 31, 63)
    with pytest.raises(ValueError, match="does not end with"):
        seg.energy(np.zeros(999))


# -- labels and time segments -------------------------------------------------------------------
def test_labels_of_the_grid_are_the_grid():
    grid = Segmentation(23, 16, 3, 2)
    labels = LabelSegmentation(grid.cell_ids())
    assert labels.shape == grid.shape and labels.n_components == 6
    selection = RNG.integers(0, 2, (5, 6)).astype(np.uint8)
    np.testing.assert_array_equal(labels.masks_np(selection), grid.masks_np(selection))
    np.testing.assert_array_equal(labels.masks(selection).numpy(), grid.masks(selection).numpy())
    original = RNG.standard_normal((5, 23, 16)).astype(np.float32)
    adversarial = original + RNG.standard_normal((5, 23, 16)).astype(np.float32)
    np.testing.assert_array_equal(labels.keep(original, adversarial, selection),
                                  grid.keep(original, adversarial, selection))
    np.testing.assert_array_equal(
        labels.compose(original[0], adversarial[0], selection).numpy(),
        grid.compose(original[0], adversarial[0], selection).numpy())
    delta = adversarial - original
    np.testing.assert_allclose(labels.energy(delta), grid.energy(delta), rtol=1e-12)
    np.testing.assert_allclose(labels.segment_sums(delta), grid.segment_sums(delta), rtol=1e-12)
    np.testing.assert_allclose(labels.parts(delta).sum(axis=1), delta, rtol=1e-6)
    constant = grid.masks_np(np.arange(6.0)[None] * np.ones((5, 1)))
    np.testing.assert_array_equal(labels.segment_values(constant),
                                  np.tile(np.arange(6.0), (5, 1)))


def test_time_segments_are_slices():
    seg = TimeSegmentation(100, 3)
    assert seg.borders == (0, 33, 66, 100) and seg.component_names() == ["T0", "T1", "T2"]
    custom = TimeSegmentation(100, borders=(0, 10, 100))
    assert custom.n_components == 2 and custom.mask_of([0]).sum() == 10
    delta = RNG.standard_normal((4, 100))
    original = RNG.standard_normal((4, 100))
    for kept in itertools.chain.from_iterable(itertools.combinations(range(3), k)
                                              for k in range(4)):
        by_hand = original.copy()
        for c in kept:
            by_hand[:, seg.borders[c]:seg.borders[c + 1]] += delta[:, seg.borders[c]:
                                                                  seg.borders[c + 1]]
        selection = np.zeros((4, 3), np.uint8)
        selection[:, list(kept)] = 1
        np.testing.assert_allclose(seg.keep(original, original + delta, selection), by_hand,
                                   atol=1e-6)
    energy = [[np.sum(row[a:b] ** 2) for a, b in itertools.pairwise(seg.borders)]
              for row in delta]
    np.testing.assert_allclose(seg.energy(delta), energy, rtol=1e-12)


def test_bad_labels():
    with pytest.raises(ValueError, match="missing"):
        LabelSegmentation([0, 0, 2])
    with pytest.raises(ValueError, match="minimum"):
        LabelSegmentation([-1, 0, 1])
    with pytest.raises(ValueError, match="integers"):
        LabelSegmentation([0.0, 1.0])
    with pytest.raises(ValueError, match="names"):
        LabelSegmentation([0, 1], names=["a"])
    with pytest.raises(ValueError, match="columns"):
        TimeSegmentation(10, 2).keep(np.zeros((1, 10)), np.ones((1, 10)), np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"expected \(N, 10\)"):
        TimeSegmentation(10, 2).batch(np.zeros((2, 11)))


def test_every_kind_is_described_and_rebuilt():
    kinds = [Segmentation(), Segmentation(30, 20, 2, 2, time_borders=(0, 7, 30)),
             LabelSegmentation([[0, 1], [2, 2]], names=["a", "b", "c"]),
             TimeSegmentation(50, borders=(0, 5, 50)),
             StftSegmentation(800, n_time=3, n_freq=2, n_fft=64, hop_length=8)]
    for seg in kinds:
        assert isinstance(seg, BaseSegmentation)
        assert isinstance(seg, PointwiseSegmentation) == seg.pointwise
        rebuilt = segmentation_from_meta(seg.to_meta())
        assert rebuilt == seg and type(rebuilt) is type(seg)
        assert rebuilt.component_names() == seg.component_names()


def test_lime_on_a_waveform_is_stored_and_read_back():
    seg = TimeSegmentation(64, 4)

    def model(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(8 * (x[:, 16:32].mean(dim=1) - 0.5))

    excerpt = np.zeros(64, np.float32)
    excerpt[16:32] = 1.0
    explanation = LimeExplainer(model, seg, num_samples=64, seed=0,
                                baseline="zero").explanation(excerpt)
    assert int(explanation.weights(1).argmax()) == 1
    back = Explanation.from_arrays(explanation.to_arrays())
    assert back.segmentation == seg
    np.testing.assert_array_equal(back.weights(1), explanation.weights(1))
    shown = back.get_sorted_components(1, num_components=1)
    np.testing.assert_array_equal(shown, np.where(seg.mask_of([1]) > 0, excerpt, 0))


def test_parts_cache_keeps_recent_deltas_within_its_budget():
    from svdlib.explain.segmentations import pair_rows, parts_cache
    for module in (pair_rows, parts_cache):
        assert doctest.testmod(module).failed == 0
    cache = parts_cache.PartsCache(max_bytes=3 * 32)    # three entries: δ and parts, 16 B each
    deltas = [torch.full((1, 4), float(i)) for i in range(5)]
    for i, delta in enumerate(deltas):
        cache.put(delta, torch.full((1, 4), 10.0 + i))
    assert [cache.get(d) is None for d in deltas] == [True, True, False, False, False]
    assert cache.get(deltas[2].double()) is None                 # another dtype is another δ
    cache.get(deltas[2])                                         # used: now the most recent
    cache.put(torch.ones(1, 4) * 7, torch.zeros(1, 4))
    assert cache.get(deltas[3]) is None and cache.get(deltas[2]) is not None
    huge = parts_cache.PartsCache(max_bytes=1)                   # the newest entry stays
    huge.put(deltas[0], deltas[0])
    assert huge.get(deltas[0]) is not None
