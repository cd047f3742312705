"""Horses: shapes drawn into "no sing" spectrograms that make the detector say "sing".

The paper's Figure 1 shows three hand-drawn edits (a small blob, a wavy line, a zig-zag) that
flip the detector, and LIME finding them with high fidelity: when the cause is obvious, the
explanation is right. The original drawings are not available, so here the shapes are drawn
programmatically into the log-mel excerpts of test-set frames that are labelled and predicted
"no sing": every cell of the shape is set to one intensity, the smallest on a fine grid that
lifts P(sing) to ``experiment.horse_probability`` (or, where no placement gets that far, that
just crosses the decision threshold). Each horse and its original are explained with LIME, and
we measure whether the shape's segments are the ones LIME ranks highest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import load_store_split
from .errors import SvdError
from .evaluate import load_predictions
from .explain import (
    Explanation,
    explain_excerpt,
    lime_settings,
    stack_explanations,
    unstack_explanations,
)
from .model import HALF_BLOCK
from .segments import Segmentation
from .store import Store, load_arrays, prefix_keys, save_arrays, strip_prefix
from .veracity import detector, predict_logmel, to_logmel
from .work import item_seed

SHAPES = ("blob", "wavy line", "zig-zag")


def draw_shape(shape: str, n_frames: int = 115, n_bands: int = 80, centre_frame: float = 57,
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
                threshold: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, float, float] | None:
    """Find where and how strongly to draw a shape so that the detector says "sing".

    Every placement of :data:`PLACEMENTS` (jittered by up to ±1 band / ±2 frames) is tried
    with a grid of intensities. The weakest intensity reaching ``probability`` wins; if no
    placement gets there, the weakest that crosses the ``threshold``.

    Returns
    -------
    tuple or None
        ``(mask, intensity, P(sing))``, or None if no placement flips the label.
    """
    best: dict[bool, tuple[np.ndarray, float, float]] = {}
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
    return best.get(True) or best.get(False)


#: Candidate excerpts tried per shape and pass before giving up.
MAX_TRIES = 8


@dataclass
class Horse:
    """One horse: where it came from, the edit, the model's outputs and the explanations."""

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


def make_horses(store: Store) -> list[Horse]:
    """Draw, calibrate and explain ``experiment.horses_per_shape`` horses per shape.

    Candidates are test-set frames labelled "no sing" with P(sing) below 0.1 (else below the
    threshold), at least a window away from the song's edges, taken in a seeded random order
    from different songs where possible. Each shape is placed where it needs the weakest
    intensity (:func:`place_horse`); candidates where no placement works are skipped.
    """
    cfg = store.cfg
    net, predictor = detector(store)
    threshold = cfg.evaluate.threshold
    target_p = max(cfg.experiment.horse_probability, threshold + 1e-3)
    rng = np.random.default_rng(item_seed(cfg.seed, "horses"))
    songs = load_store_split(store, "test")
    candidates = []
    predictions = load_predictions(store.model_dir() / "predictions-test.npz")
    for song in songs:
        probs = predictions.get(song.name)
        if probs is None:
            continue
        n = len(probs)
        frames = np.arange(HALF_BLOCK, n - HALF_BLOCK)
        frames = frames[~song.targets[frames]]
        low = frames[probs[frames] < 0.1]
        chosen = low if len(low) else frames[probs[frames] < threshold]
        candidates.extend((song, int(f)) for f in rng.permutation(chosen)[:50])
    order = rng.permutation(len(candidates))
    horses: list[Horse] = []
    used: set[tuple[str, int]] = set()
    for shape_index, shape in enumerate(SHAPES):
        made = 0
        used_songs: set[str] = set()
        for pass_ in (0, 1):
            tries = 0
            for j in order:
                if made == cfg.experiment.horses_per_shape or tries == MAX_TRIES:
                    break
                song, frame = candidates[j]
                if (song.name, frame) in used or (pass_ == 0 and song.name in used_songs):
                    continue
                tries += 1
                window = np.asarray(song.spec[frame - HALF_BLOCK:frame + HALF_BLOCK + 1])
                excerpt = to_logmel(net, window[None])[0]
                found = place_horse(predictor, excerpt, shape, target_p, threshold, rng)
                if found is None:
                    continue
                mask, intensity, p_horse = found
                horse = paint(excerpt, mask, intensity)
                p_original = float(predict_logmel(predictor, excerpt[None])[0])
                seeds = (cfg.seed, "horse", shape_index, made)
                explanation = explain_excerpt(predictor, horse, seed=item_seed(*seeds, "horse"),
                                              labels=(0, 1), **lime_settings(cfg.lime))
                original_explanation = explain_excerpt(
                    predictor, excerpt, seed=item_seed(*seeds, "original"), labels=(0, 1),
                    **lime_settings(cfg.lime))
                horses.append(Horse(shape, song.name, frame, excerpt, horse, mask, intensity,
                                    p_original, p_horse, explanation, original_explanation))
                used.add((song.name, frame))
                used_songs.add(song.name)
                made += 1
        if made == 0:
            raise SvdError(f"no '{shape}' horse could flip the detector on the test songs; "
                           "the detector may be too weak (train longer)")
    return horses


def shape_segments(mask: np.ndarray, segmentation: Segmentation,
                   min_share: float = 0.1) -> list[int]:
    """Components holding at least ``min_share`` of the shape's cells."""
    counts = segmentation.energy(mask.astype(np.float64))
    return [int(c) for c in np.flatnonzero(counts >= min_share * mask.sum())]


def horse_found(horse: Horse, segmentation: Segmentation, top: int = 3) -> dict[str, float]:
    """How well LIME's explanation of the horse points at the drawn shape.

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
    return {"top1_on_shape": float(int(order[0]) in on_shape),
            "coverage": float((inside & horse.mask).sum() / max(horse.mask.sum(), 1)),
            "fidelity": float(horse.explanation.score[1])}


def horses_stage(store: Store) -> str:
    """Make the horses and store them (skipped if stored); returns the file path."""
    path = store.horses_path()
    if path.is_file():
        return str(path)
    horses = make_horses(store)
    arrays = {
        "shape": np.array([h.shape for h in horses], dtype=str),
        "song": np.array([h.song for h in horses], dtype=str),
        "frame": np.array([h.frame for h in horses], dtype=np.int64),
        "original": np.stack([h.original for h in horses]),
        "horse": np.stack([h.horse for h in horses]),
        "mask": np.stack([h.mask for h in horses]),
        "intensity": np.array([h.intensity for h in horses], dtype=np.float32),
        "p_original": np.array([h.p_original for h in horses], dtype=np.float32),
        "p_horse": np.array([h.p_horse for h in horses], dtype=np.float32),
    }
    arrays.update(prefix_keys(stack_explanations([h.explanation for h in horses], False),
                            "exp_"))
    arrays.update(prefix_keys(stack_explanations([h.original_explanation for h in horses],
                                               False), "orig_"))
    save_arrays(path, **arrays)
    return str(path)


def load_horses(store: Store) -> list[Horse]:
    """Read the stored horses with their explanations."""
    path = store.horses_path()
    if not path.is_file():
        raise SvdError(f"no horses at '{path}'; run `svd horses` first")
    data = load_arrays(path)
    explanations = unstack_explanations(strip_prefix(data, "exp_"))
    originals = unstack_explanations(strip_prefix(data, "orig_"))
    return [Horse(str(data["shape"][i]), str(data["song"][i]), int(data["frame"][i]),
                  data["original"][i], data["horse"][i], data["mask"][i],
                  float(data["intensity"][i]), float(data["p_original"][i]),
                  float(data["p_horse"][i]), explanations[i], originals[i])
            for i in range(len(data["shape"]))]
