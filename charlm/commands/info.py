"""`charlm info`: what a checkpoint holds, for a person (a table) or a script (--json).

The JSON's "config" is the training configuration exactly as stored, so
`TrainConfig(**info["config"])` rebuilds it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import typer

from charlm.data.settings import CONTEXT_DESCRIPTIONS
from charlm.errors import ConfigError
from charlm.model.kinds import REGULARISERS
from charlm.options import RECIPE, current_spellings, option
from charlm.training.config import TrainConfig
from charlm.training.recipes import RECIPES

EXAMPLE_WORDS = 10


@dataclass
class InfoConfig:
    """Settings of `charlm info`."""

    COMMAND = "info"

    model: str | None = option(None, "Checkpoint to describe.", argument=True)
    json: bool = option(False, "Print one JSON object instead of the table.")

    def check(self, sources: Mapping[str, str]) -> None:
        if self.model is None:
            raise ConfigError("no checkpoint given: charlm info MODEL.pt")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def describe(path: str) -> dict[str, Any]:
    """The checkpoint's contents as plain JSON-ready values."""
    from charlm.checkpoint.files import FORMAT, FORMAT_VERSION
    from charlm.checkpoint.trained import load_trained
    from charlm.data.vocab import SPECIAL_TOKENS

    trained = load_trained(path)
    checkpoint = trained.checkpoint
    settings = trained.tokenizer.settings
    progress = checkpoint.progress or {}
    config = checkpoint.train_config or {}
    best_loss = _finite(progress.get("best_val_loss"))
    metrics = progress.get("metrics") or []
    words = trained.vocabulary.words
    tokenizer = {k: v for k, v in settings.to_dict().items() if k != "punkt"}
    if settings.punkt is not None:
        # Hundreds of learnt entries say little to a reader; their counts say what was learnt.
        tokenizer["punkt"] = {name: len(values) for name, values in settings.punkt.items()}
    return {
        "file": path,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charlm_version": checkpoint.charlm_version,
        "model": trained.model.config.to_dict() | {"parameters": trained.model.parameter_count()},
        "regularisers": trained.model.config.regularisers(),
        "vocabulary": {
            "size": len(words),
            "special_tokens": list(SPECIAL_TOKENS),
            "examples": words[len(SPECIAL_TOKENS) : len(SPECIAL_TOKENS) + EXAMPLE_WORDS],
        },
        "tokenizer": tokenizer,
        "context": checkpoint.reads_context,
        "progress": {
            "epochs_completed": progress.get("epoch"),
            "epochs": config.get("epochs"),
            "sentences": progress.get("examples"),
            "tokens": progress.get("tokens"),
            "steps": progress.get("steps"),
            "training_seconds": progress.get("elapsed_s"),
            "reports": progress.get("reports"),
        },
        "best_val_loss": best_loss,
        "best_val_ppl": math.exp(best_loss) if best_loss is not None else None,
        "last_report": metrics[-1] if metrics else None,
        "learning_rate": _current_lr(checkpoint.optimizer_state),
        # A model-only checkpoint was trained by no optimiser it says.
        "optimizer": (_optimizer(checkpoint.optimizer, config, checkpoint.nt_asgd,
                                 checkpoint.weight_average) if config else None),
        "schedule": _schedule(config) if config else None,
        "lr_schedule": checkpoint.lr_schedule,
        "initialised_from": checkpoint.initialised_from,
        # A checkpoint of an earlier charlm may record the tutorial recipe as its former switch.
        "recipe": current_spellings(TrainConfig, config).get(RECIPE),
        "config": config,
    }


def _optimizer(name: str, config: Mapping[str, Any], switch: dict[str, Any] | None,
               average: dict[str, Any] | None) -> dict[str, Any]:
    """The optimiser that trained the checkpoint, its settings (the learning rate apart), and
    with NT-ASGD where its average stands."""
    from charlm.checkpoint.optimizers import OPTIMIZER_KINDS, own_settings

    if name not in OPTIMIZER_KINDS:  # written by a later charlm
        return {"name": name, "description": "unknown to this charlm", "settings": {}}
    settings = {setting: config[setting] for setting in own_settings(name)
                if setting != "learning_rate" and setting in config}
    described = {"name": name, "description": OPTIMIZER_KINDS[name].description,
                 "settings": settings}
    if switch is not None:
        described["averaging"] = {"switched_at_report": switch["switched_at"],
                                  "steps_averaged": (average or {}).get("updates", 0)}
    return described


def _schedule(config: Mapping[str, Any]) -> dict[str, Any]:
    """The learning-rate schedule's name and its rule, in words."""
    from charlm.training.schedule import DEFAULT_SCHEDULE, LR_SCHEDULES, describe_schedule

    name = config.get("lr_schedule", DEFAULT_SCHEDULE)
    taken = LR_SCHEDULES[name].SETTINGS if name in LR_SCHEDULES else {}
    settings = {setting: config[setting] for setting in taken if setting in config}
    # A schedule unknown to this charlm, or settings missing, are not described.
    rule = describe_schedule(name, settings) if taken and len(settings) == len(taken) else None
    return {"name": name, "settings": settings, "rule": rule}


def _optimizer_text(optimizer: Mapping[str, Any]) -> str:
    settings = ", ".join(f"{name.replace('_', ' ')} {value:g}"
                         for name, value in optimizer["settings"].items())
    text = f"{optimizer['name']} ({optimizer['description']}{', ' if settings else ''}{settings})"
    averaging = optimizer.get("averaging")
    if averaging is None:
        return text
    if averaging["switched_at_report"] is None:
        return text + ": plain SGD so far, not yet switched to averaging"
    return (text + f": averaging since report {averaging['switched_at_report']}, "
                   f"{averaging['steps_averaged']:,} steps averaged")


def _current_lr(optimizer_state: dict[str, Any] | None) -> float | None:
    """The rate the next training step would use (after any decay), from the optimizer state."""
    try:
        return float(optimizer_state["param_groups"][0]["lr"])  # type: ignore[index]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _regularisers(values: Mapping[str, Any]) -> str:
    """The regularisers that are on, as flags: `dropout-input 0.4, ar 2.0 (dropout masks
    locked)`."""
    mask = values.get("dropout_mask")
    return ", ".join(f"{name.replace('_', '-')} {value}" for name, value in values.items()
                     if name != "dropout_mask") + (f" (dropout masks {mask})" if mask else "")


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def show_info(config: InfoConfig) -> dict[str, Any]:
    """Run `charlm info`: print the description as a table or as one JSON object."""
    info = describe(str(config.model))
    if config.json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return info
    for name, value in [*_model_rows(info), *_training_rows(info)]:
        typer.echo(f"{name:<15}{value}")
    return info


def _model_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's rows of what the checkpoint's model is and how far it trained."""
    model, vocab, tok, prog = info["model"], info["vocabulary"], info["tokenizer"], info["progress"]
    # The regularisers have a row of their own, shown where one is on.
    left_out = {"parameters", "vocab_size", "dropout_mask", *REGULARISERS}
    if not model.get("last_hidden_dim"):
        left_out.add("last_hidden_dim")
    shape = ", ".join(f"{k} {v}" for k, v in model.items() if k not in left_out)
    tokenizer_text = (
        f"{tok['splitter']}, text split {tok['split']}, words {tok['words']}, "
        f"lowercase {'yes' if tok['lowercase'] else 'no'}, "
        f"drop URLs {'yes' if tok['drop_urls'] else 'no'}, min chars "
        f"{tok['min_chars']}"
    )
    if "punkt" in tok:
        tokenizer_text += " (punkt: " + ", ".join(f"{n} {k}" for k, n in tok["punkt"].items()) + ")"
    best = info["best_val_loss"]
    return [
        ("file", info["file"]),
        (
            "format",
            f"{info['format']} version {info['format_version']} (charlm {info['charlm_version']})",
        ),
        ("model", shape),
        *([("regularisers", _regularisers(info["regularisers"]))] if info["regularisers"]
          else []),
        ("parameters", _count(model["parameters"])),
        ("vocabulary", f"{vocab['size']:,} words, e.g. {' '.join(vocab['examples'])}"),
        ("tokenizer", tokenizer_text),
        ("context", CONTEXT_DESCRIPTIONS[info["context"]]),
        (
            "progress",
            f"{prog['epochs_completed']} of {prog['epochs']} epochs, "
            f"{_count(prog['sentences'])} sentences, {_count(prog['tokens'])} tokens, "
            f"{_count(prog['steps'])} steps, {_duration(prog['training_seconds'])}",
        ),
        (
            "best val loss",
            f"{best:.4f} (perplexity {info['best_val_ppl']:.2f})"
            if best is not None
            else "none yet",
        ),
    ]


def _training_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's rows of how the model learnt: optimiser, schedule, rate, recipe, origin."""
    rows = []
    schedule = info["lr_schedule"]
    if info["optimizer"] is not None:
        rows.append(("optimizer", _optimizer_text(info["optimizer"])))
    if info["schedule"] is not None and info["schedule"]["rule"] is not None:
        rows.append(("lr schedule", info["schedule"]["rule"]))
    if info["learning_rate"] is not None:
        rows.append(
            (
                "learning rate",
                f"{info['learning_rate']:.3g}"
                + (f" (decayed {schedule['reductions']} time(s))" if schedule else ""),
            )
        )
    recipe = info["recipe"]
    if recipe:
        rows.append(("recipe", f"{recipe} ({RECIPES[recipe].paper})" if recipe in RECIPES
                     else recipe))
    origin = info["initialised_from"]
    if origin:
        rows.append(("fine-tuned from", f"{origin['file']} (sha256 {origin['sha256'][:12]}...)"))
    return rows
