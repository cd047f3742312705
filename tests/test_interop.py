"""The planted ground truth as Quantus ``s_batch`` masks (svdlib.veracity.interop), and Quantus's
localisation metrics on them against the same numbers computed here in numpy."""

import warnings

import numpy as np
import pytest

from svdlib.explain.segments import Segmentation
from svdlib.veracity.interop import (
    bin_attributions,
    planted_masks,
    planted_segments,
    segment_masks,
    to_quantus,
)

SEG = Segmentation(12, 8, 3, 2)        # 6 segments of 4 frames × 4 bands, id = 2 t + f


def _bins(ids):
    """The (frames, bands) bool mask of a set of segments, drawn from their slices."""
    mask = np.zeros(SEG.shape, bool)
    for c in ids:
        mask[SEG.component_slices(c)] = True
    return mask


def _pairs():
    """Three pairs: δ in segments {1: 3, 4: 5}, in {0: 1, 2: 4, 5: 2} (amplitudes), and none."""
    rng = np.random.default_rng(0)
    original = rng.normal(size=(3, *SEG.shape)).astype(np.float32)
    delta = np.zeros_like(original)
    for row, amplitudes in enumerate(({1: 3.0, 4: 5.0}, {0: 1.0, 2: 4.0, 5: 2.0}, {})):
        for c, value in amplitudes.items():
            delta[row][SEG.component_slices(c)] = value
    return original, original + delta


def test_segment_masks_layout_and_content():
    masks = segment_masks([[1, 4], None, [], "5 0", np.array([3]), {2, 0}, 5], SEG)
    assert masks.shape == (7, 1, *SEG.shape) and masks.dtype == bool
    for row, ids in enumerate(([1, 4], [], [], [5, 0], [3], [0, 2], [5])):
        np.testing.assert_array_equal(masks[row, 0], _bins(ids))
    assert segment_masks(np.array([[2, 3], [0, 0]]), SEG)[1, 0].sum() == 16
    assert segment_masks([], SEG).shape == (0, 1, *SEG.shape)
    with pytest.raises(ValueError, match="pair 1"):
        segment_masks([[0], [6]], SEG)


def test_planted_masks_are_the_segments_where_delta_lives():
    original, adversarial = _pairs()
    masks = planted_masks(original, adversarial, SEG, 2)
    assert masks.shape == (3, 1, *SEG.shape) and masks.dtype == bool
    np.testing.assert_array_equal(masks[0, 0], _bins([1, 4]))
    np.testing.assert_array_equal(masks[1, 0], _bins([2, 5]))      # the two largest of three
    assert not masks[2].any()                                      # no δ, no ground truth
    # with k at least the number of touched segments, the mask is exactly where δ is non-zero
    full = planted_masks(original, adversarial, SEG, 6)[:, 0]
    np.testing.assert_array_equal(full, adversarial != original)
    ids = planted_segments(original, adversarial, SEG, [1, 3, 2])
    assert [i.tolist() for i in ids] == [[4], [2, 5, 0], []]
    # without dropping silent segments the ranking's ties go to the lowest ids
    assert planted_segments(original, adversarial, SEG, 2, nonzero=False)[2].tolist() == [0, 1]


def test_to_quantus_shapes_and_broadcast_relevances():
    original, adversarial = _pairs()
    weights = np.arange(18, dtype=float).reshape(3, 6)
    batch = to_quantus(adversarial, weights, planted_masks(original, adversarial, SEG, 2),
                       segmentation=SEG)
    assert batch.x_batch.shape == batch.a_batch.shape == batch.s_batch.shape == (3, 1, 12, 8)
    assert (batch.x_batch.dtype, batch.a_batch.dtype, batch.s_batch.dtype) == \
        (np.float32, np.float64, bool)
    assert batch.y_batch.tolist() == [1, 1, 1]
    for c in range(SEG.n_components):
        assert (batch.a_batch[1, 0][SEG.component_slices(c)] == weights[1, c]).all()
    np.testing.assert_array_equal(bin_attributions(batch.a_batch[:, 0]), batch.a_batch)
    with pytest.raises(ValueError, match="segmentation"):
        bin_attributions(weights)
    with pytest.raises(ValueError, match="0/1"):
        to_quantus(adversarial, weights, np.full((3, *SEG.shape), 2), SEG)


# -- Quantus's localisation metrics against numpy ------------------------------------------------
def _quantus_case():
    """Four pairs with non-empty planted masks and a continuous (tie-free) attribution map."""
    rng = np.random.default_rng(1)
    original = rng.normal(size=(4, *SEG.shape)).astype(np.float32)
    delta = np.zeros_like(original)
    for row, ids in enumerate(([1, 4], [0, 2, 5], [3], [0, 1, 2, 3])):
        for rank, c in enumerate(ids):
            delta[row][SEG.component_slices(c)] = 1.0 + rank
    adversarial = original + delta
    masks = planted_masks(original, adversarial, SEG, 6)
    # attributions leaning towards the planted bins, so that the scores are not all 0
    a = rng.normal(size=masks.shape) + 1.5 * masks
    return to_quantus(adversarial, a, masks, SEG)


def _top_bins(a, count):
    """The ``count`` largest bins of a tie-free flat map, by threshold (no argsort)."""
    return a >= np.sort(a)[::-1][count - 1]


def _run(metric, batch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(metric(**batch.arguments()), dtype=float)


def test_quantus_rank_metrics_match_numpy():
    quantus = pytest.importorskip("quantus")
    batch = _quantus_case()
    a, s = batch.a_batch.reshape(4, -1), batch.s_batch.reshape(4, -1)
    rank = [(_top_bins(ai, si.sum()) & si).sum() / si.sum() for ai, si in zip(a, s, strict=True)]
    got = _run(quantus.RelevanceRankAccuracy(abs=False, normalise=False,
                                             disable_warnings=True), batch)
    np.testing.assert_allclose(got, rank, rtol=0, atol=1e-12)
    assert min(rank) > 0 and max(rank) < 1
    k = 20
    top_k = [(_top_bins(ai, k) & si).sum() / k for ai, si in zip(a, s, strict=True)]
    got = _run(quantus.TopKIntersection(k=k, abs=False, normalise=False,
                                        disable_warnings=True), batch)
    np.testing.assert_allclose(got, top_k, rtol=0, atol=1e-12)
    hit = [bool(si[np.argmax(ai)]) for ai, si in zip(a, s, strict=True)]
    got = _run(quantus.PointingGame(abs=False, normalise=False, disable_warnings=True), batch)
    assert got.astype(bool).tolist() == hit


def test_quantus_attribution_localisation_matches_numpy():
    quantus = pytest.importorskip("quantus")
    batch = _quantus_case()
    a, s = batch.a_batch.reshape(4, -1), batch.s_batch.reshape(4, -1)
    positive = np.clip(a, 0, None)
    expected = (positive * s).sum(1) / (positive.sum(1) + 1e-9)
    metric = quantus.AttributionLocalisation(positive_attributions=True, abs=False,
                                             normalise=False, disable_warnings=True)
    np.testing.assert_allclose(_run(metric, batch), expected, rtol=1e-6, atol=1e-9)
    # Quantus's defaults: |a| after dividing by the batch's largest |a| (normalise_by_max)
    scaled = np.abs(a / np.abs(a).max())
    expected = (scaled * s).sum(1) / (scaled.sum(1) + 1e-9)
    metric = quantus.AttributionLocalisation(disable_warnings=True)
    np.testing.assert_allclose(_run(metric, batch), expected, rtol=1e-6, atol=1e-9)


def test_quantus_on_segment_relevances():
    """Broadcast segment relevances (distinct per segment, equal-sized segments): the rank
    accuracy counts whole segments, the ranking's top |s| segments that are planted."""
    quantus = pytest.importorskip("quantus")
    original, adversarial = _pairs()
    keep = [0, 1]                                                   # pair 2 has no planted δ
    masks = planted_masks(original, adversarial, SEG, 3)[keep]
    weights = np.array([[0.1, 0.9, 0.3, 0.2, 0.4, 0.8], [0.7, 0.1, 0.5, 0.2, 0.3, 0.6]])
    batch = to_quantus(adversarial[keep], weights, masks, SEG, labels=[1, 0])
    planted = [{1, 4}, {0, 2, 5}]
    expected = [len(set(np.argsort(-w)[:len(p)]) & p) / len(p)
                for w, p in zip(weights, planted, strict=True)]
    assert expected == [0.5, 1.0]
    got = _run(quantus.RelevanceRankAccuracy(abs=False, normalise=False,
                                             disable_warnings=True), batch)
    np.testing.assert_allclose(got, expected, atol=1e-12)
