"""`svd run --profile tiny` as a user runs it: from an empty results folder (the embedded corpus
generated), every stage, every table and figure the experiments stage promises.

The rest of the suite runs the stages with toy settings chosen to make them work; this is the
documented smallest profile, unchanged, where a weak detector is the expected outcome.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from svdlib.constants import EXPLAINERS

pytestmark = pytest.mark.slow

#: Tables `svd experiment all` writes into the experiments folder (at least these: the
#: paper's; svdlib.experiments.artifacts.tables.experiment_tables), and its figures
#: (svdlib.experiments.artifacts.figures.paper_figures).
TABLES = ("flip_counts", "flip_curves", "table1", "table2_pairs", "table2", "subset",
          "detected_counts")
FIGURES = ("figure1", "figure2", "figure3", "figure4")
SETTINGS = {("wave", 1), ("spec", 1), ("wave", 0), ("spec", 0)}


def test_tiny_profile_runs_end_to_end(tiny_run):
    done, _ = tiny_run
    assert done.returncode == 0, f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    stages = re.findall(r"^== svd (.+) \(profile tiny\)$", done.stdout, flags=re.M)
    assert stages[0] == "corpus" and stages[-2:] == ["benchmark", "proxies"]
    assert {"train", "predict", "eval", "attack wave", "attack spec", "pick",
            "explain", "experiment all"} <= set(stages)
    # nothing went wrong on the way: no warning, no traceback
    assert not re.search(r"Warning|Traceback", done.stderr), done.stderr[-4000:]
    # every shape has a line: a horse, or "NOT FOUND" with its closest attempt
    for shape in ("blob", "wavy line", "zig-zag"):
        assert re.search(rf"^horse {shape} +(in '|NOT FOUND)", done.stdout, flags=re.M), shape


def test_tiny_run_writes_every_table_and_figure(tiny_run):
    done, results = tiny_run
    assert done.returncode == 0, done.stderr[-4000:]
    (folder,) = (results / "experiments").iterdir()
    printed = dict(re.findall(r"^table (\w+): (.+)$", done.stdout, flags=re.M))
    assert set(TABLES) <= set(printed)
    for name, where in printed.items():   # every table the stage reports, the paper's among them
        path = folder / f"{name}.csv"
        assert Path(where) == path
        assert path.is_file() and path.stat().st_size > 0, path
        assert len(pd.read_csv(path).columns) > 1, path
    figures = dict(re.findall(r"^(\w+): (.+)\.png$", done.stdout, flags=re.M))
    assert set(FIGURES) <= set(figures)
    for name, where in figures.items():   # every figure the stage reports, as PNG and SVG
        assert Path(where) == folder / name
        for suffix in (".png", ".svg"):
            path = folder / f"{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 5000, path

    # the benchmark: every explainer of the profile, the paper's LIME and the references
    bench = pd.read_csv(folder / "benchmark.csv")
    assert {"benchmark", "benchmark_curves"} <= set(printed)
    for _, rows in bench.groupby(["domain", "target"]):
        assert {*EXPLAINERS, "LIME (paper)", "energy"} <= set(rows["method"])
    # the tiny profile searches subsets of up to 2 segments only: no references at k = 3
    assert not bench["method"].str.startswith(("chance", "attainable")).any()
    # the proxy metrics of every setting's run, and pooled over all of them
    assert {"proxies", "proxies_leaderboard"} <= set(printed)
    proxies = pd.read_csv(folder / "proxies.csv")
    assert set(zip(proxies["domain"], proxies["target"], strict=True)) == {*SETTINGS, ("all", -1)}

    table1 = pd.read_csv(folder / "table1.csv")
    assert set(zip(table1["domain"], table1["target"], strict=True)) == SETTINGS
    assert len(table1) == 4
    assert set(table1["paper %"]) == {53.0, 41.0, 21.0, 32.0}
    table2 = pd.read_csv(folder / "table2.csv")
    assert set(zip(table2["domain"], table2["target"], strict=True)) == SETTINGS
    assert len(table2) == 4
    assert set(table2["paper LIME %"]) == {86.0, 91.0, 49.0, 44.0}
    assert set(table2["paper norm-based %"]) == {99.0, 98.0, 74.0, 55.0}
    # every setting with pairs has a flip curve for both rankings at every k
    curves = pd.read_csv(folder / "flip_curves.csv")
    with_pairs = table1[table1["n_pairs"] > 0]
    assert len(with_pairs) > 0
    for _, row in with_pairs.iterrows():
        mine = curves[(curves["domain"] == row["domain"]) & (curves["target"] == row["target"])]
        assert set(mine["method"]) == {"LIME", "norm-based"}
        assert sorted(set(mine["k"])) == list(range(1, 21))
