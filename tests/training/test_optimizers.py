"""--optimizer, --weight-decay, --init-range and NT-ASGD (--optimizer asgd, --nonmono): each
optimiser trains, each setting does what it says, and the settings an optimiser or schedule does
not take are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.corpora import write_corpus
from helpers.training import config_of, one_error_line, quiet_reporter, tiny_flags
from typer.testing import CliRunner

import charlm
from charlm.checkpoint.files import load_checkpoint
from charlm.checkpoint.optimizers import OPTIMIZER_KINDS
from charlm.checkpoint.schema import read_checkpoint
from charlm.cli import app
from charlm.errors import ConfigError
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.training.averaging import NonMonotoneSwitch, UniformAverage
from charlm.training.build import build_model
from charlm.training.loop import run_to_end, run_training, training_reports
from charlm.training.optimizers import build_optimizer
from charlm.training.runtime import Runtime

runner = CliRunner()
# The rate each optimiser learns the tiny model at: SGD's multiplies the gradient, as the papers'
# rates of 1 to 30 do; the others' are step sizes.
RATES = {"rmsprop": 0.01, "sgd": 1.0, "asgd": 1.0, "adam": 0.01, "adamw": 0.01}
# NT-ASGD on the tiny model, each sentence alone, a report at each of an epoch's 24 steps: at
# this rate the validation loss soon stops falling, and the run switches well before its end.
NT_ASGD = {"context": "sentence", "optimizer": "asgd", "nonmono": 1, "weight_average": 0.0,
           "learning_rate": 4.0, "epochs": 1, "print_every": 48}


def metrics(checkpoint: Path) -> list[dict[str, Any]]:
    lines = checkpoint.with_name(checkpoint.name + ".metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def tiny_model() -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(ModelConfig(vocab_size=12, embedding_dim=4, hidden_dim=5))


def test_every_optimizer_has_a_rate_here() -> None:
    assert RATES.keys() == OPTIMIZER_KINDS.keys()


@pytest.mark.parametrize("optimizer", list(RATES))
def test_each_optimizer_trains_a_tiny_model(optimizer: str, corpus_file: Path,
                                            tmp_path: Path) -> None:
    out = tmp_path / f"{optimizer}.pt"
    run_training(config_of(**tiny_flags(
        corpus=str(corpus_file), out=str(out), epochs=1, print_every=100, context="sentence",
        optimizer=optimizer, learning_rate=RATES[optimizer], clip_norm=1.0,
        weight_average=0.0)), quiet_reporter())
    reports = metrics(out)
    assert reports[-1]["val_loss"] < reports[0]["val_loss"] - 0.1
    assert reports[-1]["train_loss"] < reports[0]["train_loss"] - 0.1
    document = load_checkpoint(out)
    assert document["train_config"]["optimizer"] == optimizer
    torch_class = getattr(torch.optim, OPTIMIZER_KINDS[optimizer].torch_class)
    assert set(document["optimizer_state"]["param_groups"][0]) >= set(
        torch_class([torch.nn.Parameter(torch.zeros(1))], lr=1.0).param_groups[0])


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_weight_decay_shrinks_each_weight_by_the_rate_times_it(optimizer: str) -> None:
    # Without a gradient, SGD's L2 term and AdamW's decoupled decay both shrink a weight by
    # rate × decay of itself; Adam's step of a zero gradient is zero.
    model = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    config = config_of(corpus="c.txt", optimizer=optimizer, learning_rate=0.5,
                       weight_decay=0.1, weight_average=0.0)
    optimizer_ = build_optimizer(config, model)
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer_.step()
    for old, new in zip(before, model.parameters()):
        assert torch.allclose(new, old * (1 - 0.5 * 0.1))


def test_init_range_draws_every_weight_uniformly_within_it() -> None:
    def built(**flags: Any) -> RNNLanguageModel:
        config = config_of(**tiny_flags(corpus="c.txt", **flags))
        return build_model(config, 50, None, Runtime(torch.device("cpu"), 1, amp=False), None)

    model = built(init_range=0.05, hidden_dim=64)
    for name, parameter in model.named_parameters():
        assert parameter.abs().max() <= 0.05, name
    every = torch.cat([p.detach().flatten() for p in model.parameters()])
    # Uniform: as many above a quarter of the range as below it, near the edges as in the middle.
    assert every.abs().max() > 0.0499
    assert abs(float((every.abs() < 0.025).float().mean()) - 0.5) < 0.02
    assert abs(float(every.mean())) < 0.001
    # 0: the layers' own initialisation (the embedding's is normal, with a spread of 1).
    assert float(built(hidden_dim=64).embedding.weight.detach().abs().max()) > 1.0


def test_embedding_init_range_draws_the_embedding_alone_uniformly_within_it() -> None:
    def built(**flags: Any) -> RNNLanguageModel:
        config = config_of(**tiny_flags(corpus="c.txt", hidden_dim=32, embedding_dim=32,
                                        tie_weights=True, **flags))
        return build_model(config, 200, None, Runtime(torch.device("cpu"), 1, amp=False), None)

    own, drawn = built(), built(embedding_init_range=0.1)
    embedding = drawn.embedding.weight.detach()
    assert 0.099 < float(embedding.abs().max()) <= 0.1
    assert abs(float((embedding.abs() < 0.05).float().mean()) - 0.5) < 0.05
    # The output layer is tied to it: its weights are the embedding's, drawn the same way.
    assert drawn.output.weight is drawn.embedding.weight
    # Every other weight is the layers' own, as without the setting.
    others = {name: p for name, p in own.named_parameters() if not name.startswith("embedding")}
    for name, parameter in drawn.named_parameters():
        if name in others:
            assert torch.equal(parameter, others[name]), name


def expected_switch(losses: list[float], nonmono: int) -> int | None:
    """NT-ASGD's rule, written out independently: the first report (counted from 1) whose loss
    is worse than the best of those before the last `nonmono` earlier ones."""
    for report in range(nonmono + 2, len(losses) + 1):
        earlier = losses[:report - 1 - nonmono]
        if losses[report - 1] > min(earlier):
            return report
    return None


def test_nt_asgd_switches_when_a_loss_is_worse_than_the_best_before_the_last_n() -> None:
    switch = NonMonotoneSwitch(nonmono=2)
    # Report 4 is worse than report 3 but not than the best before the last two (5.0), nor is 5
    # (best before the last two: 4.0); report 6 is worse than 3.0, the best before 3.5 and 2.9.
    losses = [5.0, 4.0, 3.0, 3.5, 2.9, 3.2, 2.95, 10.0]
    switched = [switch.observe(loss) for loss in losses]
    assert switched == [False] * 5 + [True, False, False]
    assert switch.switched_at == 6 == expected_switch(losses, 2)
    # Counting one more report back, 3.2 is no longer worse than the best before the last 3
    # (4.0), nor is 2.95 (3.0): 10.0 is.
    assert expected_switch(losses, 3) == 8
    late = NonMonotoneSwitch(nonmono=3)
    assert [late.observe(loss) for loss in losses].index(True) + 1 == 8
    restored = NonMonotoneSwitch(nonmono=2)
    restored.load_state_dict(switch.state_dict())
    assert restored.switched and not restored.observe(100.0)


def test_the_uniform_average_is_the_mean_of_the_weights_after_each_step_since_it_began(
) -> None:
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = torch.randint(0, 12, (3, 6), generator=torch.Generator().manual_seed(1))

    def step() -> None:
        optimizer.zero_grad()
        loss, _ = model.loss(ids[:, :-1], ids[:, 1:])
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()  # plain SGD before the switch
    average = UniformAverage(model)
    iterates = []
    for _ in range(5):
        step()
        average.update(model)
        iterates.append([p.detach().clone() for p in model.parameters()])
    for index, averaged in enumerate(average.model.parameters()):
        mean = torch.stack([weights[index] for weights in iterates]).mean(dim=0)
        assert torch.allclose(averaged, mean, atol=1e-6)
        assert not torch.allclose(averaged, iterates[-1][index], atol=1e-4)
    assert average.updates == 5


def test_nt_asgd_reports_and_saves_the_average_from_its_switch_on(tmp_path: Path) -> None:
    train = write_corpus(tmp_path / "train.txt")
    valid = write_corpus(tmp_path / "valid.txt", sentences=40, seed=3)
    out = tmp_path / "asgd.pt"
    config = config_of(**tiny_flags(corpus=str(train), valid=str(valid), out=str(out),
                                    **NT_ASGD))
    reports: list = []
    run_to_end(training_reports(config, quiet_reporter()), reports.append)
    losses = [report.val_loss for report in reports]
    switched_at = expected_switch(losses, 1)
    assert switched_at is not None and switched_at <= len(reports) - 2, losses
    checkpoint = read_checkpoint(out)
    assert checkpoint.nt_asgd is not None
    assert checkpoint.nt_asgd["switched_at"] == switched_at
    assert checkpoint.nt_asgd["losses"] == losses[:switched_at]
    assert checkpoint.weight_average is not None
    assert checkpoint.weight_average["updates"] == reports[-1].step - reports[switched_at - 1].step
    # The checkpoint's model is the average, and later commands measure what the last report did.
    model = charlm.load(out)
    assert model.evaluate_files([str(valid)]).summary.loss == pytest.approx(losses[-1], abs=1e-6)
    trained = checkpoint.weight_average["training_weights"]
    assert any(not torch.equal(trained[name], checkpoint.model_state[name]) for name in trained)


def test_info_shows_the_optimizer_and_the_schedule(tmp_path: Path, corpus_file: Path) -> None:
    out = tmp_path / "model.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), **NT_ASGD,
                                        lr_schedule="epochs", lr_decay=0.5, lr_keep_epochs=4)),
                 quiet_reporter())
    result = runner.invoke(app, ["info", str(out)])
    assert result.exit_code == 0, result.output
    switched = read_checkpoint(out).nt_asgd["switched_at"]  # type: ignore[index]
    assert "asgd (NT-ASGD, weight decay 0, nonmono 1): averaging since report " \
           f"{switched}" in result.stdout
    assert ("epochs: kept 4 epoch(s), then × 0.5 at the start of each later epoch"
            in result.stdout)
    described = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert described["optimizer"]["name"] == "asgd"
    assert described["schedule"]["name"] == "epochs"


TINY_ARGS = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
             "--samples", "0", "--device", "cpu"]


@pytest.mark.parametrize(("flags", "line"), [
    (["--optimizer", "adam", "--decay", "0.8"],
     "--decay is a setting of --optimizer rmsprop, and --optimizer adam does not take it: "
     "leave it out"),
    (["--optimizer", "sgd", "--epsilon", "0.1"],
     "--epsilon is a setting of --optimizer rmsprop, and --optimizer sgd does not take it"),
    (["--nonmono", "3"],
     "--nonmono is a setting of --optimizer asgd, and --optimizer rmsprop does not take it"),
    (["--lr-schedule", "epochs", "--patience", "3"],
     "--patience is a setting of --lr-schedule plateau, and --lr-schedule epochs does not "
     "take it: leave it out"),
    (["--lr-schedule", "best", "--lr-keep-epochs", "3"],
     "--lr-keep-epochs is a setting of --lr-schedule epochs, and --lr-schedule best does not "
     "take it"),
    (["--optimizer", "asgd"],
     "--optimizer asgd averages the weights uniformly from its switch on, and "
     "--weight-average 0.999 would average them a second way: give --weight-average 0 with it"),
    (["--optimizer", "sgd", "--learning-rate", "101"],
     "--learning-rate: 101.0 is too large; it must be at most 100"),
    (["--weight-decay", "-0.1"], "--weight-decay: -0.1 is too small; it must be at least 0"),
    (["--init-range", "-1"], "--init-range: -1.0 is too small; it must be at least 0"),
])
def test_settings_the_optimizer_or_schedule_does_not_take_are_refused_in_one_line(
    flags: list[str], line: str, corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.pt"
    result = runner.invoke(app, ["train", str(corpus_file), "-o", str(out), *TINY_ARGS, *flags])
    assert line in one_error_line(result, code=2)
    assert list(tmp_path.iterdir()) == [corpus_file]  # nothing written


def test_a_refusal_names_the_variable_that_gave_the_setting(corpus_file: Path) -> None:
    result = runner.invoke(app, ["train", str(corpus_file), *TINY_ARGS],
                           env={"CHARLM_OPTIMIZER": "adamw", "CHARLM_DECAY": "0.5"})
    assert ("CHARLM_DECAY is a setting of --optimizer rmsprop, and CHARLM_OPTIMIZER=adamw does "
            "not take it") in one_error_line(result, code=2)


def test_resume_keeps_the_optimizer_and_refuses_its_settings_it_does_not_take(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "adam.pt"
    run_training(config_of(**tiny_flags(corpus=str(corpus_file), out=str(out), epochs=1,
                                        optimizer="adam", learning_rate=0.01)), quiet_reporter())
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="--optimizer is 'sgd' here but 'adam' in the "
                                          "checkpoint"):
        run_training(config_of(corpus=str(corpus_file), resume=str(out), epochs=2,
                               optimizer="sgd"), quiet_reporter())
    # The checkpoint's optimiser is known once its settings are merged with the run's.
    with pytest.raises(ConfigError, match="--decay is a setting of --optimizer rmsprop, and "
                                          "--optimizer adam does not take it"):
        run_training(config_of(corpus=str(corpus_file), resume=str(out), epochs=2, decay=0.5),
                     quiet_reporter())
    with pytest.raises(ConfigError, match="--init-range sets a new model's first weights, and "
                                          "--init-from starts from the model's own"):
        run_training(config_of(corpus=str(corpus_file), init_from=str(out),
                               out=str(tmp_path / "tuned.pt"), init_range=0.1), quiet_reporter())
    with pytest.raises(ConfigError, match="--embedding-init-range sets a new model's first "
                                          "weights, and --init-from starts from the model's own"):
        run_training(config_of(corpus=str(corpus_file), init_from=str(out),
                               out=str(tmp_path / "tuned.pt"), embedding_init_range=0.1),
                     quiet_reporter())
    assert out.read_bytes() == before
    assert not (tmp_path / "tuned.pt").exists()
