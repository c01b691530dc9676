"""A yardstick for learning: pytorch/examples' word_language_model, trained the way its main.py
trains, for a fixed time on three text files.

    python benchmarks/reference_wlm.py TRAIN.txt VALID.txt TEST.txt [--minutes 60] [--threads 0]

benchmarks/ptb.py --reference runs it on the Penn Treebank beside charlm's recipe. It is
charlm's own code, written after the example, not the example's: each file read as the example's
data.py reads it (every line's words and `<eos>`, one dictionary of the three files' words), cut
into 20 contiguous columns for training and 10 for evaluation (its batchify), and stepped through
in windows of 35 tokens with the state carried, detached, from one window to the next and zeroed
at each epoch's start. The model is the example's default RNNModel (benchmarks/reference.py's
ExampleModel): embedding 200, two LSTM layers of 200, dropout 0.2, weights not tied. Each step is
plain SGD at the rate, the gradient norm clipped at 0.25; after each epoch the rate is divided by
4 when the validation loss is not better than the best so far. Training stops at the end of the
first step after --minutes of training time (evaluation excluded), or after --epochs; the model of
the best validation loss (the one the example saves) is scored on the test file.

Prints a line per epoch and a last line with the validation and test perplexity, the tokens each
counts (the example's evaluation does not predict each column's first token nor the remainder of
the last column), the epochs, the training time and the training tokens per second.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from _common import DEFAULTS, Clock, configure
from reference import ExampleModel, batchify
from torch import nn

EMBEDDING = HIDDEN = 200
LAYERS = 2
DROPOUT = 0.2
LEARNING_RATE = 20.0
DECAY = 4.0
CLIP = 0.25
BATCH = 20
EVAL_BATCH = 10
BPTT = 35
END_OF_LINE = "<eos>"


@dataclass
class ReferenceResult:
    """What the example's way of training reached."""

    val_ppl: float
    test_ppl: float
    val_tokens: int
    test_tokens: int
    epochs: float
    training_s: float
    tokens: int

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(self.training_s, 1e-9)


def read_files(paths: list[str]) -> list[np.ndarray]:
    """Each file as the example's data.py reads it: every line's words, then `<eos>`, as ids of
    one dictionary of every file's words in order of appearance."""
    ids: dict[str, int] = {}
    read = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            words = [word for line in handle for word in [*line.split(), END_OF_LINE]]
        read.append(np.array([ids.setdefault(word, len(ids)) for word in words],
                             dtype=np.int64))
    return read


def initial_state(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    zeros = torch.zeros(LAYERS, batch, HIDDEN)
    return zeros, zeros.clone()


def evaluate(model: ExampleModel, data: torch.Tensor) -> tuple[float, int]:
    """The example's evaluate(): the mean loss over every window of the columns, and the tokens
    it predicts."""
    model.eval()
    criterion = nn.CrossEntropyLoss()
    total, count = 0.0, 0
    hidden = initial_state(data.size(1))
    with torch.no_grad():
        for start in range(0, data.size(0) - 1, BPTT):
            length = min(BPTT, data.size(0) - 1 - start)
            words, targets = data[start : start + length], data[start + 1 : start + 1 + length]
            output, hidden = model(words, hidden)
            total += targets.numel() * float(criterion(output, targets.reshape(-1)))
            count += targets.numel()
    return total / count, count


def train_epoch(model: ExampleModel, data: torch.Tensor, rate: float, clock: Clock,
                seconds: float) -> tuple[int, bool]:
    """One epoch of the example's train() (or until `seconds` of training time): the tokens
    trained on, and whether the time ran out."""
    model.train()
    criterion = nn.CrossEntropyLoss()
    hidden = initial_state(data.size(1))
    tokens = 0
    clock.start()
    for start in range(0, data.size(0) - 1, BPTT):
        length = min(BPTT, data.size(0) - 1 - start)
        words, targets = data[start : start + length], data[start + 1 : start + 1 + length]
        hidden = tuple(part.detach() for part in hidden)
        model.zero_grad()
        output, hidden = model(words, hidden)
        criterion(output, targets.reshape(-1)).backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(parameter.grad, alpha=-rate)
        tokens += targets.numel()
        if clock.now() >= seconds:
            clock.stop()
            return tokens, True
    clock.stop()
    return tokens, False


def train(train_path: str, valid_path: str, test_path: str, minutes: float,
          epochs: int = 40, seed: int = DEFAULTS.seed) -> ReferenceResult:
    """The example's main.py for `minutes` of training time or `epochs` epochs."""
    train_ids, valid_ids, test_ids = read_files([train_path, valid_path, test_path])
    vocab = int(max(ids.max() for ids in (train_ids, valid_ids, test_ids))) + 1
    training = batchify(train_ids, BATCH)
    torch.manual_seed(seed)
    model = ExampleModel(vocab, EMBEDDING, HIDDEN, LAYERS, cell="LSTM", dropout=DROPOUT)
    rate, best_loss, best_model = LEARNING_RATE, math.inf, model
    clock, tokens, done = Clock(), 0, 0.0
    validation = batchify(valid_ids, EVAL_BATCH)
    for epoch in range(1, epochs + 1):
        trained, stopped = train_epoch(model, training, rate, clock, minutes * 60)
        tokens += trained
        done = epoch - 1 + trained / ((training.size(0) - 1) * BATCH)
        val_loss, _ = evaluate(model, validation)
        print(f"reference epoch {done:5.2f}  {clock.elapsed / 60:6.1f} min  lr {rate:g}  "
              f"val ppl {math.exp(val_loss):8.2f}", flush=True)
        if val_loss < best_loss:
            best_loss, best_model = val_loss, copy.deepcopy(model)
        else:
            rate /= DECAY
        if stopped:
            break
    val_loss, val_tokens = evaluate(best_model, validation)
    test_loss, test_tokens = evaluate(best_model, batchify(test_ids, EVAL_BATCH))
    return ReferenceResult(math.exp(val_loss), math.exp(test_loss), val_tokens, test_tokens,
                           done, clock.elapsed, tokens)


def describe(result: ReferenceResult) -> str:
    return (f"reference (word_language_model's way): val ppl {result.val_ppl:.2f} "
            f"({result.val_tokens:,} tokens), test ppl {result.test_ppl:.2f} "
            f"({result.test_tokens:,} tokens), {result.epochs:.2f} epochs, "
            f"{result.training_s / 60:.1f} min of training, {result.tokens_per_s:,.0f} tokens/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("valid")
    parser.add_argument("test")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=40, help="the example's default: 40")
    parser.add_argument("--threads", type=int, default=0, help="0: the machine's cores")
    args = parser.parse_args()
    threads = configure(args.threads)
    started = time.monotonic()
    result = train(args.train, args.valid, args.test, args.minutes, args.epochs)
    print(describe(result) + f"; {threads} threads, {(time.monotonic() - started) / 60:.1f} "
          "min wall")


if __name__ == "__main__":
    main()
