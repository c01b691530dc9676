"""Started as several tasks by a launcher other than torchrun (srun -n 4, mpirun -n 4), charlm
refuses, naming the torchrun command to use; one task of a batch job still trains."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from helpers.training import TINY, charlm_process
from typer.testing import CliRunner

from charlm.checkpoint.files import load_checkpoint
from charlm.cli import app

# What each launcher sets in the third of four tasks it starts.
SEPARATE_TASKS = {
    "srun": {"SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "2", "SLURM_JOB_ID": "77",
             "SLURM_NTASKS": "4"},
    "Open MPI": {"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2"},
    "MPICH": {"PMI_SIZE": "4", "PMI_RANK": "2"},
}


@pytest.mark.parametrize("launcher", list(SEPARATE_TASKS))
def test_separate_tasks_are_refused_with_the_torchrun_command(
    launcher: str, corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(out), *TINY],
                                env=SEPARATE_TASKS[launcher])
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: charlm train was started as 4 separate tasks")
    assert "torchrun --nproc_per_node=4 -m charlm train" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


def test_the_refusal_repeats_the_command_line_under_torchrun(
    corpus_file: Path, tmp_path: Path
) -> None:
    args = ["train", str(corpus_file), "-o", str(tmp_path / "model.pt"), "--epochs", "3", *TINY]
    with charlm_process(args, SEPARATE_TASKS["srun"]) as child:
        assert child.finish() == 1
    assert child.stderr.strip().splitlines()[-1].endswith(
        f"torchrun --nproc_per_node=4 -m charlm {shlex.join(args)}")


def test_one_task_of_a_batch_job_trains(corpus_file: Path, tmp_path: Path) -> None:
    # sbatch -n 4 runs its script once: no srun step, so no SLURM_STEP_NUM_TASKS.
    batch_job = {"SLURM_JOB_ID": "77", "SLURM_NTASKS": "4", "SLURM_NPROCS": "4",
                 "SLURM_PROCID": "0", "PMI_SIZE": "1"}
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, ["train", str(corpus_file), "-o", str(out), "--epochs", "1",
                                      *TINY], env=batch_job)
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out)["progress"]["epoch"] == 1
