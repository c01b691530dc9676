"""Building a training run: how it starts, the data, the model, the optimizer and schedule,
where it saves and where it reports. `build_run` does everything before the first step and returns
the `Run` (run.py); loop.py takes it from there."""

from __future__ import annotations

import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import torch

from charlm.checkpoint.schema import Checkpoint
from charlm.data.batches import split_validation, target_counts
from charlm.data.corpus import corpus_files, corpus_members, is_csv
from charlm.data.prepare import (
    PreparedCorpus,
    dropped_warning,
    encode_corpus,
    over_long_sentences,
    split_advice,
)
from charlm.data.settings import DOCUMENT
from charlm.data.streams import held_out_documents
from charlm.data.types import EncodedSentences
from charlm.data.word_tokenizer import word_tokenizer_warning
from charlm.errors import CorpusError
from charlm.model.network import RNNLanguageModel
from charlm.model.softmax import adaptive_cutoffs
from charlm.options import origins_of, settings_of
from charlm.paths import (
    check_directory_destination,
    check_file_destination,
    check_not_read,
    check_replaceable,
)
from charlm.training.carried import CarriedState
from charlm.training.checkpointer import Checkpointer, best_path, check_output_path
from charlm.training.config import TrainConfig
from charlm.training.init_from import FineTuning, init_config
from charlm.training.lock import OutputLock
from charlm.training.optimizers import (
    build_optimizer,
    check_optimisation,
    initialise_embedding,
    initialise_uniformly,
    nonmonotone_switch,
)
from charlm.training.outputs import (
    METRICS_OUTPUT,
    MetricsFile,
    Output,
    Outputs,
    metrics_path,
)
from charlm.training.progress import RunningFigures
from charlm.training.ranks import Ranks
from charlm.training.resume import (
    Resumption,
    corpus_record,
    resolve_auto_resume,
    resume_command,
    resume_config,
)
from charlm.training.run import Run
from charlm.training.runtime import Runtime
from charlm.training.schedule import build_schedule
from charlm.training.start import Start
from charlm.training.tensorboard import TensorBoardOutput


def choose_start(config: TrainConfig) -> Start:
    """How the run starts, with its settings merged with the checkpoint's or the model's."""
    config = resolve_auto_resume(config)
    if config.resume is not None:
        return Resumption(*resume_config(config))
    if config.init_from is not None:
        return FineTuning(*init_config(config))
    return Start(config)


def build_run(config: TrainConfig, console: Output, held: ExitStack) -> Run:
    """Everything up to the first training step: check, lock, prepare, build, restore, and
    only then write the outputs' start. The lock on the output path stays in `held` until the
    caller closes it."""
    start = choose_start(config)
    config, out = start.config, start.out
    config.check_windows()
    check_optimisation(config)
    ranks = Ranks.from_environment()
    runtime = Runtime.start(config.device, config.threads, config.amp, ranks.local_rank,
                            ranks.local_world_size)
    ranks.join(runtime.device)
    best = best_path(out) if config.keep_best else None
    lock = OutputLock(out)  # taken by rank 0, which saves, and asked before each save
    outputs = ranks.main_only(partial(claim_outputs, config, console, out, best,
                                      start.in_place, held, lock)) or Outputs([])
    if config.valid is not None:
        corpus_files(config.valid)  # a missing validation file fails before any work
    report_configuration(outputs, config, out, ranks, runtime)

    started = time.monotonic()
    corpus = ranks.share_corpus(start.prepare)
    report_corpus(outputs, corpus, time.monotonic() - started, start.cache_hit)
    start.report_corpus(outputs, corpus)
    train_set, valid_set, valid_source = training_and_validation(config, corpus)
    outputs.line(f"training on {len(train_set):,} sentences, validating on "
                 f"{len(valid_set):,}{valid_source}")

    model = build_model(config, len(corpus.vocabulary), train_set, runtime, start.stored)
    optimizer = build_optimizer(config, model)
    run = Run(
        config=config, ranks=ranks, runtime=runtime, outputs=outputs, corpus=corpus,
        corpus_record=corpus_record(str(config.corpus), corpus, start.digest),
        train_set=train_set, valid_set=valid_set, model=model,
        step_loss=ranks.wrap(runtime.loss_module(model), runtime.device), optimizer=optimizer,
        schedule=build_schedule(config.lr_schedule, optimizer, settings_of(config)),
        checkpointer=Checkpointer(out, best, resume_command(str(config.corpus), out), lock),
        carried=CarriedState() if config.context == DOCUMENT else None,
        switch=nonmonotone_switch(config),
    )
    report_model(run)
    figures_state = start.begin(run)  # replaces run.progress when resuming
    run.figures = RunningFigures(run.progress, figures_state)
    # Only rank 0 reports and saves, so only it keeps an average.
    if ranks.is_main:
        run.average = start.average(run)
    # The epoch's cut refuses a text too short for its rows. The last check: nothing at --out,
    # beside it or in --tensorboard changes before every check has passed.
    run.epoch_batches(run.progress.epoch)
    run.outputs.history(run.progress.metrics)
    return run


def build_model(config: TrainConfig, vocab_size: int, train_set: EncodedSentences,
                runtime: Runtime, stored: Checkpoint | None) -> RNNLanguageModel:
    """The seeded new model; an adaptive softmax keeps the cut-offs of the model a run continues
    (its weights are shaped by them), or takes them from this corpus's training targets."""
    cutoffs: tuple[int, ...] = ()
    if config.softmax == "adaptive":
        cutoffs = (tuple(stored.model_config.get("cutoffs", ())) if stored is not None
                   else adaptive_cutoffs(target_counts(train_set, vocab_size)))
    torch.manual_seed(config.seed)
    config.check_model()
    model = RNNLanguageModel(config.model_config(vocab_size, cutoffs))
    if config.init_range > 0:
        initialise_uniformly(model, config.init_range)
    if config.embedding_init_range > 0:
        initialise_embedding(model, config.embedding_init_range)
    return model.to(runtime.device)


def build_outputs(config: TrainConfig, console: Output, out: Path) -> Outputs:
    """Where the run's events go (on rank 0): the console, the metrics file, TensorBoard."""
    outputs: list[Output] = [console, MetricsFile(metrics_path(out))]
    if config.tensorboard is not None:
        outputs.append(TensorBoardOutput(Path(config.tensorboard)))
    return Outputs(outputs)


def claim_outputs(config: TrainConfig, console: Output, out: Path, best: Path | None,
                  in_place: bool, held: ExitStack, lock: OutputLock) -> Outputs:
    """Check every path the run writes, lock the output path (held until `held` closes),
    refuse to overwrite what is not this run's to overwrite, and open the run's outputs. Rank 0
    alone writes files."""
    check_file_destination(out, "--out")  # first: the files beside it are named after it
    reading = files_read(config, in_place)
    written = [out, metrics_path(out), *([best] if best is not None else [])]
    for path in written:
        check_file_destination(path, "--out")
        check_not_read(path, "--out", reading)
    if config.tensorboard is not None:
        check_directory_destination(Path(config.tensorboard), "--tensorboard")
    taken_over = held.enter_context(lock).acquire()
    replace = config.force or in_place
    check_output_path(out, replace)
    # The metrics file goes with its checkpoint; with none at --out it records a run that
    # saved nothing (a job killed before its first save, which --resume auto starts again).
    check_replaceable(metrics_path(out), "--out", METRICS_OUTPUT, replace or not out.exists())
    if best is not None:
        check_output_path(best, replace)
    outputs = build_outputs(config, console, out)
    if taken_over:
        outputs.warning(taken_over)
    return outputs


def files_read(config: TrainConfig, in_place: bool) -> list[tuple[str, Path]]:
    """Every file the run reads, with what it is: none may be one the run writes, but for the
    checkpoint that resuming in place continues."""
    reading: list[tuple[str, Path]] = []
    for flag, corpus in (("the corpus", config.corpus), ("the --valid corpus", config.valid)):
        if corpus is not None:
            members = corpus_members(corpus)
            reading += [(flag if member == Path(corpus) else f"a file of {flag}", member)
                        for member in members]
    if config.vocabulary is not None:
        reading.append(("the --vocabulary word list", Path(config.vocabulary)))
    if config.init_from is not None:
        reading.append(("the model --init-from starts from", Path(config.init_from)))
    if config.resume is not None and not in_place:
        reading.append(("the checkpoint --resume continues", Path(config.resume)))
    return reading


def report_configuration(outputs: Output, config: TrainConfig, out: Path, ranks: Ranks,
                         runtime: Runtime) -> None:
    """The settings, each with where it came from, and how the run is spread."""
    origins = origins_of(config)
    outputs.settings("configuration", {
        name: f"{value} ({origins.get(name, 'default')})"
        for name, value in (settings_of(config) | {"out": str(out)}).items()
    })
    if ranks.active:
        outputs.line(f"torchrun: {ranks.world_size} ranks on {runtime.device.type}, "
                     f"{runtime.threads} threads each")
    warning = runtime.amp_warning()
    if warning:
        outputs.warning(warning)


def report_corpus(outputs: Output, corpus: PreparedCorpus, seconds: float, cache_hit: bool
                  ) -> None:
    """What preparing the corpus found: the tutorial's figures and more."""
    vocab_stats = corpus.vocabulary_stats
    outputs.line(corpus.split.line())
    for warning in reading_warnings(corpus):
        outputs.warning(warning)
    # A fine-tuning run's vocabulary is the model's: no word was kept from this corpus.
    kept = {} if vocab_stats.least_frequent_word is None else {
        "least frequent kept word": f"{vocab_stats.least_frequent_word!r} "
                                    f"({vocab_stats.least_frequent_count:,} times)"}
    outputs.settings("corpus", {
        "sentences parsed": f"{len(corpus.sentences):,}",
        "documents": f"{corpus.sentences.document_count:,}",
        "tokens": f"{vocab_stats.tokens:,}",
        "unique words": f"{vocab_stats.unique_words:,}",
        "vocabulary size": f"{vocab_stats.size:,}",
        **kept,
        "vocabulary covers": f"{vocab_stats.coverage:.1%} of tokens",
        "sentence splitter": corpus.tokenizer.settings.splitter,
        "prepared in": f"{seconds:.1f} s" + (" (cached)" if cache_hit else ""),
    })


def reading_warnings(corpus: PreparedCorpus) -> list[str]:
    """What reading and tokenizing the corpus found wrong, one line each."""
    warnings = corpus.corpus_stats.warnings()
    dropped = dropped_warning(corpus)
    if dropped:
        warnings.append(dropped)
    tokenizer = word_tokenizer_warning()
    if tokenizer:
        warnings.append(tokenizer)
    return warnings


def report_model(run: Run) -> None:
    config, model = run.config, run.model
    kind = "hand-written" if model.config.hand_written else "fused"
    gates = "" if config.cell == "rnn" else f", {config.gate_activation} gates"
    output = ""
    if model.config.softmax != "full":
        output = f", {model.config.softmax} softmax cut at {list(model.config.cutoffs)}"
    run.outputs.line(f"model: {config.cell.upper()} ({kind}{gates}{output}) with "
                     f"{model.parameter_count():,} parameters on {run.runtime.device}")


def training_and_validation(
    config: TrainConfig, corpus: PreparedCorpus
) -> tuple[EncodedSentences, EncodedSentences, str]:
    """The sentences to train on and to validate on (a held-out share, or --valid's file), and
    where the validation sentences come from, for the report. Document context holds out
    running text: whole documents, or the end of each (held_out_documents)."""
    if config.valid is not None:
        valid_column = config.text_column if is_csv(Path(config.valid)) else None
        valid_set = encode_corpus(config.valid, corpus.tokenizer, corpus.vocabulary, valid_column)
        return corpus.sentences, valid_set, f" from {config.valid}"
    sentences, held_out = corpus.sentences, ""
    try:
        if config.context == DOCUMENT:
            train_ids, valid_ids, how = held_out_documents(sentences, config.valid_fraction,
                                                           config.seed)
            held_out = f" ({how} of {sentences.document_count:,} documents)"
        else:
            train_ids, valid_ids = split_validation(len(sentences), config.valid_fraction,
                                                    config.seed)
    except CorpusError as error:
        tokenizer = corpus.tokenizer
        if not tokenizer.dropped_long:
            raise
        dropped = over_long_sentences(tokenizer.dropped_long, config.max_sentence_words,
                                      tokenizer.longest_dropped, "dropped")
        raise CorpusError(f"{error}; {dropped}: {split_advice(tokenizer.settings.split)}"
                          ) from None
    return sentences.subset(train_ids), sentences.subset(valid_ids), held_out
