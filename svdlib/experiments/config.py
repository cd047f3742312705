"""One typed configuration for every stage, filled from a YAML profile.

A profile (``svdlib/profiles/quick.yml``, ``paper.yml`` or any YAML file) is a nested
mapping whose sections mirror the dataclasses below. Keys are checked: an unknown key is an
error, so a typo never silently falls back to a default. Overrides use dotted names
(``train.epochs=2``), the same names the CLI's ``--set`` and the notebooks' ``overrides``
parameter take. The original project's ``.vars`` files (``key = value`` lines) load too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from svdlib.attacks.settings import AttackDomainConfig
from svdlib.audio.settings import FrontEndConfig
from svdlib.constants import EXPLAINERS
from svdlib.detector.settings import ModelConfig, TrainConfig
from svdlib.errors import ConfigError
from svdlib.experiments.checks import all_checks, get_value
from svdlib.experiments.overrides import load_yaml, set_value, shown, type_checks
from svdlib.experiments.paths import (  # noqa: F401  (project_root, resolve_path: re-exported)
    absolute_path,
    check_paths,
    project_root,
    resolve_path,
)

#: Settings that name a file, by section: left out of section hashes, since the file's contents
#: (not its path) are part of the identity of what is computed from it.
FILE_SETTINGS = {"model": "checkpoint"}

#: The shipped profiles (package data; a real folder in a wheel or source install).
PROFILES_DIR = Path(str(importlib.resources.files("svdlib") / "profiles"))


@dataclass
class EvalConfig:
    """Prediction post-processing and the decision threshold used by later stages."""

    smooth_width: int = 56
    smooth_method: str = "median"
    threshold: float = 0.51


@dataclass
class AttackConfig:
    """The two attacks and the split they run on."""

    subset: str = "test"
    wave: AttackDomainConfig = field(default_factory=AttackDomainConfig)
    spec: AttackDomainConfig = field(
        default_factory=lambda: AttackDomainConfig(lr=5e-4, alpha=15.0, clip_eps=0.1)
    )


@dataclass
class LimeConfig:
    """LIME over time-frequency segments (audioLIME semantics) and adversary picking."""

    n_time_segments: int = 5
    n_freq_segments: int = 4
    baseline: str = "mean"
    num_samples: int = 8192
    kernel_width: float = 0.25
    distance_metric: str = "cosine"
    feature_selection: str = "auto"
    batch_size: int = 256
    pick_per_file: int = 10
    pick_max_draws: int = 100000
    pick_seed: int = 2021


@dataclass
class ExperimentConfig:
    """The paper's experiments."""

    subset_ks: list[int] = field(default_factory=lambda: [1, 3, 5])
    table1_k: int = 3
    bootstrap: int = 2000
    horses_per_shape: int = 3
    horse_probability: float = 0.9


@dataclass
class BenchmarkConfig:
    """The explainer benchmark (``svd benchmark``): which explainers, and their settings."""

    explainers: list[str] = field(default_factory=lambda: list(EXPLAINERS))
    kernelshap_samples: int = 0      # 0: as many as LIME (lime.num_samples)
    ig_steps: int = 32
    max_k: int = 3                   # the exhaustive search's largest subset


@dataclass
class CorpusConfig:
    """The embedded default corpus (ignored when ``paths.data`` points at real data)."""

    seed: int = 0
    n_train: int = 10
    n_valid: int = 3
    n_test: int = 3
    bars: int = 12


@dataclass
class PathsConfig:
    """Where data and results live.

    A relative path written in a profile (or given as an ``overrides`` value, as notebooks
    do) is relative to the project root (:func:`project_root`), wherever the process runs. One
    given on the command line (``--results``, ``--data``) or in the environment
    (``SVD_RESULTS``, ``SVD_DATA``) is relative to the current directory, as for every
    command-line tool: :func:`load_config` stores it as an absolute path.
    """

    data: str = ""
    results: str = "results"
    allow_shared_songs: bool = False   # a song in two file lists: refused unless true


@dataclass
class RunConfig:
    """Run-time settings.

    ``device`` and ``num_threads`` change the numbers (reductions run in another order), so they
    are resolved when the configuration loads (``auto`` becomes ``cpu`` or ``cuda``; 0 threads
    becomes torch's default, or the cores shared out among local Dask workers) and are part of
    every artifact's identity. The others never change results.
    """

    device: str = "auto"
    num_threads: int = 0
    progress: bool = True
    scheduler: str = ""
    workers: int = 0


@dataclass
class Config:
    """The whole configuration of one profile."""

    profile: str = "default"
    seed: int = 0
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    lime: LimeConfig = field(default_factory=LimeConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        # where each set value came from (a profile's line, --set, a .vars line), for messages;
        # not a field: it changes no numbers
        self.sources: dict[str, str] = {}

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a nested plain dictionary."""
        return dataclasses.asdict(self)

    def section_hash(self, *names: str) -> str:
        """Hash of the named sections (dotted names allowed), stable across runs.

        Parameters
        ----------
        *names : str
            Section or field names, e.g. ``"model"``, ``"train"``, ``"attack.wave"``.

        Returns
        -------
        str
            The first 12 hex digits of a SHA-256 over the canonical JSON of those values.
        """
        payload = {name: _to_plain(get_value(self, name)) for name in names}
        for name in names:   # a given file enters keys by its contents (Store.model_key)
            if isinstance(payload[name], dict) and name in FILE_SETTINGS:
                payload[name].pop(FILE_SETTINGS[name], None)
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value


def _apply_mapping(cfg: Config, mapping: dict[str, Any], sources: dict[str, str],
                   default: str = "", prefix: str = "") -> None:
    """Set every value of a nested mapping, each with the source of its dotted key."""
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dataclasses.is_dataclass(get_value(cfg, dotted)):
            _apply_mapping(cfg, value, sources, default, f"{dotted}.")
        else:
            set_value(cfg, dotted, value, sources.get(dotted, default))


def _yaml_lines(node: yaml.Node, prefix: str = "", depth: int = 0) -> dict[str, int]:
    """The 1-based line of every dotted key's value in a composed YAML mapping."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode) and depth < 4:  # sections nest 3 deep (aliases loop)
        for key, value in node.value:
            dotted = f"{prefix}{key.value}"
            lines[dotted] = value.start_mark.line + 1
            lines.update(_yaml_lines(value, f"{dotted}.", depth + 1))
    return lines


def _read_profile(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A profile's mapping, and for each dotted key ``profile 'PATH', line N``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"profile '{path}' cannot be read: {reason}; give a readable "
                          "YAML file") from None
    try:
        mapping = load_yaml(text) or {}
        lines = _yaml_lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_error_message(path, err)) from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"profile '{path}' must be a mapping of sections")
    return mapping, {key: f"profile '{path}', line {line}" for key, line in lines.items()}


def resolve_profile_path(profile: str) -> Path:
    """Find a profile by name (``quick``, ``paper``) or by path to a YAML file."""
    candidate = Path(profile)
    if candidate.suffix in (".yml", ".yaml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"profile file '{profile}' does not exist; "
                              "give a YAML file or a name")
        return candidate
    named = PROFILES_DIR / f"{profile}.yml"
    if not named.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yml")))
        raise ConfigError(f"unknown profile '{profile}'; known profiles: {known}, or a YAML path")
    return named


def load_config(
    profile: str = "quick",
    overrides: dict[str, Any] | None = None,
    results: str | None = None,
    data: str | None = None,
    environment: bool = True,
) -> Config:
    """Build the configuration of a profile, with overrides applied.

    Parameters
    ----------
    profile : str
        A profile name from ``svdlib/profiles/`` or a path to a YAML file (a relative one is
        relative to the current directory).
    overrides : dict, optional
        Dotted keys to values, e.g. ``{"train.epochs": 2}``; applied last. Relative
        ``paths.results`` / ``paths.data`` values here are relative to the project root, like
        those in a profile.
    results, data : str, optional
        The results root and data root; they win over the environment variables
        ``SVD_RESULTS`` / ``SVD_DATA``, which win over the profile. Relative paths given here
        or in those variables are resolved against the current directory (and stored
        absolute).
    environment : bool
        Read ``SVD_RESULTS`` and ``SVD_DATA`` (True by default).

    Returns
    -------
    Config
        The filled configuration.

    Raises
    ------
    ConfigError
        For a bad profile or setting, or a results or data path that names a file.
    """
    path = resolve_profile_path(profile)
    mapping, sources = _read_profile(path)
    cfg = Config()
    cfg.profile = path.stem
    _apply_mapping(cfg, {k: v for k, v in mapping.items() if k != "profile"}, sources)
    env = os.environ if environment else {}
    for key, value in (("results", env.get("SVD_RESULTS")), ("data", env.get("SVD_DATA")),
                       ("results", results), ("data", data)):
        if value:
            setattr(cfg.paths, key, absolute_path(value))
    given = getattr(overrides, "sources", {})
    for key, value in (overrides or {}).items():
        set_value(cfg, key, value, given.get(key, ""))
    validate(cfg)
    check_paths(cfg.paths.results, cfg.paths.data)
    apply_run_settings(cfg)
    return cfg


def config_from_dict(mapping: dict[str, Any]) -> Config:
    """Rebuild a configuration from :meth:`Config.to_dict` (e.g. on a remote worker)."""
    cfg = Config()
    cfg.profile = str(mapping.get("profile", "default"))
    _apply_mapping(cfg, {k: v for k, v in mapping.items() if k != "profile"}, {},
                   "config_from_dict")
    # the thread count was resolved (and checked) where the run was configured; a worker on
    # another machine runs with it
    validate(cfg, local_threads=False)
    apply_run_settings(cfg)
    return cfg


def apply_run_settings(cfg: Config) -> Config:
    """Resolve ``run.device`` and ``run.num_threads`` and give torch that thread count.

    After this, the configuration names the numeric environment its stages compute in, so the
    artifact keys (:class:`svdlib.experiments.store.Store`) are the same in every process that
    runs them,
    and the thread count torch uses is the one the keys record.
    """
    import torch

    from svdlib.provenance import resolve_device, resolve_threads

    run = cfg.run
    run.device = resolve_device(run.device)
    run.num_threads = resolve_threads(run.num_threads, run.workers, run.scheduler)
    if torch.get_num_threads() != run.num_threads:
        torch.set_num_threads(run.num_threads)
    return cfg


def _yaml_error_message(path: Path, err: yaml.YAMLError) -> str:
    """One line: where in the profile YAML failed (1-based line and column) and why."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    line = column = None
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(getattr(err, "position", None), int):  # a ReaderError: a bad character
        before = path.read_text(encoding="utf-8", errors="replace")[:err.position]
        line, column = before.count("\n") + 1, err.position - before.rfind("\n")
    where = f" at line {line}, column {column}" if line is not None else ""
    problem = " ".join(str(problem or (str(err).splitlines() or ["unreadable"])[0]).split())
    return f"profile '{path}' is not valid YAML{where}: {problem}; fix the file"


def validate(cfg: Config, local_threads: bool = True) -> None:
    """Check every setting's type and range, so that a bad value fails when it loads.

    The checks (:func:`svdlib.experiments.checks.all_checks`) run in order and each only once
    the ones before it passed, so a check may rely on settings checked earlier (e.g. the LIME
    segments on ``frontend.mel_bands``, a batch size on ``model.width``). Sizes that decide an
    allocation must fit in this machine's memory.

    Parameters
    ----------
    cfg : Config
        The configuration to check.
    local_threads : bool
        Bound ``run.num_threads`` by the CPUs of this machine.

    Raises
    ------
    SvdError
        One line naming the first bad setting, its allowed range, its value and, where known,
        where the value came from.
    """
    sources = getattr(cfg, "sources", {})
    # lazily: a check runs only once the ones before it passed
    for ok, key, expected in itertools.chain(all_checks(cfg, local_threads), type_checks(cfg)):
        if not ok:
            where = f" ({sources[key]})" if sources.get(key) else ""
            raise ConfigError(f"configuration key '{key}' must be {expected}, got "
                              f"'{shown(get_value(cfg, key))}'{where}")
