"""Song-level statistics: hand-computed answers, and a simulation of clustered pairs.

The pairs of one song are near-copies of each other (overlapping excerpts of the same audio),
so a bootstrap over pairs is too confident. These tests build such samples by hand.
"""

import numpy as np
import pandas as pd
import pytest

from svdlib.veracity import tables as paper_tables
from svdlib.veracity.statistics import (
    mcnemar_p_value,
    pair_rate,
    paired_difference,
    sign_flip_p_value,
    song_auroc,
    song_rate,
)


def _clustered(rng, n_songs, per_song, rate, spread):
    """Pairs whose songs have their own flip rate (Beta around ``rate``); all pairs of a song
    share its rate, as near-identical excerpts would."""
    a = rate * (1 - spread) / spread
    b = (1 - rate) * (1 - spread) / spread
    song_rates = rng.beta(a, b, n_songs)
    flags = rng.random((n_songs, per_song)) < song_rates[:, None]
    songs = np.repeat(np.arange(n_songs), per_song)
    return flags.ravel(), songs


def test_identical_pairs_of_few_songs_give_a_wide_song_interval():
    # 4 songs, 25 identical pairs each: two songs always flip, two never
    flags = np.repeat([True, False, True, False], 25)
    songs = np.repeat(["a", "b", "c", "d"], 25)
    by_song = song_rate(flags, songs, n_boot=4000, seed=1)
    by_pair = pair_rate(flags, n_boot=4000, seed=1)
    assert by_song.percent == by_pair.percent == 50.0
    assert (by_song.n_pairs, by_song.n_songs) == (100, 4)
    assert (by_pair.n_pairs, by_pair.n_songs) == (100, 100)
    # the data say "two songs of four flip": resampling songs, a draw of mostly flipping or
    # mostly non-flipping songs is common, so the interval spans most of 0..100; resampling
    # 100 "independent" pairs gives about ±10 points
    assert by_song.high - by_song.low >= 50
    assert by_pair.high - by_pair.low <= 25


def test_song_interval_covers_the_true_rate_at_about_the_nominal_level():
    rng = np.random.default_rng(0)
    true_rate, runs = 0.4, 300
    covered_song = covered_pair = 0
    for run in range(runs):
        flags, songs = _clustered(rng, n_songs=15, per_song=8, rate=true_rate, spread=0.3)
        s = song_rate(flags, songs, n_boot=400, seed=run)
        p = pair_rate(flags, n_boot=400, seed=run)
        covered_song += s.low <= 100 * true_rate <= s.high
        covered_pair += p.low <= 100 * true_rate <= p.high
    # 300 runs: a nominal 95 % coverage gives 285 ± 8; the percentile bootstrap with 15
    # clusters runs a little low, so accept 0.87..0.99
    assert 0.87 <= covered_song / runs <= 0.99
    assert covered_pair / runs < covered_song / runs - 0.15   # the pair level is overconfident


def test_sign_flip_p_value_by_hand():
    # three songs with summed differences 2, 1, 1 (total 4): of the 8 sign patterns only
    # (+,+,+) and (-,-,-) reach |total| >= 4, so p = 2/8
    values = np.array([1, 1, 1, 0, 1, 0])
    songs = np.array(["x", "x", "y", "y", "z", "z"])
    assert sign_flip_p_value(values, songs) == pytest.approx(0.25)
    # sums 1, 1, -1: |total| = 1, every pattern gives |total| >= 1
    assert sign_flip_p_value(np.array([1, 1, -1]), np.array([0, 1, 2])) == pytest.approx(1.0)
    assert sign_flip_p_value(np.zeros(4), np.arange(4)) == 1.0


def test_sign_flip_monte_carlo_agrees_with_enumeration():
    rng = np.random.default_rng(3)
    values = rng.integers(-1, 2, 40).astype(float) + 0.3
    songs = np.repeat(np.arange(20), 2)                  # 20 songs: random patterns
    exact_songs = np.repeat(np.arange(10), 4)            # 10 songs: enumeration
    exact = sign_flip_p_value(values, exact_songs)
    assert 0 < exact <= 1
    monte = sign_flip_p_value(values, songs, n_random=200_000, seed=1)
    # the same data grouped into 20 songs of 2: compare with a direct simulation
    sums = np.bincount(songs, weights=values)
    signs = np.random.default_rng(9).choice([-1, 1], size=(200_000, 20))
    direct = np.mean(np.abs(signs @ sums) >= abs(sums.sum()))
    assert monte == pytest.approx(direct, abs=0.01)


def test_mcnemar_by_hand():
    a = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1], bool)
    b = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1], bool)
    p, only_a, only_b = mcnemar_p_value(a, b)
    assert (only_a, only_b) == (0, 6)
    assert p == pytest.approx(2 * 0.5 ** 6)              # two-sided binomial, 6 of 6


def test_paired_difference_by_hand():
    a = np.array([1, 0, 0, 1, 0, 0], bool)               # LIME
    b = np.array([1, 1, 1, 1, 1, 0], bool)               # norm-based
    songs = np.array(["s1", "s1", "s2", "s2", "s3", "s3"])
    diff = paired_difference(a, b, songs, n_boot=2000, seed=0)
    assert diff.difference == pytest.approx(100 * 3 / 6)
    assert (diff.discordant_a, diff.discordant_b, diff.n_pairs, diff.n_songs) == (0, 3, 6, 3)
    # song sums of b - a: 1, 1, 1 -> only the all-equal patterns reach 3: p = 2/8
    assert diff.p_value == pytest.approx(0.25)
    assert 0 <= diff.low <= diff.difference <= diff.high <= 100


def test_song_auroc_by_hand():
    scores = np.array([0.9, 0.8, 0.3, 0.2, 0.7, 0.1])
    labels = np.array([1, 1, 0, 0, 1, 0], bool)
    songs = np.array([0, 0, 1, 1, 2, 2])
    auroc, low, high = song_auroc(scores, labels, songs, n_boot=500)
    assert auroc == 1.0 and low == 1.0 and high == 1.0   # perfectly separated in every sample
    assert np.isnan(song_auroc(scores, np.ones(6, bool), songs)[0])


def test_table1_rows_by_hand():
    # one setting, k = 3; pairs 0-3 from two songs; LIME flips pairs 0, 1; norm flips 0, 1, 2, 3
    rows = []
    for pair, song, lime, norm in [(0, "A", 1, 1), (1, "A", 1, 1), (2, "B", 0, 1), (3, "B", 0, 1)]:
        for method, flipped in (("LIME", lime), ("norm-based", norm)):
            for k in (2, 3):
                rows.append({"domain": "wave", "target": 1, "pair": pair, "song": song,
                             "k": k, "method": method, "flipped": bool(flipped and k == 3)})
    flips = pd.DataFrame(rows)
    t1 = paper_tables.table1(flips, k=3, n_boot=500)
    row = t1.iloc[0]
    assert (row["LIME %"], row["norm-based %"], row["difference"]) == (50.0, 100.0, 50.0)
    assert (row["n_pairs"], row["n_songs"], row["only_LIME"], row["only_norm"]) == (4, 2, 0, 2)
    assert row["paper %"] == 53.0
    # read at the wrong k, every rate would be 0
    assert paper_tables.table1(flips, k=2, n_boot=100).iloc[0]["LIME %"] == 0.0
    curves = paper_tables.flip_curves(flips, n_boot=100)
    at3 = curves[curves["k"] == 3].set_index("method")
    assert at3.loc["LIME", "percent"] == 50.0 and at3.loc["LIME", "n_songs"] == 2
