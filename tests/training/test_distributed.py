"""Training across processes with torchrun (two CPU ranks over gloo), and the device helpers."""

import json
import os
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.interrupting import temporaries
from helpers.resuming import SignalAfter
from helpers.training import (
    ROOT,
    Child,
    child_environment,
    config_of,
    free_port,
    quiet_reporter,
    rank_run_flags,
    tiny_flags,
)
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.checkpoint.trained import load_trained
from charlm.cli import app
from charlm.data.batches import epoch_order, make_batch, sentence_epoch
from charlm.data.types import EncodedSentences, offsets_of
from charlm.devices import shared_gpu_problem
from charlm.errors import CorpusError
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.training.build import build_run
from charlm.training.loop import run_training
from charlm.training.progress import Progress
from charlm.training.ranks import Ranks
from charlm.training.resume import batches_left_problem
from charlm.training.runtime import Runtime
from charlm.training.signals import Interrupted

# On the CPU, whatever the machine has: two ranks on gloo must not share one GPU.
ARGS = ["--epochs", "4", "--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
        "--batch-size", "16", "--print-every", "100000", "--samples", "1", "--threads", "1",
        "--learning-rate", "0.003", "--device", "cpu", "--force"]
TORCHRUN_S = 300.0


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
            f"--master_port={free_port()}", *args]


def without(args: list[str], *flags: str) -> list[str]:
    """`args` less the given flags and their values."""
    kept: list[str] = []
    for flag, value in zip(args[0::2], args[1::2]):
        if flag not in flags:
            kept += [flag, value]
    return kept


def children_of(pid: int) -> list[int]:
    """The processes `pid` started (torchrun's ranks), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(stat.parent.name))
    return children


def assert_same_training(first: Path, second: Path) -> None:
    """The same average in the checkpoint, the same weights to train on, the same reports."""
    a, b = load_checkpoint(first), load_checkpoint(second)
    for expected, got in ((a["model_state"], b["model_state"]),
                          (a["weight_average"]["training_weights"],
                           b["weight_average"]["training_weights"])):
        assert expected.keys() == got.keys()
        for name, weights in expected.items():
            assert torch.equal(weights, got[name]), name
    assert val_losses(first) == val_losses(second)


def val_losses(checkpoint: Path) -> list[float]:
    lines = Path(f"{checkpoint}.metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["val_loss"] for line in lines]


def test_each_rank_takes_a_disjoint_equal_share_of_the_batches() -> None:
    steps = [Ranks(rank=r, world_size=3).step_starts(0, 11) for r in range(3)]
    assert steps[0] == steps[1] == steps[2]  # every rank computes the same plan
    taken = [first + r for r in range(3) for first in steps[r]]
    assert sorted(taken) == list(range(9))  # disjoint; 11 % 3 left for another epoch's order
    assert Ranks(rank=0, world_size=3).usable_batches(11) == 9
    assert list(Ranks().step_starts(0, 11)) == list(range(11))
    assert list(Ranks(rank=1, world_size=3).step_starts(3, 11)) == [3, 6]  # resumed at batch 3


@pytest.mark.parametrize(("world", "first", "count"),
                         [(3, 0, 11), (3, 5, 10), (2, 5, 24), (4, 1, 9), (2, 0, 2), (1, 7, 8)])
def test_an_epoch_resumed_with_another_number_of_ranks_shares_out_its_batches_left(
    world: int, first: int, count: int
) -> None:
    """Sentence context: a run stopped inside an epoch goes on with any number of ranks, from
    the batch where it stopped; its last step, whatever the batches left, ends the epoch."""
    ranks = Ranks(world_size=world)
    end = ranks.epoch_end(first, count)
    steps = list(ranks.step_starts(first, count))
    taken = [step + rank for step in steps for rank in range(world)]
    assert taken == list(range(first, end))  # each batch left once, none twice
    assert 0 <= count - end < world  # fewer batches than ranks wait for another epoch
    progress = Progress(batch_in_epoch=first)
    ended = [progress.advance(1, 1, world, end) for _ in steps]
    assert ended == [False] * (len(steps) - 1) + [True]
    assert progress.epoch == 1 and progress.batch_in_epoch == 0


def test_an_epoch_of_fewer_batches_than_ranks_is_refused() -> None:
    """Each rank takes a batch of its own each step: an epoch needs a batch for every rank."""
    lengths = np.full(40, 3)
    sentences = EncodedSentences(np.ones(120, dtype=np.int64), offsets_of(lengths))
    with pytest.raises(CorpusError) as refused:
        sentence_epoch(sentences, batch_size=16, seed=1, epoch=0, world=4)
    assert str(refused.value) == (
        "the training text has 40 sentences, 3 batch(es) of --batch-size 16, fewer than the 4 "
        "ranks a step trains on side by side; lower --batch-size to 10 or start fewer ranks")
    assert sentence_epoch(sentences, batch_size=10, seed=1, epoch=0, world=4).count == 4
    with pytest.raises(CorpusError, match="the training text has 3 sentences, 3 batch.* start at "
                                          "most 3 ranks or give a longer corpus"):
        sentence_epoch(sentences.subset(np.arange(3)), batch_size=1, seed=1, epoch=0, world=4)


def test_a_resumed_epoch_with_fewer_batches_left_than_ranks_is_refused() -> None:
    assert batches_left_problem("m.pt", first=6, count=10, ranks=Ranks(world_size=4)) is None
    assert batches_left_problem("m.pt", first=7, count=10, ranks=Ranks(world_size=4)) == (
        "m.pt stopped 3 batch(es) before the end of its epoch, fewer than the 4 ranks of this run "
        "(a step takes one for each): resume it with at most 3 ranks")


@pytest.mark.slow
def test_two_cpu_ranks_train_like_one_process(tmp_path: Path, corpus_file: Path) -> None:
    single = tmp_path / "single.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(single), *ARGS])
    assert result.exit_code == 0, result.output

    ranked = tmp_path / "ranked.pt"
    command = torchrun("-m", "charlm", "train", str(corpus_file), "-o", str(ranked), *ARGS)
    with Child(command, child_environment(), cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    # Only rank 0 reports: one configuration line, one report per epoch.
    assert child.stdout.count("configuration:") == 1
    assert "torchrun: 2 ranks on cpu" in child.stdout
    assert child.stdout.count("saved checkpoint") == 4

    trained = load_trained(ranked)
    assert trained.checkpoint.progress["epoch"] == 4
    # Every training sentence is seen once per epoch, across the two ranks together.
    assert trained.checkpoint.progress["examples"] == (
        load_trained(single).checkpoint.progress["examples"])

    # Each step of two ranks averages two batches, so 4 epochs take the steps of 2 epochs alone:
    # the loss must fall as the single process's does over the same number of steps.
    alone, together = val_losses(single), val_losses(ranked)
    assert together[-1] < together[0] - 0.2
    assert abs(together[-1] - alone[1]) < 0.15, (alone, together)


@pytest.mark.slow
def test_a_refusal_on_rank_0_ends_every_rank_with_its_line(tmp_path: Path,
                                                          corpus_file: Path) -> None:
    out = tmp_path / "kept.pt"
    out.write_bytes(b"a file this run must not overwrite")
    flags = [flag for flag in ARGS if flag != "--force"]
    command = torchrun("-m", "charlm", "train", str(corpus_file), "-o", str(out), *flags)
    with Child(command, child_environment(), cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 1, child.stdout + child.stderr
    line = (f"Error: {out} exists and is not a charlm checkpoint; it is never replaced, not even "
            "with --force: move it away or choose another --out")
    # Rank 0 checks the output path alone; the other rank ends with the same line, not with a
    # traceback from the collective that rank 0 left.
    assert child.stderr.count(line) == 2, child.stderr
    assert "[rank1]" not in child.stderr
    assert out.read_bytes() == b"a file this run must not overwrite"


def averaged_steps_in_one_process(corpus_file: Path, tmp_path: Path, softmax: str
                                  ) -> tuple[dict[str, torch.Tensor], bool]:
    """The two-rank run replayed in one process: each step takes the next two batches of the
    epoch's order, averages their gradients, each of its summed loss over the step's tokens per
    rank (so the step descends the mean over both batches' tokens), and makes one RMSprop step.
    Also whether some batch had no target in one of the adaptive softmax's clusters."""
    config = config_of(**rank_run_flags(str(corpus_file), tmp_path / "reference.pt", softmax))
    with ExitStack() as held:
        run = build_run(config, quiet_reporter(), held)
    model, optimizer = run.model, run.optimizer
    batches = epoch_order(run.train_set.lengths, config.batch_size, config.seed, 0)
    assert len(batches) == 24
    bounds = [*model.config.cutoffs, model.config.vocab_size]
    cluster_missed = False
    for pair in zip(batches[0::2], batches[1::2]):
        gradients = []
        step = [make_batch(run.train_set, indices) for indices in pair]
        tokens_per_rank = sum(batch.tokens for batch in step) / len(step)
        for batch in step:
            model.zero_grad(set_to_none=True)
            loss_sum, _ = model.loss(batch.inputs, batch.targets)
            (loss_sum / tokens_per_rank).backward()
            gradients.append([parameter.grad.clone() for parameter in model.parameters()])
            cluster_missed |= any(not ((batch.targets >= low) & (batch.targets < high)).any()
                                  for low, high in zip(bounds, bounds[1:]))
        for parameter, first, second in zip(model.parameters(), *gradients):
            parameter.grad = (first + second) / 2
        optimizer.step()
    return model.state_dict(), cluster_missed


@pytest.mark.slow
@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_two_ranks_step_together_on_the_average_of_their_gradients(
    tmp_path: Path, corpus_file: Path, softmax: str
) -> None:
    worker = ROOT / "tests" / "helpers" / "rank_weights.py"
    with Child(torchrun(str(worker), str(corpus_file), str(tmp_path), softmax),
               child_environment(), cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    reference, cluster_missed = averaged_steps_in_one_process(corpus_file, tmp_path, softmax)
    if softmax == "adaptive":
        # A step in which a rank has no target in some cluster is the case to prove.
        assert cluster_missed
    assert ranks[0].keys() == reference.keys()
    for name, weights in ranks[0].items():
        # The ranks hold the same model, bit for bit ...
        assert torch.equal(weights, ranks[1][name]), name
        # ... the one that the averaged gradients of each step's two batches make.
        torch.testing.assert_close(weights, reference[name], rtol=1e-5, atol=1e-6,
                                   msg=lambda message, name=name: f"{name}: {message}")


def test_amp_on_cpu_warns_and_learns(tmp_path: Path, corpus_file: Path) -> None:
    out = tmp_path / "amp.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(out), "--amp",
                                      *ARGS[:-1], "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "--amp on a CPU runs bf16 autocast" in result.output
    losses = val_losses(out)
    assert losses[-1] < losses[0]


def test_bf16_loss_is_close_to_float32() -> None:
    torch.manual_seed(0)
    model = RNNLanguageModel(ModelConfig(vocab_size=30, embedding_dim=8, hidden_dim=16))
    inputs = torch.randint(0, 30, (4, 7))
    targets = torch.randint(0, 30, (4, 7))
    targets[0, 5:] = -100
    device = torch.device("cpu")
    with torch.no_grad():
        full, _, _ = Runtime(device, 1, amp=False).loss_module(model)(inputs, targets)
        half, _, _ = Runtime(device, 1, amp=True).loss_module(model)(inputs, targets)
    assert half.dtype == torch.float32
    assert abs(float(half) - float(full)) < 0.02 * float(full)


def test_two_ranks_on_one_gpu_are_refused_with_what_to_do() -> None:
    # NCCL refuses two ranks on one GPU only inside its first collective, with a traceback;
    # every rank refuses before it (tests/test_gpu.py runs it under torchrun on a GPU).
    line = shared_gpu_problem([("a", "GPU-0"), ("a", "GPU-1"), ("b", "GPU-2"), ("a", "GPU-1")])
    assert line is not None
    assert line.startswith("torchrun ranks 1 and 3 would both train on one GPU (GPU-1 of a):")
    assert "--nproc-per-node" in line and "--device cpu" in line
    assert shared_gpu_problem([("a", "GPU-0"), ("a", "GPU-1"), ("b", "GPU-0")]) is None


def test_cpu_batches_stay_where_they_are() -> None:
    batch = torch.arange(6).reshape(2, 3)
    assert Runtime(torch.device("cpu"), 1, amp=False).to_device(batch) is batch


@pytest.mark.slow
def test_a_rate_decayed_on_rank_0_reaches_every_rank(tmp_path: Path, corpus_file: Path) -> None:
    # A report at every step, each window one report long, and a rate high enough for the
    # validation loss to rise: rank 0's schedule decays the rate early in the epoch.
    worker = ROOT / "tests" / "helpers" / "rank_weights.py"
    command = torchrun(str(worker), str(corpus_file), str(tmp_path), "full", "lr_decay=0.5",
                       "patience=1", "print_every=32", "learning_rate=0.2")
    with Child(command, child_environment(), cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    lines = (tmp_path / "ranked.pt.metrics.jsonl").read_text().splitlines()
    rates = [json.loads(line)["lr"] for line in lines]
    assert rates[0] == 0.2 and rates[-1] < 0.2, rates  # steps were trained at a decayed rate
    checkpoint = load_checkpoint(tmp_path / "ranked.pt")
    reductions = checkpoint["lr_schedule"]["reductions"]
    assert reductions >= 1
    assert checkpoint["optimizer_state"]["param_groups"][0]["lr"] == 0.2 * 0.5**reductions
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, weights in ranks[0].items():
        assert torch.equal(weights, ranks[1][name]), name  # every rank stepped at that rate


# Each rank draws its own dropout masks, from a random state of its own: a resumed run repeats
# the uninterrupted run's masks only if every rank's state was saved and restored. One report
# per epoch, so a run of one epoch reports where a run of two does.
DROPOUT_RUN = [*without(ARGS, "--epochs"), "--epochs", "2", "--dropout", "0.3"]
# Every regulariser: masks locked for a window, words dropped, weight drop on the fused layers.
REGULARISED_RUN = [*without(DROPOUT_RUN, "--dropout"), "--cell", "lstm", "--dropout-input", "0.3",
                   "--dropout-hidden", "0.25", "--dropout-output", "0.4", "--dropout-embedding",
                   "0.1", "--weight-drop", "0.5", "--ar", "2", "--tar", "1"]


@pytest.mark.slow
@pytest.mark.parametrize("flags", [DROPOUT_RUN, REGULARISED_RUN], ids=["dropout", "regularised"])
def test_two_ranks_with_dropout_resume_bit_exact(tmp_path: Path, corpus_file: Path,
                                                 flags: list[str]) -> None:
    whole, parts = tmp_path / "whole.pt", tmp_path / "parts.pt"
    runs = [["-o", str(whole), *flags],
            ["-o", str(parts), *without(flags, "--epochs"), "--epochs", "1"],
            ["--resume", str(parts), "--epochs", "2"]]
    for run in runs:
        with Child(torchrun("-m", "charlm", "train", str(corpus_file), *run),
                   child_environment(), cwd=tmp_path) as child:
            assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    assert "resuming" in child.stdout
    assert len(load_checkpoint(parts)["rng_states"]) == 2
    assert_same_training(whole, parts)


# NT-ASGD at a rate whose validation loss stops falling within the first epoch, four reports an
# epoch (the last at its end, so a run of one epoch reports where a run of two does), and the rate
# halved at the start of each epoch: every rank decides the epoch's rate alike, rank 0 alone the
# switch, and a run resumed at the epoch's end goes on with both.
NT_ASGD_RUN = [*without(ARGS, "--epochs", "--print-every", "--learning-rate"), "--epochs", "2",
               "--print-every", "95", "--context", "sentence", "--optimizer", "asgd",
               "--nonmono", "1", "--weight-average", "0", "--learning-rate", "8",
               "--lr-schedule", "epochs", "--lr-decay", "0.5"]


@pytest.mark.slow
def test_two_ranks_with_nt_asgd_and_the_epochs_schedule_resume_bit_exact(
    tmp_path: Path, corpus_file: Path
) -> None:
    whole, parts = tmp_path / "whole.pt", tmp_path / "parts.pt"
    runs = [["-o", str(whole), *NT_ASGD_RUN],
            ["-o", str(parts), *without(NT_ASGD_RUN, "--epochs"), "--epochs", "1"],
            ["--resume", str(parts), "--epochs", "2"]]
    for run in runs:
        with Child(torchrun("-m", "charlm", "train", str(corpus_file), *run),
                   child_environment(), cwd=tmp_path) as child:
            assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    document = load_checkpoint(whole)
    switched_at = document["nt_asgd"]["switched_at"]
    assert switched_at is not None and switched_at < len(val_losses(parts)) / 2
    assert document["optimizer_state"]["param_groups"][0]["lr"] == 8 * 0.5**2
    assert_same_training(whole, parts)
    assert document["nt_asgd"] == load_checkpoint(parts)["nt_asgd"]


@pytest.mark.slow
def test_every_rank_trains_at_the_rate_of_the_epochs_schedule(tmp_path: Path,
                                                               corpus_file: Path) -> None:
    worker = ROOT / "tests" / "helpers" / "rank_weights.py"
    command = torchrun(str(worker), str(corpus_file), str(tmp_path), "full", "epochs=2",
                       'lr_schedule="epochs"', "lr_decay=0.5", "learning_rate=0.01")
    with Child(command, child_environment(), cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, weights in ranks[0].items():
        assert torch.equal(weights, ranks[1][name]), name
    rates = [json.loads(line)["lr"] for line in
             (tmp_path / "ranked.pt.metrics.jsonl").read_text().splitlines()]
    assert rates == [0.005, 0.0025]


@pytest.mark.slow
@pytest.mark.parametrize("context", [["--context", "sentence"],
                                     ["--context", "document", "--bptt", "10"]],
                         ids=["sentence", "document"])
def test_two_ranks_with_dropout_stopped_by_a_signal_resume_bit_exact(
    tmp_path: Path, corpus_file: Path, context: list[str]
) -> None:
    whole, parts = tmp_path / "whole.pt", tmp_path / "parts.pt"
    flags = [*without(DROPOUT_RUN, "--print-every"), "--print-every", "64", *context]
    with Child(torchrun("-m", "charlm", "train", str(corpus_file), "-o", str(whole), *flags),
               child_environment(), cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    # Every save pauses a second before its rename: the ranks receive the signal during the
    # first, and stop after the next step, in the middle of the first epoch.
    paused = str(ROOT / "tests" / "helpers" / "paused_saves.py")
    command = torchrun(paused, "train", str(corpus_file), "-o", str(parts), *flags)
    with Child(command, child_environment({"PAUSED_SAVES_S": "1"}), cwd=tmp_path) as child:
        child.wait_until(lambda: bool(temporaries(parts)), "the first save")
        ranks = children_of(child.pid)
        assert len(ranks) == 2
        for rank in ranks:
            os.kill(rank, signal.SIGINT)
        child.finish(TORCHRUN_S)  # torchrun fails a run whose ranks exit 130
    assert child.stderr.count("Stopped: SIGINT received: finished step") == 2, child.stderr
    progress = load_checkpoint(parts)["progress"]
    assert progress["epoch"] == 0 and progress["steps"] > progress["reports"]
    if "document" in context:  # each rank's rows carry their own state into their next window
        assert [len(state) for state in load_checkpoint(parts)["stream_states"]] == [1, 1]
    with Child(torchrun("-m", "charlm", "train", "--resume", str(parts)), child_environment(),
               cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    assert_same_training(whole, parts)


@pytest.mark.slow
def test_a_sentence_run_stopped_inside_an_epoch_resumes_with_more_ranks(
    tmp_path: Path, corpus_file: Path
) -> None:
    """Two ranks go on from the batch where one process stopped, share out the batches left
    (an odd number: the last waits for another epoch), and end the epoch."""
    stopped = tmp_path / "stopped.pt"
    flags = tiny_flags(corpus=str(corpus_file), out=str(stopped), epochs=1,
                       print_every=100_000, context="sentence", threads=1)
    with ExitStack() as held:
        epoch = build_run(config_of(**{**flags, "out": str(tmp_path / "plan.pt")}),
                          quiet_reporter(), held).epoch_batches(0)
    with pytest.raises(Interrupted):
        run_training(config_of(**flags), SignalAfter(120))
    first = load_checkpoint(stopped)["progress"]["batch_in_epoch"]
    assert (epoch.count - first) % 2 == 1, (epoch.count, first)
    with Child(torchrun("-m", "charlm", "train", "--resume", str(stopped)), child_environment(),
               cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    progress = load_checkpoint(stopped)["progress"]
    assert (progress["epoch"], progress["batch_in_epoch"]) == (1, 0)
    assert progress["examples"] == epoch.sentences_before(epoch.count - 1)


@pytest.mark.slow
def test_two_ranks_of_running_text_step_as_one_process_of_their_rows(
    tmp_path: Path, corpus_file: Path
) -> None:
    # Each rank trains on its own rows of the same cut, and every rank's loss is a mean over
    # as many tokens: two ranks of 8 rows take the steps one process of 16 takes.
    document = [*without(ARGS, "--batch-size"), "--context", "document", "--bptt", "10"]
    single = tmp_path / "single.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(single), *document,
                                      "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    ranked = tmp_path / "ranked.pt"
    command = torchrun("-m", "charlm", "train", str(corpus_file), "-o", str(ranked), *document,
                       "--batch-size", "8")
    with Child(command, child_environment(), cwd=tmp_path) as child:
        assert child.finish(TORCHRUN_S) == 0, child.stdout + child.stderr
    alone, together = val_losses(single), val_losses(ranked)
    assert len(alone) == len(together) == 4
    np.testing.assert_allclose(together, alone, rtol=1e-4)
    assert load_checkpoint(ranked)["progress"]["tokens"] == (
        load_checkpoint(single)["progress"]["tokens"])
