"""Dotted-name overrides (``train.epochs=2``): parsed, converted to the field's type, applied.

A value is converted to the type the field declares (``int``, ``float``, ``bool``, ``str`` or a
list of one of them). A number that has no value of that type (NaN, an infinity, ``1e400``,
``2.5`` for an integer, ``abc``) is kept as given, so that
:func:`svdlib.experiments.config.loading.validate` rejects it with the key's allowed range and
the value; where each value came from (a profile's line, ``--set``, a ``.vars`` line) is kept in
``cfg.sources`` for that message.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml

from svdlib.errors import ConfigError
from svdlib.experiments.config.checks import is_integer, is_number
from svdlib.experiments.config.settings import field_names

if TYPE_CHECKING:
    from svdlib.experiments.config.settings import Config

#: Floats above this are not exact integers (2**53), so they are not taken as one.
EXACT_INTEGER = 2 ** 53


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, keeping an integer too long for Python to read as its text."""


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # more digits than int() reads: the check reports it
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(text: str) -> Any:
    """Parse YAML safely; an integer of more than 4300 digits stays text (not a crash)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def _to_int(value: Any) -> Any:
    """The integer ``value`` stands for, or ``value`` itself when there is none."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return value
        return int(number) if abs(number) <= EXACT_INTEGER and number == int(number) else value
    if isinstance(value, float) and abs(value) <= EXACT_INTEGER and value == int(value):
        return int(value)
    return value


def _to_float(value: Any) -> Any:
    """The finite float ``value`` stands for, or ``value`` itself when there is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return value
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return value
    return number if abs(number) < float("inf") else value


def _to_bool(value: Any, key: str, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    where = f" ({source})" if source else ""
    raise ConfigError(f"configuration key '{key}' must be a boolean (true/false), got "
                      f"'{shown(value)}'{where}")


def _coerce(value: Any, kind: Any, key: str, source: str) -> Any:
    """Convert ``value`` to the declared type ``kind`` of field ``key`` where it has a value."""
    if kind is bool:
        return _to_bool(value, key, source)
    if kind is int:
        return _to_int(value)
    if kind is float:
        return _to_float(value)
    if typing.get_origin(kind) is list:
        if isinstance(value, str):
            try:
                value = load_yaml(value) if value.strip().startswith("[") else value.split(",")
            except yaml.YAMLError:
                return value  # not a list: the checks say what is expected
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = typing.get_args(kind)[0]
        return [_coerce(v, item, key, source) for v in value]
    if kind is str:
        return "" if value is None else str(value)
    return value


@functools.cache
def _declared(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def shown(value: Any, limit: int = 40) -> str:
    """A value as an error message shows it: one line, at most ``limit`` characters."""
    try:
        text = str(value)
    except ValueError:  # an integer of more digits than str() writes
        text = f"an integer of {int(value.bit_length() * 0.30103) + 1} digits"
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def set_value(cfg: Config, dotted: str, value: Any, source: str = "") -> None:
    """Set the field at a dotted name, converting ``value`` to the field's declared type.

    Parameters
    ----------
    cfg : Config
        The configuration to change.
    dotted : str
        E.g. ``"train.epochs"``; a section name takes a mapping.
    value : object
        The value; a number without a value of the field's type is kept for
        :func:`~svdlib.experiments.config.loading.validate` to reject.
    source : str
        Where the value came from, for error messages (e.g. ``"--set train.epochs=2"``).

    Raises
    ------
    SvdError
        If the key does not exist, a section gets no mapping, or a boolean gets no boolean.
    """
    parts = dotted.split(".")
    obj: Any = cfg
    for part in parts[:-1]:
        if not dataclasses.is_dataclass(obj) or part not in field_names(obj):
            raise ConfigError(f"unknown configuration key '{dotted}'; "
                              "see svdlib/profiles/quick.yml")
        obj = getattr(obj, part)
    last = parts[-1]
    if not dataclasses.is_dataclass(obj) or last not in field_names(obj):
        raise ConfigError(f"unknown configuration key '{dotted}'; see svdlib/profiles/quick.yml")
    if dataclasses.is_dataclass(getattr(obj, last)):
        if not isinstance(value, dict):
            raise ConfigError(f"configuration key '{dotted}' is a section; give a mapping")
        for key, sub in value.items():
            set_value(cfg, f"{dotted}.{key}", sub, source)
        return
    setattr(obj, last, _coerce(value, _declared(type(obj))[last], dotted, source))
    cfg.sources[dotted] = source


class Overrides(dict):
    """Parsed ``--set`` items: keys to values, and in ``sources`` the item each came from."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[str, str] = {}


def parse_overrides(items: list[str]) -> Overrides:
    """Parse ``KEY=VALUE`` strings (the CLI's ``--set``) into a dict; values are YAML."""
    result = Overrides()
    for item in items:
        if "=" not in item:
            raise ConfigError(f"bad override '{item}'; write KEY=VALUE, e.g. train.epochs=2")
        key, value = item.split("=", 1)
        try:
            parsed = load_yaml(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        result[key.strip()] = parsed
        result.sources[key.strip()] = f"--set {shown(item, 60)}"
    return result


def type_checks(obj: Any, prefix: str = "") -> Iterator[tuple[bool, str, str]]:
    """Every field holds a value of its declared type (a net under the range checks)."""
    kinds = {int: ("an integer", is_integer), float: ("a finite number", is_number),
             bool: ("true or false", lambda v: isinstance(v, bool)),
             str: ("a string", lambda v: isinstance(v, str)),
             list[int]: ("a list of integers",
                         lambda v: isinstance(v, list) and all(is_integer(x) for x in v)),
             list[str]: ("a list of strings",
                         lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))}
    for name, kind in _declared(type(obj)).items():
        value = getattr(obj, name)
        if dataclasses.is_dataclass(value):
            yield from type_checks(value, f"{prefix}{name}.")
        elif kind in kinds:
            text, ok = kinds[kind]
            yield (ok(value), f"{prefix}{name}", text)
