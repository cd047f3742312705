"""The artifact store: where every stage's results live, written atomically.

An artifact's folder is named by a hash of exactly the configuration that produced it, chained
through the stages it depends on: changing ``train.epochs`` moves the model, and with it every
attack, explanation and experiment built on it, while leaving the corpus in place. A stage whose
artifact exists is skipped, so an interrupted run resumes where it stopped. Files are written to
a temporary name in the same folder and renamed into place, so a reader never sees half a file.
Nothing here unpickles: arrays go through ``np.load(allow_pickle=False)``, metadata through JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, resolve_path
from .errors import SvdError


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    Parameters
    ----------
    path : str or Path
        The final destination. Its parent folders are created.
    suffix : str
        Suffix of the temporary file, for writers that insist on an extension (``.npz``).

    Yields
    ------
    Path
        Where to write. It is removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp",
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default),
                       encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def load_json(path: str | Path) -> Any:
    """Read a JSON artifact, with a clear error if it is missing or corrupt."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SvdError(f"missing artifact '{path}'; run the stage that writes it first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SvdError(f"corrupt JSON artifact '{path}' ({err}); delete it and re-run") from None


def save_arrays(path: str | Path, **arrays: Any) -> None:
    """Write named numpy arrays to an uncompressed ``.npz``, atomically (no pickles)."""
    clean = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in clean.items():
        if value.dtype == object:
            raise TypeError(f"array '{name}' has dtype object; store plain arrays only")
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **clean)


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by :func:`save_arrays` (``allow_pickle=False``)."""
    path = Path(path)
    if not path.is_file():
        raise SvdError(f"missing artifact '{path}'; run the stage that writes it first")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (ValueError, OSError, EOFError) as err:
        raise SvdError(f"corrupt array file '{path}' ({err}); delete it and re-run") from None


def prefix_keys(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The same arrays with ``prefix`` added to every key (several records in one file)."""
    return {f"{prefix}{key}": value for key, value in arrays.items()}


def strip_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose keys start with ``prefix``, with the prefix removed."""
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def short_hash(*values: Any) -> str:
    """A 12-digit hash of JSON-serialisable values."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Store:
    """Paths of every artifact of one configuration.

    Parameters
    ----------
    cfg : Config
        The configuration; ``cfg.paths.results`` is the root, ``cfg.paths.data`` an optional
        external corpus in the Jamendo layout.
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.root = resolve_path(cfg.paths.results)

    # -- data ---------------------------------------------------------------------------------
    @property
    def external_data(self) -> bool:
        """Whether the data root is a user-given corpus (e.g. a real Jamendo copy)."""
        return bool(self.cfg.paths.data)

    def data_key(self) -> str:
        """Identity of the data: the corpus recipe, or the external folder's path."""
        if self.external_data:
            return "ext-" + short_hash(str(resolve_path(self.cfg.paths.data).resolve()))
        return "gen-" + self.cfg.section_hash("corpus", "frontend.sample_rate")

    def data_root(self) -> Path:
        """The corpus folder: the external data root, or the generated corpus's folder."""
        if self.external_data:
            return resolve_path(self.cfg.paths.data)
        return self.root / "corpus" / self.data_key()

    def spectra_dir(self) -> Path:
        """Cache of linear-magnitude spectrograms, one ``.npy`` per audio file."""
        return self.root / "spectra" / short_hash(self.data_key(),
                                                  self.cfg.section_hash("frontend"))

    # -- model --------------------------------------------------------------------------------
    def model_key(self, seed: int | None = None) -> str:
        """Identity of one trained detector."""
        seed = self.cfg.train.seeds[0] if seed is None else seed
        train = {k: v for k, v in self.cfg.to_dict()["train"].items()
                 if k not in ("seeds", "validate")}
        return short_hash(self.data_key(), self.cfg.section_hash("frontend", "model"), train, seed)

    def model_dir(self, seed: int | None = None) -> Path:
        """Folder of one trained detector: weights, config, logs, predictions."""
        seed = self.cfg.train.seeds[0] if seed is None else seed
        return self.root / "models" / f"seed{seed}-{self.model_key(seed)}"

    # -- attacks and later stages ---------------------------------------------------------------
    def attack_key(self, domain: str) -> str:
        """Identity of one attack run (model, domain hyper-parameters, split, threshold)."""
        return short_hash(self.model_key(), domain,
                          self.cfg.section_hash(f"attack.{domain}", "attack.subset",
                                                "evaluate.threshold"))

    def attack_dir(self, domain: str) -> Path:
        """Folder of the adversarial songs and the per-frame log of one attack."""
        name = f"{domain}-{self.cfg.attack.subset}-{self.attack_key(domain)}"
        return self.root / "attacks" / name

    def lime_key(self) -> str:
        """Identity of the LIME settings (segmentation, baseline, samples, kernel, seed)."""
        lime = {k: v for k, v in self.cfg.to_dict()["lime"].items() if k != "batch_size"}
        return short_hash(lime, self.cfg.seed)

    def picks_path(self, domain: str, target: int) -> Path:
        """The picked (original, adversarial) excerpt pairs of one attack and direction."""
        lime = self.cfg.lime
        key = short_hash(self.attack_key(domain), lime.pick_per_file, lime.pick_max_draws,
                         lime.pick_seed)
        return self.root / "picks" / f"{domain}-t{target}-{key}.npz"

    def explanations_path(self, domain: str, target: int) -> Path:
        """LIME explanations of the picked pairs of one attack and direction."""
        key = short_hash(self.picks_path(domain, target).name, self.lime_key())
        return self.root / "explanations" / f"{domain}-t{target}-{key}.npz"

    def subset_path(self, domain: str, target: int, k: int) -> Path:
        """Explanations of the partial adversaries that perturb only ``k`` segments."""
        key = short_hash(self.picks_path(domain, target).name, self.lime_key(), k)
        return self.root / "subset" / f"{domain}-t{target}-k{k}-{key}.npz"

    def horses_path(self) -> Path:
        """The drawn horses and their explanations."""
        key = short_hash(self.model_key(), self.lime_key(),
                         self.cfg.experiment.horses_per_shape, self.cfg.evaluate.threshold)
        return self.root / "horses" / f"horses-{key}.npz"

    def experiments_dir(self) -> Path:
        """Figures and tables of the paper's experiments."""
        key = short_hash(self.model_key(), self.lime_key(), self.attack_key("wave"),
                         self.attack_key("spec"),
                         self.cfg.section_hash("experiment", "evaluate.threshold"))
        return self.root / "experiments" / f"{self.cfg.profile}-{key}"

    def work_dir(self, name: str) -> Path:
        """A scratch folder for resumable partial work of a stage."""
        return self.root / "work" / name
