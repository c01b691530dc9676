"""Shared pieces of the benchmarks: charlm's own preparation, batching and model, and the
tutorial's one-sentence-per-step training written out as the baseline."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from charlm.training import ranks as distributed  # noqa: E402
from charlm.data.batches import epoch_order, iterate_batches, make_batch, split_validation  # noqa: E402
from charlm.data.cache import cached_prepare  # noqa: E402
from charlm.options import TrainConfig  # noqa: E402
from charlm.model.network import ModelConfig, RNNLanguageModel  # noqa: E402, F401
from charlm.data.prepare import EncodedSentences  # noqa: E402
from charlm.data.vocab import END_ID, START_ID  # noqa: E402

DEFAULTS = TrainConfig(corpus="-")


@dataclass
class Data:
    train: EncodedSentences
    valid: EncodedSentences
    vocab_size: int


def load(corpus: str) -> Data:
    """The corpus prepared with charlm's defaults (cached), split as `charlm train` splits it."""
    prepared, _ = cached_prepare(corpus, vocabulary_size=DEFAULTS.vocabulary_size)
    train_ids, valid_ids = split_validation(len(prepared.sentences), DEFAULTS.valid_fraction,
                                            DEFAULTS.seed)
    return Data(prepared.sentences.subset(train_ids), prepared.sentences.subset(valid_ids),
                len(prepared.vocabulary))


def new_model(data: Data, seed: int = DEFAULTS.seed) -> tuple[RNNLanguageModel,
                                                                torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = RNNLanguageModel(ModelConfig(vocab_size=data.vocab_size,
                                         embedding_dim=DEFAULTS.embedding_dim,
                                         hidden_dim=DEFAULTS.hidden_dim, layers=DEFAULTS.layers,
                                         cell=DEFAULTS.cell))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=DEFAULTS.learning_rate,
                                    alpha=DEFAULTS.decay, eps=DEFAULTS.epsilon)
    return model, optimizer


def configure(threads: int) -> int:
    return distributed.configure_cpu(threads, distributed.Ranks())


def epoch_batches(data: Data, batch_size: int) -> Iterator[np.ndarray]:
    """charlm's batches, epoch after epoch."""
    epoch = 0
    while True:
        yield from epoch_order(data.train.lengths, batch_size, DEFAULTS.seed, epoch)
        epoch += 1


def charlm_step(model: RNNLanguageModel, optimizer: torch.optim.Optimizer, data: Data,
                indices: np.ndarray) -> tuple[int, int]:
    """One step as `charlm train` takes it; returns (predicted tokens, computed positions)."""
    batch = make_batch(data.train, indices)
    loss_sum, count = model.loss(batch.inputs, batch.targets)
    optimizer.zero_grad(set_to_none=True)
    (loss_sum / count).backward()
    optimizer.step()
    return batch.tokens, batch.inputs.numel()


def sentence_order(data: Data) -> Iterator[int]:
    """The same sentences the batched run sees, in the same order, one at a time."""
    for indices in epoch_batches(data, DEFAULTS.batch_size):
        yield from (int(i) for i in indices)


def baseline_step(model: RNNLanguageModel, optimizer: torch.optim.Optimizer, data: Data,
                  index: int) -> int:
    """The tutorial's step: one sentence, SENTENCE_START w1..wn → w1..wn SENTENCE_END, one
    RMSprop update. Returns the tokens predicted."""
    words = torch.from_numpy(data.train.sentence(index).astype(np.int64))
    inputs = torch.cat([torch.tensor([START_ID]), words])[None]
    targets = torch.cat([words, torch.tensor([END_ID])])[None]
    # The tutorial's network written plainly: PyTorch's own layers, without charlm's CPU GRU path.
    hidden, _ = model.rnn(model.embedding(inputs))
    logits = model.output(hidden)
    loss = torch.nn.functional.cross_entropy(logits[0], targets[0])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return int(targets.numel())


def validation_ppl(model: RNNLanguageModel, valid: EncodedSentences) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in iterate_batches(valid, 256):
            loss, n = model.loss(batch.inputs, batch.targets)
            total += float(loss)
            count += n
    model.train(was_training)
    return math.exp(total / count)


class Clock:
    """Training time only: evaluation pauses it."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self._since: float | None = None

    def start(self) -> None:
        self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            self.elapsed += time.perf_counter() - self._since
            self._since = None

    def now(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self.elapsed + running
