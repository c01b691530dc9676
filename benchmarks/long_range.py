"""Does gating remember? rnn, gru and lstm on a corpus with one long-range dependency.

    python benchmarks/long_range.py [--steps 1500] [--cells rnn,gru,lstm] [--threads 1]

The synthetic corpus: every sentence is `kN f f ... f then eN`: its first word (one of --keys key
words) fixes its last word, with 5 to 40 filler words drawn at random in between, then the marker
`then`. Nothing between the key and the end carries information about it, so the last word can only
be predicted by remembering the first across the gap. A model that remembers gets the last word
right; one that forgets can do no better than chance: accuracy 1/keys, loss ln(keys).

Each cell trains with the same budget (the same number of steps on the same batches, sizes, learning
rate and clipping), through charlm's own pipeline: prepare_corpus, the validation split,
epoch_order/make_batch and RNNLanguageModel. Reported on the held-out sentences: the loss and
accuracy on the dependent (last) word, overall and by gap length, and the loss on the other words.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from charlm.data.batches import epoch_order, iterate_batches, make_batch, split_validation
from charlm.data.prepare import prepare_corpus
from charlm.data.settings import PrepareSettings
from charlm.data.types import IGNORE, EncodedSentences
from charlm.model.network import ModelConfig, RNNLanguageModel

GAP_BUCKETS = ((5, 14), (15, 24), (25, 40))


def write_long_range_corpus(
    path: Path, sentences: int, keys: int = 10, fillers: int = 50, min_gap: int = 5,
    max_gap: int = 40, seed: int = 0,
) -> Path:
    """`kN <gap filler words> then eN`, one sentence per paragraph."""
    rng = random.Random(seed)
    filler_words = [f"f{i}" for i in range(fillers)]
    lines = []
    for _ in range(sentences):
        key = rng.randrange(keys)
        gap = rng.randint(min_gap, max_gap)
        middle = " ".join(rng.choice(filler_words) for _ in range(gap))
        lines.append(f"k{key} {middle} then e{key}")
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return path


@torch.no_grad()
def evaluate(model: RNNLanguageModel, sentences: EncodedSentences) -> dict[str, float]:
    """Loss and accuracy on the last word (overall and by gap), and the loss on the others."""
    model.eval()
    last_loss = last_right = last_count = other_loss = other_count = 0.0
    by_gap = {bucket: [0.0, 0.0] for bucket in GAP_BUCKETS}  # right, count
    for batch in iterate_batches(sentences, 256):
        logits, _ = model(batch.inputs)
        losses = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), batch.targets, reduction="none", ignore_index=IGNORE)
        # Targets are w1 … wn SENTENCE_END: the dependent word wn sits just before the end.
        end = (batch.targets != IGNORE).sum(1) - 1
        rows = torch.arange(len(end))
        last = end - 1
        right = logits[rows, last].argmax(-1) == batch.targets[rows, last]
        last_loss += float(losses[rows, last].sum())
        last_right += float(right.sum())
        last_count += len(end)
        other_loss += float(losses.sum()) - float(losses[rows, last].sum())
        other_count += int((batch.targets != IGNORE).sum()) - len(end)
        gaps = end - 3  # key, gap fillers, then, dependent word
        for lo, hi in GAP_BUCKETS:
            inside = (gaps >= lo) & (gaps <= hi)
            by_gap[(lo, hi)][0] += float(right[inside].sum())
            by_gap[(lo, hi)][1] += float(inside.sum())
    model.train()
    result = {
        "last_loss": last_loss / last_count,
        "last_accuracy": last_right / last_count,
        "other_loss": other_loss / other_count,
    }
    for (lo, hi), (right_count, count) in by_gap.items():
        result[f"accuracy_gap_{lo}_{hi}"] = right_count / max(count, 1)
    return result


def train_cell(
    cell: str, train_set: EncodedSentences, vocab_size: int, args: argparse.Namespace
) -> tuple[RNNLanguageModel, float]:
    torch.manual_seed(args.seed)
    model = RNNLanguageModel(ModelConfig(
        vocab_size=vocab_size, embedding_dim=args.embedding_dim, hidden_dim=args.hidden_dim,
        layers=args.layers, cell=cell,
    ))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.learning_rate, alpha=0.9,
                                    eps=1e-6)
    steps, epoch, started = 0, 0, time.monotonic()
    model.train()
    while steps < args.steps:
        for indices in epoch_order(train_set.lengths, args.batch_size, args.seed, epoch):
            batch = make_batch(train_set, indices)
            loss_sum, count = model.loss(batch.inputs, batch.targets)
            optimizer.zero_grad(set_to_none=True)
            (loss_sum / count).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
            optimizer.step()
            steps += 1
            if steps == args.steps:
                break
        epoch += 1
    return model, time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="rnn,gru,lstm")
    parser.add_argument("--sentences", type=int, default=6000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1500, help="training steps per cell")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--clip-norm", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as directory:
        path = write_long_range_corpus(Path(directory) / "long_range.txt", args.sentences,
                                       keys=args.keys, seed=args.seed)
        corpus = prepare_corpus(str(path), PrepareSettings(vocabulary_size=args.keys * 2 + 60))
    train_ids, valid_ids = split_validation(len(corpus.sentences), 0.1, args.seed)
    train_set = corpus.sentences.subset(train_ids)
    valid_set = corpus.sentences.subset(valid_ids)
    print(f"{len(train_set)} training and {len(valid_set)} held-out sentences, vocabulary "
          f"{len(corpus.vocabulary)}; {args.steps} steps of {args.batch_size} sentences per cell, "
          f"hidden {args.hidden_dim}, {args.layers} layer(s), lr {args.learning_rate}, clip "
          f"{args.clip_norm}; chance on the last word: accuracy {1 / args.keys:.0%}, loss "
          f"{math.log(args.keys):.2f}", flush=True)
    gaps = " | ".join(f"acc. gap {lo}-{hi}" for lo, hi in GAP_BUCKETS)
    print(f"\n| cell | last-word loss | last-word accuracy | {gaps} | other-word loss | "
          "train time |")
    print("| --- | " + " | ".join(["---:"] * (4 + len(GAP_BUCKETS))) + " |")
    for cell in args.cells.split(","):
        model, seconds = train_cell(cell, train_set, len(corpus.vocabulary), args)
        r = evaluate(model, valid_set)
        by_gap = " | ".join(f"{r[f'accuracy_gap_{lo}_{hi}']:.0%}" for lo, hi in GAP_BUCKETS)
        print(f"| {cell} | {r['last_loss']:.3f} | {r['last_accuracy']:.0%} | {by_gap} | "
              f"{r['other_loss']:.3f} | {seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
