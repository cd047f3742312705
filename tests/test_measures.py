"""The store-free measures (svdlib.veracity.measures) on hand-made models whose answers are
written here: which k-subsets of δ flip a linear decision, for binary and multi-class models."""

import numpy as np
import pandas as pd
import pytest
import torch

from svdlib import (
    LimeExplainer,
    Relevance,
    Segmentation,
    StoredRelevances,
    attack_excerpts,
    attribution_ranking,
    class_change_rule,
    energy_ranking,
    energy_relevances,
    flip_curve,
    subset_partials,
    subset_recovery,
    table2_rates,
    table2_rows,
    threshold_rule,
    top_k_rates,
)

SEG = Segmentation(8, 6, 4, 3)        # 12 segments of 2 frames × 2 bands


def _planted(values):
    """Pairs whose δ is ``values[s]`` spread evenly over segment s (original all zero)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float32))
    original = np.zeros((len(values), *SEG.shape), np.float32)
    masks = SEG.masks_np(np.eye(SEG.n_components, dtype=np.uint8)).astype(np.float32)
    delta = np.einsum("ns,sfb->nfb", values, masks) / 4.0     # 4 cells per segment
    return original, original + delta


def _linear_probability(excerpts):
    """P(class 1) = sigmoid(sum of the excerpt − 1): δ must add more than 1 to flip at 0.5."""
    return 1 / (1 + np.exp(-(np.asarray(excerpts).sum(axis=(1, 2)) - 1.0)))


def test_flip_curve_of_a_linear_binary_model_by_hand():
    # pair 0: segment 5 alone carries 1.5 (flips at k = 1 when ranked first)
    # pair 1: 0.4 in each of segments 0, 1, 2 (three needed: 0.8 < 1 < 1.2)
    values = np.zeros((2, 12))
    values[0, 5], values[0, 7] = 1.5, 0.2
    values[1, :3] = 0.4
    original, adversarial = _planted(values)
    good = np.zeros((2, 12))
    good[0, 5], good[1, :3] = 1, [3, 2, 1]
    bad = -good                                   # ranks the carrying segments last
    curve = flip_curve(original, adversarial, {"good": good, "bad": bad},
                       SEG, _linear_probability, threshold_rule(1, 0.5), ks=[1, 2, 3, 12])
    flips = {(r.method, r.pair, r.k): r.flipped for r in curve.itertuples()}
    assert [flips[("good", 0, k)] for k in (1, 2, 3, 12)] == [True, True, True, True]
    assert [flips[("good", 1, k)] for k in (1, 2, 3, 12)] == [False, False, True, True]
    assert [flips[("bad", 0, k)] for k in (1, 2, 3, 12)] == [False, False, False, True]
    assert [flips[("bad", 1, k)] for k in (1, 2, 3, 12)] == [False, False, False, True]
    p = curve[(curve.method == "good") & (curve.pair == 1) & (curve.k == 3)].output.item()
    assert p == pytest.approx(1 / (1 + np.exp(-(1.2 - 1.0))), abs=1e-6)
    # the energy ranking finds the carrying segments here
    energy = energy_ranking(original, adversarial, SEG)
    assert energy[0, 0] == 5 and set(energy[1, :3]) == {0, 1, 2}
    # and as a method: unsigned relevances, ranked descending for either target
    stored = energy_relevances(original, adversarial, SEG)
    assert not stored.signed and np.array_equal(attribution_ranking(stored.weights, 0, False),
                                                energy)


def test_class_change_rule_on_a_three_class_model():
    # class scores: [1 − total, total in segment 0, total in segment 11]; originals are class 0
    masks = SEG.masks_np(np.eye(12, dtype=np.uint8)).astype(bool)

    def predict(excerpts):
        e = np.asarray(excerpts)
        a, b = e[:, masks[0]].sum(1), e[:, masks[11]].sum(1)
        return np.stack([np.full(len(e), 0.5), a, b], axis=1)

    values = np.zeros((2, 12))
    values[0, 0], values[1, 11], values[1, 4] = 1.0, 1.0, 3.0
    original, adversarial = _planted(values)
    decide = class_change_rule([0, 0])
    ranking = np.array([np.arange(12), np.r_[4, 11, np.arange(4), np.arange(5, 11)]])
    relevance = np.zeros((2, 12))
    np.put_along_axis(relevance, ranking, np.arange(12.0, 0.0, -1.0)[None], axis=1)
    assert np.array_equal(attribution_ranking(relevance), ranking)
    curve = flip_curve(original, adversarial, {"r": relevance}, SEG, predict, decide, ks=[1, 2])
    flipped = curve.set_index(["pair", "k"])["flipped"]
    assert flipped[(0, 1)] and not flipped[(1, 1)] and flipped[(1, 2)]
    assert curve.set_index(["pair", "k"])["output"][(1, 2)] == 2      # the predicted class
    with pytest.raises(ValueError, match=r"\(M, C\)"):
        decide(np.zeros(3), np.arange(3))
    # a ranking is not a relevance: refused rather than read as one
    with pytest.raises(ValueError, match="a ranking"):
        flip_curve(original, adversarial, {"r": ranking}, SEG, predict, decide, ks=[1])


def test_one_decision_rule_says_whether_and_by_how_much():
    p = np.array([0.2, 0.5, 0.7])
    for target, flipped in ((1, [False, False, True]), (0, [True, False, False])):
        rule = threshold_rule(target, 0.5)
        assert rule(p, np.arange(3)).tolist() == flipped
        assert rule.margin(p, np.arange(3)) == pytest.approx(
            [(v - 0.5) * (1 if target == 1 else -1) for v in p])
        assert ((rule.margin(p, np.arange(3)) > 0) == rule.flipped(p, np.arange(3))).all()
    scores = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])   # pair 0 was class 0, pair 1 class 0
    rule = class_change_rule([0, 0])
    assert rule(scores, np.arange(2)).tolist() == [True, False]
    assert rule.margin(scores, np.arange(2)) == pytest.approx([0.5, -0.2])


def test_top_k_rates_count_pairs_and_pair_the_difference():
    rows = []
    for pair, (a, b) in enumerate([(1, 1), (1, 0), (0, 0), (1, 0)]):
        rows += [{"pair": pair, "k": 3, "method": "A", "flipped": bool(a)},
                 {"pair": pair, "k": 3, "method": "B", "flipped": bool(b)}]
    table = top_k_rates(pd.DataFrame(rows), k=3, songs=["s1", "s1", "s2", "s3"],
                        reference="B", n_boot=200).set_index("method")
    assert table.loc["A", "percent"] == 75.0 and table.loc["B", "percent"] == 25.0
    assert table.loc["A", "difference"] == 50.0          # A − B, in percentage points
    assert table.loc["A", "n_pairs"] == 4 and table.loc["A", "n_songs"] == 3
    assert np.isnan(table.loc["B", "difference"])


def test_table2_counts_the_relevant_segments_and_flips_with_that_k():
    values = np.zeros((1, 12))
    values[0, :3] = 0.4
    original, adversarial = _planted(values)
    attributions = np.zeros((1, 12))
    attributions[0, [0, 1, 2, 9]] = [0.3, 0.2, 0.1, -0.5]
    rows = table2_rows(original, adversarial, {"LIME": attributions}, SEG, _linear_probability,
                       threshold_rule(1, 0.5), target=1)
    assert rows.loc[0, "k"] == 3 and rows.loc[0, "flipped"]
    assert rows.loc[0, "energy_flipped"]                # δ's 3 segments are its 3 strongest
    rows0 = table2_rows(original, adversarial, {"LIME": attributions}, SEG, _linear_probability,
                        threshold_rule(0, 0.5), target=0)
    assert rows0.loc[0, "k"] == 1                       # one negative segment for target 0
    # unsigned relevances have no segment "for" a class: no k, nothing flipped, NaN rates
    unsigned = table2_rows(original, adversarial, {"energy": energy_relevances(
        original, adversarial, SEG)}, SEG, _linear_probability, threshold_rule(1, 0.5))
    assert np.isnan(unsigned.loc[0, "k"]) and not unsigned.loc[0, "flipped"]
    rates = table2_rates(pd.concat([rows, unsigned]), n_boot=50).set_index("method")
    assert rates.loc["LIME", ["percent", "energy %", "difference", "mean k"]].tolist() == [
        100.0, 100.0, 0.0, 3.0]
    assert np.isnan(rates.loc["energy", "percent"])


def test_subset_recovery_with_a_truthful_and_a_lying_explainer():
    values = np.zeros((3, 12))
    values[:, [2, 6, 10]] = [[2.0, 0.5, 0.1], [1.5, 1.0, 0.2], [3.0, 0.3, 0.3]]
    original, adversarial = _planted(values)
    masks = SEG.masks_np(np.eye(12, dtype=np.uint8)).astype(bool)

    def truthful(excerpt):       # a linear model's exact relevance: the sum in each segment
        return Relevance(np.array([excerpt[m].sum() for m in masks]), 1.0)

    def lying(excerpt):
        return Relevance(-np.array([excerpt[m].sum() for m in masks]), 0.0)

    partials = subset_partials(original, adversarial, SEG, _linear_probability,
                               threshold_rule(1, 0.5), ks=(1, 2))
    # the modified segments by hand: δ's strongest 1 and 2 of segments 2, 6, 10
    assert partials.k.tolist() == [1, 1, 1, 2, 2, 2] and partials.pair.tolist() == [0, 1, 2] * 2
    assert [m.tolist() for m in partials.modified] == [[2]] * 3 + [[2, 6]] * 3
    good = subset_recovery(partials, truthful, SEG)
    bad = subset_recovery(partials, lying, SEG)
    assert good["all_detected"].all() and len(good) == 6      # every partial adversary flips
    assert not bad[bad.k == 1]["top1_correct"].any()
    assert set(good[good.k == 1]["modified"]) == {"2"}
    assert (good["fidelity"] == 1.0).all() and (bad["fidelity"] == 0.0).all()


def test_explainer_and_stored_relevances_give_the_same_measures():
    """Each measure, given an explainer, equals the same measure given its stored relevances."""
    values = np.zeros((4, 12))
    values[:, [1, 5, 9]] = [[2.0, 0.5, -0.3], [0.6, 0.6, 0.1], [0.2, 1.5, 0.4], [1.1, -0.2, 0.3]]
    original, adversarial = _planted(values)
    masks = SEG.masks_np(np.eye(12, dtype=np.uint8)).astype(bool)

    def noisy(excerpt):          # truthful plus noise seeded by the excerpt; its own fidelity
        exact = np.array([excerpt[m].sum() for m in masks])
        noise = np.random.default_rng(int(1000 * np.abs(excerpt).sum())).normal(0, 0.3, 12)
        return Relevance(exact + noise, float(exact.sum()))

    args = (SEG, _linear_probability, threshold_rule(1, 0.5))
    by_explainer = flip_curve(original, adversarial, {"x": noisy}, *args)
    table2_explained = table2_rows(original, adversarial, {"x": noisy}, *args)
    partials = subset_partials(original, adversarial, *args, ks=(1, 2, 3))
    recovered = subset_recovery(partials, noisy, SEG)
    stored = np.stack([noisy(a).weights for a in adversarial])
    assert by_explainer.equals(flip_curve(original, adversarial, {"x": stored}, *args))
    assert table2_explained.equals(table2_rows(original, adversarial, {"x": stored}, *args))
    explained = [noisy(e) for e in partials.excerpts]
    kept = StoredRelevances(np.stack([a.weights for a in explained]), True,
                            np.array([a.score for a in explained]))
    assert recovered.equals(subset_recovery(partials, kept, SEG))
    assert len(recovered) == len(partials) > 0
    with pytest.raises(ValueError, match=r"expected \(4, 12\)"):
        flip_curve(original, adversarial, {"x": stored[:3]}, *args)


def test_attack_excerpts_flips_a_linear_model_within_its_clip():
    torch.manual_seed(0)
    w = torch.randn(6 * 4)

    def model(x):
        return x.reshape(len(x), -1) @ w - 2.0

    x = np.zeros((5, 6, 4), np.float32)
    result = attack_excerpts(model, x, threshold=0.5)
    assert result.flipped.all()
    assert (result.adv_probs > 0.5).all() and (result.orig_probs < 0.5).all()
    assert np.abs(result.adversarial - x).max() <= 1.0 + 1e-6
    logits = result.adversarial.reshape(5, -1) @ w.numpy() - 2.0
    assert np.allclose(1 / (1 + np.exp(-logits)), result.adv_probs, atol=1e-5)


def test_lime_explainer_returns_its_explanations_weights_and_fidelity():
    rng = np.random.default_rng(0)
    excerpt = rng.normal(size=SEG.shape).astype(np.float32)
    weight = torch.from_numpy(rng.normal(size=SEG.shape).astype(np.float32))

    def probability(t):
        return torch.sigmoid((t * weight).sum(dim=(1, 2)))

    lime = LimeExplainer(probability, SEG, num_samples=128, seed=3)
    got, ref = lime(excerpt), lime.explanation(excerpt)
    assert np.array_equal(got.weights, ref.weights(1))
    assert got.score == ref.metrics(1)["fidelity"]


def test_unsigned_relevance_ranks_descending_for_either_target():
    relevance = np.array([[0.1, 3.0, 0.5]])
    assert attribution_ranking(relevance, 0, signed=False).tolist() == [[1, 2, 0]]
    assert attribution_ranking(relevance, 0).tolist() == [[0, 2, 1]]     # signed: class 0 first
