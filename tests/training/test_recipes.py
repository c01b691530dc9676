"""--recipe NAME: a named bundle of settings as a paper trained its model. Its values are the
paper's, written out again here so that a slip in the table cannot pass; each is a setting of
`charlm train` within its bounds; a recipe gives what no flag or variable gives, and a resumed run
keeps its checkpoint's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.training import TINY, config_of, one_error_line
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.checkpoint.schema import read_checkpoint
from charlm.cli import app
from charlm.errors import ConfigError
from charlm.options import (
    check_type,
    check_value,
    option_fields,
    origins_of,
    resolve,
    settings_of,
)
from charlm.training.config import TrainConfig
from charlm.training.recipes import RECIPES

runner = CliRunner()

# The settings each paper trained with (the tutorial's: charlm's own learning before 2026-11-24).
# Zaremba et al.'s rate (1) and clipping norm (5, 5, 10) are for a loss summed over a window of
# bptt steps; charlm's is the mean over every token: the rate times bptt, the norm over bptt.
PAPERS: dict[str, dict[str, Any]] = {
    "tutorial": {"learning_rate": 0.001, "lr_decay": 1.0, "batch_size": 64,
                 "weight_average": 0.0, "context": "sentence"},
    "zaremba-small": {
        "cell": "lstm", "layers": 2, "hidden_dim": 200, "embedding_dim": 200,
        "optimizer": "sgd", "learning_rate": 1.0 * 20, "lr_schedule": "epochs", "lr_keep_epochs": 4,
        "lr_decay": 0.5, "clip_norm": 5.0 / 20, "dropout_input": 0.0, "dropout_hidden": 0.0,
        "dropout_output": 0.0, "dropout_mask": "step", "bptt": 20, "batch_size": 20,
        "epochs": 13, "init_range": 0.1, "context": "document", "weight_average": 0.0,
        "print_every": 1_000_000_000,
    },
    "zaremba-medium": {
        "cell": "lstm", "layers": 2, "hidden_dim": 650, "embedding_dim": 650,
        "optimizer": "sgd", "learning_rate": 1.0 * 35, "lr_schedule": "epochs", "lr_keep_epochs": 6,
        "lr_decay": 1 / 1.2, "clip_norm": 5.0 / 35, "dropout_input": 0.5, "dropout_hidden": 0.5,
        "dropout_output": 0.5, "dropout_mask": "step", "bptt": 35, "batch_size": 20,
        "epochs": 39, "init_range": 0.05, "context": "document", "weight_average": 0.0,
        "print_every": 1_000_000_000,
    },
    "zaremba-large": {
        "cell": "lstm", "layers": 2, "hidden_dim": 1500, "embedding_dim": 1500,
        "optimizer": "sgd", "learning_rate": 1.0 * 35, "lr_schedule": "epochs",
        "lr_keep_epochs": 14, "lr_decay": 1 / 1.15, "clip_norm": 10.0 / 35, "dropout_input": 0.65,
        "dropout_hidden": 0.65,
        "dropout_output": 0.65, "dropout_mask": "step", "bptt": 35, "batch_size": 20,
        "epochs": 55, "init_range": 0.04, "context": "document", "weight_average": 0.0,
        "print_every": 1_000_000_000,
    },
    "awd-lstm": {
        "cell": "lstm", "layers": 3, "hidden_dim": 1150, "last_hidden_dim": 400,
        "embedding_dim": 400, "tie_weights": True, "dropout_output": 0.4,
        "dropout_hidden": 0.25, "dropout_input": 0.4, "dropout_embedding": 0.1,
        "dropout_mask": "locked", "weight_drop": 0.5, "optimizer": "asgd", "learning_rate": 30.0,
        "nonmono": 5, "clip_norm": 0.25, "bptt": 70, "bptt_random": True, "batch_size": 20,
        "ar": 2.0, "tar": 1.0, "weight_decay": 1.2e-6, "epochs": 500, "context": "document",
        "weight_average": 0.0, "print_every": 1_000_000_000, "embedding_init_range": 0.1,
    },
    # charlm's own, chosen by measurement: Zaremba's medium model with the adaptive softmax,
    # lighter locked dropout, a faster decay and the moving weight average, for an hour.
    "cpu-hour": {
        "cell": "lstm", "layers": 2, "hidden_dim": 650, "embedding_dim": 650,
        "softmax": "adaptive", "optimizer": "sgd", "learning_rate": 1.0 * 35,
        "lr_schedule": "epochs", "lr_keep_epochs": 6, "lr_decay": 1 / 1.5, "clip_norm": 5.0 / 35,
        "dropout_input": 0.4, "dropout_hidden": 0.3, "dropout_output": 0.4,
        "dropout_mask": "locked", "bptt": 35, "batch_size": 20, "epochs": 16,
        "init_range": 0.05, "context": "document", "weight_average": 0.999,
        "print_every": 1_000_000_000,
    },
}
# The perplexity on the Penn Treebank each published.
PUBLISHED = {
    "tutorial": {},
    "zaremba-small": {"test": 114.5},
    "zaremba-medium": {"test": 82.7},
    "zaremba-large": {"test": 78.4},
    "awd-lstm": {"valid": 61.2, "test": 58.8},
    "cpu-hour": {},
}
NAMES = ", ".join(RECIPES)


@pytest.mark.parametrize("name", list(PAPERS))
def test_each_recipe_holds_its_papers_settings_and_figure(name: str) -> None:
    assert dict(RECIPES[name].settings) == PAPERS[name]
    assert dict(RECIPES[name].published) == PUBLISHED[name]
    # Each type as the paper's: a rate of 1 is a number, a window of 20 a whole number.
    assert {k: type(v) for k, v in RECIPES[name].settings.items()} == {
        k: type(v) for k, v in PAPERS[name].items()}


def test_every_recipe_is_checked_here() -> None:
    assert set(RECIPES) == set(PAPERS)


def test_every_recipe_setting_is_a_setting_of_train() -> None:
    settings = {f.name for f in option_fields(TrainConfig)}
    missing = sorted({name for recipe in RECIPES.values() for name in recipe.settings
                      if name not in settings})
    assert missing == [], f"settings recipes give that charlm train lacks: {missing}"


def test_every_recipe_value_is_within_its_settings_bounds() -> None:
    settings = {f.name for f in option_fields(TrainConfig)}
    refused = []
    for recipe in RECIPES.values():
        for name, value in recipe.settings.items():
            if name not in settings:
                continue  # reported by the test above
            try:
                check_type(TrainConfig, name, value, f"{recipe.name}: {name}")
                check_value(TrainConfig, name, value, f"{recipe.name}: {name}")
            except ConfigError as error:
                refused.append(str(error))
    assert refused == []


def test_recipes_set_no_data_setting_but_how_text_is_read() -> None:
    data = {f.name for f in option_fields(TrainConfig) if f.metadata["panel"] == "Data"}
    assert {name: sorted(data & set(r.settings) - {"context"}) for name, r in RECIPES.items()
            } == {name: [] for name in RECIPES}
    reads_sentences = [name for name, r in RECIPES.items()
                       if r.settings.get("context") == "sentence"]
    assert reads_sentences == ["tutorial"]


def test_a_recipe_gives_its_settings_and_is_named_as_their_origin() -> None:
    config = config_of(corpus="c.txt", recipe="tutorial")
    assert (config.learning_rate, config.lr_decay, config.batch_size, config.weight_average,
            config.context) == (0.001, 1.0, 64, 0.0, "sentence")
    origins = origins_of(config)
    assert {origins[name] for name in PAPERS["tutorial"]} == {"recipe tutorial"}
    assert origins["recipe"] == "--recipe"
    assert origins["epochs"] == "default"


def test_flags_and_variables_win_over_the_recipe() -> None:
    given = config_of(corpus="c.txt", recipe="tutorial", batch_size=16)
    assert (given.batch_size, given.learning_rate) == (16, 0.001)
    assert origins_of(given)["batch_size"] == "--batch-size"
    variables = resolve(TrainConfig, {"corpus": "c.txt"},
                        {"CHARLM_RECIPE": "tutorial", "CHARLM_BATCH_SIZE": "32",
                         "LEARNING_RATE": "0.005"})
    assert (variables.recipe, variables.batch_size, variables.learning_rate,
            variables.context) == ("tutorial", 32, 0.005, "sentence")
    assert origins_of(variables)["batch_size"] == "CHARLM_BATCH_SIZE"
    assert origins_of(variables)["learning_rate"] == "LEARNING_RATE"
    assert origins_of(variables)["context"] == "recipe tutorial"
    assert origins_of(variables)["recipe"] == "CHARLM_RECIPE"


@pytest.mark.parametrize(("flags", "env"), [
    ({"tutorial_schedule": True}, {}),
    ({}, {"CHARLM_TUTORIAL_SCHEDULE": "yes"}),
])
def test_tutorial_schedule_is_another_spelling_of_the_tutorial_recipe(
    flags: dict[str, Any], env: dict[str, str]
) -> None:
    switched = resolve(TrainConfig, {"corpus": "c.txt", **flags}, env)
    recipe = config_of(corpus="c.txt", recipe="tutorial")
    assert switched.recipe == "tutorial"
    assert settings_of(switched) == settings_of(recipe)
    assert config_of(corpus="c.txt", tutorial_schedule=False) == config_of(corpus="c.txt")


def test_an_unknown_recipe_is_refused_in_one_line_naming_them(corpus_file: Path) -> None:
    by_flag = runner.invoke(app, ["train", str(corpus_file), "--recipe", "zaremba"])
    assert one_error_line(by_flag, 2) == (f"Error: --recipe: unknown value 'zaremba'; choose one "
                                          f"of {NAMES}")
    by_variable = runner.invoke(app, ["train", str(corpus_file)],
                                env={"CHARLM_RECIPE": "zaremba"})
    assert one_error_line(by_variable, 2) == (f"Error: CHARLM_RECIPE: unknown value 'zaremba'; "
                                              f"choose one of {NAMES}")


def test_charlm_recipes_lists_each_with_its_paper_settings_and_figure() -> None:
    listed = runner.invoke(app, ["recipes"])
    assert listed.exit_code == 0, listed.output
    for recipe in RECIPES.values():
        assert f"{recipe.name}: {recipe.paper}" in listed.stdout
    assert "test 114.5" in listed.stdout and "validation 61.2, test 58.8" in listed.stdout
    assert ("settings: --context sentence --learning-rate 0.001 --lr-decay 1 "
            "--weight-average 0 --batch-size 64") in listed.stdout
    as_json = runner.invoke(app, ["recipes", "--json"])
    assert as_json.exit_code == 0, as_json.output
    records = json.loads(as_json.stdout)["recipes"]
    assert [r["name"] for r in records] == list(RECIPES)
    assert {r["name"]: r["settings"] for r in records} == PAPERS
    assert {r["name"]: r["published"] for r in records} == PUBLISHED


def test_charlm_recipes_shows_one_by_name_and_refuses_an_unknown_one() -> None:
    one = runner.invoke(app, ["recipes", "awd-lstm", "--json"])
    assert one.exit_code == 0, one.output
    assert [r["name"] for r in json.loads(one.stdout)["recipes"]] == ["awd-lstm"]
    unknown = runner.invoke(app, ["recipes", "zaremba"])
    assert one_error_line(unknown, 2) == f"Error: unknown recipe 'zaremba'; choose one of {NAMES}"


def train_with_recipe(corpus: Path, out: Path, *flags: str) -> dict[str, str]:
    """Train a tiny model; the configuration it reported, each setting "value (origin)"."""
    result = runner.invoke(app, ["train", str(corpus), "-o", str(out), "--json", *TINY,
                                 *flags])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    [configuration] = [e["values"] for e in events if e.get("title") == "configuration"]
    return configuration


def test_training_reports_the_recipe_as_each_settings_origin_and_resumes_with_the_checkpoints(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.pt"
    configuration = train_with_recipe(corpus_file, out, "--recipe", "tutorial", "--epochs", "1",
                                      "--learning-rate", "0.003")
    assert configuration["context"] == "sentence (recipe tutorial)"
    assert configuration["lr_decay"] == "1.0 (recipe tutorial)"
    assert configuration["learning_rate"] == "0.003 (--learning-rate)"
    assert configuration["batch_size"] == "16 (--batch-size)"
    assert configuration["recipe"] == "tutorial (--recipe)"
    stored = load_checkpoint(out)
    assert stored["train_config"]["recipe"] == "tutorial"
    assert stored["setting_origins"]["weight_average"] == "recipe tutorial"

    # The same command again, to go on: the recipe gives nothing the checkpoint holds.
    resumed = train_with_recipe(corpus_file, out, "--resume", str(out), "--recipe", "tutorial",
                                "--epochs", "2")
    assert resumed["learning_rate"] == "0.003 (checkpoint)"
    assert resumed["epochs"] == "2 (--epochs)"
    assert read_checkpoint(out).progress["epoch"] == 2

    info = runner.invoke(app, ["info", str(out)])
    assert info.exit_code == 0, info.output
    assert f"recipe         tutorial ({RECIPES['tutorial'].paper})" in info.stdout


def test_a_resumed_run_takes_no_other_recipe_than_its_checkpoints(trained_model: dict,
                                                                   tmp_path: Path) -> None:
    checkpoint = trained_model["checkpoint"]
    before = checkpoint.read_bytes()
    result = runner.invoke(app, ["train", str(trained_model["train"]), "--resume",
                                 str(checkpoint), "-o", str(tmp_path / "other.pt"), "--epochs",
                                 "4", "--recipe", "tutorial"])
    assert "--recipe is 'tutorial' here but None in the checkpoint" in one_error_line(result, 2)
    assert checkpoint.read_bytes() == before and not (tmp_path / "other.pt").exists()


def test_a_checkpoint_of_the_former_switch_resumes_as_the_tutorial_recipe(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.pt"
    train_with_recipe(corpus_file, out, "--tutorial-schedule", "--epochs", "1")
    older = read_checkpoint(out)
    # As charlm wrote it before recipes: the switch, no recipe.
    del older.train_config["recipe"]
    older.train_config["tutorial_schedule"] = True
    older.save(out)
    assert json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)["recipe"] == (
        "tutorial")

    # The command that started it, rerun to go on, as a batch job does.
    resumed = train_with_recipe(corpus_file, out, "--resume", str(out), "--tutorial-schedule",
                                "--epochs", "2")
    assert resumed["recipe"] == "tutorial (--tutorial-schedule)"
    assert resumed["learning_rate"] == "0.001 (checkpoint)"
    assert read_checkpoint(out).train_config["recipe"] == "tutorial"

