"""The processes of one training run under torchrun: collectives and sharding, nothing else.

Launched by `torchrun`, every process (rank) trains a DistributedDataParallel replica: gloo on
CPUs, NCCL on GPUs. Rank 0 prepares the corpus (from the cache when it can) and sends it to the
others, so a corpus is prepared once, not once per rank, and no shared file system is needed
across machines. Each rank takes a disjoint share of every epoch's batches; all ranks compute the
same epoch order, so no batch lists are exchanged. Only rank 0 reports, samples and saves; what
its report decides (the learning rate, an early stop) reaches every rank at the same step, and
its checkpoint holds every rank's random state. Outside torchrun every method reduces to a plain
call in a single process.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import socket
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from charlm.data.prepare import PreparedCorpus
from charlm.data.types import EncodedSentences
from charlm.devices import shared_gpu_problem
from charlm.errors import CharlmError

# Ranks wait on rank 0 while it prepares a large corpus or validates: allow far more than the
# default 10 to 30 minutes before a collective operation counts as hung.
COLLECTIVE_TIMEOUT = timedelta(hours=3)

T = TypeVar("T")


# What other launchers set in each of several tasks they start: (variable of the task count,
# variable that must come with it, launcher). A batch script itself (`sbatch -n 4` without srun)
# is one task: Slurm sets SLURM_STEP_NUM_TASKS only in the steps srun starts.
TASK_LAUNCHERS = (
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "srun"),
    ("OMPI_COMM_WORLD_SIZE", None, "mpirun"),
    ("PMI_SIZE", None, "an MPI launcher"),
)


def launched_by_torchrun() -> bool:
    return ("RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ
            and int(os.environ["WORLD_SIZE"]) > 1)


def refuse_separate_tasks() -> None:
    """Refuse to run as one of several tasks that a launcher other than torchrun started: each
    would train alone, and all would write the same checkpoint and metrics file."""
    if "RANK" in os.environ:
        return
    for count_variable, companion, launcher in TASK_LAUNCHERS:
        value = os.environ.get(count_variable, "")
        tasks = int(value) if value.isdigit() else 1
        if tasks > 1 and (companion is None or companion in os.environ):
            raise CharlmError(
                f"charlm train was started as {tasks} separate tasks by {launcher} "
                f"({count_variable}={tasks}), which would each train alone and write the same "
                f"files; start one task that runs torchrun instead: torchrun "
                f"--nproc_per_node={tasks} -m charlm {_charlm_arguments()}"
            )


def _charlm_arguments() -> str:
    """The arguments this charlm was started with, for a command to run instead."""
    program = Path(sys.argv[0] if sys.argv else "")
    # The `charlm` script, or `python -m charlm` (charlm/__main__.py).
    if "charlm" in (program.name, program.parent.name) and len(sys.argv) > 1:
        return shlex.join(sys.argv[1:])
    return "train ..."


@dataclass
class Ranks:
    """This process's place in the run; a lone process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    # Corpus arrays and flags travel between CPUs over gloo even when gradients go over NCCL.
    cpu_group: Any = None

    @classmethod
    def from_environment(cls) -> Ranks:
        """The place torchrun gave this process (rank 0 of 1 outside torchrun)."""
        if not launched_by_torchrun():
            refuse_separate_tasks()
            return cls()
        return cls(rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]),
                   local_rank=int(os.environ.get("LOCAL_RANK", 0)),
                   local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", 1)))

    def join(self, device: torch.device) -> None:
        """Join the torchrun process group (nothing to join for a lone process)."""
        if not self.active:
            return
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
            atexit.register(_teardown)
        self.cpu_group = (dist.new_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT)
                          if dist.get_backend() != "gloo" else dist.group.WORLD)
        if device.type == "cuda":
            self._refuse_a_shared_gpu(device)
        if not self.is_main:
            # Warnings come once, from rank 0, not once per rank.
            warnings.simplefilter("ignore")

    def _refuse_a_shared_gpu(self, device: torch.device) -> None:
        # NCCL refuses two ranks on one GPU only inside its first collective, with a traceback
        # on each rank. Every rank gathers the same places, so every rank refuses alike.
        properties = torch.cuda.get_device_properties(device)
        place = (socket.gethostname(), str(getattr(properties, "uuid", device)))
        places: list[Any] = [None] * self.world_size
        dist.all_gather_object(places, place, group=self.cpu_group)
        problem = shared_gpu_problem(places)
        if problem:
            raise CharlmError(problem)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier(group=self.cpu_group)

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """The module that the step calls: wrapped in DDP, which averages gradients, when the run
        has several ranks."""
        if not self.active:
            return module
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def usable_batches(self, count: int) -> int:
        """Batches an epoch can use: every rank must take the same number of steps, so the last
        `count % world_size` batches (different ones each epoch) are left out."""
        return count - count % self.world_size

    def epoch_end(self, first: int, count: int) -> int:
        """Where an epoch of `count` batches ends when its steps start at batch `first` (0, or
        where a run stopped, perhaps with another number of ranks): after the last step that
        finds a batch for every rank. The few left over wait for another epoch's order."""
        return first + self.usable_batches(max(count - first, 0))

    def step_starts(self, first: int, count: int) -> range:
        """Where each step starts among an epoch's `count` batches, from batch `first` on: a
        step takes `world_size` batches, and rank r trains on the r-th."""
        return range(first, self.epoch_end(first, count), self.world_size)

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """The sum over ranks of a tensor on this rank's device."""
        if self.active:
            value = value.clone()
            dist.all_reduce(value)
        return value

    def any(self, flag: bool) -> bool:
        """Whether `flag` is set on any rank (a collective call: every rank must make it)."""
        if not self.active:
            return flag
        value = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.cpu_group)
        return bool(value.item())

    def from_other_ranks(self, value: T) -> list[T]:
        """On rank 0, the `value` of every other rank, in rank order; [] elsewhere (a collective
        call: every rank must make it)."""
        if not self.active:
            return []
        gathered: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(value, gathered, dst=0, group=self.cpu_group)
        return gathered[1:] if gathered is not None else []

    def decided_by_main(self, decide: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `decide` on rank 0 alone; every rank gets the decision it returns (a JSON
        object), at the same step. An error it raises stops every rank with the same one-line
        message."""
        if not self.active:
            return decide()
        if not self.is_main:
            return self._receive()
        decision = self._send_outcome(decide)
        self._broadcast(json.dumps(decision).encode())
        return decision

    def main_only(self, action: Callable[[], T]) -> T | None:
        """Run `action` on rank 0 alone (None on the others). An error it raises stops every
        rank with the same one-line message."""
        if not self.active:
            return action()
        if not self.is_main:
            self._receive()
            return None
        result = self._send_outcome(action)
        self._broadcast(b"{}")
        return result

    def share_corpus(self, prepare: Callable[[], PreparedCorpus]) -> PreparedCorpus:
        """Rank 0 prepares the corpus; every rank gets it. An error on rank 0 stops every rank."""
        if not self.active:
            return prepare()
        if not self.is_main:
            metadata = self._receive()
            ids = np.frombuffer(self._broadcast(None), dtype=np.dtype(metadata["ids_dtype"]))
            offsets = np.frombuffer(self._broadcast(None), dtype=np.int64)
            documents = np.frombuffer(self._broadcast(None), dtype=np.int64)
            return PreparedCorpus.from_metadata(metadata,
                                                EncodedSentences(ids, offsets, documents))
        corpus = self._send_outcome(prepare)
        self._broadcast(json.dumps(corpus.metadata()).encode())
        self._broadcast(np.ascontiguousarray(corpus.sentences.ids).tobytes())
        self._broadcast(np.ascontiguousarray(corpus.sentences.offsets).tobytes())
        self._broadcast(np.ascontiguousarray(corpus.sentences.documents).tobytes())
        return corpus

    def _send_outcome(self, action: Callable[[], T]) -> T:
        """On rank 0: run `action`; if it fails, tell the ranks waiting in `_receive` why."""
        try:
            return action()
        except CharlmError as error:
            self._broadcast(json.dumps({"error": str(error)}).encode())
            raise

    def _receive(self) -> dict[str, Any]:
        """On the other ranks: rank 0's next message, or its error raised here."""
        message = json.loads(self._broadcast(None))
        if "error" in message:
            raise CharlmError(message["error"])
        return message

    def _broadcast(self, payload: bytes | None) -> bytes:
        """Rank 0's bytes, on every rank."""
        size = torch.tensor([len(payload) if payload is not None else 0], dtype=torch.int64)
        dist.broadcast(size, src=0, group=self.cpu_group)
        if self.is_main:
            assert payload is not None
            buffer = (torch.frombuffer(bytearray(payload), dtype=torch.uint8) if payload
                      else torch.empty(0, dtype=torch.uint8))
        else:
            buffer = torch.empty(int(size.item()), dtype=torch.uint8)
        if buffer.numel():
            dist.broadcast(buffer, src=0, group=self.cpu_group)
        return payload if self.is_main and payload is not None else buffer.numpy().tobytes()


def _teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def end_rank_process(code: int | str | None) -> None:
    """End a torchrun rank's process with exit status `code`, skipping interpreter shutdown;
    return at once in any other process.

    Gloo's worker threads outlive the process group (DistributedDataParallel keeps it alive) and
    release a finished collective's tensors a moment after it returns. One that does so while
    the interpreter shuts down aborts the process, and torchrun then fails a run that finished.
    The command has closed its files by now, so only the standard streams need flushing."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if isinstance(code, str):
        print(code, file=sys.stderr)
    _teardown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
