"""The training run: prepare the corpus, fit the model, report, sample and checkpoint."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from charlm import __version__
from charlm.batches import epoch_order, iterate_batches, make_batch, split_validation
from charlm.checkpoint import is_checkpoint, save_checkpoint
from charlm.config import TrainConfig
from charlm.errors import CharlmError
from charlm.generate import detokenize, make_generator, sample_sentences
from charlm.model import ModelConfig, RNNLanguageModel
from charlm.prepare import EncodedSentences, PreparedCorpus, prepare_corpus
from charlm.report import Reporter

EVAL_BATCH_SIZE = 256


class TrainingDiverged(CharlmError):
    """The loss became NaN or infinite."""


@dataclass
class Progress:
    """Where training stands; saved in the checkpoint."""

    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches done in the current epoch
    examples: int = 0  # training sentences seen
    tokens: int = 0  # training tokens predicted (no padding)
    steps: int = 0
    elapsed_s: float = 0.0  # training wall-clock time, reports excluded
    reports: int = 0
    best_val_loss: float = math.inf
    metrics: list[dict[str, Any]] = field(default_factory=list)


class Interval:
    """Training totals at the last report, to express the figures since then."""

    def __init__(self) -> None:
        self.tokens = 0
        self.elapsed_s = 0.0
        self.loss_sum = 0.0

    def restart(self, progress: Progress) -> None:
        self.tokens, self.elapsed_s, self.loss_sum = progress.tokens, progress.elapsed_s, 0.0

    def train_loss(self, progress: Progress) -> float:
        return self.loss_sum / max(progress.tokens - self.tokens, 1)

    def tokens_per_s(self, progress: Progress) -> float:
        return (progress.tokens - self.tokens) / max(progress.elapsed_s - self.elapsed_s, 1e-9)


def next_report_at(examples: int, print_every: int) -> int:
    """The first multiple of print_every above `examples`."""
    return (examples // print_every + 1) * print_every


def metrics_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".metrics.jsonl")


def check_output_path(path: Path, force: bool) -> None:
    """Refuse, before any work, an output path that cannot be written or would lose a file."""
    directory = path.parent
    if not directory.is_dir():
        raise CharlmError(f"cannot write {path}: directory {directory} does not exist; create it "
                          "or choose another --out")
    if not os.access(directory, os.W_OK):
        raise CharlmError(f"cannot write {path}: directory {directory} is not writable; choose "
                          "another --out")
    if path.is_dir():
        raise CharlmError(f"{path} is a directory; give a file name with --out")
    if path.exists() and not force:
        if is_checkpoint(path):
            raise CharlmError(f"{path} already holds a checkpoint; pass --force to overwrite it "
                              "or choose another --out")
        raise CharlmError(f"{path} exists and is not a charlm checkpoint; pass --force to "
                          "overwrite it or choose another --out")


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise CharlmError("--device cuda was asked for but no CUDA GPU is available; use "
                          "--device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def evaluate_loss(
    model: RNNLanguageModel, sentences: EncodedSentences, device: torch.device
) -> tuple[float, int]:
    """Mean cross-entropy per predicted token (SENTENCE_END included), and the token count."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in iterate_batches(sentences, EVAL_BATCH_SIZE):
        loss, n = model.loss(batch.inputs.to(device), batch.targets.to(device))
        total += float(loss)
        count += n
    model.train(was_training)
    return total / max(count, 1), count


def sample_text(
    model: RNNLanguageModel, corpus: PreparedCorpus, count: int, seed: int
) -> list[str]:
    result = sample_sentences(model, count, generator=make_generator(seed))
    return [detokenize(corpus.vocabulary.decode(s.ids)) for s in result.samples]


def checkpoint_payload(
    model: RNNLanguageModel,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    corpus: PreparedCorpus,
    progress: Progress,
) -> dict[str, Any]:
    return {
        "charlm_version": __version__,
        "model_config": model.config.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict(),
        "train_config": asdict(config),
        "vocabulary": list(corpus.vocabulary.words),
        "tokenizer": corpus.tokenizer.settings.to_dict(),
        "progress": asdict(progress),
        "torch_rng_state": torch.get_rng_state(),
    }


def train(config: TrainConfig, reporter: Reporter) -> Path:
    """Run `charlm train`; returns the checkpoint path."""
    out = Path(config.out or config.default_out)
    check_output_path(out, config.force)
    device = pick_device(config.device)
    reporter.settings("configuration", asdict(config) | {"out": str(out)})

    started = time.monotonic()
    corpus = prepare_corpus(
        str(config.corpus),
        vocabulary_size=config.vocabulary_size,
        lowercase=config.lowercase,
        drop_urls=config.drop_urls,
        min_chars=config.min_chars,
        text_column=config.text_column,
    )
    stats, vocab_stats = corpus.corpus_stats, corpus.vocabulary_stats
    if stats.replaced_characters:
        reporter.warning(f"{stats.replaced_characters:,} invalid UTF-8 byte sequences were "
                         "replaced by U+FFFD")
    reporter.settings("corpus", {
        "sentences parsed": f"{len(corpus.sentences):,}",
        "tokens": f"{vocab_stats.tokens:,}",
        "unique words": f"{vocab_stats.unique_words:,}",
        "vocabulary size": f"{vocab_stats.size:,}",
        "least frequent kept word": f"{vocab_stats.least_frequent_word!r} "
                                    f"({vocab_stats.least_frequent_count:,} times)",
        "vocabulary covers": f"{vocab_stats.coverage:.1%} of tokens",
        "sentence splitter": corpus.tokenizer.settings.splitter,
        "prepared in": f"{time.monotonic() - started:.1f} s",
    })

    train_ids, valid_ids = split_validation(len(corpus.sentences), config.valid_fraction,
                                            config.seed)
    train_set = corpus.sentences.subset(train_ids)
    valid_set = corpus.sentences.subset(valid_ids)
    reporter.line(f"training on {len(train_set):,} sentences, validating on {len(valid_set):,}")

    torch.manual_seed(config.seed)
    model_config = ModelConfig(
        vocab_size=len(corpus.vocabulary),
        embedding_dim=config.embedding_dim,
        hidden_dim=config.hidden_dim,
        layers=config.layers,
        cell=config.cell,
        gate_activation=config.gate_activation,
        implementation=config.implementation,
        dropout=config.dropout,
        tie_weights=config.tie_weights,
        bptt_truncate=config.bptt_truncate,
    )
    model = RNNLanguageModel(model_config).to(device)
    optimizer = torch.optim.RMSprop(
        model.parameters(), lr=config.learning_rate, alpha=config.decay, eps=config.epsilon
    )
    kind = "hand-written" if model_config.hand_written else "fused"
    gates = "" if config.cell == "rnn" else f", {config.gate_activation} gates"
    reporter.line(f"model: {config.cell.upper()} ({kind}{gates}) with "
                  f"{model.parameter_count():,} parameters on {device}")
    progress = Progress()
    metrics_file = metrics_path(out)
    metrics_file.unlink(missing_ok=True)

    since = Interval()

    def report() -> None:
        val_loss, _ = evaluate_loss(model, valid_set, device)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(f"the validation loss became {val_loss} at step "
                                   f"{progress.steps}; lower --learning-rate or set --clip-norm")
        progress.reports += 1
        progress.best_val_loss = min(progress.best_val_loss, val_loss)
        metrics = {
            "elapsed_s": round(progress.elapsed_s, 3),
            "epoch": progress.epoch + (1 if progress.batch_in_epoch else 0),
            "examples": progress.examples,
            "tokens": progress.tokens,
            "train_loss": since.train_loss(progress),
            "val_loss": val_loss,
            "val_ppl": math.exp(min(val_loss, 700.0)),
            "tokens_per_s": since.tokens_per_s(progress),
            "lr": optimizer.param_groups[0]["lr"],
        }
        progress.metrics.append(metrics)
        reporter.report(metrics)
        reporter.samples(sample_text(model, corpus, config.samples, config.seed + progress.reports))
        save_checkpoint(checkpoint_payload(model, optimizer, config, corpus, progress), out)
        with open(metrics_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(metrics) + "\n")
        reporter.saved(str(out))
        since.restart(progress)

    model.train()
    while progress.epoch < config.epochs:
        batches = epoch_order(train_set.lengths, config.batch_size, config.seed, progress.epoch)
        done_in_epoch = int(sum(len(b) for b in batches[: progress.batch_in_epoch]))
        reporter.start_epoch(progress.epoch + 1, config.epochs, len(train_set), done_in_epoch)
        reported_this_epoch = False
        tick = time.monotonic()
        for indices in batches[progress.batch_in_epoch :]:
            batch = make_batch(train_set, indices)
            loss_sum, count = model.loss(batch.inputs.to(device), batch.targets.to(device))
            loss = loss_sum / count
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"the training loss became {float(loss)} at step {progress.steps + 1}; the "
                    f"last good checkpoint is kept; lower --learning-rate (now "
                    f"{config.learning_rate}) or set --clip-norm"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()

            progress.steps += 1
            progress.batch_in_epoch += 1
            progress.examples += batch.sentences
            progress.tokens += batch.tokens
            done_in_epoch += batch.sentences
            since.loss_sum += float(loss_sum.detach())
            now = time.monotonic()
            progress.elapsed_s += now - tick
            tick = now
            reporter.advance(done_in_epoch, since.train_loss(progress),
                             since.tokens_per_s(progress))

            epoch_ended = progress.batch_in_epoch == len(batches)
            if epoch_ended:
                progress.epoch += 1
                progress.batch_in_epoch = 0
            last_step = epoch_ended and progress.epoch == config.epochs
            if (progress.examples >= next_report_at(progress.examples - batch.sentences,
                                                    config.print_every)
                    or (epoch_ended and not reported_this_epoch) or last_step):
                report()
                reported_this_epoch = True
                tick = time.monotonic()
    reporter.stop_progress()
    return out


