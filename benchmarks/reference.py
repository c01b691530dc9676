"""A yardstick: a word-level GRU trainer written the way the common examples write one.

    python benchmarks/reference.py ../shared/corpora/austen [--batch 64] [--bptt 25]
        [--seconds 30] [--threads 0]

It stands for what people train word-level models with when they take an example's code: it is
written after pytorch/examples' word_language_model (the corpus as one stream cut into `--batch`
contiguous columns, stepped through in windows of `--bptt` tokens with the hidden state carried
and detached from one window to the next; `nn.Embedding` → a two-layer `nn.GRU` → `nn.Linear`
over the vocabulary, cross-entropy over every position; plain SGD with the gradient norm clipped
at 0.25, at the example's learning rate of 20). It is charlm's own, written for this comparison,
not the example's code: the same model sizes as charlm's defaults (embedding 48, two layers of
128, 2,000 words) and the same tokens (charlm's prepared corpus, each sentence read as
SENTENCE_START and its words and predicted as its words and SENTENCE_END, documents end to end),
in the same thread and OpenMP settings, so that the ratio of the two speeds measures the step.

Prints one JSON object: the arrangement, the steps timed and the training tokens per second
(every position of a window is a predicted token), timed after --warmup steps.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from _common import DEFAULTS, configure
from torch import nn

from charlm.data.cache import cached_prepare
from charlm.data.streams import Stream

LEARNING_RATE = 20.0
CLIP = 0.25


class ExampleModel(nn.Module):
    """Embedding → GRU (or LSTM) → Linear, sequence-first, as the example's RNNModel: its
    initialisation (embedding and output weights uniform in ±0.1, output bias zero), and with
    `dropout` its dropout on the embedding output, between the layers and before the output
    layer (none here by default)."""

    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int, cell: str = "GRU",
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.encoder = nn.Embedding(vocab, embedding)
        self.rnn = getattr(nn, cell)(embedding, hidden, layers, dropout=dropout)
        self.decoder = nn.Linear(hidden, vocab)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, words: torch.Tensor, hidden: Any) -> tuple[torch.Tensor, Any]:
        output, hidden = self.rnn(self.drop(self.encoder(words)), hidden)
        return self.decoder(self.drop(output)).view(-1, self.decoder.out_features), hidden


def batchify(tokens: np.ndarray, columns: int) -> torch.Tensor:
    """The stream cut into `columns` contiguous columns: (length, columns)."""
    length = len(tokens) // columns
    return torch.from_numpy(tokens[: length * columns].astype(np.int64)).view(columns,
                                                                            length).t().contiguous()


def stream_tokens(corpus: str) -> tuple[np.ndarray, np.ndarray, int]:
    """charlm's tokens of the corpus as one stream: inputs and targets, and the vocabulary size."""
    prepared, _ = cached_prepare(corpus, DEFAULTS.prepare_settings())
    stream = Stream.of(prepared.sentences)
    inputs, targets, _ = stream.tokens(np.arange(len(stream)))
    return inputs, targets, len(prepared.vocabulary)


def train(corpus: str, batch: int, bptt: int, seconds: float, warmup: int) -> dict:
    inputs, targets, vocab = stream_tokens(corpus)
    data, goal = batchify(inputs, batch), batchify(targets, batch)
    torch.manual_seed(DEFAULTS.seed)
    model = ExampleModel(vocab, DEFAULTS.embedding_dim, DEFAULTS.hidden_dim, DEFAULTS.layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    criterion = nn.CrossEntropyLoss()
    model.train()
    hidden = torch.zeros(DEFAULTS.layers, batch, DEFAULTS.hidden_dim)
    steps = tokens = 0
    started = None
    position = 0
    while started is None or time.perf_counter() - started < seconds:
        if position + bptt > len(data):
            position = 0
            hidden = torch.zeros_like(hidden)
        words, expected = data[position : position + bptt], goal[position : position + bptt]
        position += bptt
        hidden = hidden.detach()
        model.zero_grad()
        output, hidden = model(words, hidden)
        loss = criterion(output, expected.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        steps += 1
        if steps == warmup:
            started = time.perf_counter()
        elif started is not None:
            tokens += words.numel()
    elapsed = time.perf_counter() - started
    return {"batch": batch, "bptt": bptt, "steps": steps - warmup, "seconds": elapsed,
            "tokens_per_s": tokens / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--bptt", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    threads = configure(args.threads)
    result = train(args.corpus, args.batch, args.bptt, args.seconds, args.warmup)
    print(json.dumps(result | {"threads": threads}))


if __name__ == "__main__":
    main()
