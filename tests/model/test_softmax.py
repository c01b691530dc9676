"""--softmax full|adaptive: the adaptive output layer, its cut-offs, and every command using it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny_model
from helpers.training import one_error_line
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.checkpoint.trained import load_trained
from charlm.cli import app
from charlm.data.batches import make_batch
from charlm.data.types import IGNORE, EncodedSentences
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.model.softmax import (
    FIRST_CLUSTER_SHARE,
    HEAD_SHARE,
    AdaptiveSoftmax,
    adaptive_cutoffs,
)


def adaptive_layer(vocab: int = 40, hidden: int = 16, cutoffs: tuple[int, ...] = (10, 25)
                   ) -> AdaptiveSoftmax:
    torch.manual_seed(0)
    return AdaptiveSoftmax(hidden, vocab, cutoffs)


def test_adaptive_scores_are_a_distribution_over_every_word() -> None:
    layer = adaptive_layer()
    log_probs = layer(torch.randn(3, 5, 16))
    assert log_probs.shape == (3, 5, 40)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 5))


def test_adaptive_training_loss_is_what_its_scores_give_the_targets() -> None:
    # Training uses loss_sum; evaluate, score, generate and export use the scores.
    layer = adaptive_layer()
    hidden = torch.randn(60, 16)
    targets = torch.randint(0, 40, (60,))
    expected = -layer(hidden).gather(1, targets[:, None]).sum()
    torch.testing.assert_close(layer.loss_sum(hidden, targets), expected)


def test_every_parameter_takes_part_when_a_cluster_has_no_target() -> None:
    # DistributedDataParallel fails a step in which some parameter received no gradient.
    layer = adaptive_layer()
    targets = torch.tensor([0, 3, 9, 12])  # the head and the first cluster only
    layer.loss_sum(torch.randn(4, 16), targets).backward()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None, name
    assert torch.count_nonzero(layer.tail[1][1].weight.grad) == 0


def test_cutoffs_split_the_targets_at_the_chosen_shares() -> None:
    counts = (10_000 / np.arange(1, 2001) ** 1.1).round() + 1  # Zipf-like, frequent ids first
    cutoffs = adaptive_cutoffs(counts)
    covered = np.cumsum(counts) / counts.sum()
    assert len(cutoffs) == 2
    for cut, share in zip(cutoffs, (HEAD_SHARE, FIRST_CLUSTER_SHARE)):
        assert covered[cut - 1] >= share > covered[cut - 2]
    # A vocabulary too small to cluster keeps what it can; cut-offs always rise inside it.
    assert adaptive_cutoffs(np.array([990, 5, 5])) == (1,)
    assert adaptive_cutoffs(np.array([10])) == ()


def test_adaptive_model_round_trips_its_config() -> None:
    config = ModelConfig(vocab_size=40, softmax="adaptive", cutoffs=(10, 25))
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    model = RNNLanguageModel(again)
    assert isinstance(model.output, AdaptiveSoftmax)


def test_adaptive_with_tied_weights_is_refused_in_one_line(corpus_file: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, [
        "train", str(corpus_file), "-o", str(out), "--softmax", "adaptive", "--tie-weights",
        "--embedding-dim", "16", "--hidden-dim", "16",
    ])
    line = one_error_line(result)
    assert "--tie-weights" in line and "--softmax" in line
    assert not out.exists()


@pytest.fixture(scope="module")
def adaptive_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return train_tiny_model(tmp_path_factory.mktemp("adaptive"), 2, "--softmax", "adaptive")


def test_adaptive_run_stores_its_layer_and_cutoffs(adaptive_model: dict) -> None:
    checkpoint = load_trained(adaptive_model["checkpoint"]).checkpoint
    config = ModelConfig.from_dict(checkpoint.model_config)
    assert config.softmax == "adaptive"
    assert config.cutoffs and config.cutoffs[-1] < config.vocab_size
    assert checkpoint.train_config["softmax"] == "adaptive"


def test_evaluate_agrees_with_training_validation(adaptive_model: dict) -> None:
    result = CliRunner().invoke(app, [
        "evaluate", str(adaptive_model["checkpoint"]), str(adaptive_model["valid"]),
        "--json",
    ])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    assert evaluated["loss"] == pytest.approx(adaptive_model["metrics"][-1]["val_loss"],
                                              rel=1e-5)


def test_generate_and_score_use_the_adaptive_model(adaptive_model: dict) -> None:
    generated = CliRunner().invoke(app, [
        "generate", str(adaptive_model["checkpoint"]), "-n", "3", "--seed", "1", "--json",
    ])
    assert generated.exit_code == 0, generated.output
    assert len([line for line in generated.stdout.splitlines() if line.strip()]) == 3
    scored = CliRunner().invoke(app, [
        "score", str(adaptive_model["checkpoint"]), str(adaptive_model["valid"]),
    ])
    assert scored.exit_code == 0, scored.output


def test_resuming_keeps_the_stored_cutoffs(adaptive_model: dict, tmp_path: Path) -> None:
    out = tmp_path / "resumed.pt"
    shutil.copy(adaptive_model["checkpoint"], out)
    before = load_checkpoint(out)["model_config"]["cutoffs"]
    result = CliRunner().invoke(app, ["train", "--resume", str(out), "--epochs", "3"])
    assert result.exit_code == 0, result.output
    after = load_checkpoint(out)
    assert after["model_config"]["cutoffs"] == before
    assert after["progress"]["epoch"] == 3


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_scoring_padding_and_ignoring_it_trains_as_dropping_it(softmax: str) -> None:
    # On a GPU the output layer scores padded positions and the loss ignores them (dropping
    # them makes the host wait for the device); on a CPU they are dropped. The same step.
    torch.manual_seed(0)
    cutoffs = (10, 25) if softmax == "adaptive" else ()
    model = RNNLanguageModel(ModelConfig(vocab_size=40, embedding_dim=8, hidden_dim=16,
                                         softmax=softmax, cutoffs=cutoffs))
    lengths = np.array([1, 7, 3, 9, 4, 2])
    ids = np.random.default_rng(0).integers(3, 40, lengths.sum()).astype(np.uint16)
    batch = make_batch(EncodedSentences(ids, np.concatenate([[0], np.cumsum(lengths)])),
                       np.arange(len(lengths)))
    assert (batch.targets == IGNORE).sum() > 0
    steps = []
    for drop_padding in (True, False):
        model.zero_grad()
        loss, _ = model.stream_loss(batch.inputs, batch.targets, drop_padding=drop_padding)
        loss.backward()
        steps.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (dropped, dropped_grads), (ignored, ignored_grads) = steps
    torch.testing.assert_close(ignored, dropped)
    for a, b in zip(ignored_grads, dropped_grads):
        torch.testing.assert_close(a, b)
