"""The meta-evaluation: proxy metrics against the planted judge, τ per pair, song intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from svdlib.explain.attribution import Relevance
from svdlib.explain.segments import Segmentation
from svdlib.veracity.benchmark import run_benchmark
from svdlib.veracity.measures import StoredRelevances, flip_curve
from svdlib.veracity.metaeval import (
    agreement_summary,
    agreement_verdicts,
    metric_agreement,
    metric_leaderboard,
    planted_scores,
)
from svdlib.veracity.proxies import curve_areas, deletion_insertion, long_metrics
from svdlib.veracity.proxy_run import evaluate_run
from svdlib.veracity.rules import threshold_rule

SEG = Segmentation()


def long(pair, methods, values, metric="m"):
    return pd.DataFrame({"pair": pair, "method": methods, "metric": metric,
                         "oriented": np.asarray(values, dtype=float)})


def test_tau_per_pair_is_scipys_kendall_tau_b_with_ties():
    rng = np.random.default_rng(0)
    methods = list("abcdef")
    metrics, planted = [], []
    for pair in range(12):
        metrics.append(long(pair, methods, rng.integers(0, 4, 6)))      # ties on both sides
        planted.append(pd.DataFrame({"pair": pair, "method": methods,
                                     "planted": rng.integers(0, 3, 6) / 2}))
    metrics, planted = pd.concat(metrics), pd.concat(planted)
    agreement = metric_agreement(metrics, planted)
    for pair in range(12):
        a = metrics[metrics["pair"] == pair]["oriented"].to_numpy()
        b = planted[planted["pair"] == pair]["planted"].to_numpy()
        expected = kendalltau(a, b, variant="b").statistic
        got = agreement.loc[agreement["pair"] == pair, "tau"].iloc[0]
        if np.isnan(expected):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(expected, abs=1e-12)


def test_nan_reasons_are_counted():
    methods = ["a", "b", "c"]
    planted = pd.concat([pd.DataFrame({"pair": p, "method": methods, "planted": v})
                         for p, v in enumerate([[1, 0, 0], [1, 1, 1], [1, 0, 0], [1, 0, 0]])])
    metrics = pd.concat([long(0, methods, [2, 2, 2]), long(1, methods, [3, 2, 1]),
                         long(2, ["a"], [1.0]), long(3, methods, [3, np.nan, 1])])
    agreement = metric_agreement(metrics, planted).set_index("pair")
    assert agreement["reason"].to_dict() == {0: "metric constant", 1: "planted constant",
                                             2: "too few methods", 3: ""}
    assert agreement.loc[3, "n_methods"] == 2 and agreement.loc[3, "tau"] == 1.0
    summary = agreement_summary(agreement.reset_index(), n_boot=100)
    row = summary.iloc[0]
    assert (row["n_pairs"], row["n_nan"], row["n metric constant"], row["n planted constant"],
            row["n too few methods"]) == (1, 3, 1, 1, 1)


def toy_pairs(n=6):
    """Class-0 excerpts pushed to class 1: the model reads segments 0 and 5, δ acts in 0, 5
    and (harmlessly) 19."""
    original = np.zeros((n, 115, 80), np.float32)
    adversarial = original.copy()
    adversarial[:, :23, :20] = 0.6 + 0.1 * np.arange(n)[:, None, None] / n
    adversarial[:, 23:46, 20:40] = 0.5
    adversarial[:, 92:, 60:] = 2.0                        # the most energy, no effect

    def predict(x):
        return 0.5 * x[:, :23, :20].mean(axis=(1, 2)) + 0.5 * x[:, 23:46, 20:40].mean(
            axis=(1, 2))
    return original, adversarial, predict


def graded_relevances(n):
    """perfect: the model's two segments first; partial: after segment 19; wrong: last."""
    perfect, partial, wrong = (np.zeros((n, 20)) for _ in range(3))
    perfect[:, [0, 5]] = [2.0, 1.0]
    partial[:, [19, 0, 5]] = [3.0, 2.0, 1.0]
    wrong[:, [0, 5]] = [-2.0, -1.0]
    return {"perfect": perfect, "partial": partial, "wrong": wrong}


def test_a_metric_ordering_by_the_planted_quantity_gives_tau_one_and_reversed_minus_one():
    original, adversarial, predict = toy_pairs()
    rule = threshold_rule(1, 0.5)
    methods = graded_relevances(len(original))
    curve = flip_curve(original, adversarial, methods, SEG, predict, rule)
    planted = planted_scores(curve)
    areas = planted.pivot(index="pair", columns="method", values="planted")
    assert (areas["perfect"] > areas["partial"]).all() and (areas["partial"] > areas["wrong"]).all()
    aopc = curve_areas(deletion_insertion(adversarial, methods, SEG, predict, baseline="zero"))
    metrics = long_metrics(aopc[["pair", "method", "deletion_aopc"]])
    reversed_ = metrics.assign(metric="reversed", oriented=-metrics["oriented"])
    agreement = metric_agreement(pd.concat([metrics, reversed_]), planted)
    by = agreement.groupby("metric")["tau"]
    assert (by.get_group("deletion_aopc") == 1.0).all()
    assert (by.get_group("reversed") == -1.0).all()
    songs = np.repeat(["s0", "s1", "s2"], 2)
    verdicts = agreement_verdicts(agreement_summary(agreement, songs, n_boot=200))
    assert verdicts.set_index("metric")["verdict"].to_dict() == {
        "deletion_aopc": "agrees", "reversed": "reverses"}
    board = metric_leaderboard(pd.concat([metrics, reversed_]), planted)
    assert board.groupby("metric")["tau"].first().to_dict() == {"deletion_aopc": 1.0,
                                                                "reversed": -1.0}
    top = board[board["metric"] == "deletion_aopc"].iloc[0]
    assert (top["method"], top["rank"], top["planted_rank"]) == ("perfect", 1.0, 1.0)


def test_the_song_is_the_unit_of_the_interval():
    # per song one pair where the metric agrees and one where it reverses
    agreement = pd.DataFrame({"metric": "m", "pair": [0, 1, 2, 3],
                              "tau": [1.0, -1.0, 1.0, -1.0], "reason": ""})
    by_song = agreement_summary(agreement, np.array(["a", "a", "b", "b"]), n_boot=500).iloc[0]
    assert (by_song["ci_low"], by_song["ci_high"], by_song["n_songs"]) == (0.0, 0.0, 2)
    by_pair = agreement_summary(agreement, n_boot=500).iloc[0]
    assert by_pair["ci_low"] < 0 < by_pair["ci_high"] and by_pair["n_songs"] == 4
    assert by_song["mean_tau"] == by_pair["mean_tau"] == 0.0


def test_pairs_of_a_single_song_are_one_unit():
    agreement = pd.DataFrame({"metric": "m", "pair": [0, 1, 2, 3],
                              "tau": [1.0, 1.0, 0.0, -1.0], "reason": ""})
    one_song = agreement_summary(agreement, np.array(["a"] * 4), n_boot=300).iloc[0]
    assert (one_song["mean_tau"], one_song["ci_low"], one_song["ci_high"]) == (0.25, 0.25, 0.25)
    assert one_song["n_songs"] == 1 and one_song["n_pairs"] == 4


def test_judges():
    curve = pd.DataFrame({"pair": 0, "method": ["a", "b", "c"] * 3,
                          "k": np.repeat([1, 2, 3], 3),
                          "flipped": [0, 0, 1, 0, 1, 1, 1, 0, 1]})
    area = planted_scores(curve).set_index("method")["planted"]
    assert area.to_dict() == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1.0})
    table1 = planted_scores(curve, "table1").set_index("method")["planted"]
    assert table1.to_dict() == {"a": 1.0, "b": 0.0, "c": 1.0}
    both = planted_scores(curve, "area+table1").set_index("method")["planted"]
    assert both["c"] > both["a"] > both["b"]
    with pytest.raises(ValueError, match="judge"):
        planted_scores(curve, "energy")
    with pytest.raises(ValueError, match="k = 5"):
        planted_scores(curve, "table1", k=5)


def test_evaluate_run_on_a_benchmark_run():
    original, adversarial, predict = toy_pairs(4)
    methods = {name: StoredRelevances(w) for name, w in graded_relevances(4).items()}
    methods["brightness"] = lambda e: Relevance(SEG.energy(e))
    run = run_benchmark(original, adversarial, SEG, predict, threshold_rule(1, 0.5), methods,
                        exhaustive=False)
    run.weights.update({n: m.weights for n, m in methods.items() if n != "brightness"})
    run.signed.update({n: True for n in methods if n != "brightness"})
    result = evaluate_run(run, adversarial, SEG, predict, songs=["a", "a", "b", "b"],
                          n_boot=100, quantus=False, baseline="zero",
                          scores={"perfect": np.full(4, 0.9), "wrong": np.full(4, 0.1)})
    summary = result.summary.set_index("metric")
    assert summary.loc["deletion_aopc", "mean_tau"] > 0.5
    assert summary.loc["deletion_aopc", "verdict"] == "agrees"
    assert summary.loc["surrogate_r2", "mean_tau"] == 1.0        # perfect vs wrong only
    assert summary.loc["sensitivity_max", "verdict"] == "no data"
    assert set(result.planted["method"]) >= {"perfect", "partial", "wrong", "brightness"}
    assert set(result.metrics["method"]) == {"perfect", "partial", "wrong", "brightness"}
