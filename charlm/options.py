"""The option framework: a command's settings as one dataclass, read from flags and variables.

Each command has one configuration dataclass (beside the command that uses it). A field made with
`option` carries its help text, bounds, help panel and variables. `resolve` turns explicit flags
plus the environment into a validated instance with the precedence flag > variable > tutorial
variable > recipe > default, and records where each value came from (a recipe: a named bundle of
settings, one of the class's RECIPES, chosen by its `recipe` field). A setting renamed keeps its
former spelling (`Former`): its flag, hidden from --help, and its variables are still read, after
the current ones.

Variables mean one thing. `charlm train`, the batch-job command, reads CHARLM_<NAME>; every other
command reads CHARLM_<COMMAND>_<NAME>, so a variable exported for training never changes
`generate` or `evaluate`. A setting that means the same everywhere (the device) is `shared` and
is also read from CHARLM_<NAME> by every command.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from charlm.errors import ConfigError

ENV_PREFIX = "CHARLM_"
TRUE_WORDS = {"1", "true", "yes", "on", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "off", "n", "f"}
DEFAULT = "default"  # the origin of a value nobody gave
CHECKPOINT = "checkpoint"  # the origin of a value a resumed or fine-tuned run took from its model
ORIGINS = "origins"  # the declared field that records where each setting came from
RECIPE = "recipe"  # the field that names one of a config's RECIPES
# The --help panels, in the order they are shown; options without a panel come first.
PANELS = ("Data", "Model", "Optimisation", "Run", "Output")

C = TypeVar("C")


@dataclass(frozen=True)
class Former:
    """An earlier spelling of a setting, still read so that scripts keep working: its flag
    (hidden from --help), its variables and its keyword argument.

    `values` maps each value the former spelling took to the setting's value (None: as if not
    given); without it the former spelling took the setting's own values."""

    name: str
    values: Mapping[Any, Any] | None = None
    switch: bool = False
    """It was a yes/no flag (--name / --no-name): `values` maps True and False."""


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
    formerly: tuple[Former, ...] = (),
) -> Any:
    """A config field; `minimum`/`maximum` are inclusive bounds, `above` is exclusive.

    `panel` groups the option in --help; `shared` reads CHARLM_<NAME> in every command; `fixed`
    marks a training setting a resumed run may not change (it decides the data or the model);
    `formerly` lists the spellings it had before.
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
        "formerly": formerly,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def origins_field() -> Any:
    """The field a config declares to record where each of its settings came from (a flag, a
    variable, "checkpoint" or "default"): a field, so `dataclasses.replace` keeps it."""
    return field(default_factory=dict, compare=False, repr=False, metadata={ORIGINS: True})


def option_fields(cls: Any) -> list[Field]:
    """The fields of a config that are settings (every field made with `option`)."""
    return [f for f in fields(cls) if "help" in f.metadata]


def settings_of(config: Any) -> dict[str, Any]:
    """A config's settings as plain values, without its record of origins."""
    return {f.name: getattr(config, f.name) for f in option_fields(config)}


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


def formers(cls: type, name: str) -> tuple[Former, ...]:
    """The earlier spellings of a field."""
    return tuple(metadata(cls, name).get("formerly", ()))


def former_env_name(cls: type, former: Former) -> str:
    return env_prefix(cls) + former.name.upper()


def fixed_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in option_fields(cls) if f.metadata.get("fixed"))


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
        return _yes_no(text, source)
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


def _yes_no(text: str, source: str) -> bool:
    raw = text.strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(f"{source}={text!r} is not a yes/no value: use 1 or 0, true or false")


def former_value(cls: type, name: str, former: Former, given: Any, source: str,
                 as_text: bool) -> Any:
    """A value given in a former spelling (`as_text`: typed on the command line or in a
    variable; else from Python), as the field's value; None when it means "not given"."""
    text = as_text and isinstance(given, str)
    if former.values is None:
        return parse_text(cls, name, given, source) if text else given
    key = given
    if text:
        key = _yes_no(given, source) if former.switch else given.strip()
    if key not in former.values:
        raise ConfigError(f"{source}: unknown value {given!r}; choose one of "
                          f"{', '.join(map(str, former.values))}")
    return former.values[key]


def check_type(cls: type, name: str, value: Any, source: str) -> None:
    """Refuse a value given from Python that is not of the field's type."""
    base, optional, is_list = field_type(cls, name)
    kinds = {bool: "True or False", int: "a whole number", float: "a number", str: "text"}
    if value is None:
        if not optional:
            raise ConfigError(f"{source}: None is not allowed; give {kinds[base]}")
        return
    if is_list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, base) for v in value):
            raise ConfigError(f"{source}: {value!r} is not a list of {kinds[base]}")
        return
    wanted: tuple[type, ...] = (int, float) if base is float else (base,)
    if not isinstance(value, wanted) or (isinstance(value, bool) and base is not bool):
        raise ConfigError(f"{source}: {value!r} is not {kinds[base]}")


def check_value(cls: type, name: str, value: Any, source: str) -> None:
    """Check a field's bounds and choices; `source` is how the user gave it."""
    problem = bounds_problem(metadata(cls, name), value, source)
    if problem:
        raise ConfigError(problem)


def bounds_problem(bounds: Mapping[str, Any], value: Any, source: str) -> str | None:
    """Why `value` is outside `bounds` (a field's choices, minimum, maximum and above, as
    `option` takes them), in the words every setting is refused with; None when it is within.
    A value of another kind than the bounds speak of (None, a bool, text for a number) is left
    to the type checks."""
    if value is None:
        return None
    choices = bounds.get("choices")
    if choices and value not in choices:
        return f"{source}: unknown value {value!r}; choose one of {', '.join(choices)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{source}: {value} is not a finite number"
    lo, hi, above = bounds.get("minimum"), bounds.get("maximum"), bounds.get("above")
    if lo is not None and value < lo:
        return f"{source}: {value} is too small; it must be at least {_num(lo)}"
    if hi is not None and value > hi:
        return f"{source}: {value} is too large; it must be at most {_num(hi)}"
    if above is not None and value <= above:
        return f"{source}: {value} is too small; it must be greater than {_num(above)}"
    return None


def check_arguments(bounds: Mapping[str, Mapping[str, Any]], **arguments: Any) -> None:
    """Refuse a keyword argument of a Python function outside the bounds of the flag it stands
    for (`bounds`: each argument's, by its name), in the flag's words, the argument named as
    `python_argument` names it."""
    for name, value in arguments.items():
        problem = bounds_problem(bounds[name], value, python_argument(name))
        if problem:
            raise ConfigError(problem)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _value_and_origin(cls: type, name: str, flags: Mapping[str, Any],
                      env: Mapping[str, str], given_as: Callable[[str], str]
                      ) -> tuple[Any, str]:
    """The field's value and where it came from: its flag, a former flag, its variables, a
    former variable, else its default."""
    given = flags.get(name)
    if given is not None and given != []:
        return given, given_as(name)
    for former in formers(cls, name):
        if flags.get(former.name) is not None:
            value = former_value(cls, name, former, flags[former.name], given_as(former.name),
                                 as_text=given_as is flag_name)
            if value is not None:
                return value, given_as(former.name)
    for var in env_names(cls, name):
        if env.get(var) is not None:
            return parse_text(cls, name, env[var], var), var
    for former in formers(cls, name):
        var = former_env_name(cls, former)
        if env.get(var) is not None:
            value = former_value(cls, name, former, env[var], var, as_text=True)
            if value is not None:
                return value, var
    return default_of(cls, name), DEFAULT


def python_argument(name: str) -> str:
    """How a setting given to a Python function is named in messages and origins."""
    return f"{name}="


def resolve(cls: type[C], flags: Mapping[str, Any], env: Mapping[str, str],
            given_as: Callable[[str], str] = flag_name) -> C:
    """Build a config from explicitly given flags (None = not given) and the environment.

    `given_as` names a given value's origin: its flag for the command line, its keyword
    argument for Python (`python_argument`), whose values are also checked for their type."""
    names = [f.name for f in option_fields(cls)]
    spellings = {name: [name, *(former.name for former in formers(cls, name))] for name in names}
    unknown = sorted(set(flags) - {spelling for each in spellings.values() for spelling in each})
    if unknown:
        raise ConfigError(f"unknown setting {given_as(unknown[0])!r}; the settings are: "
                          f"{', '.join(sorted(names))}")
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name in names:
        values[name], origins[name] = _value_and_origin(cls, name, flags, env, given_as)
        source = source_of_origin(name, origins[name])
        if given_as is not flag_name and origins[name] in map(given_as, spellings[name]):
            check_type(cls, name, values[name], source)
        check_value(cls, name, values[name], source)
    apply_recipe(cls, values, origins)
    apply_presets(cls, values, origins)
    if any(f.name == ORIGINS for f in fields(cls)):  # type: ignore[arg-type]
        values[ORIGINS] = origins
    config = cls(**values)
    check = getattr(config, "check", None)
    if check is not None:
        check({name: source_of_origin(name, origin) for name, origin in origins.items()})
    return config


def recipe_origin(recipe: str) -> str:
    """The origin of a setting that a recipe gave: "recipe NAME"."""
    return f"{RECIPE} {recipe}"


def is_recipe_origin(origin: str) -> bool:
    return origin.startswith(RECIPE + " ")


def apply_recipe(cls: type, values: dict[str, Any], origins: dict[str, str]) -> None:
    """The recipe that the `recipe` field names, when given, gives each setting of its bundle
    (the class's RECIPES) that no flag, variable or argument gave; the origin is the recipe."""
    recipe = values.get(RECIPE)
    if recipe is None:
        return
    for name, value in getattr(cls, "RECIPES", {})[recipe].items():
        if origins[name] == DEFAULT:
            check_value(cls, name, value, source_of_origin(name, recipe_origin(recipe)))
            values[name] = value
            origins[name] = recipe_origin(recipe)


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


def origins_of(config: Any) -> dict[str, str]:
    """Where each setting came from: a flag, a variable, a keyword argument, "recipe NAME",
    "checkpoint" or "default". A resumed run takes the checkpoint's value for every setting the
    user did not give."""
    return dict(getattr(config, ORIGINS, {}))


def given_fields(config: Any) -> frozenset[str]:
    """The fields set by a flag, a variable or an argument. A recipe's values are defaults of
    another kind: a checkpoint's settings win over them, as over the defaults."""
    return frozenset(name for name, origin in origins_of(config).items()
                     if origin not in (DEFAULT, CHECKPOINT) and not is_recipe_origin(origin))


def source_of_origin(name: str, origin: str) -> str:
    """How a message names a setting: the flag or variable that gave it; its flag when it was
    not given, with the recipe that gave it."""
    if is_recipe_origin(origin):
        return f"{flag_name(name)} ({origin})"
    return flag_name(name) if origin in (DEFAULT, CHECKPOINT) else origin


def current_spellings(cls: type, stored: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as an earlier charlm stored them (a checkpoint's), with each setting held only
    under a former spelling also under its current name, as that spelling meant it."""
    current = dict(stored)
    for f in option_fields(cls):
        for former in formers(cls, f.name):
            if former.name in stored and f.name not in current:
                current[f.name] = former_value(cls, f.name, former, stored[former.name],
                                               former.name, as_text=False)
    return current


def source_of(config: Any, name: str) -> str:
    """How the user gave a field (its flag or variable), for messages."""
    return source_of_origin(name, origins_of(config).get(name, DEFAULT))


def help_text(cls: type, name: str) -> str:
    """The --help of a field: its description, then a line of its variables and default (its
    choices are shown as its type)."""
    facts = [f"[env: {', '.join(env_names(cls, name))}]"]
    default = default_of(cls, name)
    if default is not None and default != []:
        shown = ("yes" if default else "no") if isinstance(default, bool) else default
        facts.append(f"[default: {shown}]")
    return metadata(cls, name)["help"] + "\n" + " ".join(facts)
