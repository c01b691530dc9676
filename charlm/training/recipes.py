"""Recipes: named bundles of model and optimisation settings, each as a paper trained its model,
with the perplexity the paper published. `charlm train --recipe NAME` gives every setting of the
bundle that no flag or variable gives; `charlm recipes` lists them; docs/recipes.md holds the
command for the Penn Treebank and what each recipe measured here.

A recipe sets no tokenizer or data setting but `context` (how the model reads text): the data
settings belong to the corpus, so the same recipe trains on any corpus. Plain data, loaded without
torch: the settings of `charlm train` and its --help read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from charlm.data.settings import DOCUMENT, SENTENCE

# A report interval longer than any run, so that training reports once an epoch, at its end, as
# the papers validate.
ONE_REPORT_AN_EPOCH = 1_000_000_000


@dataclass(frozen=True)
class Recipe:
    """A named bundle of settings (TrainConfig's field names) and where it comes from."""

    name: str
    paper: str
    settings: Mapping[str, Any]
    published: Mapping[str, float] = field(default_factory=dict)
    """The perplexity the paper published on the Penn Treebank, by split ("valid", "test")."""
    note: str = ""


ZAREMBA_PAPER = ("Zaremba, Sutskever & Vinyals 2014, Recurrent Neural Network Regularization "
                 "(arXiv:1409.2329)")
# What Zaremba et al.'s three models share: two LSTM layers trained by plain SGD at 1 on 20 rows
# of running text, the rate kept for some epochs and then decayed every epoch; their dropout is
# ordinary dropout, a new mask at each step, on the non-recurrent connections only.
ZAREMBA = {
    "cell": "lstm", "layers": 2, "optimizer": "sgd",
    "lr_schedule": "epochs", "batch_size": 20, "dropout_mask": "step", "context": DOCUMENT,
    "weight_average": 0.0, "print_every": ONE_REPORT_AN_EPOCH,
}
ZAREMBA_NOTE = ("Without the weight average: the paper reports the last step's weights. Its rate "
                "of 1 and its clipping norm are for a loss summed over a window's steps; charlm's "
                "loss is the mean over every token, so the same steps take the rate times the "
                "window and the norm over the window.")


def per_token(rate: float, clip_norm: float, bptt: int) -> dict[str, Any]:
    """A paper's rate and gradient-norm clipping for a loss summed over the `bptt` steps of a
    window (and averaged over its rows), as Zaremba et al.'s code and the models that follow it
    take them, in charlm's terms: its loss is the mean over every token, whose gradient is
    1/bptt of theirs, so the same steps take the rate times bptt and the norm over bptt."""
    return {"learning_rate": rate * bptt, "clip_norm": clip_norm / bptt, "bptt": bptt}

RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (
    Recipe(
        "tutorial",
        "The GRU/LSTM language-model tutorial whose pipeline charlm follows",
        {"learning_rate": 0.001, "lr_decay": 1.0, "batch_size": 64, "weight_average": 0.0,
         "context": SENTENCE},
        note="Each sentence read alone, RMSprop at a constant 0.001 on batches of 64 sentences, "
             "the last step's weights: how charlm trained before its faster defaults of "
             "2026-11-24. --tutorial-schedule is another spelling.",
    ),
    Recipe(
        "zaremba-small", ZAREMBA_PAPER,
        ZAREMBA | {"hidden_dim": 200, "embedding_dim": 200, "lr_keep_epochs": 4,
                   "lr_decay": 0.5, "dropout_input": 0.0, "dropout_hidden": 0.0,
                   "dropout_output": 0.0, "epochs": 13, "init_range": 0.1}
        | per_token(1.0, 5.0, 20),
        {"test": 114.5}, ZAREMBA_NOTE,
    ),
    Recipe(
        "zaremba-medium", ZAREMBA_PAPER,
        ZAREMBA | {"hidden_dim": 650, "embedding_dim": 650, "lr_keep_epochs": 6,
                   "lr_decay": 1 / 1.2, "dropout_input": 0.5, "dropout_hidden": 0.5,
                   "dropout_output": 0.5, "epochs": 39, "init_range": 0.05}
        | per_token(1.0, 5.0, 35),
        {"test": 82.7}, ZAREMBA_NOTE,
    ),
    Recipe(
        "zaremba-large", ZAREMBA_PAPER,
        ZAREMBA | {"hidden_dim": 1500, "embedding_dim": 1500, "lr_keep_epochs": 14,
                   "lr_decay": 1 / 1.15, "dropout_input": 0.65, "dropout_hidden": 0.65,
                   "dropout_output": 0.65, "epochs": 55, "init_range": 0.04}
        | per_token(1.0, 10.0, 35),
        {"test": 78.4}, ZAREMBA_NOTE,
    ),
    Recipe(
        "awd-lstm",
        "Merity, Keskar & Socher 2018, Regularizing and Optimizing LSTM Language Models "
        "(arXiv:1708.02182), as the awd-lstm-lm repository's README trains it on the Penn "
        "Treebank",
        {"cell": "lstm", "layers": 3, "hidden_dim": 1150, "last_hidden_dim": 400,
         "embedding_dim": 400, "tie_weights": True, "dropout_output": 0.4,
         "dropout_hidden": 0.25, "dropout_input": 0.4, "dropout_embedding": 0.1,
         "dropout_mask": "locked", "weight_drop": 0.5, "optimizer": "asgd",
         "learning_rate": 30.0, "nonmono": 5, "clip_norm": 0.25, "bptt": 70,
         "bptt_random": True, "batch_size": 20, "ar": 2.0, "tar": 1.0, "weight_decay": 1.2e-6,
         "epochs": 500, "context": DOCUMENT, "weight_average": 0.0,
         "print_every": ONE_REPORT_AN_EPOCH, "embedding_init_range": 0.1},
        {"valid": 61.2, "test": 58.8},
        "The README's figures before fine-tuning; the paper's 57.3 (test) comes after a second "
        "stage of fine-tuning, which this recipe does not do. NT-ASGD averages the weights "
        "itself, so charlm's weight average is off, and it validates once an epoch. The embedding "
        "(tied to the output layer) starts uniform in ±0.1, the LSTM layers as PyTorch starts "
        "them, as the repository does.",
    ),
    Recipe(
        "cpu-hour",
        "charlm's own: the most a 2-core CPU learns of the Penn Treebank in an hour, chosen by "
        "measurement (docs/recipes.md)",
        ZAREMBA | {"hidden_dim": 650, "embedding_dim": 650, "softmax": "adaptive",
                   "dropout_input": 0.4, "dropout_hidden": 0.3, "dropout_output": 0.4,
                   "dropout_mask": "locked", "lr_keep_epochs": 6, "lr_decay": 1 / 1.5,
                   "epochs": 16, "init_range": 0.05, "weight_average": 0.999}
        | per_token(1.0, 5.0, 35),
        note="Zaremba et al.'s medium model made to fit an hour on two cores: the adaptive "
             "softmax (twice the tokens a second of a full one at this size), locked dropout a "
             "little lighter for fewer epochs, the rate decayed faster after its sixth epoch, and "
             "charlm's moving weight average.",
    ),
)}


def recipe_names() -> tuple[str, ...]:
    """The recipes' names, in the order they are listed."""
    return tuple(RECIPES)


def recipe_settings() -> dict[str, Mapping[str, Any]]:
    """Each recipe's settings, by its name: what `--recipe NAME` gives."""
    return {name: recipe.settings for name, recipe in RECIPES.items()}
