"""`charlm recipes`: the named bundles of settings `charlm train --recipe NAME` takes, each with
its paper, its settings as flags and the perplexity the paper published."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import typer

from charlm.errors import ConfigError
from charlm.options import flag_name, option, option_fields, panel_rank
from charlm.training.config import TrainConfig
from charlm.training.recipes import RECIPES, Recipe


@dataclass
class RecipesConfig:
    """Settings of `charlm recipes`."""

    COMMAND = "recipes"

    name: str | None = option(None, "Show this recipe only (default: all of them).",
                              argument=True)
    json: bool = option(False, "Print one JSON object instead of the list.")

    def check(self, sources: Mapping[str, str]) -> None:
        if self.name is not None and self.name not in RECIPES:
            raise ConfigError(f"unknown recipe {self.name!r}; choose one of "
                              f"{', '.join(RECIPES)}")

    @property
    def recipes(self) -> list[Recipe]:
        """The recipes to show."""
        return [RECIPES[self.name]] if self.name is not None else list(RECIPES.values())


def help_order(name: str) -> int:
    """Where `charlm train --help` lists a setting."""
    ordered = sorted(option_fields(TrainConfig), key=lambda f: panel_rank(f.metadata["panel"]))
    names = [f.name for f in ordered]
    return names.index(name) if name in names else len(names)


def as_flags(settings: Mapping[str, Any]) -> str:
    """Settings as the `charlm train` flags that give them, in the order of its --help:
    `--cell lstm --tie-weights`."""
    flags = []
    for name, value in sorted(settings.items(), key=lambda item: help_order(item[0])):
        if isinstance(value, bool):
            flags.append(flag_name(name) if value else "--no-" + name.replace("_", "-"))
        else:
            # Exact, so that the flags give the recipe's very values: 0.8333333333333334.
            shown = (str(int(value)) if isinstance(value, float) and value.is_integer()
                     else repr(value) if isinstance(value, float) else str(value))
            flags.append(f"{flag_name(name)} {shown}")
    return " ".join(flags)


def published_text(published: Mapping[str, float]) -> str:
    """A paper's perplexities as a person reads them: `validation 61.2, test 58.8`."""
    words = {"valid": "validation", "test": "test"}
    return ", ".join(f"{words.get(split, split)} {value}" for split, value in published.items())


def recipe_record(recipe: Recipe) -> dict[str, Any]:
    """A recipe as `--json` prints it."""
    return {"name": recipe.name, "paper": recipe.paper, "published": dict(recipe.published),
            "settings": dict(recipe.settings), "note": recipe.note}


def recipe_lines(recipe: Recipe) -> list[str]:
    """A recipe as the list shows it: its name and paper, then its figure, flags and note."""
    published = published_text(recipe.published)
    lines = [f"{recipe.name}: {recipe.paper}"]
    if published:
        lines.append(f"  published perplexity (Penn Treebank): {published}")
    lines.append(f"  settings: {as_flags(recipe.settings)}")
    if recipe.note:
        lines.append(f"  {recipe.note}")
    return lines


def show_recipes(config: RecipesConfig) -> list[Recipe]:
    """Run `charlm recipes`: print every recipe, as a list or one JSON object; returns them."""
    recipes = config.recipes
    if config.json:
        typer.echo(json.dumps({"recipes": [recipe_record(r) for r in recipes]}))
        return recipes
    for recipe in recipes:
        typer.echo("\n".join(recipe_lines(recipe)))
    typer.echo("charlm train CORPUS --recipe NAME trains with a recipe; flags and variables "
               "given with it win.")
    return recipes
