"""Horses: shapes drawn into "no sing" spectrograms that make the detector say "sing".

The paper's Figure 1 shows three hand-drawn edits (a small blob, a wavy line, a zig-zag) that
flip the detector, and LIME finding them with high fidelity: when the cause is obvious, the
explanation is right. The original drawings are not available, so here the shapes are drawn
programmatically into the log-mel excerpts of test-set frames that are labelled and predicted
"no sing": every cell of the shape is set to one intensity, the smallest on a fine grid that
lifts P(sing) to ``experiment.horse_probability`` (or, where no placement gets that far, that
just crosses the decision threshold). Each horse and its original are explained with LIME, and
we measure whether the shape's segments are the ones LIME ranks highest.

A weak detector (a short training run, as in the ``tiny`` profile) may not be flipped by some
shape anywhere. That is a result, not an error: the search then turns to the "no sing" excerpts
closest to the threshold, and if the shape still flips none of them, the closest attempt is
stored with ``flipped=False`` and reported as such (CLI, notebook, Figure 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from svdlib.constants import EXCERPT_FRAMES, MEL_BANDS
from svdlib.data.songs import Song
from svdlib.detector.model import HALF_BLOCK
from svdlib.detector.predictor import predict_logmel
from svdlib.errors import SvdError
from svdlib.explain.explanation import Explanation
from svdlib.explain.segments import Segmentation

SHAPES = ("blob", "wavy line", "zig-zag")


def draw_shape(shape: str, n_frames: int = EXCERPT_FRAMES, n_bands: int = MEL_BANDS,
               centre_frame: float = 57,
               centre_band: float = 30, scale: float = 1.0) -> np.ndarray:
    """A boolean ``(frames, bands)`` mask of a shape centred near (frame, band).

    Parameters
    ----------
    shape : {"blob", "wavy line", "zig-zag"}
        A filled ellipse of about 9 frames × 7 bands; a sine line 2 bands thick across about
        60 frames; a vertical zig-zag 2 frames thick over about 45 bands (at ``scale`` 1).
    n_frames, n_bands : int
        Size of the excerpt.
    centre_frame, centre_band : float
        Where to put it.
    scale : float
        Size factor (lengths and amplitudes; the stroke width stays).
    """
    t, b = np.meshgrid(np.arange(n_frames), np.arange(n_bands), indexing="ij")
    if shape == "blob":
        return (((t - centre_frame) / (4.5 * scale)) ** 2
                + ((b - centre_band) / (3.5 * scale)) ** 2) <= 1.0
    if shape == "wavy line":
        line = centre_band + 3.5 * scale * np.sin(2 * np.pi * (t - centre_frame) / 20.0)
        return (np.abs(b - line) <= 1.0) & (np.abs(t - centre_frame) <= 30 * scale)
    if shape == "zig-zag":
        period = 12.0 * scale
        phase = ((b - centre_band) / period) % 1.0
        zig = centre_frame + 6.0 * scale * (4 * np.abs(phase - 0.5) - 1)
        return (np.abs(t - zig) <= 1.0) & (np.abs(b - centre_band) <= 22 * scale)
    raise SvdError(f"unknown horse shape '{shape}'; use one of {', '.join(SHAPES)}")


def paint(excerpt: np.ndarray, mask: np.ndarray, intensity: float) -> np.ndarray:
    """The excerpt with every masked cell set to ``intensity`` (log-mel units)."""
    return np.where(mask, np.float32(intensity), excerpt).astype(np.float32)


def intensity_curve(predictor, excerpt: np.ndarray, mask: np.ndarray,
                    levels: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """P(sing) of the excerpt with the shape painted at each intensity of a grid.

    The grid runs from the excerpt's median to its maximum plus 6 (log units, a factor of
    e^6 ≈ 400 in magnitude).

    Returns
    -------
    intensities, probabilities : np.ndarray
        Both ``(levels,)``.
    """
    low, high = float(np.median(excerpt)), float(excerpt.max()) + 6.0
    grid = np.linspace(low, high, levels, dtype=np.float32)
    return grid, predict_logmel(predictor, np.stack([paint(excerpt, mask, v) for v in grid]))


#: Where a horse may go: centre bands (low bands hold the voice's fundamental), centre frames
#: and sizes.
PLACEMENTS = [(band, frame, scale) for scale in (1.0, 1.5) for band in (8, 16, 24, 32, 40)
              for frame in (50, 64)]


def place_horse(predictor, excerpt: np.ndarray, shape: str, probability: float,
                threshold: float, rng: np.random.Generator, closest: bool = False
                ) -> tuple[np.ndarray, float, float] | None:
    """Find where and how strongly to draw a shape so that the detector says "sing".

    Every placement of :data:`PLACEMENTS` (jittered by up to ±1 band / ±2 frames) is tried
    with a grid of intensities. The weakest intensity reaching ``probability`` wins; if no
    placement gets there, the weakest that crosses the ``threshold``.

    Parameters
    ----------
    predictor : callable
        The detector on log-mel excerpts (see
        :func:`svdlib.experiments.artifacts.detectors.detector`).
    excerpt : np.ndarray
        ``(frames, bands)`` log-mel excerpt to draw into.
    shape : str
        One of :data:`SHAPES`.
    probability, threshold : float
        The P(sing) to aim for, and the decision threshold that must at least be crossed.
    rng : np.random.Generator
        Source of the placement jitter.
    closest : bool
        If no placement crosses the threshold, return the one with the highest P(sing)
        instead of None (its P(sing) is then at most ``threshold``).

    Returns
    -------
    tuple or None
        ``(mask, intensity, P(sing))``, or None if no placement flips the label (and
        ``closest`` is false).
    """
    best: dict[bool, tuple[np.ndarray, float, float]] = {}
    nearest: tuple[np.ndarray, float, float] | None = None
    for band, frame, scale in PLACEMENTS:
        mask = draw_shape(shape, *excerpt.shape, frame + rng.uniform(-2, 2),
                          band + rng.uniform(-1, 1), scale)
        grid, p = intensity_curve(predictor, excerpt, mask)
        for confident, level in ((True, probability), (False, threshold)):
            reached = np.flatnonzero(p > level)
            if len(reached):
                i = reached[0]
                if confident not in best or grid[i] < best[confident][1]:
                    best[confident] = (mask, float(grid[i]), float(p[i]))
        top = int(np.argmax(p))
        if nearest is None or p[top] > nearest[2]:
            nearest = (mask, float(grid[top]), float(p[top]))
    return best.get(True) or best.get(False) or (nearest if closest else None)


#: Candidate excerpts tried per shape and pass before giving up.
MAX_TRIES = 8

#: Least distance (frames) between two excerpts of one song in the near-threshold pass.
NEAR_SPACING = HALF_BLOCK // 2


@dataclass
class Horse:
    """One horse: where it came from, the edit, the model's outputs and the explanations.

    ``flipped`` is False for the closest attempt at a shape that flipped no excerpt at all (see
    :func:`make_horses`); its ``p_horse`` is then at most the decision threshold.
    """

    shape: str
    song: str
    frame: int
    original: np.ndarray
    horse: np.ndarray
    mask: np.ndarray
    intensity: float
    p_original: float
    p_horse: float
    explanation: Explanation
    original_explanation: Explanation
    flipped: bool = True


def horse_candidates(songs: list[Song], predictions: dict[str, np.ndarray], threshold: float,
                rng: np.random.Generator
                ) -> tuple[list[tuple[Song, int]], list[tuple[Song, int]]]:
    """The excerpts to draw into: first choices and near-threshold fallbacks.

    The first choices come in a seeded random order; the fallbacks, up to :data:`MAX_TRIES`
    per song spaced :data:`NEAR_SPACING` frames apart, in order of decreasing P(sing) (see
    :func:`make_horses`).
    """
    candidates: list[tuple[Song, int]] = []
    near: list[tuple[float, int, int]] = []
    for index, song in enumerate(songs):
        probs = predictions.get(song.name)
        if probs is None:
            continue
        n = len(probs)
        frames = np.arange(HALF_BLOCK, n - HALF_BLOCK)
        frames = frames[~song.targets[frames]]
        low = frames[probs[frames] < 0.1]
        below = frames[probs[frames] < threshold]
        chosen = low if len(low) else below
        candidates.extend((song, int(f)) for f in rng.permutation(chosen)[:50])
        kept: list[int] = []
        for f in below[np.argsort(-probs[below], kind="stable")]:
            if all(abs(int(f) - k) >= NEAR_SPACING for k in kept):
                kept.append(int(f))
                near.append((-float(probs[f]), index, int(f)))
                if len(kept) == MAX_TRIES:
                    break
    order = rng.permutation(len(candidates))
    return [candidates[j] for j in order], [(songs[i], f) for _, i, f in sorted(near)]


@dataclass
class Attempt:
    """One shape placed into one excerpt: where, how strongly, and the P(sing) it reached."""

    song: Song
    frame: int
    excerpt: np.ndarray
    mask: np.ndarray
    intensity: float
    p_horse: float


def _untried(passes: list[tuple[list[tuple[Song, int]], bool]], max_tries: int,
             used: set[tuple[str, int]], used_songs: set[str]
             ) -> Iterator[tuple[Song, int]]:
    """The excerpts to try, pass after pass: up to ``max_tries`` per pass, none twice.

    Excerpts in ``used`` are passed over, and so are those of a song in ``used_songs`` in a
    pass whose flag is true (one excerpt per song). Both sets are read as the search goes.
    """
    tried: set[tuple[str, int]] = set()
    for pool, one_per_song in passes:
        tries = 0
        for song, frame in pool:
            if tries == max_tries:
                break
            key = (song.name, frame)
            if key in used or key in tried or (one_per_song and song.name in used_songs):
                continue
            tries += 1
            tried.add(key)
            yield song, frame


def search_shape(predictor, excerpt_of: Callable[[Song, int], np.ndarray], shape: str,
                 passes: list[tuple[list[tuple[Song, int]], bool]], wanted: int,
                 used: set[tuple[str, int]], probability: float, threshold: float,
                 rng: np.random.Generator, max_tries: int = MAX_TRIES
                 ) -> tuple[list[Attempt], Attempt | None]:
    """Search candidate excerpts for up to ``wanted`` that one shape flips to "sing".

    The passes are tried in order, each over up to ``max_tries`` excerpts not yet tried (see
    :func:`_untried`). In each the shape goes where it needs the weakest intensity
    (:func:`place_horse`); an excerpt still at most ``threshold`` is skipped, but the highest
    such attempt is kept.

    Parameters
    ----------
    predictor, shape
        The detector on log-mel excerpts, and one of :data:`SHAPES`.
    excerpt_of : callable
        ``(song, centre frame) -> (frames, bands)`` log-mel excerpt.
    passes : list of (list of (Song, int), bool)
        Candidate excerpts per pass (see :func:`horse_candidates`), and whether the pass takes one
        excerpt per song.
    wanted, max_tries : int
        How many flipped excerpts to find; how many excerpts to try per pass.
    used : set of (str, int)
        ``(song name, frame)`` of the excerpts holding a horse; those flipped here are added.
    probability, threshold, rng
        As for :func:`place_horse`.

    Returns
    -------
    flipped : list of Attempt
        The flipped excerpts, in the order found (at most ``wanted``).
    closest : Attempt or None
        The highest P(sing) among the attempts that did not flip (None if all did).
    """
    flipped: list[Attempt] = []
    closest: Attempt | None = None
    used_songs: set[str] = set()
    for song, frame in _untried(passes, max_tries, used, used_songs):
        if len(flipped) == wanted:
            break
        excerpt = excerpt_of(song, frame)
        mask, intensity, p_horse = place_horse(predictor, excerpt, shape, probability,
                                               threshold, rng, closest=True)
        attempt = Attempt(song, frame, excerpt, mask, intensity, p_horse)
        if p_horse <= threshold:
            if closest is None or p_horse > closest.p_horse:
                closest = attempt
            continue
        flipped.append(attempt)
        used.add((song.name, frame))
        used_songs.add(song.name)
    return flipped, closest


def shapes_not_flipped(horses: list[Horse]) -> list[str]:
    """The shapes of :data:`SHAPES` without a horse that flipped the detector.

    Parameters
    ----------
    horses : list of Horse
        As from :func:`make_horses` or :func:`load_horses`.

    Returns
    -------
    list of str
        In the order of :data:`SHAPES`.
    """
    flipped = {h.shape for h in horses if h.flipped}
    return [shape for shape in SHAPES if shape not in flipped]


def shape_segments(mask: np.ndarray, segmentation: Segmentation,
                   min_share: float = 0.1) -> list[int]:
    """Components holding at least ``min_share`` of the shape's cells (and at least one)."""
    counts = segmentation.energy(mask.astype(np.float64))
    return [int(c) for c in np.flatnonzero((counts > 0) & (counts >= min_share * mask.sum()))]


def horse_found(horse: Horse, segmentation: Segmentation, top: int = 3) -> dict[str, float]:
    """How well LIME's explanation of the horse points at the drawn shape.

    Parameters
    ----------
    horse : Horse
        A horse with its explanation.
    segmentation : Segmentation
        The grid LIME's segments come from.
    top : int
        How many of the most relevant "sing" segments count.

    Returns
    -------
    dict
        ``top1_on_shape`` (LIME's top "sing" segment contains part of the shape),
        ``coverage`` (share of the shape's cells inside LIME's top positive segments, at most
        ``top``), ``fidelity`` (the surrogate's R²).
    """
    weights = horse.explanation.weights(1)
    order = np.argsort(-weights, kind="stable")
    positive = [int(c) for c in order[:top] if weights[c] > 0]
    inside = segmentation.mask_of(positive).astype(bool) if positive else np.zeros_like(
        horse.mask)
    on_shape = shape_segments(horse.mask, segmentation, min_share=0.0)
    return {"top1_on_shape": float(bool(positive) and positive[0] in on_shape),
            "coverage": float((inside & horse.mask).sum() / max(horse.mask.sum(), 1)),
            "fidelity": float(horse.explanation.score[1])}
