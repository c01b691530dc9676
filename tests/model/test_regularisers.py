"""The regularisers of training: locked and step dropout, embedding dropout, weight drop, AR and
TAR; a last layer smaller than the others; and that nothing but training drops anything."""

from __future__ import annotations

import copy
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.corpora import write_corpus
from helpers.resuming import SignalAfter, assert_same_state, metric_lines
from helpers.training import TINY, config_of, one_error_line, quiet_reporter, tiny_flags
from typer.testing import CliRunner

import charlm
from charlm.checkpoint.files import load_checkpoint, save_checkpoint
from charlm.checkpoint.trained import load_trained
from charlm.cli import app
from charlm.data.types import IGNORE, Resets
from charlm.model.layered import FusedLayers
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.training.build import build_run
from charlm.training.loop import run_training, train_step
from charlm.training.signals import Interrupted

runner = CliRunner()
EVERY_REGULARISER = {"dropout_input": 0.3, "dropout_hidden": 0.25, "dropout_output": 0.4,
                     "dropout_embedding": 0.1, "weight_drop": 0.5, "ar": 2.0, "tar": 1.0}


class Calls:
    """A forward hook that keeps what each call of its module took and gave."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[Any] = []
        module.register_forward_hook(self)

    def __call__(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        self.inputs.append(args[0].detach())
        self.outputs.append(output)


def first(output: Any) -> torch.Tensor:
    """A recurrent layer's outputs (its first result), or an output layer's result."""
    return (output[0] if isinstance(output, tuple) else output).detach()


def tiny_model(**changes: Any) -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(ModelConfig(**{"vocab_size": 30, "embedding_dim": 8,
                                           "hidden_dim": 16, **changes}))


def window(rows: int = 4, time: int = 9, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(3, 30, (rows, time), generator=generator),
            torch.randint(3, 30, (rows, time), generator=generator))


def applied_masks(mask: str) -> dict[str, torch.Tensor]:
    """What one training window multiplied by at each dropout (what was dropped divided by what
    it dropped), (rows, time, units), in a model that runs the window in chunks of 3 steps."""
    # A smaller last layer runs the layers one at a time, so what passes between them shows.
    model = tiny_model(cell="lstm", layers=2, last_hidden_dim=12, bptt_truncate=3,
                       dropout_mask=mask,
                       **{k: 0.5 for k in ("dropout_input", "dropout_hidden", "dropout_output")})
    assert isinstance(model.rnn, FusedLayers)
    stack, first_layer, second_layer, output = (Calls(model.rnn), Calls(model.rnn.templates[0]),
                                                Calls(model.rnn.templates[1]),
                                                Calls(model.output))
    inputs, targets = window()
    model.train()
    model.training_loss(inputs, targets)
    rows, time = inputs.shape
    embedded = F.embedding(inputs, model.embedding.weight).detach()
    between = (torch.cat(second_layer.inputs, 1)
               / torch.cat([first(o) for o in first_layer.outputs], 1))
    last = torch.cat([first(o) for o in stack.outputs], 1)
    dropped_last = torch.cat(output.inputs).view(rows, time, -1)
    return {"input": torch.cat(stack.inputs, 1) / embedded, "hidden": between,
            "output": dropped_last / last}


@pytest.mark.parametrize("place", ["input", "hidden", "output"])
def test_a_locked_mask_holds_for_the_whole_window_and_differs_across_rows(place: str) -> None:
    mask = applied_masks("locked")[place]
    assert torch.allclose(mask, mask[:, :1].expand_as(mask), atol=1e-5)  # chunks included
    kept = mask[:, 0] > 0.5
    assert torch.allclose(mask[:, 0][kept], torch.tensor(2.0)) and (~kept).any()
    assert not torch.equal(kept[0], kept[1]) and not torch.equal(kept[1], kept[2])


@pytest.mark.parametrize("place", ["input", "hidden", "output"])
def test_a_step_mask_is_drawn_anew_at_every_step(place: str) -> None:
    mask = applied_masks("step")[place]
    kept = mask > 0.5
    assert torch.allclose(mask[kept], torch.tensor(2.0), atol=1e-5)
    changes = (kept[:, 1:] != kept[:, :-1]).any(-1)  # (rows, time - 1)
    assert changes.any(-1).all() and changes.float().mean() > 0.8


def test_embedding_dropout_drops_whole_words_and_scales_the_rest() -> None:
    model = tiny_model(dropout_embedding=0.5)
    stored = model.embedding.weight.detach().clone()
    recurrent = Calls(model.rnn)
    inputs = torch.randint(3, 11, (6, 12), generator=torch.Generator().manual_seed(2))
    model.train()
    model.training_loss(inputs, inputs)
    embedded = recurrent.inputs[0]
    dropped, kept = set(), set()
    for word in inputs.unique().tolist():
        read = embedded[inputs == word]
        assert len(read) > 1
        if not read.any():
            dropped.add(word)
        else:
            assert torch.allclose(read, (stored[word] * 2.0).expand_as(read)), word
            kept.add(word)
    assert dropped and kept
    assert torch.equal(model.embedding.weight, stored)


def test_weight_drop_runs_fused_layers_on_a_dropped_matrix_and_leaves_the_stored_one() -> None:
    model = tiny_model(cell="lstm", weight_drop=0.5, bptt_truncate=3)
    assert isinstance(model.rnn, FusedLayers)
    assert all(type(t) is torch.nn.LSTM for t in model.rnn.templates)  # PyTorch's fused layer
    stored = model.rnn.weight_hh_l1.detach().clone()
    used: list[torch.Tensor] = []
    model.rnn.templates[1].register_forward_pre_hook(
        lambda layer, args: used.append(layer.weight_hh_l0.detach().clone()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    model.train()
    for seed in (1, 2):  # two windows
        inputs, targets = window(seed=seed)
        loss, penalty, _ = model.training_loss(inputs, targets)
        optimizer.zero_grad()
        (loss / targets.numel() + penalty).backward()
        optimizer.step()
        assert torch.equal(model.rnn.weight_hh_l1, stored)
    assert len(used) == 6  # three chunks a window
    for chunk in (1, 2):
        assert torch.equal(used[chunk], used[0]) and torch.equal(used[3 + chunk], used[3])
    assert not torch.equal(used[0], used[3])  # each window draws its own mask
    kept = used[3] != 0
    assert 0.3 < kept.float().mean() < 0.7
    assert torch.allclose(used[3][kept], stored[kept] * 2.0)
    gradient = model.rnn.weight_hh_l1.grad
    assert gradient is not None and not gradient[~kept].any() and gradient[kept].any()


def test_the_fused_and_hand_written_stacks_drop_alike() -> None:
    # The hand-written cells take the same masks, drawn in the same order, as the fused layers.
    config = {"cell": "lstm", "layers": 3, "last_hidden_dim": 8, "bptt_truncate": 4,
              **EVERY_REGULARISER}
    fused, hand = tiny_model(**config), tiny_model(**config, implementation="hand-written")
    assert isinstance(fused.rnn, FusedLayers) and not isinstance(hand.rnn, FusedLayers)
    hand.load_state_dict(fused.state_dict())
    inputs, targets = window()
    results = []
    for model in (fused.double(), hand.double()):
        torch.manual_seed(5)
        loss, penalty, final = model.training_loss(inputs, targets)
        results.append(torch.stack([loss, penalty.double(), final[0].sum(), final[1].sum()]))
    assert torch.allclose(results[0], results[1], atol=1e-9)


def test_outside_training_a_regularised_model_is_the_plain_model() -> None:
    # The same initial weights, under the same names, and the same scores.
    plain, regularised = tiny_model(cell="lstm"), tiny_model(cell="lstm", **EVERY_REGULARISER)
    assert isinstance(plain.rnn, torch.nn.LSTM) and isinstance(regularised.rnn, FusedLayers)
    assert plain.state_dict().keys() == regularised.state_dict().keys()
    for name, weight in plain.state_dict().items():
        assert torch.equal(weight, regularised.state_dict()[name]), name
    inputs, _ = window()
    plain.eval()
    regularised.eval()
    assert torch.equal(plain(inputs)[0], regularised(inputs)[0])


def hand_penalty(hidden: torch.Tensor, counted: torch.Tensor, pairs: torch.Tensor,
                 alpha: float, beta: float) -> torch.Tensor:
    """α · mean(h²) over the counted positions + β · mean((h[t] - h[t-1])²) over the pairs."""
    change = hidden[:, 1:] - hidden[:, :-1]
    return alpha * hidden[counted].pow(2).mean() + beta * change[pairs].pow(2).mean()


def test_ar_and_tar_are_their_terms_over_the_positions_that_count() -> None:
    alpha, beta = 2.0, 1.0
    model = tiny_model(ar=alpha, tar=beta)  # nothing dropped: the dropped output is the output
    inputs, targets = window(rows=3, time=6)
    targets[0, 4:] = IGNORE  # padding
    keep = torch.ones(3, 6)
    keep[1, 3] = 0.0  # row 1 begins a document at step 3
    resets = Resets(keep, (3,))
    model.eval()
    with torch.no_grad():
        hidden, _ = model.recurrent(model.embedding(inputs), None, resets)
    counted = targets != IGNORE
    pairs = counted[:, 1:] & counted[:, :-1]
    pairs[1, 2] = False  # steps 2 and 3 of row 1 are in different documents
    model.train()
    loss, penalty, _ = model.training_loss(inputs, targets, None, resets)
    expected = hand_penalty(hidden, counted, pairs, alpha, beta)
    assert float(penalty.detach()) == pytest.approx(float(expected), rel=1e-5)
    model.eval()
    assert torch.equal(loss, model.stream_loss(inputs, targets, None, resets)[0])


def test_ar_reads_the_dropped_output() -> None:
    model = tiny_model(ar=2.0, dropout_output=0.5)
    output = Calls(model.output)
    inputs, targets = window()
    targets[2, 5:] = IGNORE
    model.train()
    _, penalty, _ = model.training_loss(inputs, targets)
    rows = torch.cat(output.inputs)  # the dropped outputs of the positions with a target
    assert len(rows) == int((targets != IGNORE).sum())
    assert float(penalty.detach()) == pytest.approx(float(2.0 * rows.pow(2).mean()), rel=1e-5)


def test_a_training_step_descends_the_loss_plus_ar_and_tar_and_reports_the_loss(
    corpus_file: Path, tmp_path: Path
) -> None:
    alpha, beta = 2.0, 1.0
    config = config_of(**tiny_flags(corpus=str(corpus_file), out=str(tmp_path / "m.pt"),
                                    context="sentence", ar=alpha, tar=beta))
    with ExitStack() as held:
        run = build_run(config, quiet_reporter(), held)
        run.model.train()
        batch = run.epoch_batches(0).batch(0)
        assert (batch.targets == IGNORE).any()  # sentences of several lengths: padding
        before = copy.deepcopy(run.model)
        reported = train_step(run, batch, batch.tokens)
    hidden, _ = before.recurrent(before.embedding(batch.inputs))
    loss_sum = before.stream_loss(batch.inputs, batch.targets)[0]
    counted = batch.targets != IGNORE
    objective = loss_sum / batch.tokens + hand_penalty(
        hidden, counted, counted[:, 1:] & counted[:, :-1], alpha, beta)
    objective.backward()
    assert float(reported.detach()) == pytest.approx(float(loss_sum.detach()), rel=1e-6)  # alone
    for (name, expected), stepped in zip(before.named_parameters(), run.model.parameters()):
        assert stepped.grad is not None
        assert torch.allclose(stepped.grad, expected.grad, rtol=1e-4, atol=1e-7), name


def strip_regularisers(checkpoint: Path, out: Path) -> Path:
    """The checkpoint with the same weights, its model described without regularisers."""
    document = load_checkpoint(checkpoint)
    config = ModelConfig.from_dict(document["model_config"]).without_dropout()
    document["model_config"] = config.to_dict()
    save_checkpoint(document, out)
    return out


def test_evaluation_scoring_generation_and_dynamic_evaluation_drop_nothing(
    corpus_file: Path, tmp_path: Path
) -> None:
    regularised = tmp_path / "regularised.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(regularised), epochs=1,
                                        cell="lstm", dropout=0.2, **{
                                            **EVERY_REGULARISER, "dropout_hidden": 0.0,
                                            "dropout_output": 0.0})), quiet_reporter())
    assert load_checkpoint(regularised)["model_config"]["weight_drop"] == 0.5
    plain = strip_regularisers(regularised, tmp_path / "plain.pt")
    text = str(write_corpus(tmp_path / "text.txt", sentences=40, seed=3))
    lines = ["Anna walked to the river.", "Was Ben quiet in the morning?"]
    results = []
    for path in (regularised, regularised, plain):
        model = charlm.load(path)
        results.append((model.evaluate_files([text]).surprisal,
                        model.evaluate_files([text], dynamic=True).surprisal,
                        [s.log_prob for s in model.score(lines)],
                        model.generate(2, seed=4, min_words=1, max_words=8, allow_unknown=True),
                        model.next_words("anna", k=3)))
    for result in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(result[:2], results[0][:2]))
        assert result[2:] == results[0][2:]


@pytest.mark.parametrize("flags", [
    {"cell": "lstm", "last_hidden_dim": 8, "tie_weights": True, **EVERY_REGULARISER},
    {"cell": "peephole-lstm", "context": "sentence", "softmax": "adaptive",
     "dropout_mask": "step", **EVERY_REGULARISER},
], ids=["document-tied-smaller-last-layer", "sentence-hand-written-adaptive-step-masks"])
def test_regularised_runs_resume_bit_exact_from_the_middle_of_an_epoch(
    corpus_file: Path, tmp_path: Path, flags: dict
) -> None:
    # Every mask is drawn from torch's random state, which the checkpoint saves.
    run = tiny_flags(corpus=str(corpus_file), epochs=1, print_every=95, **flags)
    whole, stopped = tmp_path / "whole.pt", tmp_path / "stopped.pt"
    run_training(config_of(**run, out=str(whole)), quiet_reporter())
    with pytest.raises(Interrupted):
        run_training(config_of(**run, out=str(stopped)), SignalAfter(150))
    assert 0 < load_checkpoint(stopped)["progress"]["batch_in_epoch"]
    run_training(config_of(corpus=str(corpus_file), resume=str(stopped)), quiet_reporter())
    assert_same_state(whole, stopped)
    assert metric_lines(stopped) == metric_lines(whole)


def test_a_tied_model_with_a_smaller_last_layer_trains_saves_loads_and_is_described(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "awd.pt"
    result = runner.invoke(app, [
        "train", str(corpus_file), "-o", str(out), "--epochs", "1", *TINY, "--cell", "lstm",
        "--layers", "3", "--last-hidden-dim", "8", "--tie-weights", "--weight-drop", "0.5",
        "--dropout-output", "0.4", "--ar", "2"])
    assert result.exit_code == 0, result.output
    model = load_trained(out).model
    assert model.config.layer_sizes == (16, 16, 8)
    assert model.rnn.weight_hh_l2.shape == (4 * 8, 8) and model.rnn.weight_ih_l2.shape == (32, 16)
    assert model.output.weight is model.embedding.weight
    assert np.isfinite(charlm.load(out).evaluate_files([str(corpus_file)]).summary.perplexity)
    info = runner.invoke(app, ["info", str(out)])
    assert info.exit_code == 0, info.output
    assert "last_hidden_dim 8" in info.stdout
    assert ("regularisers   dropout-output 0.4, weight-drop 0.5, ar 2.0 (dropout masks "
            "locked)") in info.stdout
    plain = runner.invoke(app, ["info", str(out), "--json"])
    assert '"regularisers": {"dropout_output": 0.4' in plain.stdout


@pytest.mark.parametrize(("flags", "message"), [
    (["--dropout", "0.3", "--dropout-hidden", "0.2"],
     "--dropout drops between recurrent layers and before the output layer, where "
     "--dropout-hidden and --dropout-output drop: give one or the other"),
    (["--dropout", "0.3", "--dropout-output", "0.2"], "give one or the other"),
    (["--dropout-hidden", "0.2", "--layers", "1"],
     "--dropout-hidden drops between recurrent layers, and --layers=1 has none"),
    (["--last-hidden-dim", "32"],
     "--last-hidden-dim=32 is above --hidden-dim=16: the last layer may be smaller"),
    (["--last-hidden-dim", "8", "--layers", "1"], "with --layers=1 set --hidden-dim instead"),
    (["--tie-weights", "--last-hidden-dim", "12"],
     "--tie-weights needs the last recurrent layer as large as the embedding, but "
     "--embedding-dim=8 and --last-hidden-dim=12"),
    (["--tie-weights"], "(or --last-hidden-dim to 8, with several layers)"),
    (["--dropout-mask", "sometimes"], "--dropout-mask: unknown value 'sometimes'"),
])
def test_settings_that_do_not_fit_are_refused_in_one_line(
    corpus_file: Path, tmp_path: Path, flags: list[str], message: str
) -> None:
    out = tmp_path / "refused.pt"
    result = runner.invoke(app, ["train", str(corpus_file), "-o", str(out), *TINY, *flags])
    assert message in one_error_line(result, 2)
    assert not out.exists()
