"""The proxies stage on the toy corpus: every proxy metric of the stored benchmark runs,
judged by the planted truth, written with digests, reused by a re-run, refused when damaged;
its settings are checked when the profile loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, toy_config
from scipy.stats import kendalltau

from svdlib.digests import artifact_done, is_sidecar
from svdlib.experiments import stages
from svdlib.experiments.artifacts.benchmark import load_relevances, load_run
from svdlib.experiments.artifacts.proxies import TABLES, load_proxies, load_proxies_table
from svdlib.experiments.config import checks
from svdlib.experiments.config.checks import settings
from svdlib.experiments.storage.store import Store
from svdlib.files import save_arrays
from svdlib.veracity import metaeval

#: The toy detector, strong cheap attacks (as in test_integrity.py), two pairs a song, and
#: cheap metrics; LIME and lime_forest share LIME's neighbourhood, both have a surrogate R².
SETTINGS = {"train.epochs": 3, "train.epochsize": 40, "train.batchsize": 16,
            "attack.wave.lr": 3e-3, "attack.wave.alpha": 50.0, "attack.wave.clip_eps": 0.02,
            "attack.wave.max_iterations": 12, "attack.spec.lr": 0.05, "attack.spec.alpha": 1e5,
            "attack.spec.clip_eps": 1.0, "attack.spec.max_iterations": 12,
            "lime.num_samples": 64, "lime.pick_per_file": 2, "experiment.bootstrap": 100,
            "experiment.subset_ks": [1], "benchmark.max_k": 2, "benchmark.forest_trees": 5,
            "benchmark.explainers": ["lime", "lime_forest", "saliency", "random"],
            "proxies.infidelity_samples": 4, "proxies.sensitivity_samples": 2,
            "proxies.quantus_runs": 10, "proxies.sensitivity_explainers": ["saliency", "random"]}


def cli_args(root: Path, corpus: Path, **extra) -> list[str]:
    pairs = [f"{key}={json.dumps(value) if isinstance(value, list) else value}"
             for key, value in {**SETTINGS, **extra}.items()]
    return ["--profile", "tiny", "--results", str(root), "--data", str(corpus), "--quiet",
            *[arg for pair in pairs for arg in ("--set", pair)]]


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns,
                                             p.stat().st_ino)
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def computed(toy_store, toy_corpus, tmp_path_factory) -> Path:
    """The proxies stage (and the stages before it) on the toy corpus."""
    root = tmp_path_factory.mktemp("proxies") / "results"
    shutil.copytree(toy_store.root, root)
    stages.proxies(Store(toy_config(root, toy_corpus, **SETTINGS)))
    return root


@pytest.fixture
def store(computed, tmp_path, toy_corpus) -> Store:
    """A private copy of the computed results folder."""
    root = tmp_path / "results"
    shutil.copytree(computed, root)
    return Store(toy_config(root, toy_corpus, **SETTINGS))


def test_the_stage_writes_every_table_with_its_digest(store):
    for domain, target in settings():
        folder = store.proxies_dir(domain, target)
        assert sorted(p.name for p in folder.iterdir() if not is_sidecar(p)) == sorted(
            [f"{t}.csv" for t in TABLES] + ["provenance.json"])
        assert all(artifact_done(folder / f"{t}.csv") for t in TABLES)
    out = store.experiments_dir()
    for name in ("proxies", "proxies_leaderboard", "proxies_metrics", "proxies_agreement"):
        assert artifact_done(out / f"{name}.csv")
    table = load_proxies_table(store)
    assert list(dict.fromkeys(zip(table["domain"], table["target"], strict=True))) == [
        *settings(), ("all", -1)]
    assert set(table["verdict"]) <= {"agrees", "reverses", "undecided", "no data"}
    pooled = table[table["domain"] == "all"].set_index("metric")
    per_setting = table[table["domain"] != "all"].groupby("metric")["n_pairs"].sum()
    assert (pooled["n_pairs"] == per_setting.reindex(pooled.index)).all()


def test_surrogate_scores_are_stored_and_sensitivity_only_where_asked(store):
    for domain, target in settings():
        _, _, scores = load_relevances(store, domain, target)
        assert sorted(scores) == ["lime", "lime_forest"]        # the explainers with an R²
        metrics = load_proxies(store, domain, target)["metrics"]
        if not len(metrics):
            continue
        r2 = metrics[(metrics["metric"] == "surrogate_r2") & np.isfinite(metrics["value"])]
        assert set(r2["method"]) == {"lime", "lime_forest"}
        np.testing.assert_allclose(
            r2[r2["method"] == "lime"].sort_values("pair")["value"], scores["lime"])
        sens = metrics[metrics["metric"] == "sensitivity_max"]
        finite = set(sens.loc[np.isfinite(sens["value"]), "method"])
        assert finite == {"saliency", "random"}


def test_tau_per_pair_is_kendalls_tau_of_the_metric_and_the_flip_curves_area(store):
    checked = 0
    for domain, target in settings():
        run = load_run(store, domain, target)
        tables = load_proxies(store, domain, target)
        area = run.curve.assign(flipped=run.curve["flipped"].astype(float)).groupby(
            ["pair", "method"])["flipped"].mean()
        for row in tables["agreement"][np.isfinite(tables["agreement"]["tau"])].itertuples():
            mine = tables["metrics"][(tables["metrics"]["metric"] == row.metric)
                                     & (tables["metrics"]["pair"] == row.pair)]
            mine = mine[np.isfinite(mine["oriented"])]
            planted = [area[(row.pair, method)] for method in mine["method"]]
            assert row.tau == pytest.approx(kendalltau(mine["oriented"], planted).statistic)
            checked += 1
    assert checked > 0


def test_a_rerun_reuses_the_stored_tables(store, capsys, toy_corpus):
    folders = [store.proxies_dir(d, t) for d, t in settings()]
    before = {f: snapshot(f) for f in folders}
    summary = (store.experiments_dir() / "proxies.csv").read_bytes()
    code, out, err = run_cli(capsys, "proxies", *cli_args(store.root, toy_corpus))
    assert code == 0, err
    assert "proxies all settings" in out and "verdict" in out
    assert {f: snapshot(f) for f in folders} == before         # nothing recomputed
    assert (store.experiments_dir() / "proxies.csv").read_bytes() == summary


def test_a_damaged_table_is_refused_in_one_line(store, capsys, toy_corpus):
    path = store.proxies_dir("spec", 1) / "metrics.csv"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = snapshot(store.root)
    code, _, err = run_cli(capsys, "proxies", *cli_args(store.root, toy_corpus))
    assert code == 2, err
    assert err.startswith("svd: error: ") and err.count("\n") == 1, err
    assert f"'{path}'" in err and "delete it" in err, err
    assert snapshot(store.root) == before                       # nothing computed or written


def test_an_attributions_file_without_scores_reads_back_with_none(store):
    folder = store.benchmark_dir("wave", 1)
    weights, signed, _ = load_relevances(store, "wave", 1)
    methods = list(weights)
    save_arrays(folder / "attributions.npz", methods=np.array(methods, dtype=str),
                signed=np.array([signed[m] for m in methods], dtype=bool),
                **{f"weights_{i}": weights[m] for i, m in enumerate(methods)})
    again, _, scores = load_relevances(store, "wave", 1)
    assert scores == {} and all(np.array_equal(again[m], weights[m]) for m in methods)


@pytest.mark.parametrize("key,value,expected", [
    ("proxies.judge", "median", "one of area|table1|area+table1"),
    ("proxies.quantus_subset", "20", "an integer in 1..19"),
    ("proxies.p_off", "0", "a number in (0.0, 1.0]"),
    ("proxies.sensitivity_radius", "nan", "a number in (0.0, 10.0]"),
    ("proxies.quantus_runs", "0", "an integer in 1..1000000"),
    ("proxies.infidelity_samples", str(10 ** 12), "an integer in 1.."),
    ("proxies.sensitivity_explainers", "[lime, shap]", "a list of distinct names from lime"),
    ("benchmark.forest_trees", "0", "an integer in 1..1000000"),
])
def test_settings_out_of_range_are_refused_in_one_line(capsys, tmp_path, key, value, expected):
    results = tmp_path / "results"
    code, _, err = run_cli(capsys, "proxies", "--profile", "tiny", "--results", str(results),
                           "--quiet", "--set", f"{key}={value}")
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.startswith(f"svd: error: configuration key '{key}' must be {expected}"), err
    assert not results.exists()


def test_the_judges_are_the_ones_metaeval_knows():
    assert checks.JUDGES == metaeval.JUDGES


def test_the_pooled_table_resamples_songs_across_settings(store):
    table = load_proxies_table(store, "proxies_agreement")
    pooled = load_proxies_table(store).query("domain == 'all'").set_index("metric")
    counted = table[np.isfinite(table["tau"])].groupby("metric")["song"].nunique()
    assert (pooled["n_songs"] == counted.reindex(pooled.index).fillna(0)).all()


# -- the chapter's tables, figure and sentences, from hand-made tables ---------------------------
def _tau_table() -> pd.DataFrame:
    rows = []
    for domain, target in (("wave", 1), ("spec", 1), ("all", -1)):
        rows += [
            {"metric": "agreeing", "mean_tau": 0.5, "ci_low": 0.2, "ci_high": 0.7,
             "verdict": "agrees"},
            {"metric": "reversing", "mean_tau": -0.4, "ci_low": -0.6, "ci_high": -0.1,
             "verdict": "reverses"},
            {"metric": "unsure", "mean_tau": 0.1, "ci_low": -0.2, "ci_high": 0.3,
             "verdict": "undecided"},
            {"metric": "empty", "mean_tau": np.nan, "ci_low": np.nan, "ci_high": np.nan,
             "verdict": "no data"}]
        for row in rows[-4:]:
            row.update(domain=domain, target=target, n_pairs=8, n_songs=3, n_nan=1)
    table = pd.DataFrame(rows)
    table.loc[(table["domain"] == "spec") & (table["metric"] == "agreeing"),
              ["ci_low", "verdict"]] = [-0.1, "undecided"]
    return table


def _board() -> pd.DataFrame:
    planted = {"a": 0.8, "b": 0.5, "c": 0.1}
    rows = []
    for metric, values in (("agreeing", {"a": 3.0, "b": 2.0, "c": 1.0}),
                           ("reversing", {"a": 1.0, "b": 2.0, "c": 3.0}),
                           ("unsure", {"a": 2.0, "b": 3.0})):
        ranked = sorted(values, key=lambda m: -values[m])
        for method in values:
            rows.append({"domain": "all", "target": -1, "metric": metric, "method": method,
                         "value": values[method], "rank": ranked.index(method) + 1.0,
                         "planted": planted[method],
                         "planted_rank": sorted(planted, key=lambda m: -planted[m]).index(
                             method) + 1.0,
                         "tau": {"agreeing": 1.0, "reversing": -1.0, "unsure": -1.0}[metric]})
    return pd.DataFrame(rows)


def test_the_findings_name_what_agrees_what_reverses_and_the_leaders():
    from svdlib.viz.proxy_findings import proxy_findings

    text = " ".join(proxy_findings(_tau_table(), _board(), setting_names={
        ("wave", 1): "waveform → sing", ("spec", 1): "spectrogram → sing"}))
    assert "1 of 4 metrics agree with the planted truth" in text
    assert "agreeing (τ = +0.50 [+0.20, +0.70])" in text
    assert "Undecided (the interval covers 0): unsure" in text
    assert "Reversing the planted order (interval below 0): reversing" in text
    assert "No pair gave a finite τ for empty" in text
    assert "agreeing 1, reversing 0, unsure 0, empty 0." in text      # of the 2 settings
    assert "reversing reverses the planted order in the setting waveform → sing" in text
    assert "agreeing (3 explainers) crown the explainer the planted truth ranks first" in text
    assert "reversing (3 explainers) puts c first where the planted truth puts a" in text
    assert "against the planted one overall: reversing (τ = -1.00) and unsure" in text


def test_the_tau_table_and_the_leaderboards_for_reading():
    from svdlib.viz.proxies import format_leaderboards, format_tau_table, proxies_figure

    shown = format_tau_table(_tau_table())
    assert list(shown.index) == ["agreeing", "unsure", "reversing", "empty"]  # pooled τ order
    assert list(shown.columns) == ["waveform → sing", "spectrogram → sing", "all settings",
                                   "verdict", "pairs", "pairs without τ"]
    assert shown.loc["agreeing", "all settings"] == "+0.50 [+0.20, +0.70]"
    assert shown.loc["empty", "all settings"] == "–"
    board = format_leaderboards(_board(), names={"a": "A", "b": "B", "c": "C"})
    assert list(board["planted truth"]) == ["A (0.80)", "B (0.50)", "C (0.10)"]
    assert list(board["reversing"]) == ["C (3)", "B (2)", "A (1)"]
    assert list(board["unsure"]) == ["B (3)", "A (2)", ""]
    fig = proxies_figure(_tau_table())
    ax = fig.axes[0]
    at = dict(zip((t.get_text() for t in ax.get_yticklabels()), ax.get_yticks(), strict=True))
    assert sorted(at, key=at.get) == ["empty", "reversing", "unsure", "agreeing"]  # best on top
    import matplotlib.pyplot as plt

    plt.close(fig)
