"""The horses stage: planted shapes in the test songs, explained, stored."""

from __future__ import annotations

import functools

import numpy as np

from svdlib.constants import EXCERPT_FRAMES
from svdlib.data.songs import Song
from svdlib.detector.inference import load_predictions
from svdlib.detector.model import HALF_BLOCK, SingingVoiceDetector
from svdlib.detector.predictor import DetectorPredictor, predict_logmel
from svdlib.digests import artifact_done
from svdlib.errors import MissingArtifactError, SvdError
from svdlib.experiments.artifacts.detectors import detector, to_logmel
from svdlib.experiments.config.factories import lime_settings
from svdlib.experiments.config.settings import Config
from svdlib.experiments.storage.splits import HORSE, load_store_split, warn_unusable_songs
from svdlib.experiments.storage.store import Store
from svdlib.explain.explainers import LimeExplainer
from svdlib.explain.explanation import stack_explanations, unstack_explanations
from svdlib.files import load_arrays, prefix_keys, save_arrays, strip_prefix
from svdlib.seeding import item_seed
from svdlib.veracity.horses import (
    MAX_TRIES,
    SHAPES,
    Attempt,
    Horse,
    horse_candidates,
    paint,
    search_shape,
)


def make_horses(store: Store) -> list[Horse]:
    """Draw, calibrate and explain ``experiment.horses_per_shape`` horses per shape.

    Candidates are test-set frames labelled "no sing" with P(sing) below 0.1 (else below the
    threshold), at least a window away from the song's edges, taken in a seeded random order
    from different songs where possible. Each shape is placed where it needs the weakest
    intensity (:func:`place_horse`); candidates where no placement works are skipped. Three
    passes of up to :data:`MAX_TRIES` excerpts each are made per shape (:func:`search_shape`):
    one song per horse, any song, then (for a weak detector) the "no sing" frames closest to
    the threshold, in order of decreasing P(sing). No excerpt is tried twice for one shape,
    and no excerpt holds two horses.

    A shape that flips none of the excerpts tried is not an error: it is recorded by its
    closest attempt (the highest P(sing) reached), explained like a horse and marked
    ``flipped=False``.

    Parameters
    ----------
    store : Store
        The artifact store (trained detector and test-set predictions).

    Returns
    -------
    list of Horse
        Per shape of :data:`SHAPES`, in order: its horses (up to
        ``experiment.horses_per_shape``), or its closest attempt (``flipped`` false).

    Raises
    ------
    SvdError
        If no test frame is labelled and predicted "no sing" (nothing to draw into).
    """
    cfg = store.cfg
    net, predictor = detector(store)
    threshold = cfg.evaluate.threshold
    target_p = max(cfg.experiment.horse_probability, threshold + 1e-3)
    rng = np.random.default_rng(item_seed(cfg.seed, "horses"))
    passes = _passes(store, threshold, rng)
    horses: list[Horse] = []
    used: set[tuple[str, int]] = set()
    for shape_index, shape in enumerate(SHAPES):
        flipped, closest = search_shape(
            predictor, functools.partial(_excerpt, net), shape, passes,
            cfg.experiment.horses_per_shape, used, target_p, threshold, rng,
            max_tries=MAX_TRIES)
        horses.extend(_explained(cfg, predictor, shape_index, number, attempt, True)
                      for number, attempt in enumerate(flipped))
        if not flipped and closest is not None:
            horses.append(_explained(cfg, predictor, shape_index, 0, closest, False))
    return horses


def _passes(store: Store, threshold: float, rng: np.random.Generator
            ) -> list[tuple[list[tuple[Song, int]], bool]]:
    """The search passes over the test set's candidate excerpts (see :func:`make_horses`)."""
    songs = load_store_split(store, "test")
    warn_unusable_songs(store, {"test": songs}, {"test": EXCERPT_FRAMES}, HORSE)
    predictions = load_predictions(store.predictions_path("test"))
    first, near = horse_candidates(songs, predictions, threshold, rng)
    if not first:
        raise SvdError("no test frame is labelled and predicted 'no sing', so there is nothing "
                       "to draw horses into")
    return [(first, True), (first, False), (near, False)]


def _excerpt(net: SingingVoiceDetector, song: Song, frame: int) -> np.ndarray:
    """The log-mel excerpt of ``song`` centred on ``frame``."""
    window = np.asarray(song.spec[frame - HALF_BLOCK:frame + HALF_BLOCK + 1])
    return to_logmel(net, window[None])[0]


def _explained(cfg: Config, predictor: DetectorPredictor, shape_index: int, number: int,
               attempt: Attempt, flipped: bool) -> Horse:
    """The horse of an attempt, with LIME's explanations of it and of its original."""
    horse = paint(attempt.excerpt, attempt.mask, attempt.intensity)
    p_original = float(predict_logmel(predictor, attempt.excerpt[None])[0])
    seeds = (cfg.seed, "horse", shape_index, number)
    explanation = LimeExplainer(predictor, seed=item_seed(*seeds, "horse"),
                                **lime_settings(cfg.lime)).explanation(horse, labels=(0, 1))
    original_explanation = LimeExplainer(
        predictor, seed=item_seed(*seeds, "original"),
        **lime_settings(cfg.lime)).explanation(attempt.excerpt, labels=(0, 1))
    return Horse(SHAPES[shape_index], attempt.song.name, attempt.frame, attempt.excerpt, horse,
                 attempt.mask, attempt.intensity, p_original, attempt.p_horse, explanation,
                 original_explanation, flipped)


def horses_stage(store: Store) -> str:
    """Make the horses and store them (skipped if stored); returns the file path.

    Shapes that flipped nothing are stored too, by their closest attempt (``flipped`` false).
    """
    path = store.horses_path()
    if artifact_done(path):
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
        "flipped": np.array([h.flipped for h in horses], dtype=bool),
    }
    arrays.update(prefix_keys(stack_explanations([h.explanation for h in horses], False),
                            "exp_"))
    arrays.update(prefix_keys(stack_explanations([h.original_explanation for h in horses],
                                               False), "orig_"))
    save_arrays(path, **arrays)
    return str(path)


def load_horses(store: Store) -> list[Horse]:
    """Read the stored horses with their explanations.

    Files written before shapes that flip nothing were recorded hold flipped horses only.
    """
    path = store.horses_path()
    if not path.is_file():
        raise MissingArtifactError(f"no horses at '{path}'", "horses")
    data = load_arrays(path)
    explanations = unstack_explanations(strip_prefix(data, "exp_"))
    originals = unstack_explanations(strip_prefix(data, "orig_"))
    flipped = data.get("flipped", np.ones(len(data["shape"]), dtype=bool))
    return [Horse(str(data["shape"][i]), str(data["song"][i]), int(data["frame"][i]),
                  data["original"][i], data["horse"][i], data["mask"][i],
                  float(data["intensity"][i]), float(data["p_original"][i]),
                  float(data["p_horse"][i]), explanations[i], originals[i], bool(flipped[i]))
            for i in range(len(data["shape"]))]
