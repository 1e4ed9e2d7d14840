"""One typed config tree: frozen dataclasses <-> plain dicts (YAML recipes, manifests, CLI).

Every stage config is a frozen dataclass whose fields carry ``metadata={"help": ...}``; the same
help text documents the CLI flag and the recipe key, and the resolved dict is saved in manifests.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from sctool.errors import ConfigError

T = TypeVar("T")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a (nested) config dataclass; paths become strings, tuples lists."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(x, inner, where) for x in value]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    return value


def config_from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build ``cls`` from a dict, rejecting unknown keys and values of the wrong type."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown option(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where or cls.__name__}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def field_help(cls: type, name: str) -> str:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return str(f.metadata.get("help", ""))
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# The command line, generated from the same fields.
#
# A field becomes ``--field-name`` with its type, default and help. Field metadata refines that:
#   help      the text shown by --help and documented for the recipe key
#   flag      the option's name when it differs from the field's (``--preset`` for ``presets``)
#   negate    for a boolean that defaults to true: the switch that turns it off (``--no-eod``)
#   parse     a function turning the command-line string into the field's value (sizes, ...)
#   sep       a tuple field given as one separated string (``--types EMAIL,KEY``)
#   consts    {flag: value} switches that set the field (``--exact`` sets mode=exact)
#   cli       False keeps a field out of the command line (positional inputs, nested tables)
#   metavar   the placeholder shown in --help
#   required  the command line must give it (a recipe must too, checked by the stage)
# Flags default to "not given", so a command line only overrides what it names: the layers are
# the dataclass defaults, an optional ``--config FILE``, then the flags; the result goes through
# ``config_from_dict`` like a recipe, so the CLI and recipes validate identically.
# ---------------------------------------------------------------------------------------------


def _scalar_type(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        return rest[0] if len(rest) == 1 else str
    return tp


def _shown_default(value: Any) -> str:
    if value in (None, (), [], ""):
        return ""
    if isinstance(value, tuple):
        value = ",".join(map(str, value))
    return f" (default: {value})"


def config_flags(cls: type) -> dict[str, str]:
    """``{option string: field name}`` for every flag ``add_config_arguments`` adds for ``cls``."""
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        md = f.metadata
        if md.get("cli", True) is False or dataclasses.is_dataclass(hints[f.name]):
            continue
        if _scalar_type(hints[f.name]) is bool and f.default is True:
            out[md.get("negate") or f"--no-{f.name.replace('_', '-')}"] = f.name
            continue
        out[md.get("flag") or "--" + f.name.replace("_", "-")] = f.name
        for flag in md.get("consts") or {}:
            out[flag] = f.name
    return out


def add_config_arguments(parser: Any, cls: type, *, title: str | None = None) -> None:
    """Add one option per field of the config dataclass ``cls`` to an argparse parser."""
    import argparse

    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(title or f"{cls.__name__} options",
                                      ((cls.__doc__ or "").strip().splitlines() or [""])[0])
    for f in dataclasses.fields(cls):
        md = f.metadata
        tp = hints[f.name]
        if md.get("cli", True) is False or dataclasses.is_dataclass(tp):
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = str(md.get("help", "")).replace("%", "%%")
        flag = md.get("flag") or "--" + f.name.replace("_", "-")
        common: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        if md.get("required"):
            common["required"] = True
        scalar = _scalar_type(tp)
        if md.get("consts"):
            excl = group.add_mutually_exclusive_group()
            for cflag, value in md["consts"].items():
                mark = " (the default)" if value == default else ""
                excl.add_argument(cflag, action="store_const", const=value,
                                  help=f"{f.name} = {value}{mark}", **common)
            excl.add_argument(flag, choices=list(typing.get_args(scalar)) or None,
                              help=help_text + _shown_default(default), **common)
            continue
        if scalar is bool:
            if default is True:
                group.add_argument(md.get("negate") or f"--no-{f.name.replace('_', '-')}", action="store_false",
                                   help=help_text + " (turned off by this switch)", **common)
            else:
                group.add_argument(flag, action="store_true", help=help_text, **common)
            continue
        kwargs: dict[str, Any] = dict(common)
        if md.get("metavar"):
            kwargs["metavar"] = md["metavar"]
        if typing.get_origin(scalar) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(scalar))
        elif typing.get_origin(scalar) in (tuple, list):
            if not md.get("sep"):
                kwargs["action"] = "append"
        elif md.get("parse") is None and scalar in (int, float):
            kwargs["type"] = scalar
        group.add_argument(flag, help=help_text + _shown_default(default), **kwargs)


def config_from_namespace(cls: type[T], args: Any, base: Mapping[str, Any] | None = None, where: str = "") -> T:
    """The config ``cls`` from parsed flags layered over ``base`` (a dict, e.g. from ``--config``)."""
    data = dict(base or {})
    hints = typing.get_type_hints(cls)
    given = vars(args)
    for f in dataclasses.fields(cls):
        if f.name not in given or dataclasses.is_dataclass(hints[f.name]):
            continue
        value = given[f.name]
        md = f.metadata
        if md.get("sep") and isinstance(value, str):
            value = [v.strip() for v in value.split(md["sep"]) if v.strip()]
        elif md.get("parse") and isinstance(value, str):
            value = md["parse"](value)
        data[f.name] = value
    return config_from_dict(cls, data, where or cls.__name__)


def load_config_file(path: str | Path, where: str) -> dict[str, Any]:
    """A YAML mapping of config options (``--config FILE``), with errors that name the file."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a {where} config file must be a mapping of options")
    return dict(data)
