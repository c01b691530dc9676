"""Training tokens per second of every cell: PyTorch's fused layers against the hand-written ones.

    python benchmarks/cell_speed.py CORPUS [--steps 30] [--warmup 5] [--backends eager,script]
        [--cells gru,lstm,rnn,peephole-lstm,cifg-lstm] [--threads 1]

CORPUS is any corpus charlm trains on (e.g. ../shared/corpora/austen/emma.txt). Every variant
trains the tutorial's model (embedding 48, two layers of 128, vocabulary 2000 unless changed) for
the same batches through charlm's own pipeline (prepare_corpus, epoch_order, make_batch,
RNNLanguageModel.loss, RMSprop) and the time of the steps after --warmup is measured. Variants: the
fused layer where PyTorch has one, and the hand-written cell with each --backends time loop
(eager Python, TorchScript). Run it alone on the machine: other work disturbs the figures.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from charlm.data.batches import epoch_order, make_batch
from charlm.data.prepare import EncodedSentences, prepare_corpus
from charlm.model import cells
from charlm.model.network import FUSED_LAYERS, ModelConfig, RNNLanguageModel


def tokens_per_second(
    config: ModelConfig, backend: str, sentences: EncodedSentences, args: argparse.Namespace
) -> float:
    torch.manual_seed(args.seed)
    model = RNNLanguageModel(config)
    if isinstance(model.rnn, cells.HandWrittenRNN):
        model.rnn.layer_function = cells.layer_function(config.cell, backend)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-6)
    batches = epoch_order(sentences.lengths, args.batch_size, args.seed, 0)
    needed = args.warmup + args.steps
    batches = (batches * (needed // max(len(batches), 1) + 1))[:needed]
    tokens, seconds = 0, 0.0
    for step, indices in enumerate(batches):
        batch = make_batch(sentences, indices)
        started = time.perf_counter()
        loss_sum, count = model.loss(batch.inputs, batch.targets)
        optimizer.zero_grad(set_to_none=True)
        (loss_sum / count).backward()
        optimizer.step()
        if step >= args.warmup:
            seconds += time.perf_counter() - started
            tokens += batch.tokens
    return tokens / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--cells", default="gru,lstm,rnn,peephole-lstm,cifg-lstm")
    parser.add_argument("--backends", default="eager,script",
                        help="time loops of the hand-written cells to measure")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocabulary-size", type=int, default=2000)
    parser.add_argument("--embedding-dim", type=int, default=48)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--gate-activation", default="sigmoid",
                        choices=cells.GATE_ACTIVATIONS)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    corpus = prepare_corpus(args.corpus, vocabulary_size=args.vocabulary_size)
    print(f"{len(corpus.sentences):,} sentences; batch {args.batch_size}, embedding "
          f"{args.embedding_dim}, {args.layers} x {args.hidden_dim}, {args.steps} timed steps "
          f"after {args.warmup}, {args.threads} thread(s), torch {torch.__version__}", flush=True)
    print("\n| cell | implementation | tokens/s |")
    print("| --- | --- | ---: |")
    for cell in args.cells.split(","):
        activation = "sigmoid" if cell == "rnn" else args.gate_activation
        variants = [("fused", "eager")] if cell in FUSED_LAYERS and activation == "sigmoid" else []
        variants += [("hand-written", backend) for backend in args.backends.split(",")]
        for implementation, backend in variants:
            config = ModelConfig(
                vocab_size=len(corpus.vocabulary), embedding_dim=args.embedding_dim,
                hidden_dim=args.hidden_dim, layers=args.layers, cell=cell,
                gate_activation=activation, implementation=implementation,
            )
            speed = tokens_per_second(config, backend, corpus.sentences, args)
            label = "fused" if implementation == "fused" else f"hand-written ({backend})"
            print(f"| {cell} | {label} | {speed:,.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
