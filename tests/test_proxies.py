"""Proxy metrics of faithfulness, each against an answer computed in the test."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

from svdlib.explain.attribution import Relevance
from svdlib.explain.explainers import LimeExplainer
from svdlib.explain.segments import Segmentation
from svdlib.explain.variants import (
    ForestSurrogate,
    LimeForestExplainer,
    LimeNoiseExplainer,
    MaskedLimeExplainer,
    noise_baseline,
)
from svdlib.veracity.measures import StoredRelevances
from svdlib.veracity.proxies import (
    METRICS,
    TargetOutputs,
    curve_areas,
    deletion_insertion,
    long_metrics,
    surrogate_scores,
)
from svdlib.veracity.proxy_captum import segment_infidelity, segment_sensitivity
from svdlib.veracity.proxy_quantus import quantus_faithfulness
from svdlib.veracity.proxy_run import proxy_metrics

SEG = Segmentation()                      # 5 × 4 segments of 23 frames × 20 bands
COEF = np.linspace(-1.0, 1.0, 20)         # the linear model's weight of each segment's mean


def segment_means(x: np.ndarray) -> np.ndarray:
    """(M, 115, 80) → (M, 20) segment means, written without the library's masks."""
    return x.reshape(len(x), 5, 23, 4, 20).mean(axis=(2, 4)).reshape(len(x), 20)


def linear(x: np.ndarray) -> np.ndarray:
    return segment_means(np.asarray(x, dtype=np.float64)) @ COEF


def squashed(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-3 * linear(x)))


def excerpts(n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 115, 80)).astype(np.float32)


def test_deletion_and_insertion_curves_of_a_linear_model_by_hand():
    x = excerpts(2)
    weights = np.random.default_rng(1).normal(size=(2, 20))
    curves = deletion_insertion(x, {"m": weights}, SEG, linear, baseline="mean")
    areas = curve_areas(curves)
    for pair in range(2):
        means, base = segment_means(x[pair:pair + 1])[0], float(x[pair].astype(float).mean())
        order = np.argsort(-weights[pair], kind="stable")
        deletion, insertion = [], []
        for k in range(21):
            removed = np.isin(np.arange(20), order[:k])
            deletion.append(COEF @ np.where(removed, base, means))
            insertion.append(COEF @ np.where(removed, means, base))
        mine = curves[curves["pair"] == pair].sort_values("k")
        np.testing.assert_allclose(mine["deletion"], deletion, atol=1e-5)
        np.testing.assert_allclose(mine["insertion"], insertion, atol=1e-5)
        row = areas[areas["pair"] == pair].iloc[0]
        assert row["deletion_aopc"] == pytest.approx(np.mean(deletion[0] - np.array(deletion)),
                                                     abs=1e-5)
        assert row["insertion_area"] == pytest.approx(np.mean(insertion), abs=1e-5)


def test_target_zero_uses_one_minus_p_and_the_ascending_order():
    x = excerpts(1)
    weights = np.random.default_rng(2).normal(size=(1, 20))
    curves = deletion_insertion(x, {"m": weights}, SEG, squashed, target=0, baseline="zero")
    means = segment_means(x)[0]
    order = np.argsort(weights[0], kind="stable")             # most negative first
    for k in (0, 1, 5, 20):
        removed = np.isin(np.arange(20), order[:k])
        expected = 1 - 1 / (1 + np.exp(-3 * (COEF @ np.where(removed, 0.0, means))))
        got = curves.loc[curves["k"] == k, "deletion"].iloc[0]
        assert got == pytest.approx(expected, abs=1e-6)


def test_unsigned_relevances_rank_descending_for_either_target():
    x = excerpts(1)
    weights = np.abs(np.random.default_rng(3).normal(size=(1, 20)))
    stored = StoredRelevances(weights, signed=False)
    for target in (0, 1):
        curves = deletion_insertion(x, {"m": stored}, SEG, linear, target=target)
        first = int(np.argmax(weights[0]))
        base = float(x[0].astype(float).mean())
        means = segment_means(x)[0]
        expected = COEF @ np.where(np.arange(20) == first, base, means)
        value = curves.loc[curves["k"] == 1, "deletion"].iloc[0]
        assert value == pytest.approx(expected if target == 1 else 1 - expected, abs=1e-5)


def test_target_outputs_evaluate_each_distinct_input_once():
    calls = []

    def predict(x):
        calls.append(len(x))
        return x.mean(axis=(1, 2))

    outputs = TargetOutputs(predict, batch_size=2)
    x = excerpts(3)
    first = outputs(np.concatenate([x, x[:1]]))
    again = outputs(x[::-1])
    assert calls == [2, 1] and outputs.evaluated == 3
    np.testing.assert_allclose(first[:3], x.astype(np.float32).mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(again, first[:3][::-1])
    multi = TargetOutputs(lambda e: np.stack([e.mean(axis=(1, 2)), -e.mean(axis=(1, 2))], 1),
                          target=1, label=1)
    np.testing.assert_allclose(multi(x), -x.mean(axis=(1, 2)), rtol=1e-6)


def infidelity_by_hand(x, weights, removals, model, base, normalize):
    """E[(Iᵀa − (f(x) − f(x̃)))²] with Iᵀa = Σ_{s removed} R_s, optionally with captum's β."""
    means = segment_means(x[None])[0]
    full = model(x[None])[0]
    dot, drop = [], []
    for removed in removals:
        dot.append(weights[removed].sum())
        perturbed = np.where(removed, base, means)
        drop.append(full - 1 / (1 + np.exp(-3 * (COEF @ perturbed))))
    dot, drop = np.array(dot), np.array(drop)
    if normalize:
        beta = np.mean(dot * drop) / np.mean(dot ** 2)
        dot = beta * dot
    return np.mean((dot - drop) ** 2)


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_equals_the_formula_with_fixed_removals(normalize):
    x = excerpts(2)
    weights = np.random.default_rng(4).normal(scale=0.1, size=(2, 20))
    removals = np.zeros((5, 20), dtype=bool)
    removals[0, [0, 19]] = True
    removals[1, :10] = True
    removals[2, 3] = True
    removals[3, ::3] = True
    removals[4, [5, 6, 7, 12]] = True
    table = segment_infidelity(x, {"m": weights}, SEG, squashed, baseline="zero",
                               normalize=normalize, removals=removals)
    for pair in range(2):
        expected = infidelity_by_hand(x[pair], weights[pair], removals, squashed, 0.0,
                                      normalize)
        got = table.loc[table["pair"] == pair, "infidelity"].iloc[0]
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_infidelity_is_zero_for_exact_effects_of_an_additive_model_and_draws_are_shared():
    x = excerpts(2)
    base = x.astype(np.float64).mean(axis=(1, 2))
    effects = (segment_means(x) - base[:, None]) * COEF       # f(x) − f(x without s)
    table = segment_infidelity(x, {"exact": effects, "half": effects / 2}, SEG, linear,
                               normalize=False, n_perturb_samples=16, p_off=0.3)
    exact = table[table["method"] == "exact"]["infidelity"]
    assert np.allclose(exact, 0.0, atol=1e-9)
    assert (table[table["method"] == "half"]["infidelity"] > 1e-6).all()
    normalized = segment_infidelity(x, {"half": effects / 2}, SEG, linear, n_perturb_samples=16)
    assert np.allclose(normalized["infidelity"], 0.0, atol=1e-9)      # β = 2 recovers them


def test_sensitivity_of_a_steady_and_a_moving_explainer_and_stored_ones(caplog):
    x = excerpts(2)
    steady = lambda e: Relevance(np.arange(1.0, 21.0))                     # noqa: E731
    means = lambda e: Relevance(segment_means(e[None])[0])                 # noqa: E731
    with caplog.at_level(logging.WARNING):
        table = segment_sensitivity(x, {"steady": steady, "means": means,
                                        "stored": np.zeros((2, 20))}, SEG, radius=0.5)
    assert len(caplog.records) == 1 and "stored" in caplog.records[0].getMessage()
    by = table.set_index(["method", "pair"])["sensitivity_max"]
    assert (by["steady"] == 0).all() and by["stored"].isna().all()
    # a mean of 460 uniform draws in ±0.5 moves by about 0.5 / sqrt(3 · 460) ≈ 0.013
    norms = np.linalg.norm(segment_means(x), axis=1)
    assert ((by["means"] > 0) & (by["means"] < 0.1 * np.sqrt(20) / norms)).all()


def test_quantus_correlations_equal_their_definitions_over_segments():
    pytest.importorskip("quantus")
    x = excerpts(2)
    weights = np.random.default_rng(5).normal(size=(2, 20))
    table = quantus_faithfulness(x, {"m": weights, "effects": COEF * segment_means(x)}, SEG,
                                 squashed, baseline="zero", nr_runs=30)
    for pair in range(2):
        means = segment_means(x[pair:pair + 1])[0]
        full = squashed(x[pair:pair + 1])[0]
        change = []
        for s in range(20):
            alone = np.where(np.arange(20) == s, 0.0, means)
            change.append((full - 1 / (1 + np.exp(-3 * COEF @ alone))) ** 2 / full ** 2)
        expected = spearmanr(np.abs(weights[pair]), change).statistic
        row = table[(table["pair"] == pair) & (table["method"] == "m")].iloc[0]
        assert row["monotonicity_correlation"] == pytest.approx(expected, abs=1e-9)
        assert -1 <= row["faithfulness_correlation"] <= 1
    linear_table = quantus_faithfulness(x, {"effects": COEF * segment_means(x)}, SEG, linear,
                                        baseline="zero", nr_runs=30)
    assert np.allclose(linear_table["faithfulness_correlation"], 1.0)


def test_quantus_faithfulness_matches_a_pearson_of_the_same_subsets():
    pytest.importorskip("quantus")
    x = excerpts(1)
    weights = np.random.default_rng(6).normal(size=(1, 20))
    got = quantus_faithfulness(x, {"m": weights}, SEG, squashed, baseline="zero", nr_runs=25,
                               subset_size=4, seed=3)["faithfulness_correlation"].iloc[0]
    legacy = np.random.RandomState(3)   # = the global generator after np.random.seed(3)
    subsets = [legacy.choice(20, 4, replace=False) for _ in range(25)]   # Quantus's draws
    means, full = segment_means(x)[0], squashed(x)[0]
    sums = [weights[0, s].sum() for s in subsets]
    drops = [full - 1 / (1 + np.exp(-3 * COEF @ np.where(np.isin(np.arange(20), s), 0, means)))
             for s in subsets]
    assert got == pytest.approx(pearsonr(sums, drops).statistic, abs=1e-6)   # float32 sums


def test_without_quantus_one_line_is_logged_and_nothing_computed(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "quantus", None)       # import quantus → ImportError
    with caplog.at_level(logging.WARNING):
        table = quantus_faithfulness(excerpts(1), {"m": np.zeros((1, 20))}, SEG, linear)
    assert table.empty and len(caplog.records) == 1
    assert "quantus" in caplog.records[0].getMessage().lower()


def test_surrogate_scores_and_long_metrics_orientation():
    lime = StoredRelevances(np.zeros((3, 20)), scores=np.array([0.5, np.nan, 0.9]))
    scores = surrogate_scores({"lime": lime, "occlusion": np.zeros((3, 20))})
    assert scores.to_dict("list") == {"pair": [0, 2], "method": ["lime", "lime"],
                                      "surrogate_r2": [0.5, 0.9]}
    wide = scores.assign(infidelity=[1.0, 2.0])
    table = long_metrics(wide)
    assert table.query("pair == 2").set_index("metric")["oriented"].to_dict() == {
        "surrogate_r2": 0.9, "infidelity": -2.0}
    assert (table["oriented"] == table["value"] * table["metric"].map(METRICS)).all()
    with pytest.raises(ValueError, match="unknown metric"):
        long_metrics(wide.assign(accuracy=1.0))


def test_proxy_metrics_cover_every_metric_and_call_only_given_explainers():
    x = excerpts(2)
    effects = (segment_means(x) - x.mean(axis=(1, 2))[:, None]) * COEF
    lime = StoredRelevances(effects, scores=np.array([0.7, 0.8]))
    steady = lambda e: Relevance(np.arange(20.0))                          # noqa: E731
    table = proxy_metrics(x, {"lime": lime, "steady": np.tile(np.arange(20.0), (2, 1))}, SEG,
                          linear, explainers={"steady": steady}, quantus=False,
                          settings={"infidelity": {"n_perturb_samples": 8}})
    assert set(table["metric"]) == {"deletion_aopc", "insertion_area", "infidelity",
                                    "sensitivity_max", "surrogate_r2"}
    by = table.set_index(["metric", "method", "pair"])["oriented"].sort_index()
    assert by["sensitivity_max", "steady"].eq(0).all()
    assert by["sensitivity_max", "lime"].isna().all()
    assert (by["deletion_aopc", "lime"] > by["deletion_aopc", "steady"]).all()


def test_forest_surrogate_signs_importances_by_the_direction_of_each_feature():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 2, (400, 5)).astype(float)
    outputs = 0.8 * masks[:, 0] - 0.4 * masks[:, 2] + 0.01 * rng.normal(size=400)
    forest = ForestSurrogate(n_estimators=20).fit(masks, outputs, np.ones(400))
    assert forest.coef_[0] > 0.5 and forest.coef_[2] < -0.1
    assert np.abs(forest.coef_[[1, 3, 4]]).max() < 0.05
    assert forest.intercept_ == pytest.approx(0.0, abs=0.05)       # everything off
    assert forest.score(masks, outputs) > 0.95


def probability(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2))


def test_lime_variants_find_the_segment_and_zero_masking_is_lime_with_zero_baseline():
    excerpt = np.zeros((115, 80), np.float32)
    excerpt[:23, :20] = 1.0
    forest = LimeForestExplainer(probability, SEG, num_samples=256, n_estimators=10)(excerpt)
    assert int(forest.weights.argmax()) == 0 and forest.weights[0] > 0.5
    zero = MaskedLimeExplainer(probability, SEG, masking="zero", num_samples=128)(excerpt)
    plain = LimeExplainer(probability, SEG, baseline="zero", num_samples=128)(excerpt)
    np.testing.assert_array_equal(zero.weights, plain.weights)
    noise = LimeNoiseExplainer(probability, SEG, num_samples=128)
    assert int(noise(excerpt).weights.argmax()) == 0
    np.testing.assert_array_equal(noise.explain_many(excerpt[None])[0].weights,
                                  noise(excerpt).weights)
    drawn = noise_baseline(excerpt, 0)
    assert drawn.mean() == pytest.approx(excerpt.mean(), abs=0.02)
    assert not np.array_equal(drawn, noise_baseline(excerpt, 1))
    with pytest.raises(ValueError, match="masking"):
        MaskedLimeExplainer(probability, SEG, masking="blur")
