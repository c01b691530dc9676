"""The settings of interpolation with an n-gram model, written without numpy or PyTorch: the
commands declare their flags from these, and --help reads them without loading either.
ngram.py does the interpolating."""

from __future__ import annotations

AUTO = "auto"
DEFAULT_WEIGHT = 0.5


def parse_weight(value: float | str) -> float | str:
    """A weight given as text (a flag, a variable) as a number, or "auto" as it is."""
    if isinstance(value, str) and value.strip().lower() != AUTO:
        try:
            return float(value)
        except ValueError:
            return value
    return AUTO if isinstance(value, str) else value


def weight_problem(weight: float | str, dev: object, names: dict[str, str]) -> str | None:
    """Why λ (a number in [0, 1], or "auto" with a development text) cannot be used, or None;
    `names` says how to call `weight` and `dev` in the message (flags, or keyword arguments)."""
    weight = parse_weight(weight)
    if weight == AUTO:
        return None if dev is not None else (
            f"{names['weight']} auto chooses λ on a development text: give {names['dev']}")
    if dev is not None:
        return f"{names['dev']} applies only with {names['weight']} auto; drop one"
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        return f"{names['weight']}: {weight!r} is neither a number from 0 to 1 nor auto"
    if not 0.0 <= weight <= 1.0:
        return f"{names['weight']}: {weight} is outside 0 to 1 (the n-gram's share, λ)"
    return None
