"""The explainer benchmark (svdlib.veracity.benchmark) on a hand-made linear model: where
δ acts is known, so a truthful explainer reaches the attainable rate and random does not."""

import numpy as np
import pandas as pd
import pytest
import torch

from svdlib import Segmentation, make_explainer, threshold_rule
from svdlib.veracity.benchmark import ENERGY, benchmark_table, run_benchmark

SEG = Segmentation(8, 6, 4, 3)          # 12 segments of 2 × 2 cells


def _model():
    """P(class 1) = sigmoid(4 · (sum over segments 0–2) − 2): only three segments matter."""
    weight = torch.zeros(SEG.shape)
    masks = torch.from_numpy(SEG.masks_np(np.eye(12, dtype=np.uint8)[:3]).astype(np.float32))
    weight += masks.sum(0) * 4.0

    def probability(x):
        return torch.sigmoid((x * weight).sum(dim=(1, 2)) - 2.0)

    return probability


def _pairs(n=6, seed=0):
    """Originals at zero (class 0); δ: 0.2 per cell in one of segments 0–2 (enough alone:
    4 · 0.8 − 2 > 0) plus decoy energy 1.0 per cell in a segment the model ignores."""
    rng = np.random.default_rng(seed)
    original = np.zeros((n, *SEG.shape), np.float32)
    masks = SEG.masks_np(np.eye(12, dtype=np.uint8)).astype(np.float32)
    adversarial = original.copy()
    for i in range(n):
        adversarial[i] += 0.2 * masks[rng.integers(0, 3)] + 1.0 * masks[rng.integers(3, 12)]
    return original, adversarial


def _linear_run(names=("occlusion", "saliency", "random")):
    """The benchmark of some explainers on the hand-made model and pairs."""
    probability = _model()

    def predict(e):
        return probability(torch.from_numpy(np.asarray(e))).numpy()

    original, adversarial = _pairs()
    explainers = {name: make_explainer(name, probability, SEG, seed=1) for name in names}
    return run_benchmark(original, adversarial, SEG, predict, threshold_rule(1, 0.5),
                         explainers, subset_ks=(1,))


def test_truthful_explainers_reach_the_attainable_rate_and_random_does_not():
    run = _linear_run(("occlusion", "gradient_x_input", "random"))
    table = benchmark_table(run, k=1, n_boot=100).set_index("method")
    # by construction one segment flips each pair: attainable 100 %, chance 1 of 12
    assert table.loc["attainable (k=1)", "percent"] == 100.0
    assert np.isclose(table.loc["chance (k=1)", "percent"], 100 / 12)
    for name in ("occlusion", "gradient_x_input"):
        assert table.loc[name, "percent"] == 100.0
        assert table.loc[name, "contains smallest %"] == 100.0
    # the decoy carries more energy, so the energy ranking's top segment never flips
    assert table.loc[ENERGY, "percent"] == 0.0
    assert table.loc["random", "percent"] < 100.0
    assert (run.costs["seconds_per_explanation"] > 0).all()
    assert list(table.index[:2]) != ["random", ENERGY]          # ranked by the Table 1 rate




def test_every_rate_has_a_song_interval_and_a_paired_gap_to_chance():
    run = _linear_run()
    songs = np.array(["a", "a", "b", "b", "c", "c"])
    table = benchmark_table(run, songs, k=1, n_boot=200).set_index("method")
    occlusion = table.loc["occlusion"]
    # occlusion's top segment flips every pair; each pair's chance is 1 of 12 subsets
    assert occlusion["vs chance"] == pytest.approx(100 - 100 / 12)
    assert occlusion["vs chance ci_low"] == pytest.approx(100 - 100 / 12)
    # the energy ranking never flips: its curve lies below occlusion's by the mean gap over k
    mine = run.curve[run.curve["method"] == "occlusion"].groupby("k")["flipped"].mean()
    energy = run.curve[run.curve["method"] == ENERGY].groupby("k")["flipped"].mean()
    assert occlusion["area_vs_energy"] == pytest.approx(100 * float((mine - energy).mean()))
    assert occlusion["area ci_low"] <= occlusion["area_vs_energy"] <= occlusion["area ci_high"]
    # δ kept in its highest-energy segment (the decoy) never flips: nothing to recover
    assert np.isnan(occlusion["subset recovery %"])
    for rate in ("table2", "contains smallest"):
        assert occlusion[f"{rate} ci_low"] <= occlusion[f"{rate} %"] <= occlusion[f"{rate} ci_high"]
    # Table 2 of occlusion: only segment 0–2 of each pair is positive, and it flips
    assert occlusion["table2 %"] == 100.0 and occlusion["table2 mean k"] == 1.0
    # saliency has no sign: no positive segments, no Table 2
    assert np.isnan(table.loc["saliency", "table2 %"])
    assert np.isnan(table.loc["saliency", "table2 mean k"])
    # the random ranking's draws have signs: about half its segments are positive
    assert 2 <= table.loc["random", "table2 mean k"] <= 10
    assert set(run.weights) == {"occlusion", "saliency", "random"}
    assert run.signed == {"occlusion": True, "saliency": False, "random": True}
    assert run.weights["occlusion"].shape == (6, 12)


def test_curve_rates_and_the_ranked_overview():
    from svdlib.veracity.benchmark_summary import (
        curve_rates,
        findings,
        is_reference,
        ranked_overview,
        setting_findings,
    )

    run = _linear_run()
    rates = curve_rates(run.curve, n_boot=100)
    occlusion = rates[(rates["method"] == "occlusion")].set_index("k")["percent"]
    by_hand = run.curve[run.curve["method"] == "occlusion"].groupby("k")["flipped"].mean()
    assert np.allclose(occlusion.to_numpy(), 100 * by_hand.to_numpy())
    tables = []
    for domain, target in (("wave", 1), ("spec", 1)):
        tables.append(benchmark_table(run, k=1, n_boot=100).assign(domain=domain,
                                                                   target=target))
    overview = ranked_overview(pd.concat(tables, ignore_index=True))
    explainers = overview[~overview["reference"]]
    assert explainers.iloc[0]["method"] == "occlusion" and explainers.iloc[0]["rank"] == 1
    assert list(explainers["mean %"]) == sorted(explainers["mean %"], reverse=True)
    assert list(overview[overview["reference"]]["method"]) == [ENERGY, "chance (k=1)",
                                                               "attainable (k=1)"]
    assert overview.loc[overview["method"] == "occlusion", "wave t1 %"].item() == 100.0
    said = " ".join(findings(pd.concat(tables, ignore_index=True)))
    assert "**occlusion** ranks first (100 %" in said
    # by hand from the two tables: occlusion flips every pair at k = 1, more than the energy
    # ranking; "ahead" needs the paired interval of the curve's area above 0
    assert all(t.set_index("method").loc["occlusion", "percent"]
               > t.set_index("method").loc[ENERGY, "percent"] for t in tables)
    clear = sum(int((t[~t["method"].map(is_reference)]["area ci_low"] > 0).any())
                for t in tables)
    assert f"flips more at the Table 1 k in 2 of 2 settings, and is ahead over the whole " \
           f"flip curve with a paired song-level interval above 0 in {clear} of them." in said
    one = setting_findings(tables[0])[-1]
    assert "flip more at this k (" in one or "flips more at this k (" in one
    assert ("none is ahead" in one) == (clear == 0)


def test_the_papers_table1_and_table2_are_the_benchmarks_rows_of_the_papers_lime():
    """One function, one seed: the paper's tables of LIME's stored weights and the energy of δ
    equal the benchmark's rows of the same stored weights, interval for interval."""
    from svdlib.veracity import tables as paper
    from svdlib.veracity.measures import flip_curve, table2_rows

    probability = _model()

    def predict(e):
        return probability(torch.from_numpy(np.asarray(e))).numpy()

    original, adversarial = _pairs(n=8, seed=4)
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(8, 12))                    # the "paper's explanations"
    weights[np.arange(8), rng.integers(0, 3, 8)] += 2.0    # mostly on a segment that matters
    songs = np.array(["a", "a", "b", "b", "b", "c", "d", "d"])
    decide, seed, k = threshold_rule(1, 0.5), 11, 2
    run = run_benchmark(original, adversarial, SEG, predict, decide,
                        {"occlusion": make_explainer("occlusion", probability, SEG),
                         "LIME (paper)": weights}, subset_ks=(1,), exhaustive=False)
    bench = benchmark_table(run, songs, k=k, n_boot=300,
                            seed=paper.setting_seed(seed, "spec", 1)).set_index("method")
    methods = paper.paper_methods(original, adversarial, weights, SEG)
    flips = flip_curve(original, adversarial, methods, SEG, predict, decide)
    rows = paper.paper_table2_pairs(table2_rows(original, adversarial, {"LIME": weights}, SEG,
                                                predict, decide))
    for table in (flips, rows):
        table.insert(0, "domain", "spec")
        table.insert(1, "target", 1)
        table.insert(3, "song", songs[table["pair"].to_numpy()])
    table1 = paper.table1(flips, k=k, n_boot=300, seed=seed).iloc[0]
    lime, energy = bench.loc["LIME (paper)"], bench.loc[ENERGY]
    assert 0 < lime["percent"] < 100                       # a case where intervals matter
    assert [table1["LIME %"], table1["ci_low"], table1["ci_high"]] == \
        [lime["percent"], lime["ci_low"], lime["ci_high"]]
    assert [table1["norm-based %"], table1["norm-based ci_low"],
            table1["norm-based ci_high"]] == [energy["percent"], energy["ci_low"],
                                              energy["ci_high"]]
    table2 = paper.table2(rows, n_boot=300, seed=seed).iloc[0]
    assert [table2["LIME %"], table2["LIME ci_low"], table2["LIME ci_high"],
            table2["mean k"]] == [lime["table2 %"], lime["table2 ci_low"],
                                  lime["table2 ci_high"], lime["table2 mean k"]]
    # and Figure 2's curve is the benchmark's curve of the same two methods
    curves = paper.flip_curves(flips, n_boot=300, seed=seed).set_index(["method", "k"])
    from svdlib.veracity.benchmark_summary import curve_rates

    rates = curve_rates(run.curve, songs, 300, paper.setting_seed(seed, "spec", 1))
    for name, ours in (("LIME", "LIME (paper)"), ("norm-based", ENERGY)):
        mine = rates[rates["method"] == ours].set_index("k")[["percent", "ci_low", "ci_high"]]
        assert curves.loc[name][["percent", "ci_low", "ci_high"]].equals(mine)
    # stored relevances have no cost and no subset recovery; explainers have both
    assert list(run.costs["method"]) == ["occlusion"]
    assert set(run.subsets["method"]) <= {"occlusion"} and set(run.weights) == {"occlusion"}
