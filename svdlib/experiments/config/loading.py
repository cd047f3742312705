"""Loading a configuration: a profile, the environment and overrides, validated.

A profile is a name from ``svdlib/profiles/`` or a YAML file; every value keeps its source
(file and line, or the override that set it), so an error names where a bad value came from.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import itertools
import os
from pathlib import Path
from typing import Any

import yaml

from svdlib.errors import ConfigError
from svdlib.experiments.config.checks import all_checks
from svdlib.experiments.config.overrides import load_yaml, set_value, shown, type_checks
from svdlib.experiments.config.paths import absolute_path, check_paths
from svdlib.experiments.config.settings import Config, get_value

#: The shipped profiles (package data; a real folder in a wheel or source install).
PROFILES_DIR = Path(str(importlib.resources.files("svdlib") / "profiles"))


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
    artifact keys (:class:`svdlib.experiments.storage.store.Store`) are the same in every
    process that runs them, and the thread count torch uses is the one the keys record.
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

    The checks (:func:`svdlib.experiments.config.checks.all_checks`) run in order and each only once
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
