"""Run stamps: what a notebook was run with, so unchanged notebooks are not rerun."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svdlib.experiments.artifacts.freshness import source_fingerprint
from svdlib.experiments.config.paths import resolve_path
from svdlib.experiments.config.settings import Config
from svdlib.provenance import numeric_environment

#: Version of the stamp's recipe; bump it to invalidate every stored output.
STAMP_VERSION = 1
#: Key under the output notebook's metadata that holds the stamp and run details.
METADATA_KEY = "svdlib"
#: Configuration sections left out of a notebook's stamp; the numeric environment they
#: resolve to (device, threads) enters it separately, since it changes the numbers.
RUN_ONLY_SECTIONS = ("run",)


def package_hash() -> str:
    """SHA-256 over the whole svdlib package's Python sources (relative paths and bytes)."""
    return source_fingerprint()


def stable_config(cfg: Config) -> dict[str, Any]:
    """``cfg.to_dict()`` without run-only settings, with resolved results and data paths.

    A given detector (``model.checkpoint``) enters by its file's digest, not its path.
    """
    data = {k: v for k, v in cfg.to_dict().items() if k not in RUN_ONLY_SECTIONS}
    paths = dict(data["paths"])
    paths["results"] = str(resolve_path(paths["results"]))
    if paths["data"]:
        paths["data"] = str(resolve_path(paths["data"]))
    data["paths"] = paths
    if cfg.model.checkpoint:   # a given detector: its contents, wherever it lies
        from svdlib.experiments.storage.store import Store

        data["model"] = {**data["model"], "checkpoint": Store(cfg).model_digest()}
    return data


def run_stamp(cfg: Config, source: str | Path, parameters: Mapping[str, Any],
              svdlib_hash: str | None = None) -> str:
    """The stamp that identifies one run's output.

    Parameters
    ----------
    cfg : Config
        The resolved configuration; run-only settings (``run.*``) are left out.
    source : str or Path
        The source notebook; its bytes are hashed.
    parameters : Mapping
        The injected parameters; ``run.*`` overrides are left out.
    svdlib_hash : str, optional
        :func:`package_hash`, when already computed.

    Returns
    -------
    str
        A SHA-256 hex digest.
    """
    params = dict(parameters)
    if isinstance(params.get("overrides"), Mapping):
        params["overrides"] = {k: v for k, v in params["overrides"].items()
                               if k.split(".")[0] not in RUN_ONLY_SECTIONS}
    payload = {
        "version": STAMP_VERSION,
        "source": hashlib.sha256(Path(source).read_bytes()).hexdigest(),
        "parameters": params,
        "config": stable_config(cfg),
        "environment": numeric_environment(cfg.run.device, cfg.run.num_threads),
        "svdlib": svdlib_hash or package_hash(),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_stamp(path: str | Path) -> str | None:
    """The stamp stored in an output notebook, or None if absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            nb = json.load(handle)
        return nb["metadata"][METADATA_KEY]["stamp"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded_seconds(path: str | Path) -> float:
    """The seconds an output notebook's execution took, as recorded (0 if unknown).

    Parameters
    ----------
    path : str or Path
        An executed notebook (it need not exist).

    Returns
    -------
    float
        ``metadata.svdlib.seconds``, or 0.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            seconds = json.load(handle)["metadata"][METADATA_KEY]["seconds"]
        return max(0.0, float(seconds))
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


# -- running -----------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    """A duration as ``H:MM:SS``.

    Parameters
    ----------
    seconds : float
        The duration (rounded to whole seconds).

    Returns
    -------
    str
        E.g. ``0:03:07``.
    """
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def relative_path(path: Path) -> str:
    """A path as the user reads it: relative to the current folder where it lies below it.

    Parameters
    ----------
    path : Path
        Any path.

    Returns
    -------
    str
        The relative path, or the path as given.
    """
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)
