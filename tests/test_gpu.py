"""On a CUDA GPU: training, mixed precision and resuming; a checkpoint saved there scores the
same on the CPU. Skipped without a GPU (the `gpu` marker)."""

from __future__ import annotations

import json
import math
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import torch
from helpers.training import Child, child_environment, config_of, free_port, quiet_reporter
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app
from charlm.training.build import build_run
from charlm.training.loop import batch_loss, train_step

pytestmark = pytest.mark.gpu

GPU_RUN = ["--embedding-dim", "8", "--hidden-dim", "16", "--vocabulary-size", "50",
           "--batch-size", "16", "--samples", "1", "--print-every", "190",
           "--learning-rate", "0.01"]


def train(corpus: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["train", str(corpus), "-o", str(out), *GPU_RUN, *args])
    assert result.exit_code == 0, result.output
    return result.output


def reports(checkpoint: Path) -> list[dict]:
    text = checkpoint.with_name(checkpoint.name + ".metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_auto_picks_the_gpu_and_its_checkpoint_scores_alike_on_the_cpu(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gpu.pt"
    output = train(corpus_file, out, "--epochs", "2", "--device", "auto")
    assert "parameters on cuda" in output
    losses = [r["val_loss"] for r in reports(out)]
    assert losses[-1] < losses[0]
    # Saved from the GPU, loaded onto the CPU: the same validation loss, to float32 precision.
    valid = tmp_path / "valid.txt"
    valid.write_text("Anna walked to the garden in the morning. Ben was happy at noon.\n")
    on_cpu = CliRunner().invoke(app, ["evaluate", str(out), str(valid), "--json",
                                      "--device", "cpu"])
    on_gpu = CliRunner().invoke(app, ["evaluate", str(out), str(valid), "--json",
                                      "--device", "cuda"])
    assert on_cpu.exit_code == on_gpu.exit_code == 0, on_cpu.output + on_gpu.output
    cpu_loss, gpu_loss = (json.loads(r.stdout)["loss"] for r in (on_cpu, on_gpu))
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-4)
    assert all(t.device.type == "cpu" for t in load_checkpoint(out)["model_state"].values())


def test_amp_on_the_gpu_learns_without_a_warning(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "amp.pt"
    output = train(corpus_file, out, "--epochs", "2", "--device", "cuda", "--amp")
    assert "bf16 autocast" not in output
    losses = [r["val_loss"] for r in reports(out)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]


def test_a_gpu_run_resumes_on_the_gpu(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed.pt"
    train(corpus_file, out, "--epochs", "1", "--device", "cuda")
    result = CliRunner().invoke(app, ["train", "--resume", str(out), "--epochs", "2",
                                      "--device", "cuda"])
    assert result.exit_code == 0, result.output
    assert "parameters on cuda" in result.output
    progress = load_checkpoint(out)["progress"]
    assert progress["epoch"] == 2
    assert len(progress["metrics"]) == len(reports(out)) >= 2


def test_a_gpu_runs_random_state_is_saved_and_resumed(corpus_file: Path, tmp_path: Path) -> None:
    # Dropout on the GPU draws from the GPU's generator: the checkpoint keeps its state, and a
    # resumed run continues from it rather than from the seed.
    out = tmp_path / "dropout.pt"
    train(corpus_file, out, "--epochs", "1", "--device", "cuda", "--dropout", "0.3")
    [saved] = load_checkpoint(out)["rng_states"]
    device = torch.device("cuda")
    torch.manual_seed(1234)
    assert not torch.equal(saved["cuda"], torch.cuda.get_rng_state(device))
    config = config_of(corpus=str(corpus_file), resume=str(out), epochs=2, device="cuda")
    with ExitStack() as held:
        build_run(config, quiet_reporter(), held)
        assert torch.equal(torch.cuda.get_rng_state(device), saved["cuda"])
        assert torch.equal(torch.get_rng_state(), saved["cpu"])


@pytest.mark.parametrize("context", ["document", "sentence"])
def test_a_training_steps_loss_never_waits_for_the_gpu(corpus_file: Path, tmp_path: Path,
                                                       context: str) -> None:
    # The host queues a step's forward and runs ahead to prepare the next batch; an operation
    # whose result size depends on the data (boolean-mask indexing, .item()) would make it wait
    # for the device on every step. (The backward pass is PyTorch's own; benchmarks/
    # gpu_figures.py --parts syncs lists whatever waits in the whole step.)
    config = config_of(corpus=str(corpus_file), out=str(tmp_path / "sync.pt"), device="cuda",
                       context=context, batch_size=4, embedding_dim=8, hidden_dim=16,
                       vocabulary_size=50, samples=0)
    with ExitStack() as held:
        run = build_run(config, quiet_reporter(), held)
        run.model.train()
        epoch = run.epoch_batches(0)
        assert epoch.count >= 4
        # cuDNN and the caching allocators set up first
        first = epoch.batch(0)
        train_step(run, first, first.tokens)
        torch.cuda.set_sync_debug_mode("error")
        try:
            losses = [batch_loss(run, epoch.batch(index))[0] for index in (1, 2, 3)]
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert all(0 < float(loss.detach()) < math.inf for loss in losses)


def test_more_torchrun_ranks_than_gpus_end_in_one_line_not_in_nccl(corpus_file: Path,
                                                                  tmp_path: Path) -> None:
    ranks = torch.cuda.device_count() + 1  # the last rank shares GPU 0 with rank 0
    # torchrun ends the other ranks once one has failed; a long monitor interval lets each
    # rank say why it stopped first.
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={ranks}",
               "--monitor-interval=5", f"--master_port={free_port()}", "-m", "charlm", "train",
               str(corpus_file), "-o", str(tmp_path / "shared.pt"), *GPU_RUN, "--device", "cuda"]
    with Child(command, child_environment(), cwd=tmp_path) as child:
        assert child.finish(300.0) == 1, child.stdout + child.stderr
    line = f"Error: torchrun ranks 0 and {ranks - 1} would both train on one GPU ("
    assert child.stderr.count(line) == ranks, child.stderr
    assert "NCCL" not in child.stderr.replace("(NCCL refuses two ranks on one)", "")
    assert not (tmp_path / "shared.pt").exists()
