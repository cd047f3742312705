"""The paper's experiments on the toy detector: picking, explanations, flip counts, Table 2,
subset perturbations, horses, figures, and the identities the method must satisfy."""

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import toy_config

from svdlib import stages
from svdlib.cli import main
from svdlib.horses import draw_shape, horse_found, load_horses, paint
from svdlib.segments import Segmentation
from svdlib.store import Store
from svdlib.veracity import (
    bootstrap_ci,
    compose_partial,
    detector,
    flip_counts,
    is_flipped,
    lime_ranking,
    load_picks,
    load_table,
    pair_logmel,
    positive_count,
    predict_logmel,
    settings,
    stacked_weights,
    subset_results,
    table2_rows,
)

EXPERIMENT = {
    # the toy detector is robust: strong attacks, so that every setting has pairs
    "attack.wave.lr": 3e-3, "attack.wave.alpha": 50.0, "attack.wave.clip_eps": 0.02,
    "attack.wave.max_iterations": 12, "attack.spec.lr": 0.05, "attack.spec.alpha": 1e5,
    "attack.spec.clip_eps": 1.0, "attack.spec.max_iterations": 12,
    "lime.num_samples": 256, "lime.pick_per_file": 4, "experiment.bootstrap": 200,
    "experiment.horses_per_shape": 1, "experiment.horse_probability": 0.7,
}


@pytest.fixture(scope="module")
def store(toy_store, toy_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("veracity") / "results"
    shutil.copytree(toy_store.root, root)
    store = Store(toy_config(root, toy_corpus, **EXPERIMENT))
    stages.figures(store)
    return store


def test_every_setting_has_valid_picks(store):
    threshold = store.cfg.evaluate.threshold
    for domain, target in settings():
        picks = load_picks(store, domain, target)
        assert len(picks) > 0, (domain, target)
        assert is_flipped(picks.adv_prob, target, threshold).all()
        assert not is_flipped(picks.orig_prob, target, threshold).any()
        pairs = list(zip(picks.songs.tolist(), picks.frames.tolist(), strict=True))
        assert len(set(pairs)) == len(pairs)             # no excerpt picked twice
        per_song = pd.Series(picks.songs).value_counts()
        assert per_song.max() <= store.cfg.lime.pick_per_file
        # the stored probabilities are the detector's on the stored excerpts
        _, adversarial = pair_logmel(store, domain, target)
        _, predictor = detector(store)
        assert np.allclose(predict_logmel(predictor, adversarial), picks.adv_prob, atol=1e-5)


def test_picking_is_seeded(store, toy_corpus, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(store.root / "models", root / "models")
    shutil.copytree(store.root / "attacks", root / "attacks")
    shutil.copytree(store.root / "spectra", root / "spectra")
    again = Store(toy_config(root, toy_corpus, **EXPERIMENT))
    stages.picks(again, "wave", 1)
    a, b = load_picks(store, "wave", 1), load_picks(again, "wave", 1)
    assert a.frames.tolist() == b.frames.tolist()
    other = Store(toy_config(root, toy_corpus, **EXPERIMENT, **{"lime.pick_seed": 7}))
    stages.picks(other, "wave", 1)
    assert load_picks(other, "wave", 1).frames.tolist() != a.frames.tolist()


def test_flip_count_identities(store):
    segmentation = Segmentation.from_config(store.cfg.lime)
    for domain, target in settings():
        table = flip_counts(store, domain, target)
        at20 = table[table["k"] == segmentation.n_components]
        # all segments carry the whole perturbation: the adversarial excerpt itself
        assert at20["flipped"].all(), (domain, target)
        subset = subset_results(store, domain, target)
        norm = table[table["method"] == "norm-based"]
        for k in store.cfg.experiment.subset_ks:
            assert (subset["k"] == k).sum() == norm[norm["k"] == k]["flipped"].sum()
        assert set(subset["detected"]) <= set(range(max(store.cfg.experiment.subset_ks) + 1))
        assert (subset["detected"] <= subset["k"]).all()


def test_table2_uses_the_number_of_relevant_segments(store):
    for domain, target in settings():
        rows = table2_rows(store, domain, target)
        weights, _ = stacked_weights(store, domain, target)
        assert rows["k"].tolist() == positive_count(weights, target).tolist()
        table = flip_counts(store, domain, target)
        # a pair's Table 2 norm-based flip equals Figure 2's at that pair's k
        for _, row in rows.iterrows():
            if row["k"] == 0:
                assert not row["flipped_norm-based"]
                continue
            match = table[(table["pair"] == row["pair"]) & (table["k"] == row["k"])
                          & (table["method"] == "norm-based")]
            assert bool(match["flipped"].iloc[0]) == bool(row["flipped_norm-based"])


def test_rankings_and_composition():
    weights = np.array([[0.1, -0.3, 0.5, 0.1, -0.2]])
    assert lime_ranking(weights, 1).tolist() == [[2, 0, 3, 4, 1]]   # ties keep id order
    assert lime_ranking(weights, 0).tolist() == [[1, 4, 0, 3, 2]]
    assert positive_count(weights, 1).tolist() == [3]
    assert positive_count(weights, 0).tolist() == [2]
    rng = np.random.default_rng(0)
    x, a = rng.standard_normal((2, 1, 6, 4)).astype(np.float32)
    mask = np.zeros((1, 6, 4), bool)
    assert np.array_equal(compose_partial(x, a, mask), x)
    assert np.array_equal(compose_partial(x, a, ~mask), a)   # exact, no rounding


def test_bootstrap_interval():
    flags = np.array([1, 1, 0, 0, 1, 0, 1, 1, 0, 1], bool)
    pct, low, high = bootstrap_ci(flags, 2000, seed=1)
    assert pct == pytest.approx(60.0)
    assert low < pct < high
    assert low > 20
    assert high < 95
    assert bootstrap_ci(np.ones(5, bool), 100)[1:] == (100.0, 100.0)
    assert np.isnan(bootstrap_ci(np.array([]), 10)[0])


def test_tables_and_figures_exist(store):
    table1 = load_table(store, "table1")
    assert len(table1) == 4
    assert set(table1["paper %"]) == {53.0, 41.0, 21.0, 32.0}
    assert ((table1["ci_low"] <= table1["LIME %"]) & (table1["LIME %"] <= table1["ci_high"])).all()
    table2 = load_table(store, "table2")
    assert set(table2["paper LIME %"]) == {86.0, 91.0, 49.0, 44.0}
    for name in ("figure1", "figure2", "figure3", "figure4"):
        for suffix in (".png", ".svg"):
            path = store.experiments_dir() / f"{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 5000, path


def test_horses_flip_and_change_only_the_shape(store):
    horses = load_horses(store)
    segmentation = Segmentation.from_config(store.cfg.lime)
    assert {h.shape for h in horses} == {"blob", "wavy line", "zig-zag"}
    threshold = store.cfg.evaluate.threshold
    _, predictor = detector(store)
    for horse in horses:
        assert horse.p_original < threshold < horse.p_horse
        assert np.array_equal(horse.horse[~horse.mask], horse.original[~horse.mask])
        assert np.allclose(horse.horse[horse.mask], horse.intensity)
        assert predict_logmel(predictor, horse.horse[None])[0] == pytest.approx(horse.p_horse,
                                                                                abs=1e-5)
        found = horse_found(horse, segmentation)
        assert 0 <= found["coverage"] <= 1 and 0 <= found["fidelity"] <= 1


def test_shapes():
    for shape in ("blob", "wavy line", "zig-zag"):
        mask = draw_shape(shape)
        assert mask.shape == (115, 80) and 10 < mask.sum() < 1000
    blob = draw_shape("blob", centre_frame=57, centre_band=30)
    assert blob[57, 30] and not blob[0, 0]
    x = np.zeros((115, 80), np.float32)
    assert paint(x, blob, 3.0).sum() == pytest.approx(3.0 * blob.sum())


def test_explorer_and_audio(store):
    from svdlib.widgets import explorer, pair_audio, pair_view

    view = pair_view(store, "wave", 1, 0, 3)
    assert len(view.lime_ids) == 3 and len(view.norm_ids) == 3
    clips = pair_audio(store, view)
    lengths = {len(c) for c in clips.values()}
    assert len(clips) == 4 and len(lengths) == 1
    assert all(np.isfinite(c).all() and np.abs(c).max() <= 0.9 + 1e-6 for c in clips.values())
    # without the perturbation anywhere, the resynthesis is the original excerpt
    assert not np.allclose(clips["original"], clips["adversarial"])
    box = explorer(store, audio=False)
    assert len(box.children) == 3


def test_cli_experiment_and_bad_settings(store, capsys):
    args = ["--profile", "tiny", "--results", str(store.root), "--data",
            str(store.data_root())]
    overrides = []
    for key, value in {"run.progress": False, "train.epochs": 3, "train.epochsize": 40,
                       "train.batchsize": 16, **EXPERIMENT}.items():
        overrides += ["--set", f"{key}={value}"]
    assert main(["experiment", "table1", *args, *overrides]) == 0
    out = capsys.readouterr().out
    assert "Table 1" in out and "53 %" in out
    assert main(["pick", "--domain", "audio", *args, *overrides]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown attack domain 'audio'" in err
    assert main(["explain", "--target", "2", *args, *overrides]) == 2
    assert "unknown target" in capsys.readouterr().err


def test_fidelity_separation_by_hand():
    from svdlib.veracity import fidelity_separation

    frame = pd.DataFrame({"k": [1] * 6 + [3],
                          "top1_correct": [True, True, True, False, False, False, None],
                          "fidelity": [0.9, 0.8, 0.55, 0.6, 0.5, 0.4, 0.1]})
    result = fidelity_separation(frame)
    assert (result["n"], result["correct"]) == (6, 3)
    assert result["median_correct"] == pytest.approx(0.8)
    assert result["median_wrong"] == pytest.approx(0.5)
    assert result["auroc"] == pytest.approx(8 / 9)          # one wrong pair ranks above one right
    assert np.isnan(fidelity_separation(frame[frame["top1_correct"] != False])["auroc"])  # noqa: E712
