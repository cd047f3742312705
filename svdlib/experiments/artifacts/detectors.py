"""The run's trained detector: loaded from the store, once per process, with its front end."""

from __future__ import annotations

import functools
import json

import numpy as np
import torch

from svdlib.detector.checkpoint import load_detector_file, load_model
from svdlib.detector.model import SingingVoiceDetector
from svdlib.detector.predictor import DetectorPredictor, detector_predict_fn
from svdlib.devices import best_device
from svdlib.digests import artifact_done
from svdlib.errors import MissingArtifactError
from svdlib.experiments.config.loading import config_from_dict
from svdlib.experiments.storage.store import Store


def load_trained(store: Store, seed: int | None = None,
                 device: torch.device | str | None = None) -> SingingVoiceDetector:
    """Load the detector of a seed (the first of ``train.seeds`` by default), or the given one.

    Raises
    ------
    SvdError
        If the detector was not trained, or the given file is missing or does not fit, or
        a trained model's file does not match its recorded digest, or it comes from another
        numeric environment.
    """
    cfg = store.cfg
    device = best_device(cfg.run.device) if device is None else device
    if store.given_model() is not None:
        store.check_reuse(store.model_dir())
        store.activate()
        return load_detector_file(store.given_model(), cfg.model, cfg.frontend, device)
    path = store.model_dir(seed) / "model.safetensors"
    if not artifact_done(path):
        raise MissingArtifactError(f"no trained model at '{path}'", "train")
    store.check_reuse(path.parent)
    store.activate()
    return load_model(path, cfg.model, cfg.frontend, device)


@functools.lru_cache(maxsize=4)
def cached_detector(model_dir: str, profile_json: str) -> tuple[SingingVoiceDetector,
                                                                DetectorPredictor]:
    """The detector of a configuration, loaded once per process (keyed by its JSON).

    Parameters
    ----------
    model_dir : str
        The model folder; part of the cache key only.
    profile_json : str
        The configuration as sorted JSON (:meth:`Config.to_dict`).

    Returns
    -------
    (SingingVoiceDetector, DetectorPredictor)
        The network and its batched P(sing) function.
    """
    cfg = config_from_dict(json.loads(profile_json))
    net = load_trained(Store(cfg))
    return net, detector_predict_fn(net, device=next(net.parameters()).device)


def detector(store: Store) -> tuple[SingingVoiceDetector, DetectorPredictor]:
    """The trained detector and its batched P(sing) function on log-mel excerpts (cached)."""
    store.activate()
    cfg = store.cfg.to_dict()
    cfg["run"] = {**cfg["run"], "progress": False}
    return cached_detector(str(store.model_dir()), json.dumps(cfg, sort_keys=True))


def to_logmel(net: SingingVoiceDetector, linear: np.ndarray, batch: int = 256) -> np.ndarray:
    """Log-mel excerpts ``(N, frames, bands)`` of linear excerpts ``(N, frames, bins)``."""
    linear = np.asarray(linear, dtype=np.float32)
    if len(linear) == 0:
        return np.zeros((0, *linear.shape[1:-1], net.frontend_config.mel_bands), np.float32)
    device = next(net.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(linear), batch):
            x = torch.from_numpy(np.array(linear[start:start + batch])).to(device)
            out.append(net.preprocess(x).float().cpu().numpy())
    return np.concatenate(out)
