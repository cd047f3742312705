
"""The paper's experiments on the toy detector: picking, explanations, flip counts, Table 2,
subset perturbations, horses, figures, and the identities the method must satisfy."""

import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import toy_config

from svdlib.cli import main
from svdlib.detector.predictor import predict_logmel
from svdlib.errors import SvdError
from svdlib.experiments import stages
from svdlib.experiments.artifacts.detectors import detector
from svdlib.experiments.artifacts.explanations import pair_logmel
from svdlib.experiments.artifacts.horses import load_horses
from svdlib.experiments.artifacts.picks import load_picks
from svdlib.experiments.artifacts.subsets import subset_results
from svdlib.experiments.artifacts.tables import (
    compute_tables,
    experiment_tables,
    flip_counts,
    load_table,
    table2_pairs,
)
from svdlib.experiments.config.checks import settings
from svdlib.experiments.config.factories import segmentation_from
from svdlib.experiments.storage.store import Store
from svdlib.explain.explanation import Explanation, stack_explanations, unstack_explanations
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.segments import Segmentation
from svdlib.files import load_arrays, prefix_keys, save_arrays, strip_prefix
from svdlib.veracity.flips import compose_partial, is_flipped, positive_count
from svdlib.veracity.horses import draw_shape, horse_found, paint, shape_segments
from svdlib.veracity.measures import attribution_ranking, flip_curve, table2_rows
from svdlib.veracity.rules import threshold_rule
from svdlib.veracity.tables import paper_methods, paper_table2_pairs

EXPERIMENT = {
    # the toy detector is robust: strong attacks, so that every setting has pairs
    "attack.wave.lr": 3e-3, "attack.wave.alpha": 50.0, "attack.wave.clip_eps": 0.02,
    "attack.wave.max_iterations": 12, "attack.spec.lr": 0.05, "attack.spec.alpha": 1e5,
    "attack.spec.clip_eps": 1.0, "attack.spec.max_iterations": 12,
    "lime.num_samples": 256, "lime.pick_per_file": 4, "experiment.bootstrap": 200,
    "experiment.horses_per_shape": 1, "experiment.horse_probability": 0.7,
    "benchmark.max_k": 3,      # the tiny profile searches 2; the tests check k = 3 references
    # two perturbation, one gradient method and the floor (all seven: test_tiny_run)
    "benchmark.explainers": ["lime", "occlusion", "saliency", "random"],
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
    segmentation = segmentation_from(store.cfg.lime)
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


def test_table2_counts_the_adversarial_explanations_relevant_segments(store):
    for domain, target in settings():
        rows = table2_pairs(store, domain, target)
        # Table 2's k, counted in the adversarial excerpts' own explanations (not the originals')
        # read straight from the stored arrays (not through the tables' own loader)
        arrays = load_arrays(store.explanations_path(domain, target))
        adversarial = unstack_explanations(strip_prefix(arrays, "adv_"))
        relevant = [sum(w > 0 if target == 1 else w < 0 for _, w in exp.local_exp[1])
                    for exp in adversarial]
        assert rows["k"].tolist() == relevant
        table = flip_counts(store, domain, target)
        # a pair's Table 2 flips equal Figure 2's at that pair's k (k = 0 adds nothing)
        for _, row in rows.iterrows():
            for method in ("LIME", "norm-based"):
                if row["k"] == 0:
                    assert not row[f"flipped_{method}"]
                    continue
                match = table[(table["pair"] == row["pair"]) & (table["k"] == row["k"])
                              & (table["method"] == method)]
                assert bool(match["flipped"].iloc[0]) == bool(row[f"flipped_{method}"])


def test_rankings_and_composition():
    weights = np.array([[0.1, -0.3, 0.5, 0.1, -0.2]])
    assert attribution_ranking(weights, 1).tolist() == [[2, 0, 3, 4, 1]]   # ties keep id order
    assert attribution_ranking(weights, 0).tolist() == [[1, 4, 0, 3, 2]]
    assert positive_count(weights, 1).tolist() == [3]
    assert positive_count(weights, 0).tolist() == [2]
    rng = np.random.default_rng(0)
    x, a = rng.standard_normal((2, 1, 6, 4)).astype(np.float32)
    mask = np.zeros((1, 6, 4), bool)
    assert np.array_equal(compose_partial(x, a, mask), x)
    assert np.array_equal(compose_partial(x, a, ~mask), a)   # exact, no rounding


def test_section_pages_show_the_results_pages_intervals(store):
    # a section notebook computes one attack's tables; the results page reads the CSVs of all
    # four settings: the rows of that attack must be identical, intervals included
    everything = {name: load_table(store, name) for name in
                  ("table1", "table2", "flip_curves", "flip_differences", "subset_recovery")}
    for domain in ("wave", "spec"):
        section = compute_tables(store, [(domain, 1), (domain, 0)])
        for name, full in everything.items():
            ours = section[name].reset_index(drop=True)
            theirs = full[full["domain"] == domain].reset_index(drop=True)
            pd.testing.assert_frame_equal(ours, theirs[ours.columns], check_dtype=False,
                                          obj=f"{name} {domain}")


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
    segmentation = segmentation_from(store.cfg.lime)
    assert {h.shape for h in horses} == {"blob", "wavy line", "zig-zag"}
    threshold = store.cfg.evaluate.threshold
    _, predictor = detector(store)
    for horse in horses:
        if horse.flipped:
            assert horse.p_original < threshold < horse.p_horse
        else:                             # a shape that flipped nothing: its closest attempt
            assert horse.p_horse <= threshold
            assert not any(h.flipped for h in horses if h.shape == horse.shape)
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
    # frames 53–61 × bands 27–33 lie in time cell 2 (46–68) and band cell 1 (20–39) of the
    # 5 × 4 grid: segment 2·4 + 1 = 9 alone, whatever the share asked for
    assert shape_segments(blob, Segmentation(), min_share=0.0) == [9]
    assert shape_segments(blob, Segmentation(), min_share=0.5) == [9]


def test_a_shape_that_cannot_flip_is_recorded_not_fatal(tmp_path, monkeypatch, capsys):
    """The search turns to near-threshold excerpts, and records the shapes that flip nothing.

    A hand-made detector: P(sing) is the number in band 79 of the excerpt's centre frame (the
    song's "base" probability), plus 0.4 where some 5 × 5 square of cells is brighter than 3.
    Only a filled shape holds such a square: the blob does; the wavy line (3 bands thick) and
    the zig-zag (3 frames thick) never do, so they cannot flip anything. The one test song is
    "no sing" throughout with base 0.05 (the first choices: 0.45 at best, no flip), except at
    frame 100 with base 0.3 (0.3 + 0.4 = 0.7 > 0.5): the blob is found there, in the
    near-threshold pass, after 2 × 3 failed first choices (3 tries per pass, to be quick).
    """
    import torch

    import svdlib.experiments.artifacts.horses as horses_module
    from svdlib.cli import cmd_horses
    from svdlib.data.songs import Song
    from svdlib.experiments.artifacts.horses import horses_stage, make_horses
    from svdlib.experiments.config.loading import load_config
    from svdlib.veracity.horses import shapes_not_flipped
    from svdlib.viz.figures import horses_figure

    n = 115 + 100                         # centre frames 57 … 157 are candidates
    base = np.full(n, 0.05, np.float32)
    base[100] = 0.3
    spec = np.zeros((n, 80), np.float32)  # "log-mel" already: the front end is the identity
    spec[:, 79] = base
    song = Song("song.flac", tmp_path / "song.flac", spec, np.zeros(n, dtype=bool))

    def hand_detector(x: torch.Tensor) -> torch.Tensor:
        bright = x.numpy() > 3.0
        five_frames = np.logical_and.reduce([bright[:, i:i + 111] for i in range(5)])
        square = np.logical_and.reduce([five_frames[:, :, j:j + 76] for j in range(5)])
        return x[:, 57, 79] + 0.4 * torch.from_numpy(square.any(axis=(1, 2))).float()

    monkeypatch.setattr(horses_module, "MAX_TRIES", 3)
    monkeypatch.setattr(horses_module, "detector", lambda store: (None, hand_detector))
    monkeypatch.setattr(horses_module, "to_logmel", lambda net, x: np.asarray(x, np.float32))
    monkeypatch.setattr(horses_module, "load_store_split", lambda store, split: [song])
    monkeypatch.setattr(horses_module, "load_predictions", lambda path: {song.name: base})
    cfg = load_config("tiny", {"run.progress": False, "lime.num_samples": 64},
                      results=str(tmp_path / "results"))
    assert cfg.evaluate.threshold == 0.5
    store = SimpleNamespace(cfg=cfg, predictions_path=lambda split: tmp_path / "unused.npz",
                            horses_path=lambda: tmp_path / "horses.npz")

    horses_stage(store)                   # searched, explained and stored
    made = load_horses(store)
    assert [(h.shape, h.flipped) for h in made] == [
        ("blob", True), ("wavy line", False), ("zig-zag", False)]
    blob, wavy, zigzag = made
    assert blob.frame == 100
    assert (blob.p_original, blob.p_horse) == (pytest.approx(0.3), pytest.approx(0.7))
    for closest in (wavy, zigzag):        # nothing moves the detector: 0.05 stays 0.05
        assert closest.p_horse == pytest.approx(closest.p_original) == pytest.approx(0.05)
        assert closest.frame != 100       # the blob's excerpt holds one horse only
        assert closest.mask.any()
        assert np.array_equal(closest.horse, paint(closest.original, closest.mask,
                                                   closest.intensity))
    assert shapes_not_flipped(made) == ["wavy line", "zig-zag"]

    # the search itself, as stored; Figure 1 marks the shapes that did not flip
    searched = make_horses(store)
    assert [(h.shape, h.flipped, h.frame) for h in searched] == [
        (h.shape, h.flipped, h.frame) for h in made]
    fig = horses_figure(made, segmentation_from(cfg.lime))
    titles = [ax.get_title() for ax in fig.axes[:9]]
    assert titles[1] == "f(horse: blob) = 0.70"
    assert titles[4] == "wavy line NOT flipped: best f = 0.05"
    assert titles[7] == "zig-zag NOT flipped: best f = 0.05"
    # and `svd horses` says so
    monkeypatch.setattr(stages, "horses", lambda store: str(store.horses_path()))
    assert cmd_horses(SimpleNamespace(), cfg, store) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("horse blob      in 'song.flac' frame 100: P(sing) 0.300 -> 0.700")
    assert lines[1].startswith("horse wavy line NOT FOUND: no placement flipped the detector")
    assert lines[2].startswith("horse zig-zag   NOT FOUND: no placement flipped the detector")
    assert lines[2].endswith("P(sing) 0.050 -> 0.050 (threshold 0.50)")


def test_explorer_and_audio(store):
    from svdlib.experiments.explorer import explorer, pair_audio, pair_view

    view = pair_view(store, "wave", 1, 0, 3)
    assert len(view.explainer_ids) == 3 and len(view.energy_ids) == 3
    clips = pair_audio(store, view)
    lengths = {len(c) for c in clips.values()}
    assert len(clips) == 4 and len(lengths) == 1
    assert all(np.isfinite(c).all() and np.abs(c).max() <= 0.9 + 1e-6 for c in clips.values())
    # without the perturbation anywhere, the resynthesis is the original excerpt
    assert not np.allclose(clips["original"], clips["adversarial"])
    box = explorer(store, audio=False)
    assert len(box.children) == 4


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
    from svdlib.veracity.tables import fidelity_separation

    frame = pd.DataFrame({"k": [1] * 6 + [3],
                          "top1_correct": [True, True, True, False, False, False, None],
                          "fidelity": [0.9, 0.8, 0.55, 0.6, 0.5, 0.4, 0.1]})
    result = fidelity_separation(frame)
    assert (result["n"], result["correct"]) == (6, 3)
    assert result["median_correct"] == pytest.approx(0.8)
    assert result["median_wrong"] == pytest.approx(0.5)
    assert result["auroc"] == pytest.approx(8 / 9)          # one wrong pair ranks above one right
    assert np.isnan(fidelity_separation(frame[frame["top1_correct"] != False])["auroc"])  # noqa: E712


# -- hand-made pairs on a hand-made linear detector ------------------------------------------------
# The paper's 5 × 4 grid over 115 × 80 log-mel excerpts: segment c covers frames
# 23·(c // 4) … and bands 20·(c % 4) …. Every excerpt below is constant inside each segment, so it
# is given by 20 numbers, one per segment id. The detector's logit is the sum over segments of
# the excerpt's mean inside the segment, P(sing) = sigmoid(logit): putting δ_c into segment c
# adds δ_c to the logit, and the flip test "P > 0.5" (target 1) / "P < 0.5" (target 0) at the
# threshold 0.5 is "logit > 0" / "logit < 0". A segment's energy ‖δ‖² is 460·δ_c², so the
# norm-based ranking orders segments by δ_c² (ties by id).
#
# The originals of direction 1 (no sing → sing) have −3 in segment 16 and +2 in segment 17
# (logit −1); those of direction 0 have −2 and +3 (logit +1). δ is never in 16 or 17, so a
# ranking that used the adversarial excerpt's energy instead of δ's would put 16 first.
# Every pair: δ (by segment), the LIME "sing" weights of the adversarial explanation ("adv")
# and of the original's ("orig", different on purpose), and the logit of the partial adversary
# δ·mask(first k ranked segments) for k = 1 … 20, worked out by hand, as {k: logit from this k
# on}.
NO_SING_TO_SING = [
    {  # LIME (adv): 5, 0, 10, then the zero weights 1, 2, 3, 4, 6, …, 19 (δ = 0), 15 last:
       #   −1 + .8 = −.2 | + .7 = .5 | + .5 = 1.0 | … | k = 20: + (−.9) = .1
       # norm: δ² 15: .81, 5: .64, 0: .49, 10: .25: −1 − .9 = −1.9 | + .8 = −1.1 | + .7 = −.4 |
       #   + .5 = .1
       # Table 2: 3 positive weights (5, 0, 10): LIME 1.0 flips, norm −.4 does not.
       # With the original's weights (15, 3, 12 first): −1.9 at k = 3, no flip before k = 20.
     "delta": {0: .7, 5: .8, 10: .5, 15: -.9},
     "adv": {5: .30, 0: .20, 10: .10, 15: -.25}, "orig": {15: .4, 3: .3, 12: .2, 5: -.1},
     "lime": {1: -.2, 2: .5, 3: 1.0, 20: .1}, "norm": {1: -1.9, 2: -1.1, 3: -.4, 4: .1},
     "table2_k": 3, "table2": (True, False)},
    {  # LIME: 9, 18, 8, zeros, 1 last (δ_1 = 0): −1 + .3 = −.7 | + .45 = −.25 | + .6 = .35
       # norm: δ² 8: .36, 18: .2025, 9: .09: −.4 | .05 | .35
       # Table 2: 3 positive weights: both flip. Original's weights: 1, 2, 8 → −.4 at k = 3.
     "delta": {8: .6, 9: .3, 18: .45},
     "adv": {9: .5, 18: .4, 8: .3, 1: -.2}, "orig": {1: .3, 2: .2, 8: .1, 9: -.4, 18: -.3},
     "lime": {1: -.7, 2: -.25, 3: .35}, "norm": {1: -.4, 2: .05, 3: .35},
     "table2_k": 3, "table2": (True, True)},
    {  # LIME: 11, 6, 16 (δ = 0), 4, 0, …: −.7 | −.4 | −.4 | + .5 = .1
       # norm: δ² 4: .25, then 6 and 11 tie at .09 (6 first): −.5 | −.2 | .1
       # Table 2: 5 positive weights (11, 6, 16, 4, 0): both .1, flip.
     "delta": {4: .5, 6: .3, 11: .3},
     "adv": {11: .6, 6: .5, 16: .4, 4: .35, 0: .1}, "orig": {16: .5, 17: .4, 4: -.2},
     "lime": {1: -.7, 2: -.4, 4: .1}, "norm": {1: -.5, 2: -.2, 3: .1},
     "table2_k": 5, "table2": (True, True)},
    {  # LIME: 2, 7, zeros, 19 last: −1 − .3 = −1.3 until k = 20: + 1.5 = .2
       # norm: δ² 19: 2.25, 2: .09: .5 | .2
       # Table 2: 2 positive weights (2, 7): LIME −1.3 no flip, norm .2 flips. Original's
       # weights (19, 3 first) would flip at k = 2 (.5).
     "delta": {19: 1.5, 2: -.3},
     "adv": {2: .5, 7: .2, 19: -.1}, "orig": {19: .9, 3: .2, 2: -.5},
     "lime": {1: -1.3, 20: .2}, "norm": {1: .5, 2: .2},
     "table2_k": 2, "table2": (False, True)},
]
SING_TO_NO_SING = [
    {  # target 0: LIME ranks the "sing" weights ascending: 6, 1, 9, zeros, 14 last:
       #   1 − .6 = .4 | − .7 = −.3 | … | k = 20: + .2 = −.1
       # norm: δ² 1: .49, 6: .36, 14: .04: .3 | −.3 | −.1
       # Table 2: 3 negative "sing" weights (6, 1, 9): LIME −.3, norm −.1, both flip. Read with
       # target 1's rules (1 positive weight, 14 first) neither would flip (1.2, .3).
     "delta": {1: -.7, 6: -.6, 14: .2},
     "adv": {6: -.5, 1: -.3, 9: -.1, 14: .4}, "orig": {14: -.6, 3: -.2, 1: .5},
     "lime": {1: .4, 2: -.3, 20: -.1}, "norm": {1: .3, 2: -.3, 3: -.1},
     "table2_k": 3, "table2": (True, True)},
    {  # LIME: 13, 12, zeros: 1 + .3 = 1.3 | − 1.5 = −.2;  norm: 12, 13: −.5 | −.2
       # Table 2: 2 negative weights: both flip. Original's weights: k = 1, segment 5: 1.0.
     "delta": {12: -1.5, 13: .3},
     "adv": {13: -.4, 12: -.2}, "orig": {12: .3, 5: -.3},
     "lime": {1: 1.3, 2: -.2}, "norm": {1: -.5, 2: -.2},
     "table2_k": 2, "table2": (True, True)},
]
HAND_PAIRS = {1: NO_SING_TO_SING, 0: SING_TO_NO_SING}


def by_segment(values: dict[int, float]) -> np.ndarray:
    """20 numbers, one per segment id, from the non-zero ones."""
    out = np.zeros(20)
    out[list(values)] = list(values.values())
    return out


def block_excerpt(values: np.ndarray) -> np.ndarray:
    """A 115 × 80 excerpt that is ``values[c]`` inside segment c of the 5 × 4 grid."""
    return np.kron(np.asarray(values).reshape(5, 4), np.ones((23, 20))).astype(np.float32)


def linear_p_sing(x: np.ndarray) -> np.ndarray:
    """The hand-made detector: sigmoid of the sum of the 20 segment means."""
    x = np.asarray(x, dtype=np.float64)
    logit = x.reshape(len(x), 5, 23, 4, 20).mean(axis=(2, 4)).sum(axis=(1, 2))
    return 1 / (1 + np.exp(-logit))


def hand_arrays(target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Originals, adversarials, adversarial and original LIME weights of one direction."""
    base = by_segment({16: -3.0, 17: 2.0} if target == 1 else {16: -2.0, 17: 3.0})
    pairs = HAND_PAIRS[target]
    original = np.stack([block_excerpt(base) for _ in pairs])
    adversarial = np.stack([block_excerpt(base + by_segment(p["delta"])) for p in pairs])
    return (original, adversarial, np.stack([by_segment(p["adv"]) for p in pairs]),
            np.stack([by_segment(p["orig"]) for p in pairs]))


def logits_by_k(steps: dict[int, float]) -> np.ndarray:
    """The logits for k = 1 … 20 of a {k: logit from this k on} description."""
    out = np.empty(20)
    for k, value in steps.items():
        out[k - 1:] = value
    return out


def hand_flags(logits: np.ndarray, target: int) -> np.ndarray:
    return logits > 0 if target == 1 else logits < 0


def core_flip_counts(original, adversarial, weights, seg, predict, target, threshold):
    """Figure 2's per-pair rows through the core: the paper's two methods in flip_curve."""
    curve = flip_curve(original, adversarial, paper_methods(original, adversarial, weights, seg),
                       seg, predict, threshold_rule(target, threshold), target=target)
    return curve.rename(columns={"output": "p_sing"})


def core_table2_rows(original, adversarial, weights, seg, predict, target, threshold):
    """Table 2's per-pair rows through the core, in the paper's columns."""
    return paper_table2_pairs(table2_rows(original, adversarial, {"LIME": weights}, seg, predict,
                                          threshold_rule(target, threshold), target))


def test_hand_made_pairs_are_valid_adversaries():
    # the stated logits of the originals and of the adversarial excerpts (k = 20)
    for target, pairs in HAND_PAIRS.items():
        original, adversarial, _, _ = hand_arrays(target)
        p_orig, p_adv = linear_p_sing(original), linear_p_sing(adversarial)
        np.testing.assert_allclose(p_orig, 1 / (1 + np.exp(1.0 if target == 1 else -1.0)),
                                   rtol=1e-6)
        assert not is_flipped(p_orig, target, 0.5).any()
        assert is_flipped(p_adv, target, 0.5).all()
        for pair, p in zip(pairs, p_adv, strict=True):
            assert p == pytest.approx(1 / (1 + np.exp(-logits_by_k(pair["norm"])[-1])), rel=1e-5)


@pytest.mark.parametrize("target", [1, 0])
def test_flip_counts_on_a_hand_made_linear_detector(target):
    original, adversarial, adv_weights, orig_weights = hand_arrays(target)
    seg = Segmentation()
    table = core_flip_counts(original, adversarial, adv_weights, seg, linear_p_sing, target,
                               0.5)
    assert list(table.columns) == ["pair", "k", "method", "p_sing", "flipped"]
    assert len(table) == 20 * 2 * len(original)
    for i, pair in enumerate(HAND_PAIRS[target]):
        for method, key in (("LIME", "lime"), ("norm-based", "norm")):
            rows = table[(table["pair"] == i) & (table["method"] == method)].sort_values("k")
            assert rows["k"].tolist() == list(range(1, 21))
            logits = logits_by_k(pair[key])
            assert rows["flipped"].tolist() == hand_flags(logits, target).tolist(), (i, method)
            np.testing.assert_allclose(rows["p_sing"], 1 / (1 + np.exp(-logits)), atol=1e-5)
    # the original excerpts' explanations rank other segments first: other LIME flips
    wrong = core_flip_counts(original, adversarial, orig_weights, seg, linear_p_sing, target,
                               0.5)
    lime = table["method"] == "LIME"
    assert (wrong[lime]["flipped"].to_numpy() != table[lime]["flipped"].to_numpy()).any()


def test_table1_and_table2_by_hand():
    from svdlib.veracity import tables as paper_tables

    seg = Segmentation()
    flips, rows = [], []
    for target in (1, 0):
        original, adversarial, adv_weights, _ = hand_arrays(target)
        for parts, core in ((flips, core_flip_counts), (rows, core_table2_rows)):
            table = core(original, adversarial, adv_weights, seg, linear_p_sing, target, 0.5)
            table.insert(0, "domain", "spec")
            table.insert(1, "target", target)
            table.insert(3, "song", [f"song {i // 2}" for i in table["pair"]])
            parts.append(table)
        pairs = HAND_PAIRS[target]
        got = rows[-1]
        assert got["k"].tolist() == [p["table2_k"] for p in pairs]
        assert got["flipped_LIME"].tolist() == [p["table2"][0] for p in pairs]
        assert got["flipped_norm-based"].tolist() == [p["table2"][1] for p in pairs]
    flips, rows = pd.concat(flips, ignore_index=True), pd.concat(rows, ignore_index=True)
    # Table 1, no sing → sing: LIME flips at k = 3 for pairs 0 and 1 (logits 1.0, .35; pairs 2
    # and 3: −.4, −1.3): 50 %; at k = 2 only pair 0 (25 %), at k = 4 pairs 0–2 (75 %).
    # sing → no sing: both pairs flip from k = 2 on (100 %), neither at k = 1.
    # Norm-based beside it: k = 3: pairs 1, 2, 3 (−.4 for pair 0): 75 %; sing → no sing 100 %.
    expected = {3: (50.0, 100.0), 2: (25.0, 100.0), 4: (75.0, 100.0), 1: (0.0, 0.0)}
    for k, (to_sing, to_no_sing) in expected.items():
        table = paper_tables.table1(flips, k=k, n_boot=100).set_index("target")
        assert table.loc[1, "LIME %"] == pytest.approx(to_sing), k
        assert table.loc[0, "LIME %"] == pytest.approx(to_no_sing), k
        assert table.loc[[1, 0], "n_pairs"].tolist() == [4, 2]
    table = paper_tables.table1(flips, k=3, n_boot=100).set_index("target")
    assert table.loc[[1, 0], "norm-based %"].tolist() == pytest.approx([75.0, 100.0])
    # Table 2: no sing → sing: LIME 3 of 4, norm-based 3 of 4, mean k (3+3+5+2)/4;
    # sing → no sing: 2 of 2 each, mean k 2.5
    table = paper_tables.table2(rows, n_boot=100).set_index("target")
    assert table.loc[1, ["LIME %", "norm-based %", "mean k"]].tolist() == pytest.approx(
        [75.0, 75.0, 3.25])
    assert table.loc[0, ["LIME %", "norm-based %", "mean k"]].tolist() == pytest.approx(
        [100.0, 100.0, 2.5])


def hand_explanation(excerpt: np.ndarray, weights: np.ndarray) -> Explanation:
    """An explanation with the given "sing" weights (and their negation for "no sing")."""
    fact = TimeFrequencyFactorization(excerpt, Segmentation(), baseline="mean")
    exp = Explanation(fact, None, None, instance_output=np.array([0.5, 0.5]))
    for label, sign in ((0, -1.0), (1, 1.0)):
        exp.local_exp[label] = sorted(((c, sign * float(w)) for c, w in enumerate(weights)),
                                      key=lambda e: e[1], reverse=True)
        exp.intercept[label], exp.score[label], exp.local_pred[label] = 0.5, 0.9, 0.5
    return exp


def write_hand_store(store: Store) -> None:
    """Picks, explanations and (empty) subset files of the hand-made pairs, stored as the
    pipeline stores them; the picks hold the log-mel excerpts (an identity front end)."""
    for domain, target in settings():
        original, adversarial, adv_weights, orig_weights = hand_arrays(target)
        n = len(original)
        save_arrays(store.picks_path(domain, target),
                    songs=np.array([f"{domain} song {i // 2}.flac" for i in range(n)]),
                    frames=np.arange(n, dtype=np.int64) * 100 + 57,
                    ground_truth=np.full(n, target == 0),
                    original=original, adversarial=adversarial,
                    orig_prob=linear_p_sing(original).astype(np.float32),
                    adv_prob=linear_p_sing(adversarial).astype(np.float32))
        origs = [hand_explanation(x, w) for x, w in zip(original, orig_weights, strict=True)]
        advs = [hand_explanation(x, w) for x, w in zip(adversarial, adv_weights, strict=True)]
        save_arrays(store.explanations_path(domain, target), n=np.array(n),
                    **prefix_keys(stack_explanations(origs, neighborhood=False), "orig_"),
                    **prefix_keys(stack_explanations(advs, neighborhood=False), "adv_"))
        for k in store.cfg.experiment.subset_ks:
            save_arrays(store.subset_path(domain, target, k), n=np.array(0))


def test_experiment_tables_read_the_adversarial_explanation_and_table1_k(
        toy_corpus, tmp_path, monkeypatch):
    import torch

    import svdlib.experiments.artifacts.tables as veracity

    store = Store(toy_config(tmp_path / "results", toy_corpus,
                             **{"experiment.table1_k": 4, "experiment.bootstrap": 100}))
    assert store.cfg.evaluate.threshold == 0.5
    assert segmentation_from(store.cfg.lime) == Segmentation()
    write_hand_store(store)

    def identity_front_end(store, domain, target):
        picks = load_picks(store, domain, target)
        return picks.original, picks.adversarial

    def hand_detector(store):
        return None, lambda x: torch.from_numpy(linear_p_sing(x.numpy()))

    monkeypatch.setattr(veracity, "pair_logmel", identity_front_end)
    monkeypatch.setattr(veracity, "detector", hand_detector)
    experiment_tables(store)
    flips = load_table(store, "flip_counts")
    pairs_t2 = load_table(store, "table2_pairs")
    for domain, target in settings():
        n = len(HAND_PAIRS[target])
        mine = flips[(flips["domain"] == domain) & (flips["target"] == target)]
        assert len(mine) == 20 * 2 * n
        for i, pair in enumerate(HAND_PAIRS[target]):
            for method, key in (("LIME", "lime"), ("norm-based", "norm")):
                rows = mine[(mine["pair"] == i) & (mine["method"] == method)].sort_values("k")
                expected = hand_flags(logits_by_k(pair[key]), target).tolist()
                assert rows["flipped"].tolist() == expected, (domain, target, i, method)
                assert set(rows["song"]) == {f"{domain} song {i // 2}.flac"}
                assert set(rows["frame"]) == {i * 100 + 57}
        t2 = pairs_t2[(pairs_t2["domain"] == domain) & (pairs_t2["target"] == target)]
        assert t2["k"].tolist() == [p["table2_k"] for p in HAND_PAIRS[target]]
        assert t2["flipped_LIME"].tolist() == [p["table2"][0] for p in HAND_PAIRS[target]]
    # Table 1 at the configured k = 4: 3 of 4 no sing → sing pairs (k = 3 would give 50 %)
    t1 = load_table(store, "table1").set_index(["domain", "target"])
    for domain in ("wave", "spec"):
        assert t1.loc[(domain, 1), "LIME %"] == pytest.approx(75.0)
        assert t1.loc[(domain, 0), "LIME %"] == pytest.approx(100.0)


def test_benchmark_stage_ranks_every_explainer_against_the_exact_references(store):
    paths = stages.benchmark(store)
    table = pd.read_csv(paths["benchmark"])
    table1, table2 = load_table(store, "table1"), load_table(store, "table2")
    for (domain, target), rows in table.groupby(["domain", "target"], sort=False):
        rows = rows.set_index("method")
        # the paper's own LIME explanations give the paper's Table 1 and Table 2: the same
        # function with the same seed, so the intervals are equal too
        lime = table1[(table1["domain"] == domain) & (table1["target"] == target)].iloc[0]
        ours = rows.loc["LIME (paper)"]
        assert [ours["percent"], ours["ci_low"], ours["ci_high"]] == pytest.approx(
            [lime["LIME %"], lime["ci_low"], lime["ci_high"]], abs=1e-9)
        assert [rows.loc["energy", c] for c in ("percent", "ci_low", "ci_high")] == \
            pytest.approx([lime[f"norm-based {c}"] for c in ("%", "ci_low", "ci_high")],
                          abs=1e-9)
        t2 = table2[(table2["domain"] == domain) & (table2["target"] == target)].iloc[0]
        assert [ours["table2 %"], ours["table2 ci_low"], ours["table2 ci_high"]] == \
            pytest.approx([t2["LIME %"], t2["LIME ci_low"], t2["LIME ci_high"]], abs=1e-9)
        # a top-3 that flips is a flipping 3-subset: nobody beats the attainable rate
        bound = rows.loc["attainable (k=3)", "percent"]
        explainers = rows.drop(index=["chance (k=3)", "attainable (k=3)"])
        assert (explainers["percent"] <= bound + 1e-9).all()
        assert set(store.cfg.benchmark.explainers) <= set(rows.index)
    costs = store.benchmark_dir("wave", 1) / "costs.csv"
    stamp = costs.stat().st_mtime_ns
    stages.benchmark(store)                                   # finished settings are skipped
    assert costs.stat().st_mtime_ns == stamp


def test_the_explorer_switches_between_every_benchmarked_explainer(store):
    from svdlib.experiments.artifacts.benchmark import PAPER_LIME, load_attributions
    from svdlib.experiments.explorer import explainer_choices, explainer_views, pair_view

    stages.benchmark(store)
    curves = load_table(store, "benchmark_curves")
    for domain, target in settings():
        if not len(load_picks(store, domain, target)):
            continue
        choices = explainer_choices(store, domain, target)
        assert choices == [PAPER_LIME, *store.cfg.benchmark.explainers]
        weights, signed = load_attributions(store, domain, target)
        for view in explainer_views(store, domain, target, 0, 3):
            if view.explainer != PAPER_LIME:
                assert np.array_equal(view.weights, weights[view.explainer][0])
                # the top 3 by hand: descending for "sing" (or no sign), ascending for "no sing"
                key = -view.weights if target == 1 or not signed[view.explainer] \
                    else view.weights
                assert view.explainer_ids.tolist() == np.argsort(key, kind="stable")[:3].tolist()
            # what the explorer shows flips exactly when the benchmark's curve says so
            row = curves[(curves["domain"] == domain) & (curves["target"] == target)
                         & (curves["pair"] == 0) & (curves["k"] == 3)
                         & (curves["method"] == view.explainer)]
            flips = view.p_explainer > view.threshold if target == 1 \
                else view.p_explainer < view.threshold
            assert bool(row["flipped"].item()) == bool(flips), view.explainer
    with pytest.raises(SvdError, match="no stored relevances"):
        pair_view(store, "wave", 1, 0, 3, "shapley")
