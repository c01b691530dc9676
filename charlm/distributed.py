"""Running one training across processes with torchrun, and the device-side details of a step.

Launched by `torchrun`, every process (rank) trains a DistributedDataParallel replica: gloo on
CPUs, NCCL on GPUs. Rank 0 prepares the corpus (from the cache when it can) and sends it to the
others, so a corpus is prepared once, not once per rank, and no shared file system is needed
across machines. Each rank takes a disjoint share of every epoch's batches; all ranks compute the
same epoch order, so no batch lists are exchanged. Only rank 0 reports, samples and saves.
Outside torchrun all of this reduces to a single process and plain calls.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from charlm.corpus import CorpusStats
from charlm.errors import CharlmError
from charlm.prepare import EncodedSentences, PreparedCorpus
from charlm.tokenizer import Tokenizer, TokenizerSettings
from charlm.vocab import Vocabulary, VocabularyStats

# Ranks wait on rank 0 while it prepares a large corpus or validates: allow far more than the
# default 10 to 30 minutes before a collective operation counts as hung.
COLLECTIVE_TIMEOUT = timedelta(hours=3)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run; a lone process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


_object_group: Any = None


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """The training device for `--device`; under torchrun each GPU rank takes its own GPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise CharlmError("--device cuda was asked for but no CUDA GPU is available; use "
                          "--device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def setup(device_name: str) -> tuple[Ranks, torch.device]:
    """Join the torchrun process group when launched by torchrun; pick this rank's device."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return Ranks(), pick_device(device_name)
    ranks = Ranks(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", 1)),
    )
    device = pick_device(device_name, ranks.local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
        atexit.register(teardown)
    global _object_group
    # Corpus arrays travel between CPUs over gloo even when gradients go over NCCL.
    _object_group = (dist.new_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT)
                     if dist.get_backend() != "gloo" else dist.group.WORLD)
    return ranks, device


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def configure_cpu(threads: int, ranks: Ranks) -> int:
    """Set the CPU threads of this process and return the count.

    0 shares the machine's cores among the ranks on it: ranks that each take every core fight
    for them, and OpenMP threads that wait on a busy core stall the whole step.
    """
    if threads <= 0:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        threads = max(1, (cores or os.cpu_count() or 1) // ranks.local_world_size)
    torch.set_num_threads(threads)
    # Denormal floats are slow on x86 and make no difference to learning.
    torch.set_flush_denormal(True)
    return threads


def barrier(ranks: Ranks) -> None:
    if ranks.active:
        dist.barrier(group=_object_group)


def _broadcast_bytes(payload: bytes | None, ranks: Ranks) -> bytes:
    """Rank 0's bytes, on every rank."""
    size = torch.tensor([len(payload) if payload is not None else 0], dtype=torch.int64)
    dist.broadcast(size, src=0, group=_object_group)
    if ranks.is_main:
        assert payload is not None
        buffer = torch.frombuffer(bytearray(payload), dtype=torch.uint8) if payload else (
            torch.empty(0, dtype=torch.uint8))
    else:
        buffer = torch.empty(int(size.item()), dtype=torch.uint8)
    if buffer.numel():
        dist.broadcast(buffer, src=0, group=_object_group)
    return payload if ranks.is_main and payload is not None else buffer.numpy().tobytes()


def _array_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


def share_corpus(ranks: Ranks, prepare: Callable[[], PreparedCorpus]) -> PreparedCorpus:
    """Rank 0 prepares the corpus; every rank gets it. An error on rank 0 stops every rank."""
    if not ranks.active:
        return prepare()
    corpus: PreparedCorpus | None = None
    header: dict[str, Any]
    if ranks.is_main:
        try:
            corpus = prepare()
        except CharlmError as error:
            _broadcast_bytes(json.dumps({"error": str(error)}).encode(), ranks)
            raise
        header = {
            "vocabulary": corpus.vocabulary.words,
            "vocabulary_stats": asdict(corpus.vocabulary_stats),
            "tokenizer": corpus.tokenizer.settings.to_dict(),
            "corpus_stats": asdict(corpus.corpus_stats),
            "ids_dtype": str(corpus.sentences.ids.dtype),
            "dropped_long": corpus.tokenizer.dropped_long,
        }
        _broadcast_bytes(json.dumps(header).encode(), ranks)
        _broadcast_bytes(_array_bytes(corpus.sentences.ids), ranks)
        _broadcast_bytes(_array_bytes(corpus.sentences.offsets), ranks)
        return corpus
    header = json.loads(_broadcast_bytes(None, ranks))
    if "error" in header:
        raise CharlmError(header["error"])
    ids = np.frombuffer(_broadcast_bytes(None, ranks), dtype=np.dtype(header["ids_dtype"]))
    offsets = np.frombuffer(_broadcast_bytes(None, ranks), dtype=np.int64)
    tokenizer = Tokenizer(TokenizerSettings.from_dict(header["tokenizer"]))
    tokenizer.dropped_long = header["dropped_long"]
    return PreparedCorpus(
        EncodedSentences(ids, offsets),
        Vocabulary(header["vocabulary"]),
        VocabularyStats(**header["vocabulary_stats"]),
        tokenizer,
        CorpusStats(**header["corpus_stats"]),
    )


def usable_batches(count: int, ranks: Ranks) -> int:
    """Batches an epoch can use: every rank must take the same number of steps, so the last
    `count % world_size` batches (different ones each epoch) are left out."""
    return count - count % ranks.world_size


def step_groups(batches: Sequence[np.ndarray], ranks: Ranks) -> list[Sequence[np.ndarray]]:
    """The epoch's batches, `world_size` per step: rank r trains on the r-th of each group."""
    usable = usable_batches(len(batches), ranks)
    size = ranks.world_size
    return [batches[start : start + size] for start in range(0, usable, size)]


class LossModule(nn.Module):
    """The model's summed training loss as a forward pass, the form DistributedDataParallel
    synchronises, optionally under bf16 autocast."""

    def __init__(self, model: nn.Module, amp_device: str | None) -> None:
        super().__init__()
        self.model = model
        self.amp_device = amp_device

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        context = (torch.autocast(self.amp_device, dtype=torch.bfloat16)
                   if self.amp_device else contextlib.nullcontext())
        with context:
            loss_sum, _ = self.model.loss(inputs, targets)
        return loss_sum.float()


def loss_module(model: nn.Module, ranks: Ranks, device: torch.device, amp: bool) -> nn.Module:
    """What the training step calls: the loss, wrapped in DDP when running under torchrun."""
    module = LossModule(model, device.type if amp else None)
    if not ranks.active:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def amp_warning(device: torch.device, amp: bool) -> str | None:
    if amp and device.type != "cuda":
        return ("--amp on a CPU runs bf16 autocast, which is usually slower than float32 on "
                "CPUs without native bf16 instructions")
    return None


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch tensor on the training device; to a GPU through pinned memory, without waiting."""
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def all_reduce_sum(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The sum over ranks of a tensor on this rank's device."""
    if ranks.active:
        value = value.clone()
        dist.all_reduce(value)
    return value


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """Whether `flag` is set on any rank (a collective call: every rank must make it)."""
    if not ranks.active:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=_object_group)
    return bool(value.item())


def silence_warnings(ranks: Ranks) -> None:
    """Warnings come once, from rank 0, not once per rank."""
    if not ranks.is_main:
        warnings.simplefilter("ignore")
