"""Training every seed of a run, resumable."""

from __future__ import annotations

from pathlib import Path

from svdlib.detector.checkpoint import load_model
from svdlib.detector.training import train_detector
from svdlib.devices import best_device
from svdlib.experiments.config import Config
from svdlib.experiments.splits import load_store_split
from svdlib.experiments.store import Store
from svdlib.files import save_json
from svdlib.locks import artifact_lock


def train_all(cfg: Config, store: Store, seeds: list[int] | None = None,
              validate_each_epoch: bool | None = None, save_errors: bool = False) -> list[Path]:
    """Train one detector per seed (``cfg.train.seeds`` by default); skips finished ones.

    Each seed trains under its model's lock (:mod:`svdlib.locks`): a second process on the
    same results folder waits for it and then uses the finished model.

    Returns
    -------
    list of Path
        The model files, in seed order.
    """
    seeds = list(cfg.train.seeds if seeds is None else seeds)
    store.activate()
    do_validate = cfg.train.validate if validate_each_epoch is None else validate_each_epoch
    songs: dict[str, list] = {}
    paths = []
    for seed in seeds:
        out_dir = store.model_dir(seed)
        if not _finished(store, seed):
            with artifact_lock(out_dir):
                if not _finished(store, seed):
                    for split in ["train", "valid"] if do_validate else ["train"]:
                        if split not in songs:
                            songs[split] = load_store_split(store, split, cfg.run.progress)
                    save_json(out_dir / "config.json", cfg.to_dict())
                    train_detector(cfg.model, cfg.frontend, cfg.train, songs["train"],
                                   songs.get("valid", []), out_dir, seed,
                                   best_device(cfg.run.device),
                                   smooth_width=cfg.evaluate.smooth_width,
                                   smooth_method=cfg.evaluate.smooth_method,
                                   validate_each_epoch=validate_each_epoch,
                                   save_errors=save_errors, progress=cfg.run.progress)
                    store.write_provenance(out_dir, "train", seed=seed,
                                           songs={split: store.split_files(split)
                                                  for split in songs})
        paths.append(out_dir / "model.safetensors")
    return paths


def _finished(store: Store, seed: int) -> bool:
    """Whether a seed's model exists and loads; a damaged one is an error, never a success.

    Raises
    ------
    SvdError
        If the model file is truncated or otherwise unreadable, or comes from another numeric
        environment.
    """
    path = store.model_dir(seed) / "model.safetensors"
    if not path.is_file():
        return False
    store.check_reuse(path.parent)
    load_model(path, store.cfg.model, store.cfg.frontend, "cpu")
    return True
