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
from charlm.batches import batch_tokens, epoch_order, iterate_batches, make_batch, split_validation
from charlm.cache import cached_prepare
from charlm.checkpoint import is_checkpoint, save_checkpoint
from charlm.config import TrainConfig, given_fields
from charlm.corpus import corpus_files, fingerprint, is_csv
from charlm.errors import CharlmError, ConfigError, CorpusError
from charlm.generate import detokenize, make_generator, sample_sentences
from charlm.interrupts import Interrupted, catch_interrupts, signal_name
from charlm.model import ModelConfig, RNNLanguageModel
from charlm.prepare import EncodedSentences, PreparedCorpus, encode_corpus
from charlm.report import Reporter
from charlm.resume import corpus_info, resume_command, resume_config, resumed_corpus
from charlm.schedule import PlateauSchedule

EVAL_BATCH_SIZE = 256
# Steps between reading the training loss back from a GPU: each read waits for the device (and,
# under torchrun, for every rank), so it is not done on every step. On a CPU reading costs
# nothing and is done every step, so a diverging loss is named at its exact step.
GPU_LOSS_SYNC_STEPS = 16


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
    # The running figures since the last report, so a resumed run reports what an
    # uninterrupted one would.
    reported_in_epoch: bool = False
    interval_tokens: int = 0
    interval_elapsed_s: float = 0.0
    interval_loss_sum: float = 0.0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Progress:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})


class Interval:
    """Training totals at the last report, to express the figures since then."""

    def __init__(self) -> None:
        self.tokens = 0
        self.elapsed_s = 0.0
        self.loss_sum = 0.0

    def restart(self, progress: Progress) -> None:
        self.tokens, self.elapsed_s, self.loss_sum = progress.tokens, progress.elapsed_s, 0.0

    def store(self, progress: Progress) -> None:
        progress.interval_tokens = self.tokens
        progress.interval_elapsed_s = self.elapsed_s
        progress.interval_loss_sum = self.loss_sum

    def load(self, progress: Progress) -> None:
        self.tokens = progress.interval_tokens
        self.elapsed_s = progress.interval_elapsed_s
        self.loss_sum = progress.interval_loss_sum

    def train_loss(self, progress: Progress) -> float:
        return self.loss_sum / max(progress.tokens - self.tokens, 1)

    def tokens_per_s(self, progress: Progress) -> float:
        return (progress.tokens - self.tokens) / max(progress.elapsed_s - self.elapsed_s, 1e-9)


def next_report_at(examples: int, print_every: int) -> int:
    """The first multiple of print_every above `examples`."""
    return (examples // print_every + 1) * print_every


def metrics_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".metrics.jsonl")


def best_path(checkpoint: Path) -> Path:
    """Where --keep-best keeps the best checkpoint: model.pt → model.best.pt."""
    return checkpoint.with_name(f"{checkpoint.stem}.best{checkpoint.suffix or '.pt'}")


def _writable(directory: Path) -> bool:
    """Whether a file can be created in `directory` (tried, since os.access is wrong for root)."""
    if not os.access(directory, os.W_OK):
        return False
    probe = directory / f".charlm-write-probe-{os.getpid()}"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink(missing_ok=True)
    return True


def check_output_path(path: Path, force: bool) -> None:
    """Refuse, before any work, an output path that cannot be written or would lose a file."""
    directory = path.parent
    if directory.exists() and not directory.is_dir():
        raise CharlmError(f"cannot write {path}: {directory} is a file, not a directory; choose "
                          "another --out")
    if not directory.is_dir():
        raise CharlmError(f"cannot write {path}: directory {directory} does not exist; create it "
                          "or choose another --out")
    if not _writable(directory):
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
    corpus_record: dict[str, Any],
    schedule: PlateauSchedule,
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
        "lr_schedule": schedule.state_dict(),
        "torch_rng_state": torch.get_rng_state(),
        "corpus": corpus_record,
    }


def report_corpus(reporter: Reporter, corpus: PreparedCorpus, max_sentence_words: int,
                  seconds: float, cache_hit: bool) -> None:
    """What preparing the corpus found: the tutorial's figures and more."""
    stats, vocab_stats = corpus.corpus_stats, corpus.vocabulary_stats
    if stats.replaced_characters:
        reporter.warning(f"{stats.replaced_characters:,} invalid UTF-8 byte sequences were "
                         "replaced by U+FFFD")
    if corpus.tokenizer.dropped_long:
        reporter.warning(f"{corpus.tokenizer.dropped_long:,} sentences longer than "
                         f"--max-sentence-words={max_sentence_words} words were dropped")
    reporter.settings("corpus", {
        "sentences parsed": f"{len(corpus.sentences):,}",
        "tokens": f"{vocab_stats.tokens:,}",
        "unique words": f"{vocab_stats.unique_words:,}",
        "vocabulary size": f"{vocab_stats.size:,}",
        "least frequent kept word": f"{vocab_stats.least_frequent_word!r} "
                                    f"({vocab_stats.least_frequent_count:,} times)",
        "vocabulary covers": f"{vocab_stats.coverage:.1%} of tokens",
        "sentence splitter": corpus.tokenizer.settings.splitter,
        "prepared in": f"{seconds:.1f} s" + (" (cached)" if cache_hit else ""),
    })


def training_and_validation(
    config: TrainConfig, corpus: PreparedCorpus
) -> tuple[EncodedSentences, EncodedSentences, str]:
    """The sentences to train on and to validate on (a held-out share, or --valid's file)."""
    if config.valid is not None:
        valid_column = config.text_column if is_csv(Path(config.valid)) else None
        valid_set = encode_corpus(config.valid, corpus.tokenizer, corpus.vocabulary, valid_column)
        return corpus.sentences, valid_set, f" from {config.valid}"
    try:
        train_ids, valid_ids = split_validation(len(corpus.sentences), config.valid_fraction,
                                                config.seed)
    except CorpusError as error:
        dropped = corpus.tokenizer.dropped_long
        if not dropped:
            raise
        raise CorpusError(f"{error}; {dropped:,} sentences longer than --max-sentence-words="
                          f"{config.max_sentence_words} were dropped") from None
    return corpus.sentences.subset(train_ids), corpus.sentences.subset(valid_ids), ""


def train(config: TrainConfig, reporter: Reporter) -> Path:
    """Run `charlm train`; returns the checkpoint path."""
    with catch_interrupts() as guard:
        return _train(config, reporter, guard)


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _train(config: TrainConfig, reporter: Reporter, guard: Any) -> Path:
    document: dict[str, Any] | None = None
    if config.resume is not None:
        config, document = resume_config(config)
    out = Path(config.out or config.resume or config.default_out)
    # Resuming writes over the checkpoint it continues: that is what --resume asks for.
    in_place = config.resume is not None and _same_file(Path(config.resume), out)
    ranks, device = distributed.setup(config.device)
    best = best_path(out) if config.keep_best else None
    if ranks.is_main:
        check_output_path(out, config.force or in_place)
        if best is not None:
            check_output_path(best, config.force or config.resume is not None)
    else:
        reporter = Reporter(Console(file=open(os.devnull, "w")))
        distributed.silence_warnings(ranks)
    if config.valid is not None:
        corpus_files(config.valid)  # a missing validation file fails before any work
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
    digest = ""  # only rank 0 saves checkpoints, the only use of the corpus fingerprint

    def prepare() -> PreparedCorpus:
        nonlocal cache_hit, digest
        if document is not None:
            digest = document["corpus"]["fingerprint"]
            return resumed_corpus(config, document, str(config.resume), workers=config.workers)
        digest = fingerprint(str(config.corpus))
        corpus, cache_hit = cached_prepare(
            str(config.corpus),
            vocabulary_size=config.vocabulary_size,
            lowercase=config.lowercase,
            drop_urls=config.drop_urls,
            min_chars=config.min_chars,
            text_column=config.text_column,
            max_words=config.max_sentence_words,
            workers=config.workers,
            cache_dir=config.cache_dir,
            use_cache=config.cache,
            digest=digest,
        )
        return corpus

    corpus = distributed.share_corpus(ranks, prepare)
    corpus_record = corpus_info(str(config.corpus), corpus, digest)
    report_corpus(reporter, corpus, config.max_sentence_words,
                  time.monotonic() - started, cache_hit)
    train_set, valid_set, valid_source = training_and_validation(config, corpus)
    reporter.line(f"training on {len(train_set):,} sentences, validating on "
                  f"{len(valid_set):,}{valid_source}")

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
    problem = model_config.problem()
    if problem:
        raise ConfigError(f"cannot build this model: {problem}")
    model = RNNLanguageModel(model_config).to(device)
    optimizer = torch.optim.RMSprop(
        model.parameters(), lr=config.learning_rate, alpha=config.decay, eps=config.epsilon
    )
    schedule = PlateauSchedule(optimizer, config.lr_decay, config.patience)
    train_loss = distributed.loss_module(model, ranks, device, config.amp)
    kind = "hand-written" if model_config.hand_written else "fused"
    gates = "" if config.cell == "rnn" else f", {config.gate_activation} gates"
    reporter.line(f"model: {config.cell.upper()} ({kind}{gates}) with "
                  f"{model.parameter_count():,} parameters on {device}")
    progress = Progress()
    if document is not None:
        progress = _restore(document, model, optimizer, config)
        if "lr_schedule" in document:
            schedule.load_state_dict(document["lr_schedule"])
        reporter.line(f"resuming {config.resume} at epoch {progress.epoch + 1}, step "
                      f"{progress.steps}, {progress.examples:,} sentences seen")
    metrics_file = metrics_path(out)
    if ranks.is_main and document is None:
        metrics_file.unlink(missing_ok=True)
    elif ranks.is_main:
        # The checkpoint's record is the run's history: the file continues from it.
        metrics_file.write_text("".join(json.dumps(m) + "\n" for m in progress.metrics),
                                encoding="utf-8")

    since = Interval()
    since.load(progress)
    unsynced_loss: torch.Tensor | None = None
    unsynced_steps = 0
    sync_every = 1 if device.type == "cpu" else GPU_LOSS_SYNC_STEPS

    def sync_loss() -> None:
        """Add the losses summed on the device (over every rank) to the report's total."""
        nonlocal unsynced_loss, unsynced_steps
        if unsynced_loss is None:
            return
        value = float(distributed.all_reduce_sum(unsynced_loss, ranks))
        where = "at" if unsynced_steps == 1 else "by"
        unsynced_loss, unsynced_steps = None, 0
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the training loss became {value} {where} step {progress.steps}; "
                f"{kept_checkpoint()}; lower --learning-rate (now {config.learning_rate}) "
                "or set --clip-norm"
            )
        since.loss_sum += value
    saved_step = progress.steps if in_place else -1
    command = resume_command(str(config.corpus), out)

    def kept_checkpoint() -> str:
        if saved_step < 0:
            return "no checkpoint was saved yet"
        return f"the last good checkpoint {out} (step {saved_step}) is kept"

    def save() -> dict[str, Any]:
        nonlocal saved_step
        since.store(progress)
        payload = checkpoint_payload(model, optimizer, config, corpus, progress, corpus_record,
                                     schedule)
        save_checkpoint(payload, out)
        saved_step = progress.steps
        guard.immediate_message = (f"interrupted again, stopped at once; the checkpoint {out} "
                                   f"(step {saved_step}) is intact; resume with: {command}")
        return payload

    def report() -> None:
        val_loss, _ = evaluate_loss(model, valid_set, device)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(f"the validation loss became {val_loss} at step "
                                   f"{progress.steps}; {kept_checkpoint()}; lower "
                                   "--learning-rate or set --clip-norm")
        improved = val_loss < progress.best_val_loss
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
        # The decayed rate applies from the next step on; `lr` above is the one this interval used.
        if schedule.step(val_loss):
            reporter.lr_decayed(metrics["lr"], schedule.lr, config.patience)
        reporter.samples(sample_text(model, corpus, config.samples, config.seed + progress.reports))
        since.restart(progress)
        payload = save()
        with open(metrics_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(metrics) + "\n")
        reporter.saved(str(out))
        if best is not None and improved:
            save_checkpoint(payload, best)
            reporter.line(f"best validation loss so far: also saved {best}")

    guard.immediate_message = f"interrupted, stopped at once; {kept_checkpoint()}"
    guard.deferring = True
    model.train()
    train_lengths = train_set.lengths
    while progress.epoch < config.epochs:
        batches = epoch_order(train_lengths, config.batch_size, config.seed, progress.epoch)
        epoch_batches = distributed.usable_batches(len(batches), ranks)
        done_in_epoch = int(sum(len(b) for b in batches[: progress.batch_in_epoch]))
        reporter.start_epoch(progress.epoch + 1, config.epochs, len(train_set), done_in_epoch)
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
            progress.tokens += sum(batch_tokens(train_lengths, i) for i in group)
            done_in_epoch += step_sentences
            detached = loss_sum.detach()
            unsynced_loss = detached if unsynced_loss is None else unsynced_loss + detached
            unsynced_steps += 1

            epoch_ended = progress.batch_in_epoch >= epoch_batches
            if epoch_ended:
                progress.epoch += 1
                progress.batch_in_epoch = 0
            last_step = epoch_ended and progress.epoch == config.epochs
            report_due = (progress.examples >= next_report_at(progress.examples - step_sentences,
                                                              config.print_every)
                          or (epoch_ended and not progress.reported_in_epoch) or last_step)
            # Every rank stops at the same step, whichever rank the signal reached first.
            stop = distributed.any_rank(guard.requested, ranks)
            if report_due or stop or progress.steps % sync_every == 0:
                sync_loss()
                now = time.monotonic()
                progress.elapsed_s += now - tick
                tick = now
                reporter.advance(done_in_epoch, since.train_loss(progress),
                                 since.tokens_per_s(progress))
            if report_due:
                # Before report() saves it. batch_in_epoch is 0 right after an epoch ended: the
                # next epoch has had no report yet.
                progress.reported_in_epoch = progress.batch_in_epoch > 0
                if ranks.is_main:
                    report()
                tick = time.monotonic()
            if epoch_ended:
                progress.reported_in_epoch = False
            if stop:
                reporter.stop_progress()
                if saved_step != progress.steps and ranks.is_main:
                    save()
                raise Interrupted(
                    guard.signum or 0,
                    f"{signal_name(guard.signum or 0)} received: finished step {progress.steps} "
                    f"and saved the checkpoint {out}; resume with: {command}",
                )
    guard.deferring = False
    reporter.stop_progress()
    # Rank 0's last report saves the checkpoint; the run ends when it is written.
    distributed.barrier(ranks)
    return out


def _restore(
    document: dict[str, Any],
    model: RNNLanguageModel,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
) -> Progress:
    """Load a resumed checkpoint's weights, optimizer and random state; return its progress."""
    try:
        model.load_state_dict(document["model_state"])
        optimizer.load_state_dict(document["optimizer_state"])
        torch.set_rng_state(document["torch_rng_state"])
        progress = Progress.from_dict(document["progress"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CharlmError(
            f"{config.resume} cannot be resumed: its training state does not fit this model "
            f"({type(error).__name__}: {str(error).splitlines()[0][:80]}); start a new run"
        ) from None
    given = given_fields(config)
    # Optimizer settings given on the command line replace the checkpoint's.
    for group in optimizer.param_groups:
        if "learning_rate" in given:
            group["lr"] = config.learning_rate
        if "decay" in given:
            group["alpha"] = config.decay
        if "epsilon" in given:
            group["eps"] = config.epsilon
    return progress
