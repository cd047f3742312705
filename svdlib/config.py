"""One typed configuration for every stage, filled from a YAML profile.

A profile (``profiles/quick.yml``, ``profiles/paper.yml`` or any YAML file) is a nested
mapping whose sections mirror the dataclasses below. Keys are checked: an unknown key is an
error, so a typo never silently falls back to a default. Overrides use dotted names
(``train.epochs=2``), the same names the CLI's ``--set`` and the notebooks' ``overrides``
parameter take. The original project's ``.vars`` files (``key = value`` lines) load too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import SvdError

PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"


@dataclass
class FrontEndConfig:
    """Audio front end: resampling, STFT, mel filterbank, magnitude scaling."""

    sample_rate: int = 22050
    frame_len: int = 1024
    fps: int = 70
    filterbank: str = "mel_orig"
    mel_bands: int = 80
    mel_min: float = 27.5
    mel_max: float = 8000.0
    magscale: str = "log"

    @property
    def hop(self) -> int:
        """STFT hop size in samples (315 for 22050 Hz at 70 fps)."""
        return self.sample_rate // self.fps

    @property
    def n_bins(self) -> int:
        """Number of one-sided STFT bins (513 for a 1024-sample window)."""
        return self.frame_len // 2 + 1


@dataclass
class ModelConfig:
    """The singing voice detector (Schlüter & Lehner's ismir2015 CNN)."""

    arch: str = "ismir2015"
    batch_norm: bool = True
    firstconv_zeromean: bool = True
    width: float = 1.0
    blocklen: int = 115
    convdrop: str = "none"


@dataclass
class TrainConfig:
    """Training schedule and augmentation."""

    learn_scheme: str = "adam"
    batchsize: int = 32
    initial_eta: float = 0.001
    eta_decay: float = 0.85
    eta_decay_every: int = 1
    momentum: float = 0.9
    epochs: int = 20
    epochsize: int = 2000
    l2_decay: float = 0.0
    augment: bool = True
    max_stretch: float = 0.3
    max_shift: float = 0.3
    max_db: float = 10.0
    spline_order: int = 2
    label_low: float = 0.02
    label_high: float = 0.98
    validate: bool = True
    seeds: list[int] = field(default_factory=lambda: [0])


@dataclass
class EvalConfig:
    """Prediction post-processing and the decision threshold used by later stages."""

    smooth_width: int = 56
    smooth_method: str = "median"
    threshold: float = 0.51


@dataclass
class AttackDomainConfig:
    """Hyper-parameters of one attack domain (waveform or spectrogram)."""

    lr: float = 3e-4
    alpha: float = 2.0
    clip_eps: float = 0.01
    max_iterations: int = 1000
    sign: bool = True
    clipping: bool = True
    req_change_factor: float = 1.0


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
class CorpusConfig:
    """The embedded default corpus (ignored when ``paths.data`` points at real data)."""

    seed: int = 0
    n_train: int = 10
    n_valid: int = 3
    n_test: int = 3
    bars: int = 12


@dataclass
class PathsConfig:
    """Where data and results live. Relative paths are relative to the project root."""

    data: str = ""
    results: str = "results"


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
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    run: RunConfig = field(default_factory=RunConfig)

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
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value


def get_value(cfg: Any, dotted: str) -> Any:
    """Return the value at a dotted name such as ``"attack.wave.lr"``."""
    obj = cfg
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(obj) or part not in _field_names(obj):
            raise SvdError(f"unknown configuration key '{dotted}'; see profiles/quick.yml")
        obj = getattr(obj, part)
    return obj


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj)}


def _coerce(value: Any, current: Any, key: str) -> Any:
    """Convert ``value`` to the type of the current value of field ``key``."""
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SvdError(f"configuration key '{key}' needs a boolean (true/false), got '{value}'")
    if isinstance(current, int) and not isinstance(current, bool):
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise SvdError(f"configuration key '{key}' needs an integer, got '{value}'") from None
        if as_float != int(as_float):
            raise SvdError(f"configuration key '{key}' needs an integer, got '{value}'")
        return int(as_float)
    if isinstance(current, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SvdError(f"configuration key '{key}' needs a number, got '{value}'") from None
    if isinstance(current, list):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else value.split(",")
        if not isinstance(value, (list, tuple)):
            value = [value]
        item_type = type(current[0]) if current else str
        return [_coerce(v, item_type(), key) for v in value]
    if isinstance(current, str):
        if value is None:
            return ""
        return str(value)
    return value


def set_value(cfg: Config, dotted: str, value: Any) -> None:
    """Set the field at a dotted name, converting ``value`` to the field's type.

    Raises
    ------
    SvdError
        If the key does not exist or the value has the wrong type.
    """
    parts = dotted.split(".")
    obj: Any = cfg
    for part in parts[:-1]:
        if not dataclasses.is_dataclass(obj) or part not in _field_names(obj):
            raise SvdError(f"unknown configuration key '{dotted}'; see profiles/quick.yml")
        obj = getattr(obj, part)
    last = parts[-1]
    if not dataclasses.is_dataclass(obj) or last not in _field_names(obj):
        raise SvdError(f"unknown configuration key '{dotted}'; see profiles/quick.yml")
    current = getattr(obj, last)
    if dataclasses.is_dataclass(current):
        if not isinstance(value, dict):
            raise SvdError(f"configuration key '{dotted}' is a section; give a mapping")
        for key, sub in value.items():
            set_value(cfg, f"{dotted}.{key}", sub)
        return
    setattr(obj, last, _coerce(value, current, dotted))


def _apply_mapping(cfg: Config, mapping: dict[str, Any], prefix: str = "") -> None:
    for key, value in mapping.items():
        set_value(cfg, f"{prefix}{key}", value)


def resolve_profile_path(profile: str) -> Path:
    """Find a profile by name (``quick``, ``paper``) or by path to a YAML file."""
    candidate = Path(profile)
    if candidate.suffix in (".yml", ".yaml") or candidate.exists():
        if not candidate.is_file():
            raise SvdError(f"profile file '{profile}' does not exist; give a YAML file or a name")
        return candidate
    named = PROFILES_DIR / f"{profile}.yml"
    if not named.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yml")))
        raise SvdError(f"unknown profile '{profile}'; known profiles: {known}, or a YAML path")
    return named


def load_config(
    profile: str = "quick",
    overrides: dict[str, Any] | None = None,
    results: str | None = None,
    data: str | None = None,
) -> Config:
    """Build the configuration of a profile, with overrides applied.

    Parameters
    ----------
    profile : str
        A profile name from ``profiles/`` or a path to a YAML file.
    overrides : dict, optional
        Dotted keys to values, e.g. ``{"train.epochs": 2}``; applied last.
    results, data : str, optional
        The results root and data root; they win over the environment variables
        ``SVD_RESULTS`` / ``SVD_DATA``, which win over the profile.

    Returns
    -------
    Config
        The filled configuration.
    """
    path = resolve_profile_path(profile)
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise SvdError(_yaml_error_message(path, err)) from None
    if not isinstance(mapping, dict):
        raise SvdError(f"profile '{path}' must be a mapping of sections")
    cfg = Config()
    cfg.profile = path.stem
    _apply_mapping(cfg, {k: v for k, v in mapping.items() if k != "profile"})
    if os.environ.get("SVD_RESULTS"):
        cfg.paths.results = os.environ["SVD_RESULTS"]
    if os.environ.get("SVD_DATA"):
        cfg.paths.data = os.environ["SVD_DATA"]
    if results:
        cfg.paths.results = results
    if data:
        cfg.paths.data = data
    for key, value in (overrides or {}).items():
        set_value(cfg, key, value)
    validate(cfg)
    apply_run_settings(cfg)
    return cfg


def config_from_dict(mapping: dict[str, Any]) -> Config:
    """Rebuild a configuration from :meth:`Config.to_dict` (e.g. on a remote worker)."""
    cfg = Config()
    cfg.profile = str(mapping.get("profile", "default"))
    _apply_mapping(cfg, {k: v for k, v in mapping.items() if k != "profile"})
    validate(cfg)
    apply_run_settings(cfg)
    return cfg


def apply_run_settings(cfg: Config) -> Config:
    """Resolve ``run.device`` and ``run.num_threads`` and give torch that thread count.

    After this, the configuration names the numeric environment its stages compute in, so the
    artifact keys (:class:`svdlib.store.Store`) are the same in every process that runs them,
    and the thread count torch uses is the one the keys record.
    """
    import torch

    from .provenance import resolve_device, resolve_threads

    run = cfg.run
    run.device = resolve_device(run.device)
    run.num_threads = resolve_threads(run.num_threads, run.workers, run.scheduler)
    if torch.get_num_threads() != run.num_threads:
        torch.set_num_threads(run.num_threads)
    return cfg


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (the CLI's ``--set``) into a dict; values are YAML."""
    result: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SvdError(f"bad override '{item}'; write KEY=VALUE, e.g. train.epochs=2")
        key, value = item.split("=", 1)
        result[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return result


# Values that svdlib.explain accepts (FEATURE_SELECTION there; tests keep the two equal) and the
# sklearn distance metrics that give finite, non-constant distances between 0/1 LIME masks.
FEATURE_SELECTIONS = ("none", "auto", "forward_selection", "highest_weights", "lasso_path")
DISTANCE_METRICS = ("cosine", "euclidean", "sqeuclidean", "l1", "l2", "cityblock", "manhattan",
                    "chebyshev", "minkowski", "hamming", "braycurtis", "canberra", "jaccard",
                    "dice", "rogerstanimoto", "russellrao", "sokalsneath")
# The detector's convolutions and poolings leave ((bands - 4) // 3 - 4) // 3 >= 1 bands only
# from 25 mel bands on (7 for 80).
MIN_MEL_BANDS = 25
# Fewer resamples than this make the 2.5 % / 97.5 % quantiles of a bootstrap a few draws.
MIN_BOOTSTRAP = 100

_Check = tuple[bool, str, str]


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and abs(value) < float("inf"))


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(cfg: Config, key: str) -> _Check:
    value = get_value(cfg, key)
    return (_number(value) and value > 0, key, "a positive number")


def _at_least(cfg: Config, key: str, low: int, why: str = "") -> _Check:
    value = get_value(cfg, key)
    return (_integer(value) and value >= low, key, f"an integer >= {low}{why}")


def _int_in(cfg: Config, key: str, low: int, high: int, why: str = "") -> _Check:
    value = get_value(cfg, key)
    return (_integer(value) and low <= value <= high, key,
            f"an integer in {low}..{high}{why}")


def _in_range(cfg: Config, key: str, low: float, high: float, bounds: str = "[]",
              why: str = "") -> _Check:
    value = get_value(cfg, key)
    ok = _number(value) and (low < value if bounds[0] == "(" else low <= value) and (
        value < high if bounds[1] == ")" else value <= high)
    return (ok, key, f"a number in {bounds[0]}{low}, {high}{bounds[1]}{why}")


def _one_of(cfg: Config, key: str, choices: tuple[str, ...]) -> _Check:
    return (get_value(cfg, key) in choices, key, "one of " + "|".join(choices))


def _int_list(cfg: Config, key: str, low: int, high: int | None = None,
              why: str = "") -> _Check:
    values = get_value(cfg, key)
    ok = (len(values) >= 1 and len(set(values)) == len(values)
          and all(_integer(v) and v >= low and (high is None or v <= high) for v in values))
    span = f">= {low}" if high is None else f"in {low}..{high}"
    return (ok, key, f"a non-empty list of distinct integers {span}{why}")


def _frontend_model_checks(cfg: Config) -> list[_Check]:
    fe = cfg.frontend
    hop = fe.sample_rate // fe.fps if _integer(fe.fps) and fe.fps > 0 else 0
    return [
        _at_least(cfg, "frontend.sample_rate", 1),
        _at_least(cfg, "frontend.frame_len", 2),
        _at_least(cfg, "frontend.fps", 1),
        (1 <= hop <= fe.frame_len, "frontend.fps", f"an integer whose hop sample_rate // fps "
         f"(now {hop}) is in 1..frame_len ({fe.frame_len})"),
        _one_of(cfg, "frontend.filterbank", ("mel_orig", "mel")),
        _at_least(cfg, "frontend.mel_bands", MIN_MEL_BANDS, " (the detector's poolings)"),
        _in_range(cfg, "frontend.mel_min", 0.0, fe.sample_rate / 2, "[)"),
        (_number(fe.mel_max) and fe.mel_min < fe.mel_max <= fe.sample_rate / 2,
         "frontend.mel_max", f"a number in (mel_min, sample_rate / 2] = ({fe.mel_min}, "
         f"{fe.sample_rate / 2}]"),
        _one_of(cfg, "frontend.magscale", ("log", "log1p", "none")),
        _one_of(cfg, "model.arch", ("ismir2015",)),
        _positive(cfg, "model.width"),
        (cfg.model.blocklen == 115, "model.blocklen", "115 (the receptive field)"),
        _one_of(cfg, "model.convdrop", ("none", "independent")),
    ]


def _train_checks(cfg: Config) -> list[_Check]:
    tr = cfg.train
    return [
        _one_of(cfg, "train.learn_scheme", ("adam", "nesterov", "momentum")),
        _at_least(cfg, "train.batchsize", 1),
        _positive(cfg, "train.initial_eta"),
        _in_range(cfg, "train.eta_decay", 0.0, 1.0, "(]"),
        _at_least(cfg, "train.eta_decay_every", 1),
        _in_range(cfg, "train.momentum", 0.0, 1.0, "[)"),
        (tr.learn_scheme != "nesterov" or tr.momentum > 0, "train.momentum",
         "a number in (0, 1) with learn_scheme nesterov"),
        _at_least(cfg, "train.epochs", 1),
        _at_least(cfg, "train.epochsize", 1),
        _in_range(cfg, "train.l2_decay", 0.0, float("inf"), "[)"),
        _in_range(cfg, "train.max_stretch", 0.0, 1.0, "[)"),
        _in_range(cfg, "train.max_shift", 0.0, 1.0, "[)"),
        _in_range(cfg, "train.max_db", 0.0, float("inf"), "[)"),
        _int_in(cfg, "train.spline_order", 0, 5, " (scipy's affine_transform)"),
        _in_range(cfg, "train.label_low", 0.0, 1.0, "[)"),
        _in_range(cfg, "train.label_high", tr.label_low, 1.0, "(]", " (above label_low)"),
        _int_list(cfg, "train.seeds", 0),
    ]


def _evaluate_attack_checks(cfg: Config) -> list[_Check]:
    checks = [
        _at_least(cfg, "evaluate.smooth_width", 1),
        _one_of(cfg, "evaluate.smooth_method", ("median", "mean", "none")),
        _in_range(cfg, "evaluate.threshold", 0.0, 1.0, "()"),
        _one_of(cfg, "attack.subset", ("test", "valid", "train")),
    ]
    for domain in ("wave", "spec"):
        checks += [
            _positive(cfg, f"attack.{domain}.lr"),
            _positive(cfg, f"attack.{domain}.alpha"),
            _positive(cfg, f"attack.{domain}.clip_eps"),
            # 0 iterations: the clean song is predicted and recorded, nothing is optimised
            _at_least(cfg, f"attack.{domain}.max_iterations", 0),
            _in_range(cfg, f"attack.{domain}.req_change_factor", 0.0, 1.0, "(]"),
        ]
    return checks


def _lime_checks(cfg: Config) -> list[_Check]:
    frames, bands = cfg.model.blocklen, cfg.frontend.mel_bands
    return [
        _int_in(cfg, "lime.n_time_segments", 1, frames, f" (the excerpt's {frames} frames)"),
        _int_in(cfg, "lime.n_freq_segments", 1, bands, f" (the excerpt's {bands} mel bands)"),
        _one_of(cfg, "lime.baseline", ("zero", "min", "mean", "max", "unif", "shuffle")),
        _at_least(cfg, "lime.num_samples", 2),
        _positive(cfg, "lime.kernel_width"),
        _one_of(cfg, "lime.distance_metric", DISTANCE_METRICS),
        _one_of(cfg, "lime.feature_selection", FEATURE_SELECTIONS),
        _at_least(cfg, "lime.batch_size", 1),
        _at_least(cfg, "lime.pick_per_file", 1),
        _at_least(cfg, "lime.pick_max_draws", max(1, cfg.lime.pick_per_file),
                  " (at least lime.pick_per_file)"),
        _at_least(cfg, "lime.pick_seed", 0),
    ]


def _experiment_checks(cfg: Config) -> list[_Check]:
    n = cfg.lime.n_time_segments * cfg.lime.n_freq_segments
    why = " (the number of LIME segments)"
    threshold = cfg.evaluate.threshold
    return [
        _int_list(cfg, "experiment.subset_ks", 1, n, why),
        _int_in(cfg, "experiment.table1_k", 1, n, why),
        _at_least(cfg, "experiment.bootstrap", MIN_BOOTSTRAP, " (resamples per interval)"),
        _at_least(cfg, "experiment.horses_per_shape", 1),
        _in_range(cfg, "experiment.horse_probability", threshold, 1.0, "()",
                  " (above evaluate.threshold)"),
    ]


def _corpus_run_checks(cfg: Config) -> list[_Check]:
    device = cfg.run.device
    return [
        _at_least(cfg, "seed", 0),
        _at_least(cfg, "corpus.seed", 0),
        _at_least(cfg, "corpus.n_train", 1),
        _at_least(cfg, "corpus.n_valid", 1),
        _at_least(cfg, "corpus.n_test", 1),
        (_integer(cfg.corpus.bars) and cfg.corpus.bars >= 4 and cfg.corpus.bars % 2 == 0,
         "corpus.bars", "an even integer >= 4"),
        (device in ("auto", "cpu", "cuda")
         or (device.startswith("cuda:") and device[5:].isdigit()), "run.device",
         "auto|cpu|cuda|cuda:N"),
        _at_least(cfg, "run.num_threads", 0),
        _at_least(cfg, "run.workers", 0),
    ]


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


def validate(cfg: Config) -> None:
    """Check every setting's range, so that a bad value fails when the configuration loads.

    The groups run in order and each only once the ones before it passed, so a check may rely
    on the settings of an earlier group (e.g. the LIME segments on ``frontend.mel_bands``).

    Parameters
    ----------
    cfg : Config
        The configuration to check.

    Raises
    ------
    SvdError
        One line naming the first bad setting, its allowed range and its value.
    """
    for group in (_frontend_model_checks, _train_checks, _evaluate_attack_checks, _lime_checks,
                  _experiment_checks, _corpus_run_checks):
        for ok, key, expected in group(cfg):
            if not ok:
                raise SvdError(f"configuration key '{key}' must be {expected}, got "
                               f"'{get_value(cfg, key)}'")


# Keys of the original project's .vars files and where they live in Config.
VARS_KEYS: dict[str, str | None] = {
    "sample_rate": "frontend.sample_rate",
    "frame_len": "frontend.frame_len",
    "fps": "frontend.fps",
    "filterbank": "frontend.filterbank",
    "mel_bands": "frontend.mel_bands",
    "mel_min": "frontend.mel_min",
    "mel_max": "frontend.mel_max",
    "magscale": "frontend.magscale",
    "blocklen": "model.blocklen",
    "arch": "model.arch",
    "arch.batch_norm": "model.batch_norm",
    "arch.convdrop": "model.convdrop",
    "arch.firstconv_zeromean": "model.firstconv_zeromean",
    "learn_scheme": "train.learn_scheme",
    "batchsize": "train.batchsize",
    "initial_eta": "train.initial_eta",
    "eta_decay": "train.eta_decay",
    "eta_decay_every": "train.eta_decay_every",
    "momentum": "train.momentum",
    "epochs": "train.epochs",
    "epochsize": "train.epochsize",
    "l2_decay": "train.l2_decay",
    "spline_order": "train.spline_order",
    "max_stretch": "train.max_stretch",
    "max_shift": "train.max_shift",
    "max_db": "train.max_db",
    # legacy keys the original reads but never uses
    "first_params": None,
    "first_params_eta_scale": None,
    "first_params_log": None,
    "bg_threads": None,
    "bg_processes": None,
}

# Attack .vars keys (adv_default.vars); they apply to one attack domain.
ATTACK_VARS_KEYS: dict[str, str | None] = {
    "lr": "lr",
    "alpha": "alpha",
    "clip_eps": "clip_eps",
    "max_iterations": "max_iterations",
    "sign": "sign",
    "clipping": "clipping",
    "req_change_factor": "req_change_factor",
    "experiment": None,
    "attack": None,
    "rand_seed": None,
}


def read_vars(path: str | Path) -> dict[str, str]:
    """Read a ``.vars`` file of the original project into raw ``key -> value`` strings.

    Lines are ``key=value`` or ``key = value``; empty lines and ``#`` comments are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise SvdError(f"vars file '{path}' does not exist")
    result: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise SvdError(f"{path}:{number}: expected 'key = value', got '{line}'")
        key, value = line.split("=", 1)
        result[key.strip()] = value.strip()
    return result


def apply_vars(cfg: Config, path: str | Path, attack_domain: str | None = None) -> Config:
    """Apply an original ``.vars`` file (e.g. the released ``model.vars``) to ``cfg``.

    Unlike the original, booleans are parsed (``True``/``False``/``1``/``0``), and
    ``arch.firstconv_zeromean`` maps ``0mean`` to True and ``std`` to False.

    Parameters
    ----------
    cfg : Config
        The configuration to update in place.
    path : str or Path
        The ``.vars`` file.
    attack_domain : {"wave", "spec"}, optional
        Apply attack keys (``adv_default.vars``) to this attack domain.

    Returns
    -------
    Config
        ``cfg``, updated.
    """
    for key, value in read_vars(path).items():
        if attack_domain is not None and key in ATTACK_VARS_KEYS:
            target = ATTACK_VARS_KEYS[key]
            if target is not None:
                set_value(cfg, f"attack.{attack_domain}.{target}", value)
            continue
        if key not in VARS_KEYS:
            raise SvdError(f"{path}: unknown key '{key}' in vars file")
        target = VARS_KEYS[key]
        if target is None:
            continue
        if key == "arch.firstconv_zeromean":
            if value not in ("0mean", "std"):
                raise SvdError(f"{path}: arch.firstconv_zeromean must be 0mean or std")
            set_value(cfg, target, value == "0mean")
        elif key == "arch.convdrop":
            set_value(cfg, target, value)
        else:
            set_value(cfg, target, value)
    validate(cfg)
    return cfg


def project_root() -> Path:
    """The directory that relative paths in a profile are relative to.

    It is the nearest ancestor of the working directory holding ``_config.yml`` and
    ``svdlib/`` (the repository root, also when notebooks run from ``notebooks/``), or
    the working directory itself.
    """
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "svdlib").is_dir() and (candidate / "profiles").is_dir():
            return candidate
    return here


def resolve_path(path: str) -> Path:
    """Resolve a profile path: absolute paths stay, relative ones join the project root."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else project_root() / p
