"""The original project's ``.vars`` files (``key = value`` lines) as overrides."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from svdlib.errors import ConfigError
from svdlib.experiments.config.loading import validate
from svdlib.experiments.config.overrides import Overrides, set_value, shown
from svdlib.experiments.config.settings import Config

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
    return {key: value for key, (value, _) in read_vars_lines(path).items()}


def read_vars_lines(path: str | Path) -> dict[str, tuple[str, int]]:
    """As :func:`read_vars`, with the 1-based line of each key's (last) value."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"vars file '{path}' does not exist")
    result: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigError(f"{path}:{number}: expected 'key = value', got '{line}'")
        key, value = line.split("=", 1)
        result[key.strip()] = (value.strip(), number)
    return result


def vars_overrides(path: str | Path, attack_domain: str | None = None) -> Overrides:
    """The dotted overrides an original ``.vars`` file stands for (see :func:`apply_vars`).

    ``svd --vars FILE`` passes these on like ``--set`` (which wins over them), so that they
    reach every stage and the book's notebooks. Each value's source (file and line) is kept
    in ``sources``, for the messages of the range checks.

    Raises
    ------
    SvdError
        If the file is missing or malformed, or holds an unknown key.
    """
    overrides = Overrides()
    for key, (value, line) in read_vars_lines(path).items():
        if attack_domain is not None and key in ATTACK_VARS_KEYS:
            target = ATTACK_VARS_KEYS[key]
            if target is not None:
                overrides[f"attack.{attack_domain}.{target}"] = value
                overrides.sources[f"attack.{attack_domain}.{target}"] = \
                    f"vars file '{path}', line {line}"
            continue
        if key not in VARS_KEYS:
            raise ConfigError(f"{path}:{line}: unknown key '{key}' in vars file")
        target = VARS_KEYS[key]
        if target is None:
            continue
        if key == "arch.firstconv_zeromean":
            if value not in ("0mean", "std"):
                raise ConfigError(f"{path}:{line}: arch.firstconv_zeromean must be 0mean or "
                                  f"std, got '{shown(value)}'")
            overrides[target] = value == "0mean"
        else:
            overrides[target] = value
        overrides.sources[target] = f"vars file '{path}', line {line}"
    return overrides


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
        ``cfg``, updated; left as it was when the file holds a bad value.
    """
    work = copy.deepcopy(cfg)
    overrides = vars_overrides(path, attack_domain)
    for key, value in overrides.items():
        set_value(work, key, value, overrides.sources[key])
    validate(work)
    for item in dataclasses.fields(cfg):
        setattr(cfg, item.name, getattr(work, item.name))
    cfg.sources = work.sources
    return cfg
