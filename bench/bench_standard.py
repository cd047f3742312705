"""Interval half-width against minutes: the trade-off behind the `standard` profile.

Reads a finished `svd run` of a profile (default `standard`): its per-pair tables and its wall
time per stage (`run_timings.json`, written by `svd run`). It then asks what a smaller run
would have given: for n test songs and at most m pairs per song it draws random song subsets
of the real results (without replacement, 30 draws), computes the song-level 95 % interval of
every Table 1 and Table 2 rate, and reports the widest half-width; the minutes of such a run
are the measured stage times scaled by the work each stage does (per song of the corpus, per
test song, per pair). Writes `tradeoff.csv` and `tradeoff.png` next to the experiment tables
(or into --out) and prints the table.

    python bench/bench_standard.py --profile standard
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from svdlib.experiments.config.loading import load_config
from svdlib.experiments.storage.store import Store
from svdlib.veracity.statistics import song_rate

PER_PAIR = ("explain", "subsets", "experiment all", "pick")
PER_TEST_SONG = ("attack wave", "attack spec", "predict", "eval")


def rates(flips: pd.DataFrame, rows: pd.DataFrame, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(flags, songs) of every Table 1 (LIME at k) and Table 2 (both selections) rate."""
    out = []
    for (_, _), table in flips[(flips["k"] == k) & (flips["method"] == "LIME")].groupby(
            ["domain", "target"]):
        out.append((table["flipped"].to_numpy(bool), table["song"].to_numpy()))
    for (_, _), table in rows.groupby(["domain", "target"]):
        for method in ("LIME", "norm-based"):
            out.append((table[f"flipped_{method}"].to_numpy(bool), table["song"].to_numpy()))
    return out


def subsample(flags: np.ndarray, songs: np.ndarray, chosen: set, per_song: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    keep = []
    for song in chosen:
        index = np.flatnonzero(songs == song)
        keep.extend(rng.permutation(index)[:per_song])
    keep = np.array(sorted(keep), dtype=int)
    return flags[keep], songs[keep]


def minutes(timings: dict[str, float], cfg, n_songs: int, pairs_per_song_ratio: float) -> float:
    """Wall minutes of a run with n test songs and the given share of the measured pairs."""
    c = cfg.corpus
    total_songs = c.n_train + c.n_valid + c.n_test
    seconds = 0.0
    for stage, value in timings.items():
        if stage == "corpus":
            seconds += value * (c.n_train + c.n_valid + n_songs) / total_songs
        elif stage in PER_TEST_SONG:
            seconds += value * n_songs / c.n_test
        elif stage in PER_PAIR:
            seconds += value * n_songs / c.n_test * pairs_per_song_ratio
        else:                                   # training, horses: fixed
            seconds += value
    return seconds / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--results", default=None)
    parser.add_argument("--out", default=None, help="folder for tradeoff.csv / .png")
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--train-seconds", type=float, default=None,
                        help="training time measured on its own, for a run that reused its "
                             "model (e.g. 8 x the time of `svd train --set train.epochs=1`)")
    args = parser.parse_args()
    cfg = load_config(args.profile, results=args.results)
    store = Store(cfg)
    folder = store.experiments_dir()
    flips = pd.read_csv(folder / "flip_counts.csv")
    rows = pd.read_csv(folder / "table2_pairs.csv")
    timings = json.loads((folder / "run_timings.json").read_text())["seconds"]
    if args.train_seconds is not None:
        timings["train"] = args.train_seconds
    measured = rates(flips, rows, cfg.experiment.table1_k)
    all_songs = sorted(set(flips["song"]))
    max_per_song = cfg.lime.pick_per_file
    mean_pairs = float(np.mean([len(f) for f, _ in measured]))
    rng = np.random.default_rng(0)
    records = []
    counts = sorted({n for n in (5, 10, 15, 20, 25, 30, 35, 40, len(all_songs))
                     if n <= len(all_songs)})
    for per_song in range(1, max_per_song + 1):
        for n in counts:
            widths, pairs = [], []
            for draw in range(args.draws):
                chosen = set(rng.choice(all_songs, n, replace=False).tolist())
                worst = 0.0
                n_pairs = []
                for flags, songs in measured:
                    f, s = subsample(flags, songs, chosen, per_song, rng)
                    rate = song_rate(f, s, n_boot=500, seed=draw)
                    worst = max(worst, (rate.high - rate.low) / 2)
                    n_pairs.append(len(f))
                widths.append(worst)
                pairs.append(np.mean(n_pairs))
            ratio = float(np.mean(pairs)) / mean_pairs * len(all_songs) / n
            records.append({"test songs": n, "pairs per song (max)": per_song,
                            "pairs per setting": float(np.mean(pairs)),
                            "widest half-width": float(np.mean(widths)),
                            "minutes": minutes(timings, cfg, n, ratio)})
    table = pd.DataFrame(records)
    out = Path(args.out) if args.out else folder
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "tradeoff.csv", index=False)
    fig, ax = plt.subplots(figsize=(6, 4))
    for per_song, part in table.groupby("pairs per song (max)"):
        ax.plot(part["minutes"], part["widest half-width"], "-o", markersize=4,
                label=f"≤ {per_song} pairs per song")
    ax.axhline(10, color="k", linestyle=":", linewidth=1)
    ax.set_xlabel("minutes of `svd run` on this machine (from the measured stage times)")
    ax.set_ylabel("widest Table 1/2 half-width (points)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "tradeoff.png", dpi=150)
    with pd.option_context("display.width", 120):
        print(f"measured stage seconds: {timings}")
        print(table.round(1).to_string(index=False))
    print(f"wrote {out / 'tradeoff.csv'} and {out / 'tradeoff.png'}")


if __name__ == "__main__":
    main()
