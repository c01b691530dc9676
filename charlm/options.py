"""The option framework: a command's settings as one dataclass, read from flags and variables.

Each command has one configuration dataclass (beside the command that uses it). A field made with
`option` carries its help text, bounds, help panel and variables. `resolve` turns explicit flags
plus the environment into a validated instance with the precedence flag > variable > tutorial
variable > default, and records where each value came from.

Variables mean one thing. `charlm train`, the batch-job command, reads CHARLM_<NAME>; every other
command reads CHARLM_<COMMAND>_<NAME>, so a variable exported for training never changes
`generate` or `evaluate`. A setting that means the same everywhere (the device) is `shared` and
is also read from CHARLM_<NAME> by every command.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, field, fields
from typing import Any, TypeVar

from charlm.errors import ConfigError

ENV_PREFIX = "CHARLM_"
TRUE_WORDS = {"1", "true", "yes", "on", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "off", "n", "f"}
DEFAULT = "default"  # the origin of a value nobody gave
# The --help panels, in the order they are shown; options without a panel come first.
PANELS = ("Data", "Model", "Optimisation", "Run", "Output")

C = TypeVar("C")


def option(
    default: Any,
    help: str,
    *,
    tutorial_env: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    choices: tuple[str, ...] | None = None,
    argument: bool = False,
    short: str | None = None,
    panel: str | None = None,
    shared: bool = False,
    fixed: bool = False,
) -> Any:
    """A config field; `minimum`/`maximum` are inclusive bounds, `above` is exclusive.

    `panel` groups the option in --help; `shared` reads CHARLM_<NAME> in every command; `fixed`
    marks a training setting a resumed run may not change (it decides the data or the model).
    """
    metadata = {
        "help": help,
        "tutorial_env": tutorial_env,
        "minimum": minimum,
        "maximum": maximum,
        "above": above,
        "choices": choices,
        "argument": argument,
        "short": short,
        "panel": panel,
        "shared": shared,
        "fixed": fixed,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def metadata(cls: type, name: str) -> Mapping[str, Any]:
    return _field(cls, name).metadata


def panel_rank(panel: str | None) -> int:
    return PANELS.index(panel) + 1 if panel in PANELS else 0


def env_prefix(cls: type) -> str:
    """CHARLM_ for train; CHARLM_<COMMAND>_ for the others (the class's COMMAND)."""
    command = getattr(cls, "COMMAND", "train")
    return ENV_PREFIX if command == "train" else f"{ENV_PREFIX}{command.upper()}_"


def env_names(cls: type, name: str) -> list[str]:
    """The environment variables of a field, highest precedence first."""
    meta = metadata(cls, name)
    names = [env_prefix(cls) + name.upper()]
    if meta.get("shared") and ENV_PREFIX + name.upper() not in names:
        names.append(ENV_PREFIX + name.upper())
    if meta.get("tutorial_env"):
        names.append(meta["tutorial_env"])
    return names


def fixed_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.metadata.get("fixed"))


def _field(cls: type, name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            return f
    raise KeyError(name)


def field_type(cls: type, name: str) -> tuple[type, bool, bool]:
    """(base type, optional, is_list) of a field."""
    hint = typing.get_type_hints(cls)[name]
    optional = False
    is_list = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = True
        hint = args[0]
        origin = typing.get_origin(hint)
    if origin is list:
        is_list = True
        hint = typing.get_args(hint)[0]
    return hint, optional, is_list


def default_of(cls: type, name: str) -> Any:
    f = _field(cls, name)
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def parse_text(cls: type, name: str, text: str, source: str) -> Any:
    """Parse a value given as text (an environment variable) into the field's type."""
    base, optional, is_list = field_type(cls, name)
    raw = text.strip()
    if is_list:
        return [part for part in raw.split(",") if part]
    if optional and raw.lower() in {"", "none"}:
        return None
    if base is bool:
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ConfigError(f"{source}={text!r} is not a yes/no value: use 1 or 0, true or false")
    if base is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{source}={text!r} is not a whole number") from None
    if base is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{source}={text!r} is not a number") from None
    return raw


def check_value(cls: type, name: str, value: Any, source: str) -> None:
    """Check a field's bounds and choices; `source` is how the user gave it."""
    meta = metadata(cls, name)
    if value is None:
        return
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{source}: unknown value {value!r}; choose one of {', '.join(choices)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {value} is not a finite number")
    lo, hi, above = meta.get("minimum"), meta.get("maximum"), meta.get("above")
    if lo is not None and value < lo:
        raise ConfigError(f"{source}: {value} is too small; it must be at least {_num(lo)}")
    if hi is not None and value > hi:
        raise ConfigError(f"{source}: {value} is too large; it must be at most {_num(hi)}")
    if above is not None and value <= above:
        raise ConfigError(f"{source}: {value} is too small; it must be greater than {_num(above)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _value_and_origin(cls: type, name: str, flags: Mapping[str, Any],
                      env: Mapping[str, str]) -> tuple[Any, str]:
    given = flags.get(name)
    if given is not None and given != []:
        return given, flag_name(name)
    for var in env_names(cls, name):
        if env.get(var) is not None:
            return parse_text(cls, name, env[var], var), var
    return default_of(cls, name), DEFAULT


def resolve(cls: type[C], flags: Mapping[str, Any], env: Mapping[str, str]) -> C:
    """Build a config from explicitly given flags (None = not given) and the environment."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        values[f.name], origins[f.name] = _value_and_origin(cls, f.name, flags, env)
        check_value(cls, f.name, values[f.name], source_of_origin(f.name, origins[f.name]))
    apply_presets(cls, values, origins)
    config = cls(**values)
    set_origins(config, origins)
    check = getattr(config, "check", None)
    if check is not None:
        check({name: source_of(config, name) for name in origins})
    return config


def apply_presets(cls: type, values: dict[str, Any], origins: dict[str, str]) -> None:
    """A switch listed in the class's PRESETS, when on, gives other fields new defaults: each
    field nobody set takes the preset's value, its origin the switch's flag or variable."""
    for switch, preset in getattr(cls, "PRESETS", {}).items():
        if not values[switch]:
            continue
        for name, value in preset.items():
            if origins[name] == DEFAULT:
                values[name] = value
                origins[name] = source_of_origin(switch, origins[switch])


def set_origins(config: Any, origins: Mapping[str, str]) -> None:
    """Record where each value came from: a flag, a variable, "checkpoint" or "default".

    Kept beside the fields (not in asdict): a resumed run takes the checkpoint's value for every
    setting the user did not give.
    """
    config._origins = dict(origins)


def origins_of(config: Any) -> dict[str, str]:
    return dict(getattr(config, "_origins", {}))


def given_fields(config: Any) -> frozenset[str]:
    """The fields set by a flag or an environment variable, not left at their default."""
    return frozenset(name for name, origin in origins_of(config).items()
                     if origin not in (DEFAULT, "checkpoint"))


def source_of_origin(name: str, origin: str) -> str:
    return flag_name(name) if origin in (DEFAULT, "checkpoint") else origin


def source_of(config: Any, name: str) -> str:
    """How the user gave a field (its flag or variable), for messages."""
    return source_of_origin(name, origins_of(config).get(name, DEFAULT))


def help_text(cls: type, name: str) -> str:
    """The --help line of a field: its description, variables and default."""
    meta = metadata(cls, name)
    parts = [meta["help"]]
    if meta.get("choices"):
        parts.append(f"One of: {', '.join(meta['choices'])}.")
    parts.append(f"[env: {', '.join(env_names(cls, name))}]")
    default = default_of(cls, name)
    if default is not None and default != []:
        shown = ("yes" if default else "no") if isinstance(default, bool) else default
        parts.append(f"[default: {shown}]")
    return " ".join(parts)
