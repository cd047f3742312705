"""Dotted-name overrides (``train.epochs=2``): parsed, type-coerced, applied to a configuration."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import yaml

from svdlib.errors import ConfigError
from svdlib.experiments.checks import (
    _field_names,
)

if TYPE_CHECKING:
    from svdlib.experiments.config import Config


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
        raise ConfigError(f"configuration key '{key}' needs a boolean (true/false), got '{value}'")
    if isinstance(current, int) and not isinstance(current, bool):
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"configuration key '{key}' needs an integer, "
                              f"got '{value}'") from None
        if as_float != int(as_float):
            raise ConfigError(f"configuration key '{key}' needs an integer, got '{value}'")
        return int(as_float)
    if isinstance(current, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"configuration key '{key}' needs a number, got '{value}'") from None
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
            raise ConfigError(f"unknown configuration key '{dotted}'; "
                              "see svdlib/profiles/quick.yml")
        obj = getattr(obj, part)
    last = parts[-1]
    if not dataclasses.is_dataclass(obj) or last not in _field_names(obj):
        raise ConfigError(f"unknown configuration key '{dotted}'; see svdlib/profiles/quick.yml")
    current = getattr(obj, last)
    if dataclasses.is_dataclass(current):
        if not isinstance(value, dict):
            raise ConfigError(f"configuration key '{dotted}' is a section; give a mapping")
        for key, sub in value.items():
            set_value(cfg, f"{dotted}.{key}", sub)
        return
    setattr(obj, last, _coerce(value, current, dotted))


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (the CLI's ``--set``) into a dict; values are YAML."""
    result: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"bad override '{item}'; write KEY=VALUE, e.g. train.epochs=2")
        key, value = item.split("=", 1)
        result[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return result
