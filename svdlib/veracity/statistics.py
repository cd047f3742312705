"""Song-level statistics: rates, paired differences and tests whose unit is the test song.

The pairs of one song are not independent: up to ``lime.pick_per_file`` excerpts come from the
same song, and two excerpts can share all but one of their 115 frames. The song is the unit
that was drawn independently, so every interval here resamples songs (a cluster bootstrap) and
every test permutes within songs. With one pair per song these reduce to the usual pair-level
bootstrap and sign-flip test.

Everything works on plain arrays: per-pair 0/1 outcomes (or numbers) and per-pair song labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

EXACT_SIGN_FLIP_SONGS = 16
"""Up to this many songs the sign-flip test enumerates all 2^n sign patterns."""


@dataclass(frozen=True)
class Rate:
    """A percentage with its song-level interval and the sample it comes from."""

    percent: float
    low: float
    high: float
    n_pairs: int
    n_songs: int

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        """The fields as a flat dict, names prefixed (for table rows)."""
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class PairedDifference:
    """``b − a`` in percentage points for two selections evaluated on the same pairs."""

    difference: float
    low: float
    high: float
    p_value: float
    p_mcnemar: float
    discordant_a: int
    discordant_b: int
    n_pairs: int
    n_songs: int

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        """The fields as a flat dict, names prefixed (for table rows)."""
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}


def _song_index(songs: np.ndarray) -> tuple[np.ndarray, int]:
    _, index = np.unique(np.asarray(songs).astype(str), return_inverse=True)
    return index.ravel(), int(index.max()) + 1 if len(index) else 0


def _song_resamples(n_songs: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n_songs)`` counts: how often each song is drawn in each bootstrap sample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_songs, np.full(n_songs, 1.0 / n_songs), size=n_boot)


def _percentile(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def song_rate(flags: np.ndarray, songs: np.ndarray, n_boot: int = 2000, seed: int = 0,
              level: float = 0.95) -> Rate:
    """Percentage of true flags with a cluster-bootstrap interval that resamples songs.

    Each bootstrap sample draws as many songs as there are, with replacement, keeps all pairs
    of each drawn song, and computes the pooled rate (flips / pairs) of the sample.

    Parameters
    ----------
    flags : np.ndarray
        ``(N,)`` bool or 0/1 outcome per pair.
    songs : np.ndarray
        ``(N,)`` song of each pair (any labels).
    n_boot : int
        Bootstrap samples.
    seed : int
        Seed of the resampling.
    level : float
        Coverage of the percentile interval.

    Returns
    -------
    Rate
        NaNs when there are no pairs.

    Examples
    --------
    Four pairs from two songs, three flipped; the interval resamples the two songs:

    >>> import numpy as np
    >>> from svdlib import song_rate
    >>> rate = song_rate(np.array([True, True, False, True]), np.array(["a", "a", "b", "b"]))
    >>> rate.percent, rate.low, rate.high, rate.n_pairs, rate.n_songs
    (75.0, 50.0, 100.0, 4, 2)
    """
    flags = np.asarray(flags, dtype=float).ravel()
    if not len(flags):
        return Rate(float("nan"), float("nan"), float("nan"), 0, 0)
    index, n_songs = _song_index(songs)
    hits = np.bincount(index, weights=flags, minlength=n_songs)
    sizes = np.bincount(index, minlength=n_songs).astype(float)
    draws = _song_resamples(n_songs, n_boot, seed)
    rates = 100 * (draws @ hits) / (draws @ sizes)
    low, high = _percentile(rates, level)
    return Rate(100 * float(flags.mean()), low, high, len(flags), n_songs)


def pair_rate(flags: np.ndarray, n_boot: int = 2000, seed: int = 0,
              level: float = 0.95) -> Rate:
    """The same with every pair its own unit (what the pair-level bootstrap assumes)."""
    flags = np.asarray(flags).ravel()
    return song_rate(flags, np.arange(len(flags)), n_boot, seed, level)


def sign_flip_p_value(values: np.ndarray, songs: np.ndarray, n_random: int = 100_000,
                      seed: int = 0) -> float:
    """Two-sided p-value of "the mean difference is zero", permuting within songs.

    Under the null hypothesis the two selections are exchangeable within each pair, so each
    song's summed difference is equally likely to have either sign. The statistic is the total
    difference; its null distribution flips the signs of the song sums (all 2^n patterns up to
    :data:`EXACT_SIGN_FLIP_SONGS` songs, else ``n_random`` random ones).

    Parameters
    ----------
    values : np.ndarray
        ``(N,)`` per-pair differences (e.g. flipped by b minus flipped by a, in {-1, 0, 1}).
    songs : np.ndarray
        ``(N,)`` song of each pair.
    n_random : int
        Random sign patterns when there are more songs than the exact limit.
    seed : int
        Seed of the random patterns.

    Returns
    -------
    float
        In (0, 1]; 1.0 when every difference is zero, NaN without pairs.
    """
    values = np.asarray(values, dtype=float).ravel()
    if not len(values):
        return float("nan")
    index, n_songs = _song_index(songs)
    sums = np.bincount(index, weights=values, minlength=n_songs)
    observed = abs(sums.sum())
    if observed == 0:
        return 1.0
    if n_songs <= EXACT_SIGN_FLIP_SONGS:
        patterns = ((np.arange(2 ** n_songs)[:, None] >> np.arange(n_songs)) & 1) * 2 - 1
        totals = np.abs(patterns @ sums)
        return float(np.mean(totals >= observed - 1e-9))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_random, n_songs))
    totals = np.abs(signs @ sums)
    # the observed pattern counts as one of the permutations (a valid Monte Carlo p-value)
    return float((1 + np.sum(totals >= observed - 1e-9)) / (n_random + 1))


def mcnemar_p_value(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """Exact McNemar test on the discordant pairs (treats pairs as independent).

    Returns
    -------
    tuple
        ``(p_value, only_a, only_b)``: the two-sided binomial p-value and the discordant counts.
    """
    from scipy.stats import binomtest

    a, b = np.asarray(a, dtype=bool).ravel(), np.asarray(b, dtype=bool).ravel()
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    if only_a + only_b == 0:
        return 1.0, only_a, only_b
    return float(binomtest(only_b, only_a + only_b, 0.5).pvalue), only_a, only_b


def paired_difference(a: np.ndarray, b: np.ndarray, songs: np.ndarray, n_boot: int = 2000,
                      seed: int = 0, level: float = 0.95) -> PairedDifference:
    """``rate(b) − rate(a)`` on the same pairs, with a song-level interval and paired tests.

    The interval resamples songs, keeping each pair's two outcomes together; ``p_value`` is
    the within-song sign-flip test (:func:`sign_flip_p_value`), ``p_mcnemar`` the exact McNemar
    test, which ignores that pairs of a song are related (reported for comparison).

    Parameters
    ----------
    a, b : np.ndarray
        ``(N,)`` bool outcomes of the two selections on the same pairs.
    songs : np.ndarray
        ``(N,)`` song of each pair.
    n_boot, seed, level
        As in :func:`song_rate`.

    Returns
    -------
    PairedDifference
        In percentage points; NaNs when there are no pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import paired_difference
    >>> a = np.array([False, True, False, True])          # e.g. an explainer's top 3 flipped
    >>> b = np.array([True, True, True, True])            # the energy ranking's
    >>> diff = paired_difference(a, b, songs=np.array(["a", "a", "b", "b"]))
    >>> diff.difference, diff.discordant_a, diff.discordant_b, diff.p_mcnemar
    (50.0, 0, 2, 0.5)
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if not len(a):
        nan = float("nan")
        return PairedDifference(nan, nan, nan, nan, nan, 0, 0, 0, 0)
    index, n_songs = _song_index(songs)
    diff = np.bincount(index, weights=b - a, minlength=n_songs)
    sizes = np.bincount(index, minlength=n_songs).astype(float)
    draws = _song_resamples(n_songs, n_boot, seed)
    low, high = _percentile(100 * (draws @ diff) / (draws @ sizes), level)
    p_mcnemar, only_a, only_b = mcnemar_p_value(a, b)
    return PairedDifference(100 * float((b - a).mean()), low, high,
                            sign_flip_p_value(b - a, songs, seed=seed), p_mcnemar, only_a,
                            only_b, len(a), n_songs)


def song_auroc(scores: np.ndarray, labels: np.ndarray, songs: np.ndarray, n_boot: int = 2000,
               seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """AUROC of ``scores`` for ``labels`` with a song-level bootstrap interval.

    Bootstrap samples where one class is missing are skipped.

    Returns
    -------
    tuple of float
        ``(auroc, low, high)``; NaNs when a class is empty.
    """
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(scores, dtype=float).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    nan = float("nan")
    if not len(scores) or labels.all() or not labels.any():
        return nan, nan, nan
    index, n_songs = _song_index(songs)
    members = [np.flatnonzero(index == j) for j in range(n_songs)]
    draws = _song_resamples(n_songs, n_boot, seed)
    values = []
    for counts in draws:
        chosen = np.concatenate([np.repeat(members[j], c) for j, c in enumerate(counts) if c])
        y = labels[chosen]
        if y.all() or not y.any():
            continue
        values.append(roc_auc_score(y, scores[chosen]))
    low, high = _percentile(np.array(values), level)
    return float(roc_auc_score(labels, scores)), low, high
