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
from rich.console import Console

from charlm import __version__, distributed
from charlm.batches import epoch_order, iterate_batches, make_batch, split_validation
from charlm.cache import cached_prepare
from charlm.checkpoint import is_checkpoint, save_checkpoint
from charlm.config import TrainConfig
from charlm.errors import CharlmError
from charlm.generate import detokenize, make_generator, sample_sentences
from charlm.model import ModelConfig, RNNLanguageModel
from charlm.prepare import EncodedSentences, PreparedCorpus
from charlm.report import Reporter

EVAL_BATCH_SIZE = 256
# Steps between reading the training loss back from the device: each read waits for the device
# (and, under torchrun, for every rank), so it is not done on every step.
LOSS_SYNC_STEPS = 16


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


pick_device = distributed.pick_device


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
    ranks, device = distributed.setup(config.device)
    if ranks.is_main:
        check_output_path(out, config.force)
    else:
        reporter = Reporter(Console(file=open(os.devnull, "w")))
        distributed.silence_warnings(ranks)
    threads = distributed.configure_cpu(config.threads, ranks)
    reporter.settings("configuration", asdict(config) | {"out": str(out)})
    if ranks.active:
        reporter.line(f"torchrun: {ranks.world_size} ranks on {device.type}, {threads} threads "
                      "each")
    amp_warning = distributed.amp_warning(device, config.amp)
    if amp_warning:
        reporter.warning(amp_warning)

    started = time.monotonic()
    cache_hit = False

    def prepare() -> PreparedCorpus:
        nonlocal cache_hit
        corpus, cache_hit = cached_prepare(
            str(config.corpus),
            vocabulary_size=config.vocabulary_size,
            lowercase=config.lowercase,
            drop_urls=config.drop_urls,
            min_chars=config.min_chars,
            text_column=config.text_column,
            workers=config.workers,
            cache_dir=config.cache_dir,
            use_cache=config.cache,
        )
        return corpus

    corpus = distributed.share_corpus(ranks, prepare)
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
        "prepared in": f"{time.monotonic() - started:.1f} s" + (" (cached)" if cache_hit else ""),
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
    )
    model = RNNLanguageModel(model_config).to(device)
    optimizer = torch.optim.RMSprop(
        model.parameters(), lr=config.learning_rate, alpha=config.decay, eps=config.epsilon
    )
    train_loss = distributed.loss_module(model, ranks, device, config.amp)
    reporter.line(f"model: {config.cell.upper()} with {model.parameter_count():,} parameters on "
                  f"{device}")
    progress = Progress()
    metrics_file = metrics_path(out)
    if ranks.is_main:
        metrics_file.unlink(missing_ok=True)

    since = Interval()
    unsynced_loss: torch.Tensor | None = None

    def sync_loss() -> None:
        """Add the losses summed on the device (over every rank) to the report's total."""
        nonlocal unsynced_loss
        if unsynced_loss is None:
            return
        value = float(distributed.all_reduce_sum(unsynced_loss, ranks))
        unsynced_loss = None
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the training loss became {value} by step {progress.steps}; the last good "
                f"checkpoint is kept; lower --learning-rate (now {config.learning_rate}) or set "
                "--clip-norm"
            )
        since.loss_sum += value

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
    train_lengths = train_set.lengths
    while progress.epoch < config.epochs:
        batches = epoch_order(train_lengths, config.batch_size, config.seed, progress.epoch)
        epoch_batches = distributed.usable_batches(len(batches), ranks)
        done_in_epoch = int(sum(len(b) for b in batches[: progress.batch_in_epoch]))
        reporter.start_epoch(progress.epoch + 1, config.epochs, len(train_set), done_in_epoch)
        reported_this_epoch = False
        tick = time.monotonic()
        # Each step takes one batch per rank; this rank trains on its own.
        for group in distributed.step_groups(batches[progress.batch_in_epoch :], ranks):
            batch = make_batch(train_set, group[ranks.rank])
            loss_sum = train_loss(distributed.to_device(batch.inputs, device),
                                  distributed.to_device(batch.targets, device))
            loss = loss_sum / batch.tokens
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()

            step_sentences = sum(len(indices) for indices in group)
            progress.steps += 1
            progress.batch_in_epoch += len(group)
            progress.examples += step_sentences
            progress.tokens += sum(distributed.batch_tokens(train_lengths, i) for i in group)
            done_in_epoch += step_sentences
            detached = loss_sum.detach()
            unsynced_loss = detached if unsynced_loss is None else unsynced_loss + detached

            epoch_ended = progress.batch_in_epoch >= epoch_batches
            if epoch_ended:
                progress.epoch += 1
                progress.batch_in_epoch = 0
            last_step = epoch_ended and progress.epoch == config.epochs
            report_due = (progress.examples >= next_report_at(progress.examples - step_sentences,
                                                              config.print_every)
                          or (epoch_ended and not reported_this_epoch) or last_step)
            if report_due or progress.steps % LOSS_SYNC_STEPS == 0:
                sync_loss()
                now = time.monotonic()
                progress.elapsed_s += now - tick
                tick = now
                reporter.advance(done_in_epoch, since.train_loss(progress),
                                 since.tokens_per_s(progress))
            if report_due:
                if ranks.is_main:
                    report()
                reported_this_epoch = True
                tick = time.monotonic()
    reporter.stop_progress()
    # Rank 0's last report saves the checkpoint; the run ends when it is written.
    distributed.barrier(ranks)
    return out


