"""Where a training step's time goes, for the default model on this machine.

    python benchmarks/step_profile.py ../shared/corpora/austen [--steps 100] [--threads 0]
        [--flag=--batch-size=128 ...]

Takes the steps `charlm train` takes (its configuration, corpus preparation, batches, model, loss
and optimizer), cut into parts that are timed one by one: each part's output is detached and its
backward run on its own, so the forward and backward of the embedding, the recurrence, the output
layer and the loss are each timed, as are batching and the optimizer. The same steps are also
timed whole; what the parts leave of a whole step is Python and framework overhead.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
import torch.nn.functional as F
from _common import load

from charlm.data.batches import IGNORE, epoch_order, make_batch
from charlm.model.network import RNNLanguageModel
from charlm.options import parse_text, resolve
from charlm.training.config import TrainConfig
from charlm.training.runtime import configure_cpu

PARTS = ("batching", "embedding forward", "recurrence forward", "output layer forward",
         "loss forward", "loss backward", "output layer backward", "recurrence backward",
         "embedding backward", "optimizer")


def config_from(flags: list[str]) -> TrainConfig:
    values = {}
    for flag in flags:
        name, _, value = flag.lstrip("-").partition("=")
        values[name.replace("-", "_")] = parse_text(TrainConfig, name.replace("-", "_"), value,
                                                    flag)
    return resolve(TrainConfig, {"corpus": "-", **values}, {})


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


def timed_step(model: RNNLanguageModel, optimizer: torch.optim.Optimizer, sentences, indices,
               watch: Stopwatch) -> None:
    """One training step, part by part; the same gradients as the whole step."""
    watch.lap("idle")
    batch = make_batch(sentences, indices)
    watch.lap("batching")
    embedded = model.embedding(batch.inputs)
    watch.lap("embedding forward")
    embedded_leaf = leaf(embedded)
    hidden, _ = model.recurrent(embedded_leaf)
    watch.lap("recurrence forward")
    hidden_leaf = leaf(hidden)
    mask = batch.targets != IGNORE
    logits = model.output(model.dropout(hidden_leaf[mask]))
    watch.lap("output layer forward")
    logits_leaf = leaf(logits)
    loss = F.cross_entropy(logits_leaf, batch.targets[mask], reduction="sum") / batch.tokens
    watch.lap("loss forward")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    watch.lap("loss backward")
    logits.backward(logits_leaf.grad)
    watch.lap("output layer backward")
    hidden.backward(hidden_leaf.grad)
    watch.lap("recurrence backward")
    embedded.backward(embedded_leaf.grad)
    watch.lap("embedding backward")
    optimizer.step()
    watch.lap("optimizer")


def whole_step(model: RNNLanguageModel, optimizer: torch.optim.Optimizer, sentences,
               indices) -> None:
    batch = make_batch(sentences, indices)
    loss_sum, _ = model.loss(batch.inputs, batch.targets)
    optimizer.zero_grad(set_to_none=True)
    (loss_sum / batch.tokens).backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--flag", action="append", default=[])
    args = parser.parse_args()
    config = config_from(args.flag)
    threads = configure_cpu(args.threads)
    data = load(args.corpus)
    torch.manual_seed(config.seed)
    model = RNNLanguageModel(config.model_config(data.vocab_size))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate,
                                    alpha=config.decay, eps=config.epsilon)
    batches = epoch_order(data.train.lengths, config.batch_size, config.seed, 0)
    for indices in batches[: args.warmup]:
        whole_step(model, optimizer, data.train, indices)
    timed = batches[args.warmup : args.warmup + args.steps]
    started = time.perf_counter()
    for indices in timed:
        whole_step(model, optimizer, data.train, indices)
    whole = (time.perf_counter() - started) / len(timed) * 1000
    watch = Stopwatch()
    for indices in timed:
        timed_step(model, optimizer, data.train, indices, watch)
    parts = {part: watch.totals[part] / len(timed) * 1000 for part in PARTS}
    print(f"{args.corpus}: {len(timed)} steps of batch {config.batch_size}, {threads} threads, "
          f"{whole:.1f} ms per whole step")
    print("| part | ms per step | share |")
    print("| --- | ---: | ---: |")
    for part, ms in parts.items():
        print(f"| {part} | {ms:.2f} | {ms / whole:.0%} |")
    overhead = whole - sum(parts.values())
    print(f"| Python and framework overhead (whole step less the parts) | {overhead:.2f} | "
          f"{overhead / whole:.0%} |")


if __name__ == "__main__":
    main()
