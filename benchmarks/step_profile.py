"""Where a training step's time goes, for the default model on this machine.

    python benchmarks/step_profile.py ../shared/corpora/austen [--steps 60] [--threads 0]
        [--flag=--context=sentence ...]

Takes the steps `charlm train` takes (its configuration, corpus preparation, the batches of its
context, model, loss, optimizer and weight average), cut into parts that are timed one by one:
each part's output is detached and its backward run on its own, so the forward and backward of
the embedding, the recurrence and the output layer with its loss are each timed, as are batching,
the optimizer and the weight average. The same steps are also timed whole; what the parts leave
of a whole step is Python and framework overhead.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from _common import load, resolve_flags

from charlm.data.batches import EpochBatches, sentence_epoch
from charlm.data.streams import stream_epoch
from charlm.data.types import Batch
from charlm.model.network import RNNLanguageModel
from charlm.model.state import detach_state
from charlm.training.averaging import WeightAverage
from charlm.training.runtime import configure_cpu

PARTS = ("batching", "embedding forward", "recurrence forward", "output layer and loss forward",
         "output layer and loss backward", "recurrence backward", "embedding backward",
         "optimizer", "weight average")


class Stopwatch:
    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.last = time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        self.totals[part] += now - self.last
        self.last = now


def leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().requires_grad_(True)


class Stepper:
    """The model, optimizer, average and carried state of a run, stepped whole or in parts."""

    def __init__(self, model: RNNLanguageModel, optimizer: torch.optim.Optimizer,
                 average: WeightAverage | None, carries: bool) -> None:
        self.model, self.optimizer, self.average, self.carries = model, optimizer, average, carries
        self.state = None

    def carried(self) -> object:
        return self.state if self.carries else None

    def whole(self, batch: Batch) -> None:
        loss_sum, final = self.model.stream_loss(batch.inputs, batch.targets, self.carried(),
                                                 batch.resets)
        self.state = detach_state(final)
        self.optimizer.zero_grad(set_to_none=True)
        (loss_sum / batch.tokens).backward()
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.model)

    def parts(self, epoch: EpochBatches, index: int, watch: Stopwatch) -> None:
        """One step, part by part; the same gradients as the whole step."""
        model = self.model
        watch.lap("idle")
        batch = epoch.batch(index)
        watch.lap("batching")
        embedded = model.embedding(batch.inputs)
        watch.lap("embedding forward")
        embedded_leaf = leaf(embedded)
        hidden, final = model.recurrent(embedded_leaf, self.carried(), batch.resets)
        self.state = detach_state(final)
        watch.lap("recurrence forward")
        hidden_leaf = leaf(hidden)
        mask = batch.targets != -100
        rows, kept = model.dropout(hidden_leaf[mask]), batch.targets[mask]
        block = max(1, 2**21 // model.output.scores_per_row)
        loss = sum(model.output.loss_sum(rows[s : s + block], kept[s : s + block])
                   for s in range(0, len(kept), block)) / batch.tokens
        watch.lap("output layer and loss forward")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        watch.lap("output layer and loss backward")
        hidden.backward(hidden_leaf.grad)
        watch.lap("recurrence backward")
        embedded.backward(embedded_leaf.grad)
        watch.lap("embedding backward")
        self.optimizer.step()
        watch.lap("optimizer")
        if self.average is not None:
            self.average.update(model)
        watch.lap("weight average")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--flag", action="append", default=[])
    args = parser.parse_args()
    config = resolve_flags(args.flag)
    threads = configure_cpu(args.threads)
    data = load(args.corpus)
    torch.manual_seed(config.seed)
    model = RNNLanguageModel(config.model_config(data.vocab_size))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate,
                                    alpha=config.decay, eps=config.epsilon)
    average = WeightAverage(model, config.weight_average) if config.weight_average else None
    document = config.context == "document"
    epoch = (stream_epoch(data.train, config.batch_size, config.bptt, config.seed, 0) if document
             else sentence_epoch(data.train, config.batch_size, config.seed, 0))
    stepper = Stepper(model, optimizer, average, document)
    for index in range(args.warmup):
        stepper.whole(epoch.batch(index))
    timed = range(args.warmup, min(args.warmup + args.steps, epoch.count))
    started = time.perf_counter()
    tokens = 0
    for index in timed:
        batch = epoch.batch(index)
        stepper.whole(batch)
        tokens += batch.tokens
    whole = (time.perf_counter() - started) / len(timed) * 1000
    watch = Stopwatch()
    for index in timed:
        stepper.parts(epoch, index, watch)
    parts = {part: watch.totals[part] / len(timed) * 1000 for part in PARTS}
    shape = (f"{config.batch_size} rows x {config.bptt}" if document
             else f"batches of {config.batch_size} sentences")
    print(f"{args.corpus}: {len(timed)} steps, {config.context} context, {shape}, {threads} "
          f"threads: {whole:.1f} ms per whole step, "
          f"{tokens / len(timed) / whole * 1000:,.0f} tokens/s")
    print("| part | ms per step | share |")
    print("| --- | ---: | ---: |")
    for part, ms in parts.items():
        print(f"| {part} | {ms:.2f} | {ms / whole:.0%} |")
    overhead = whole - sum(parts.values())
    print(f"| Python and framework overhead (whole step less the parts) | {overhead:.2f} | "
          f"{overhead / whole:.0%} |")


if __name__ == "__main__":
    main()
