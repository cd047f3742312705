"""Exhaustive subset search (svdlib.veracity.exhaustive) on hand-made models whose answers are
counted here: which k-subsets of δ flip a linear binary model and a three-class model."""

import itertools
from math import comb

import numpy as np
import pytest

from svdlib.explain.segments import Segmentation
from svdlib.veracity.exhaustive import (
    attainable_rate,
    chance_rate,
    contains_smallest,
    exhaustive_flips,
    k_subsets,
)
from svdlib.veracity.measures import keep_top_k
from svdlib.veracity.rules import class_change_rule, threshold_rule

SEG = Segmentation(8, 6, 4, 3)        # 12 segments of 2 frames × 2 bands


def _spread(values, seg=SEG):
    """``values[n, s]`` spread evenly over the cells of segment s."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    masks = seg.masks_np(np.eye(seg.n_components, dtype=np.uint8)).astype(np.float64)
    cells = masks.sum(axis=(1, 2))
    return np.einsum("ns,sfb->nfb", values / cells, masks).astype(np.float32)


def _planted(values, base=None, seg=SEG):
    """Pairs whose δ is ``values[s]`` spread over segment s; the original is ``base`` spread
    the same way (all zero by default)."""
    original = _spread(np.zeros_like(np.atleast_2d(values)) if base is None else base, seg)
    return original, original + _spread(values, seg)


def _linear_probability(excerpts):
    """P(class 1) = sigmoid(sum of the excerpt − 1): δ must add more than 1 to flip at 0.5."""
    return 1 / (1 + np.exp(-(np.asarray(excerpts, dtype=np.float64).sum(axis=(1, 2)) - 1.0)))


def _linear_pairs():
    values = np.zeros((5, 12))
    values[0, 5] = 1.5                          # one segment suffices
    values[1, [2, 4, 9]] = [0.6, 0.7, 0.8]      # any two of three (sums 1.3, 1.4, 1.5)
    values[2, :3] = 0.4                         # all three needed (0.8 < 1 < 1.2)
    values[3, :] = 0.3                          # ≤ 3 segments add at most 0.9; all 12: 3.6
    values[4, [0, 1]] = [2.0, -1.5]             # segment 0 flips unless 1 comes along
    return _planted(values)


def test_counts_of_flipping_subsets_by_hand():
    original, adversarial = _linear_pairs()
    result = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                              threshold_rule(1, 0.5))
    assert result.n_subsets.tolist() == [12, 66, 220]
    assert result.n_flipping.tolist() == [
        [1, 11, 55],                 # subsets holding 5: C(11, k − 1)
        [0, 3, 3 * 9 + 1],           # ≥ 2 of {2, 4, 9}
        [0, 0, 1],                   # only {0, 1, 2}
        [0, 0, 0],
        [1, 10, 45],                 # 0 without 1: C(10, k − 1)
    ]
    assert result.smallest == ((5,), (2, 4), (0, 1, 2), None, (0,))
    assert result.smallest_k.tolist() == [1, 2, 3, 0, 1]
    assert result.attainable.tolist() == [[True] * 3, [False, True, True],
                                          [False, False, True], [False] * 3, [True] * 3]
    assert result.chance[0].tolist() == pytest.approx([1 / 12, 11 / 66, 55 / 220])
    assert result.flipping(1, 2).tolist() == [[2, 4], [2, 9], [4, 9]]
    assert result.flipping(2, 3).tolist() == [[0, 1, 2]]
    assert result.order == "lexicographic" and np.isnan(result.smallest_margin).all()
    # the full δ of pair 3 does flip: only the bound max_k = 3 keeps it out of reach
    assert _linear_probability(adversarial[3:4])[0] > 0.5


def test_the_margin_picks_the_clearest_flip_of_the_smallest_size():
    original, adversarial = _linear_pairs()
    result = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                              threshold_rule(1, 0.5), by_margin=True)
    assert result.order == "margin"
    assert result.smallest == ((5,), (4, 9), (0, 1, 2), None, (0,))     # 1.5 beats 1.3, 1.4
    expected = 1 / (1 + np.exp(-(np.array([1.5, 1.5, 1.2, np.nan, 2.0]) - 1.0))) - 0.5
    assert result.smallest_margin == pytest.approx(expected, abs=1e-6, nan_ok=True)
    # the same counts: the margin only chooses among the flipping subsets
    plain = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                             threshold_rule(1, 0.5))
    assert np.array_equal(result.n_flipping, plain.n_flipping)
    # a plain callable decides flips but has no margin to choose by
    rule = threshold_rule(1, 0.5)
    bare = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                            lambda outputs, pair: rule.flipped(outputs, pair))
    assert bare.smallest == plain.smallest
    with pytest.raises(ValueError, match="margin"):
        exhaustive_flips(original, adversarial, SEG, _linear_probability,
                         lambda outputs, pair: rule.flipped(outputs, pair), by_margin=True)


def test_target_zero_flips_below_the_threshold():
    values = np.zeros((1, 12))
    values[0, 7] = -1.0                # keeping segment 7: the sum drops to 0.5, P < 0.5
    original, adversarial = _planted(values, base=np.full((1, 12), 1.5 / 12))
    # the original sums 1.5 (P > 0.5); without segment 7 the sum stays 1.5
    result = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                              threshold_rule(0, 0.5), max_k=2)
    assert result.n_flipping.tolist() == [[1, 11]] and result.smallest == ((7,),)


def test_a_three_class_model_with_class_change_rule():
    # scores: [0.5, total in segment 0, total in segment 11]
    masks = SEG.masks_np(np.eye(12, dtype=np.uint8)).astype(bool)

    def predict(excerpts):
        e = np.asarray(excerpts, dtype=np.float64)
        return np.stack([np.full(len(e), 0.5), e[:, masks[0]].sum(1), e[:, masks[11]].sum(1)],
                        axis=1)

    values, base = np.zeros((2, 12)), np.zeros((2, 12))
    values[0, 0] = 1.0                 # pair 0 (class 0): class 1 whenever segment 0 is kept
    base[1, 11] = 1.0                  # pair 1 is class 2: [0.5, 0, 1]
    values[1, [0, 11]] = [1.2, -1.0]   # keeping 11 → [0.5, 0, 0]; keeping 0 → [0.5, 1.2, 1]
    original, adversarial = _planted(values, base)
    assert predict(original).argmax(1).tolist() == [0, 2]
    decide = class_change_rule([0, 2])
    result = exhaustive_flips(original, adversarial, SEG, predict, decide)
    assert result.n_flipping[0].tolist() == [comb(11, k - 1) for k in (1, 2, 3)]
    # pair 1 flips when 0 or 11 is kept: C(12, k) − C(10, k)
    assert result.n_flipping[1].tolist() == [2, 66 - 45, 220 - 120]
    assert result.smallest == ((0,), (0,))
    by_margin = exhaustive_flips(original, adversarial, SEG, predict, decide,
                                 by_margin=True)
    # pair 1: {0} wins by 1.2 − 1 = 0.2, {11} by 0.5 − 0 = 0.5
    assert by_margin.smallest == ((0,), (11,))
    assert by_margin.smallest_margin == pytest.approx([0.5, 0.5], abs=1e-6)


def test_rates_over_pairs_carry_the_per_pair_values_and_songs():
    original, adversarial = _linear_pairs()
    result = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                              threshold_rule(1, 0.5))
    at2 = attainable_rate(result, 2, songs=["a", "a", "b", "c", "c"])
    assert at2.mean == pytest.approx(3 / 5)
    assert at2.values.tolist() == [True, True, False, False, True]
    assert at2.songs.tolist() == ["a", "a", "b", "c", "c"] and at2.k == 2
    ch1 = chance_rate(result, 1)
    assert ch1.values.tolist() == pytest.approx([1 / 12, 0, 0, 0, 1 / 12])
    assert ch1.mean == pytest.approx(2 / 60) and ch1.songs.tolist() == [0, 1, 2, 3, 4]
    assert chance_rate(result, 3).mean == pytest.approx(
        np.mean([55 / 220, 28 / 220, 1 / 220, 0, 45 / 220]))
    with pytest.raises(ValueError, match="1..3"):
        chance_rate(result, 4)
    with pytest.raises(ValueError, match="songs"):
        attainable_rate(result, 1, songs=["a"])


def test_contains_smallest_for_a_ranking_that_has_and_one_that_lacks_it():
    original, adversarial = _linear_pairs()
    result = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                              threshold_rule(1, 0.5))
    def ranking(*firsts):
        return np.array([list(f) + [s for s in range(12) if s not in f] for f in firsts])

    good = ranking([5, 0, 1], [4, 2, 9], [2, 0, 1], [0, 1, 2], [3, 0, 1])
    bad = ranking([0, 1, 2], [2, 9, 4], [0, 1, 3], [0, 1, 2], [1, 2, 3])
    assert contains_smallest(good, result, 3).tolist() == [True, True, True, False, True]
    # pair 1's smallest is {2, 4}: {2, 9} is a flipping 2-subset, but not the smallest one
    assert contains_smallest(bad, result, 2).tolist() == [False, False, False, False, False]
    assert contains_smallest(bad, result, 3).tolist() == [False, True, False, False, False]
    # a smallest subset of three cannot be in a top 2
    assert contains_smallest(good, result, 2).tolist() == [True, True, False, False, True]
    assert contains_smallest(bad, result, 12).tolist() == [True, True, True, False, True]
    with pytest.raises(ValueError, match="ranking"):
        contains_smallest(good[:2], result, 3)


def test_the_results_do_not_depend_on_the_batch_size():
    rng = np.random.default_rng(4)
    weights = rng.normal(size=(3, *SEG.shape))

    def predict(excerpts):      # nonlinear three-class scores
        return np.tanh(np.einsum("mfb,cfb->mc", np.asarray(excerpts, np.float64), weights))

    original = rng.normal(size=(6, *SEG.shape)).astype(np.float32)
    adversarial = original + rng.normal(scale=2.0, size=original.shape).astype(np.float32)
    classes = predict(original).argmax(1)
    calls = []

    def counted(excerpts):
        calls.append(len(excerpts))
        return predict(excerpts)

    results = [exhaustive_flips(original, adversarial, SEG, counted, class_change_rule(classes),
                                batch_size=size, by_margin=True)
               for size in (7, 512, 6 * 298)]
    assert calls[:3] == [7, 7, 7] and sum(calls) == 3 * 6 * 298 and calls[-1] == 6 * 298
    first = results[0]
    assert 0 < first.n_flipping.sum() < 6 * 298        # a non-trivial case
    for other in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(first.flips, other.flips, strict=True))
        assert other.smallest == first.smallest
        assert np.array_equal(other.smallest_margin, first.smallest_margin, equal_nan=True)
    shown = exhaustive_flips(original, adversarial, SEG, predict, class_change_rule(classes),
                             progress=True)
    assert shown.smallest == exhaustive_flips(original, adversarial, SEG, predict,
                                              class_change_rule(classes)).smallest


def test_an_independent_loop_over_combinations_gives_the_same_answers():
    seg = Segmentation(6, 4, 3, 2)                      # 6 segments
    rng = np.random.default_rng(11)
    weights = rng.normal(size=seg.shape)

    def predict(excerpts):
        e = np.asarray(excerpts, np.float64)
        return 1 / (1 + np.exp(-(np.einsum("mfb,fb->m", e, weights) + 0.3 * (e ** 2).sum((1, 2))
                                 - 2.0)))

    original = rng.normal(scale=0.3, size=(5, *seg.shape)).astype(np.float32)
    adversarial = original + rng.normal(scale=1.0, size=original.shape).astype(np.float32)
    decide = threshold_rule(1, 0.5)
    result = exhaustive_flips(original, adversarial, seg, predict, decide, max_k=4,
                              batch_size=9)
    counts = np.zeros((5, 4), int)
    smallest = [None] * 5
    for i in range(5):
        for k in range(1, 5):
            for combo in itertools.combinations(range(6), k):
                order = np.array([*combo, *(s for s in range(6) if s not in combo)])
                x = keep_top_k(original[i:i + 1], adversarial[i:i + 1], order, k, seg)
                if decide(predict(x), np.array([i]))[0]:
                    counts[i, k - 1] += 1
                    smallest[i] = smallest[i] or combo
    assert result.n_flipping.tolist() == counts.tolist()
    assert list(result.smallest) == smallest
    assert result.n_subsets.tolist() == [6, 15, 20, 15]
    assert counts.sum() > 0 and (counts < result.n_subsets).any()


def test_the_papers_grid_searches_1350_partial_adversaries_per_pair():
    seg = Segmentation()                                # 115 × 80 in 5 × 4
    values = np.zeros((1, 20))
    values[0, 7] = 1.5
    original, adversarial = _planted(values, seg=seg)
    calls = []

    def predict(excerpts):
        calls.append(len(excerpts))
        return _linear_probability(excerpts)

    result = exhaustive_flips(original, adversarial, seg, predict, threshold_rule(1, 0.5))
    assert result.n_subsets.tolist() == [20, 190, 1140] and sum(calls) == 1350
    assert max(calls) == 512 and len(calls) == 3
    assert result.n_flipping.tolist() == [[comb(19, k - 1) for k in (1, 2, 3)]]
    assert result.chance[0].tolist() == pytest.approx([1 / 20, 19 / 190, 171 / 1140])
    assert result.smallest == ((7,),)
    frame = result.to_frame()
    assert frame.columns.tolist() == ["pair", "k", "n_subsets", "n_flipping", "chance",
                                      "attainable", "smallest"]
    assert frame["n_subsets"].sum() == 1350 and frame["smallest"].tolist() == ["7"] * 3


def test_the_tidy_frame_and_the_edges():
    original, adversarial = _linear_pairs()
    frame = exhaustive_flips(original, adversarial, SEG, _linear_probability,
                             threshold_rule(1, 0.5)).to_frame()
    assert len(frame) == 15 and frame["pair"].tolist() == np.repeat(range(5), 3).tolist()
    row = frame[(frame.pair == 1) & (frame.k == 2)].iloc[0]
    assert (row.n_subsets, row.n_flipping, bool(row.attainable), row.smallest) == \
        (66, 3, True, "2 4")
    assert frame[frame.pair == 3]["smallest"].isna().all()
    empty = exhaustive_flips(original[:0], adversarial[:0], SEG, _linear_probability,
                             threshold_rule(1, 0.5))
    assert empty.n_pairs == 0 and empty.n_flipping.shape == (0, 3) and len(empty.to_frame()) == 0
    assert np.isnan(chance_rate(empty, 1).mean)
    assert k_subsets(4, 2).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    args = (SEG, _linear_probability, threshold_rule(1, 0.5))
    with pytest.raises(ValueError, match="max_k"):
        exhaustive_flips(original, adversarial, *args, max_k=13)
    with pytest.raises(ValueError, match="batch_size"):
        exhaustive_flips(original, adversarial, *args, batch_size=0)
    with pytest.raises(ValueError, match="differ in shape"):
        exhaustive_flips(original, adversarial[:2], *args)
    with pytest.raises(ValueError, match="outputs"):
        exhaustive_flips(original, adversarial, SEG, lambda x: np.zeros(1),
                         threshold_rule(1, 0.5))
