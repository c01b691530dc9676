"""Training across processes with torchrun (two CPU ranks over gloo), and the device helpers."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from charlm.checkpoint.trained import load_trained
from charlm.cli import app
from charlm.model.network import ModelConfig, RNNLanguageModel
from charlm.training.ranks import Ranks
from charlm.training.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--epochs", "4", "--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
        "--batch-size", "16", "--print-every", "100000", "--samples", "1", "--threads", "1",
        "--learning-rate", "0.003", "--force"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def val_losses(checkpoint: Path) -> list[float]:
    lines = Path(f"{checkpoint}.metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["val_loss"] for line in lines]


def test_each_rank_takes_a_disjoint_equal_share_of_the_batches() -> None:
    batches = [np.array([i]) for i in range(11)]
    groups = [Ranks(rank=r, world_size=3).step_groups(batches) for r in range(3)]
    assert groups[0] == groups[1] == groups[2]  # every rank computes the same plan
    taken = [int(group[r][0]) for r in range(3) for group in groups[r]]
    assert sorted(taken) == list(range(9))  # disjoint; 11 % 3 left for another epoch's order
    assert Ranks(rank=0, world_size=3).usable_batches(11) == 9
    assert Ranks().step_groups(batches) == [[b] for b in batches]


def test_two_cpu_ranks_train_like_one_process(tmp_path: Path, corpus_file: Path) -> None:
    single = tmp_path / "single.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(single), *ARGS])
    assert result.exit_code == 0, result.output

    ranked = tmp_path / "ranked.pt"
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={free_port()}", "-m", "charlm", "train", str(corpus_file),
               "-o", str(ranked), *ARGS]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # Only rank 0 reports: one configuration line, one report per epoch.
    assert done.stdout.count("configuration:") == 1
    assert "torchrun: 2 ranks on cpu" in done.stdout
    assert done.stdout.count("saved checkpoint") == 4

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
        full = Runtime(device, 1, amp=False).loss_module(model)(inputs, targets)
        half = Runtime(device, 1, amp=True).loss_module(model)(inputs, targets)
    assert half.dtype == torch.float32
    assert abs(float(half) - float(full)) < 0.02 * float(full)


def test_cpu_batches_stay_where_they_are() -> None:
    batch = torch.arange(6).reshape(2, 3)
    assert Runtime(torch.device("cpu"), 1, amp=False).to_device(batch) is batch
