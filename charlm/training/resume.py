"""`charlm train --resume`: continue a run from its checkpoint exactly where it stopped; the
`Resumption` start (start.py) and everything it checks and restores.

A resumed run takes every setting the user does not give from the checkpoint. Settings that decide
the data, the batches or the model's shape (the `fixed` ones of TrainConfig) must match or be left
out; the number of epochs, the report interval, the learning rate and the like may change. The
corpus is verified by a digest of its content, then encoded with the checkpoint's own tokenizer
and vocabulary, never rebuilt.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from charlm.checkpoint.files import is_checkpoint
from charlm.checkpoint.schema import Checkpoint, read_checkpoint
from charlm.data.corpus import fingerprint, legacy_fingerprint
from charlm.data.prepare import PreparedCorpus, encode_corpus
from charlm.errors import CharlmError, CheckpointError, ConfigError, first_line
from charlm.options import (
    current_spellings,
    fixed_fields,
    option_fields,
)
from charlm.training.averaging import WeightAverage
from charlm.training.config import WORD_LIST, TrainConfig
from charlm.training.optimizers import apply_given_settings
from charlm.training.progress import EARLY_STOP, Progress
from charlm.training.ranks import Ranks
from charlm.training.run import Run
from charlm.training.schedule import DEFAULT_SCHEDULE
from charlm.training.start import Start, check_word_list, inherit

# Chosen afresh by each command rather than taken from the checkpoint.
NOT_INHERITED = ("corpus", "out", "force", "resume", "init_from")
# --resume auto: continue from --out when it holds a checkpoint, else start there.
AUTO = "auto"


class AlreadyTrained(CharlmError):
    """The checkpoint to resume has finished its run: nothing to do, and no failure."""

    exit_code = 0

    def __init__(self, message: str, checkpoint: Path) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class Resumption(Start):
    """--resume: the checkpoint's weights, optimizer, schedule, random state and progress, on
    the same corpus encoded as it was then."""

    def __init__(self, config: TrainConfig, checkpoint: Checkpoint) -> None:
        super().__init__(config)
        self.checkpoint = checkpoint

    @property
    def stored(self) -> Checkpoint | None:
        return self.checkpoint

    @property
    def out(self) -> Path:
        return Path(self.config.out or str(self.config.resume))

    @property
    def in_place(self) -> bool:
        return Path(str(self.config.resume)).resolve() == self.out.resolve()

    def prepare(self) -> PreparedCorpus:
        corpus = resumed_corpus(self.config, self.checkpoint)
        self.digest = str((self.checkpoint.corpus or {}).get("fingerprint", ""))
        return corpus

    def begin(self, run: Run) -> dict[str, Any]:
        restore_training_state(run, self.checkpoint)
        run.initialised_from = self.checkpoint.initialised_from
        run.progress.go_on(run.config.early_stop)
        run.outputs.line(f"resuming {run.config.resume} at epoch {run.progress.epoch + 1}, step "
                         f"{run.progress.steps}, {run.progress.examples:,} sentences seen")
        if self.in_place:
            run.checkpointer.saved_step = run.progress.steps
        return self.checkpoint.progress or {}

    def average(self, run: Run) -> WeightAverage | None:
        average = super().average(run)
        if average is not None and self.checkpoint.weight_average is not None:
            try:
                average.load(self.checkpoint.model_state,
                             self.checkpoint.weight_average["updates"])
            except (KeyError, TypeError, ValueError, RuntimeError) as error:
                raise unfit_state(run.config, error) from None
        return average


def nothing_to_do(path: str, progress: Progress, asked_before: int, config: TrainConfig
                  ) -> str | None:
    """Why resuming with `config` a run that was asked for `asked_before` epochs has nothing to
    do, or None when it trains on. A run that stopped early trains on when given more patience
    (a larger --early-stop, or 0) or more epochs; the same command again has nothing to do."""
    if progress.epoch >= config.epochs:
        return f"{path}: already trained {progress.epoch} of {config.epochs} epochs; nothing to do"
    if progress.stopped != EARLY_STOP:
        return None
    patience = progress.reports_without_improvement
    if config.early_stop == 0 or config.early_stop > patience or config.epochs > asked_before:
        return None
    return (f"{path}: {progress.stopped_early(asked_before)}; nothing to do; to train on, pass "
            f"--early-stop above {patience} (or 0) or --epochs above {asked_before}")


def resolve_auto_resume(config: TrainConfig) -> TrainConfig:
    """--resume auto, the same command for a batch job's first run and every rerun: resume
    --out when it holds a checkpoint, else start a new run there."""
    if config.resume != AUTO:
        return config
    if config.out is None:
        raise ConfigError("--resume auto needs --out: the checkpoint to continue when it exists "
                          "and to write when it does not")
    out = Path(config.out)
    start = not (out.is_file() and is_checkpoint(out))
    if start and config.corpus is None:
        raise ConfigError(f"no corpus given and {out} holds no checkpoint to resume: pass a "
                          "path (charlm train corpus.txt) or set INPUT_DATA_FILE")
    return replace(config, resume=None if start else str(out))


def corpus_record(path: str, corpus: PreparedCorpus, digest: str) -> dict[str, Any]:
    """What a checkpoint records of its corpus, to recognise it when resuming."""
    return {
        "path": path,
        "fingerprint": digest,
        "sentences": len(corpus.sentences),
        "vocabulary_stats": asdict(corpus.vocabulary_stats),
    }


def resume_config(config: TrainConfig) -> tuple[TrainConfig, Checkpoint]:
    """The checkpoint to resume, and the run's settings: given ones checked, others inherited."""
    path = str(config.resume)
    checkpoint = read_checkpoint(path)
    missing = checkpoint.missing_for_resume()
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it has no {', '.join(missing)} (written "
                              "by an older charlm?); start a new run without --resume")
    stored = TrainConfig.BEFORE_FIELD | current_spellings(TrainConfig,
                                                          checkpoint.train_config or {})
    refusal = f"cannot resume {path} with other settings"
    advice = "Leave them out to continue with the checkpoint's, or start a new run"
    check_word_list(config, checkpoint.vocabulary, "the checkpoint", refusal, advice)
    merged = inherit(
        config, {f.name: stored[f.name] for f in option_fields(TrainConfig)
                 if f.name not in NOT_INHERITED and f.name in stored},
        refused=[name for name in fixed_fields(TrainConfig) if name != WORD_LIST],
        holder="the checkpoint", refusal=refusal, advice=advice)
    if merged.corpus is None:
        merged = replace(merged, corpus=checkpoint.corpus["path"])
    progress = Progress.from_dict(checkpoint.progress or {})
    if progress.epoch > merged.epochs:
        raise ConfigError(f"{path} has already trained {progress.epoch} epochs, more than "
                          f"--epochs {merged.epochs}; pass a larger --epochs to train further")
    done = nothing_to_do(path, progress, stored.get("epochs", merged.epochs), merged)
    if done is not None:
        raise AlreadyTrained(done, Path(path))
    return merged, checkpoint


def resumed_corpus(config: TrainConfig, checkpoint: Checkpoint) -> PreparedCorpus:
    """The checkpoint's corpus, verified to be the same text and encoded as it was then."""
    resume = str(config.resume)
    info = checkpoint.corpus or {}
    corpus_path = str(config.corpus)
    if not same_corpus(corpus_path, info):
        raise CharlmError(f"cannot resume {resume}: {corpus_path} is not the corpus it was trained "
                          f"on ({info.get('path')}), its content differs; resume with that corpus "
                          "or start a new run without --resume")
    metadata = {"vocabulary": checkpoint.vocabulary, "written_forms": checkpoint.written_forms,
                "tokenizer": checkpoint.tokenizer,
                "vocabulary_stats": info.get("vocabulary_stats")}
    try:
        empty = PreparedCorpus.from_metadata(metadata, sentences=None)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{resume} has damaged tokenizer or vocabulary settings "
                              f"({type(error).__name__}); start a new run") from None
    sentences = encode_corpus(corpus_path, empty.tokenizer, empty.vocabulary, config.text_column,
                              empty.corpus_stats, workers=config.workers)
    if len(sentences) != info["sentences"]:
        raise CharlmError(f"cannot resume {resume}: {corpus_path} now reads as {len(sentences):,} "
                          f"sentences, not {info['sentences']:,} (another NLTK version?); start "
                          "a new run")
    return replace(empty, sentences=sentences)


def same_corpus(path: str, record: dict[str, Any]) -> bool:
    """Whether the corpus at `path` has the content a checkpoint's corpus record describes."""
    recorded = record.get("fingerprint")
    if fingerprint(path) == recorded:
        return True
    # Checkpoints of charlm 0.1.0 digested a single file's name with its bytes.
    return legacy_fingerprint(path, Path(str(record.get("path", path))).name) == recorded


def resume_command(corpus: str, checkpoint: Path) -> str:
    """The command that continues a stopped run."""
    return f"charlm train {shlex.quote(corpus)} --resume {shlex.quote(str(checkpoint))}"



def restore_carried_state(run: Run, resumed: Checkpoint) -> None:
    """Document context: each rank's rows go on from the state they carried out of their last
    window. The rows are cut for the number of ranks that saved them, so a run stopped inside
    an epoch resumes with that number."""
    assert run.carried is not None
    saved = len(resumed.stream_states or [])
    if run.progress.batch_in_epoch and saved != run.ranks.world_size:
        raise CharlmError(
            f"{run.config.resume} stopped inside an epoch of running text cut for {saved} "
            f"rank(s), and this run has {run.ranks.world_size}: resume it with {saved}")
    run.carried.load(resumed.stream_state(run.ranks.rank), run.runtime.device)


def batches_left_problem(path: str, first: int, count: int, ranks: Ranks) -> str | None:
    """Sentence context: why an epoch of `count` batches, stopped at batch `first` by a run of
    another number of ranks, has no step left for these ranks (a step takes a batch for each);
    None when it has one."""
    left = count - first
    if not first or ranks.epoch_end(first, count) > first:
        return None
    return (f"{path} stopped {left} batch(es) before the end of its epoch, fewer than the "
            f"{ranks.world_size} ranks of this run (a step takes one for each): resume it with "
            f"at most {left} ranks")


def restore_training_state(run: Run, resumed: Checkpoint) -> None:
    """Continue a checkpoint's weights, optimizer, schedule, random state and progress; the
    optimizer settings given now replace the checkpoint's."""
    config = run.config
    # With a weight average, model_state holds the average, not the weights training goes on from.
    averaged = resumed.weight_average
    try:
        run.model.load_state_dict(averaged["training_weights"] if averaged is not None
                                  else resumed.model_state)
        run.optimizer.load_state_dict(resumed.optimizer_state or {})
        # Each rank draws its own dropout masks: it continues from its own random state.
        run.runtime.restore_random_state(resumed.random_state(run.ranks.rank))
        run.progress = Progress.from_dict(resumed.progress or {})
        if run.carried is not None:
            restore_carried_state(run, resumed)
        else:
            problem = batches_left_problem(str(config.resume), run.progress.batch_in_epoch,
                                           run.epoch_batches(run.progress.epoch).count,
                                           run.ranks)
            if problem:
                raise CharlmError(problem)
        # A schedule changed on resuming starts afresh, at the rate the run has reached.
        stored_schedule = (resumed.train_config or {}).get("lr_schedule", DEFAULT_SCHEDULE)
        if resumed.lr_schedule is not None and stored_schedule == config.lr_schedule:
            run.schedule.load_state_dict(resumed.lr_schedule)
        if run.switch is not None and resumed.nt_asgd is not None:
            run.switch.load_state_dict(resumed.nt_asgd)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise unfit_state(config, error) from None
    apply_given_settings(run.optimizer, config)


def unfit_state(config: TrainConfig, error: Exception) -> CharlmError:
    """The error of a checkpoint whose training state (weights, optimizer, average) does not
    load into the model it describes."""
    return CharlmError(
        f"{config.resume} cannot be resumed: its training state does not fit this model "
        f"({type(error).__name__}: {first_line(error)}); start a new run")
