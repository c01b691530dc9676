"""`charlm train`: build the run, then the training loop, top to bottom.

Each step trains on one batch per rank. After a step, in this order: the loss is read back from
the device when due, a report is made when due (validate, sample, save), and a signal received
during the step stops the run with a checkpoint. Under torchrun rank 0 alone reports and saves;
every rank takes part in gathering the random states it saves and in receiving what it decided.

The loop yields each report, after its checkpoint is saved, to whoever iterates
`training_reports`: the command, which only drains it (every output was told already), or a Python
caller. A caller that breaks out of the loop stops the run there, with that report's checkpoint,
as Ctrl-C does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import torch

from charlm.data.types import Batch
from charlm.errors import CharlmError
from charlm.evaluation.scoring import mean_loss, perplexity_of
from charlm.generation.sampling import detokenize, make_generator, sample_passage, sample_sentences
from charlm.training.averaging import UniformAverage
from charlm.training.build import build_run
from charlm.training.config import TrainConfig
from charlm.training.outputs import Output
from charlm.training.progress import EARLY_STOP
from charlm.training.ranks import Ranks
from charlm.training.resume import AlreadyTrained
from charlm.training.run import Run
from charlm.training.signals import Interrupted, InterruptGuard, catch_interrupts, signal_name


class TrainingDiverged(CharlmError):
    """The loss became NaN or infinite."""


@dataclass
class Report:
    """One report of a training run, yielded by `training_reports` once its checkpoint is
    saved."""

    step: int
    epoch: int
    """The epoch the report falls in, counted from 1."""
    sentences: int
    """Training sentences seen so far."""
    tokens: int
    """Training tokens predicted so far."""
    train_loss: float
    """Mean training loss (nats per token) since the previous report."""
    val_loss: float
    val_ppl: float
    tokens_per_s: float
    lr: float
    """The learning rate the steps since the previous report used."""
    elapsed_s: float
    """Training time so far, reports left out."""
    best: bool
    """Whether its validation loss is the best so far."""
    samples: list[str] = field(default_factory=list)
    checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    """With --keep-best: where the best model so far is."""
    stopped: str | None = None
    """"early-stop" when --early-stop ends the run at this report."""

    @classmethod
    def of_record(cls, record: Mapping[str, Any], **rest: Any) -> Report:
        """The report of a metrics-file record (whose `examples` are the sentences seen), with
        the fields a record does not hold."""
        names = {f.name for f in fields(cls)} & record.keys()
        return cls(sentences=record["examples"], **{name: record[name] for name in names},
                   **rest)


TrainingReports = Generator[Report, None, Path]


def training_reports(config: TrainConfig, outputs: Output) -> TrainingReports:
    """Train, yielding each report; returns the checkpoint path (a finished run yields none)."""
    with catch_interrupts() as guard, ExitStack() as held:
        try:
            run = build_run(config, outputs, held)
        except AlreadyTrained as done:
            if Ranks.from_environment().is_main:
                outputs.line(str(done))
            return done.checkpoint
        return (yield from train_loop(run, guard))


def run_to_end(training: TrainingReports, each: Callable[[Report], Any] = lambda _: None
               ) -> Path:
    """Drain the reports of a run, handing each to `each`; returns the checkpoint path. An error
    in `each` stops the run as breaking out of its loop does."""
    with closing(training):
        while True:
            try:
                each(next(training))
            except StopIteration as end:
                return end.value


def run_training(config: TrainConfig, console: Output) -> Path:
    """Run `charlm train`; returns the checkpoint path."""
    return run_to_end(training_reports(config, console))


def train_loop(run: Run, guard: InterruptGuard) -> TrainingReports:
    """Train until the configured epochs are done, reporting and saving as configured."""
    config, progress, ranks, runtime, outputs = (run.config, run.progress, run.ranks,
                                                 run.runtime, run.outputs)
    figures = run.figures
    assert figures is not None
    guard.describe_stop = run.checkpointer.stop_message
    guard.deferring = True
    run.model.train()
    while progress.epoch < config.epochs and progress.stopped is None:
        epoch = run.epoch_batches(progress.epoch)
        start_epoch_rate(run)
        if run.carried is not None and progress.batch_in_epoch == 0:
            run.carried.clear()
        epoch_end = ranks.epoch_end(progress.batch_in_epoch, epoch.count)
        done_in_epoch = epoch.sentences_before(progress.batch_in_epoch)
        outputs.start_epoch(progress.epoch + 1, config.epochs,
                            epoch.sentences_before(epoch_end), done_in_epoch)
        figures.pause()
        for first in ranks.step_starts(progress.batch_in_epoch, epoch.count):
            sentences, tokens = epoch.step_totals(first)
            figures.add_step_loss(train_step(run, epoch.batch(first + ranks.rank),
                                             tokens / ranks.world_size))
            epoch_ended = progress.advance(sentences, tokens, ranks.world_size, epoch_end)
            done_in_epoch += sentences
            report_due = progress.report_due(sentences, config.print_every, epoch_ended,
                                             config.epochs)
            # Every rank stops at the same step, whichever rank the signal reached first.
            stop = ranks.any(guard.requested)
            if report_due or stop or runtime.loss_due(progress.steps):
                read_back_loss(run)
                figures.lap()
                outputs.advance(done_in_epoch, figures.train_loss, figures.tokens_per_s)
            if report_due:
                # Saved with the report: right after an epoch ended, the next has had none yet.
                progress.reported_in_epoch = progress.batch_in_epoch > 0
                made = report_on_rank_0(run)
                caller_stopped = False
                if made is not None:
                    try:
                        with guard.suspended():
                            yield made
                    except GeneratorExit:
                        caller_stopped = True
                # The caller's time is not training time; every rank stops where it stopped.
                figures.pause()
                if ranks.any(caller_stopped):
                    stop_for_caller(run, guard)
                    return run.checkpointer.out
                if progress.stopped is not None:
                    break
            if epoch_ended:
                progress.reported_in_epoch = False
            if stop:
                stop_on_signal(run, guard)
    guard.deferring = False
    outputs.stop_progress()
    if progress.stopped is not None and ranks.is_main:
        outputs.line(early_stop_message(run))
    if progress.metrics and ranks.is_main:
        outputs.line(best_model_message(run))
    # Rank 0's last report saves the checkpoint; the run ends when it is written.
    ranks.barrier()
    return run.checkpointer.out


def train_step(run: Run, batch: Batch, tokens_per_rank: float) -> torch.Tensor:
    """One optimizer step on this rank's batch (in document context, on from the state its
    rows carried out of their last window); returns the batch's summed loss, on the device:
    the cross-entropy alone, which the reports show, though the step also descends AR's and
    TAR's penalty. The loss is divided by the step's predicted tokens per rank, not the batch's
    own: the ranks' gradients, averaged, are then those of the mean over every rank's tokens,
    as one process of all their rows takes, even when the ranks' batches predict unequal
    counts."""
    loss_sum, penalty = batch_loss(run, batch)
    run.optimizer.zero_grad(set_to_none=True)
    (loss_sum / tokens_per_rank + penalty).backward()
    if run.config.clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.config.clip_norm)
    with scaled_rate(run.optimizer, window_rate_scale(run.config, batch)):
        run.optimizer.step()
    if run.average is not None:
        run.average.update(run.model)
    return loss_sum


def window_rate_scale(config: TrainConfig, batch: Batch) -> float:
    """What a step's learning rate is multiplied by: with random window lengths, the window's
    length / --bptt, as AWD-LSTM's (a step's loss is a mean over its tokens, so a shorter
    window would otherwise weigh each of its tokens more); else 1."""
    return batch.inputs.shape[1] / config.bptt if config.bptt_random else 1.0


@contextmanager
def scaled_rate(optimizer: torch.optim.Optimizer, scale: float) -> Iterator[None]:
    """The optimizer's rates multiplied by `scale` inside, restored exactly after (the schedule
    owns the rate)."""
    if scale == 1.0:
        yield
        return
    rates = [group["lr"] for group in optimizer.param_groups]
    for group, rate in zip(optimizer.param_groups, rates):
        group["lr"] = rate * scale
    try:
        yield
    finally:
        for group, rate in zip(optimizer.param_groups, rates):
            group["lr"] = rate


def batch_loss(run: Run, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's summed loss and its activation penalty (--ar, --tar: to add to the mean
    loss), on the device, its rows' final state kept to carry on (document context). On a GPU
    nothing in it waits for the device, but the adaptive softmax's choice of each cluster's
    rows."""
    runtime, carried = run.runtime, run.carried
    loss_sum, penalty, final = run.step_loss(runtime.to_device(batch.inputs),
                                    runtime.to_device(batch.targets),
                                    carried.state if carried is not None else None,
                                    batch.resets.moved(runtime.to_device) if batch.resets
                                    else None)
    if carried is not None:
        carried.keep(final)
    return loss_sum, penalty


def read_back_loss(run: Run) -> None:
    """Add the losses summed on the device (over every rank) to the report's figures."""
    assert run.figures is not None
    unread, steps = run.figures.take_unread()
    if unread is None:
        return
    value = float(run.ranks.sum(unread))
    if not math.isfinite(value):
        where = "at" if steps == 1 else "by"
        raise TrainingDiverged(
            f"the training loss became {value} {where} step {run.progress.steps}; "
            f"{run.checkpointer.kept()}; lower --learning-rate (now {run.config.learning_rate}) "
            "or set --clip-norm"
        )
    run.figures.add_read_loss(value)


def report_on_rank_0(run: Run) -> Report | None:
    """Rank 0 reports (its checkpoint holding every rank's random state); every rank then
    trains at the rate it decided, and stops where it stopped early. Returns the report on
    rank 0 (None on the others)."""
    others = run.ranks.from_other_ranks(run.rank_state())
    made: list[Report] = []
    decision = run.ranks.decided_by_main(partial(report, run, others, made.append))
    run.schedule.follow(decision["lr"])
    if decision["stop"]:
        run.progress.stopped = EARLY_STOP
    return made[0] if made else None


def report(run: Run, other_ranks: list[dict[str, dict[str, torch.Tensor]]],
           made: Callable[[Report], Any]) -> dict[str, Any]:
    """Validate, record, sample and save; then tell every output and hand the report to
    `made`. Returns what the report decided: the learning rate from here on, and whether the
    run stops early."""
    progress, figures, config = run.progress, run.figures, run.config
    assert figures is not None
    val_loss = mean_loss(run.evaluated_model, run.valid_set, run.runtime.device,
                         config.context)
    if not math.isfinite(val_loss):
        raise TrainingDiverged(f"the validation loss became {val_loss} at step "
                               f"{progress.steps}; {run.checkpointer.kept()}; lower "
                               "--learning-rate or set --clip-norm")
    verdict = progress.judge(val_loss, config.early_stop, config.epochs)
    metrics = {
        "elapsed_s": round(progress.elapsed_s, 3),
        "epoch": progress.reached_epoch,
        "examples": progress.examples,
        "tokens": progress.tokens,
        "train_loss": figures.train_loss,
        "val_loss": val_loss,
        "val_ppl": perplexity_of(val_loss),
        "tokens_per_s": figures.tokens_per_s,
        "lr": run.optimizer.param_groups[0]["lr"],
    }
    if verdict.stop:
        # Recorded before the save: the checkpoint and the metrics file say why the run ended.
        metrics["stopped"] = EARLY_STOP
    progress.metrics.append(metrics)
    # The decayed rate applies from the next step on; `lr` above is the one this interval used.
    decayed = run.schedule.step(val_loss)
    switch_to_averaging(run, val_loss)
    samples = sample_text(run, config.samples, config.seed + progress.reports)
    figures.restart()
    # Nothing is written once another run holds the lock. The record first: a metrics file that
    # cannot be written leaves the previous checkpoint, which it matches, in place.
    run.checkpointer.check_lock(progress.steps)
    run.outputs.report(metrics)
    checkpointer = run.checkpointer
    best_saved = checkpointer.save(run.checkpoint(other_ranks), progress.steps, verdict.improved)
    if decayed:
        run.outputs.lr_decayed(metrics["lr"], run.schedule.lr, decayed)
    run.outputs.samples(samples)
    run.outputs.saved(str(checkpointer.out))
    if best_saved:
        run.outputs.line(f"best validation loss so far: also saved {checkpointer.best}")
    made(Report.of_record(metrics, step=progress.steps, best=verdict.improved, samples=samples,
                          checkpoint=checkpointer.out,
                          best_checkpoint=checkpointer.best if checkpointer.best is not None
                          and checkpointer.best.exists() else None))
    return {"lr": run.schedule.lr, "stop": verdict.stop}


def start_epoch_rate(run: Run) -> None:
    """The schedule's decision at the start of an epoch (or its resumption), on every rank."""
    rate = run.schedule.lr
    decayed = run.schedule.epoch_started(run.progress.epoch)
    if decayed:
        run.outputs.lr_decayed(rate, run.schedule.lr, decayed)


def switch_to_averaging(run: Run, val_loss: float) -> None:
    """On rank 0, with --optimizer asgd: NT-ASGD's switch sees the report's validation loss,
    and from the report that switches on, the uniform average of the weights is what reports
    validate and checkpoints hold (this report's checkpoint: the weights it starts from)."""
    if run.switch is None or not run.switch.observe(val_loss):
        return
    run.average = UniformAverage(run.model)
    switch = run.switch
    run.outputs.line(f"validation loss {val_loss:.4f} is worse than the best of the reports "
                     f"before the last {switch.nonmono}: averaging the weights from report "
                     f"{switch.switched_at} on (NT-ASGD)")


def early_stop_message(run: Run) -> str:
    """The one line that says the run stopped early, and which checkpoint to use."""
    best = run.checkpointer.best
    text = run.progress.stopped_early(run.config.epochs) + "; "
    if best is not None and best.exists():
        return text + f"use the best checkpoint {best}"
    return text + (f"saved the last checkpoint {run.checkpointer.out} (--keep-best also keeps "
                   "the best one)")


def best_model_message(run: Run) -> str:
    """The one line at the end of a run that says which report was best and where that model is."""
    metrics = run.progress.metrics
    best_index = min(range(len(metrics)), key=lambda i: metrics[i]["val_loss"])
    best, last = metrics[best_index], metrics[-1]
    text = (f"best validation perplexity {best['val_ppl']:.2f} at report {best_index + 1} of "
            f"{len(metrics)} (epoch {best['epoch']}): ")
    kept = run.checkpointer.best
    if kept is not None and kept.exists():
        return text + f"saved in {kept}"
    if best is last:
        return text + f"the last report, saved in {run.checkpointer.out}"
    return text + (f"{run.checkpointer.out} holds the last model (perplexity "
                   f"{last['val_ppl']:.2f}); --keep-best also keeps the best one")


def stop_on_signal(run: Run, guard: InterruptGuard) -> None:
    """Save the step just finished (unless a report saved it) and stop with the resume command."""
    run.outputs.stop_progress()
    checkpointer = run.checkpointer
    others = run.ranks.from_other_ranks(run.rank_state())
    run.ranks.decided_by_main(partial(save_on_signal, run, others))
    signum = guard.signum or 0
    raise Interrupted(signum, f"{signal_name(signum)} received: finished step "
                              f"{run.progress.steps} and saved the checkpoint {checkpointer.out}; "
                              f"resume with: {checkpointer.resume_command}")


def stop_for_caller(run: Run, guard: InterruptGuard) -> None:
    """The caller of `training_reports` broke out of its loop, right after a report saved the
    checkpoint: the run stops there and says how to go on."""
    guard.deferring = False
    run.outputs.stop_progress()
    finished = run.progress.epoch >= run.config.epochs or run.progress.stopped is not None
    if run.ranks.is_main and not finished:
        run.outputs.line(f"stopped by the caller after step {run.progress.steps}; the checkpoint "
                         f"{run.checkpointer.out} holds it; resume with: "
                         f"{run.checkpointer.resume_command}")


def save_on_signal(run: Run, other_ranks: list[dict[str, dict[str, torch.Tensor]]]
                   ) -> dict[str, Any]:
    """On rank 0: save the step just finished, unless its report saved it."""
    if run.checkpointer.saved_step != run.progress.steps:
        run.checkpointer.save(run.checkpoint(other_ranks), run.progress.steps, improved=False)
    return {}


def sample_text(run: Run, count: int, seed: int) -> list[str]:
    """A report's sample sentences: in document context a passage, each sentence continuing
    the ones before it."""
    sample = sample_passage if run.carried is not None else sample_sentences
    result = sample(run.evaluated_model, count, generator=make_generator(seed))
    vocabulary = run.corpus.vocabulary
    return [detokenize(vocabulary.as_written(vocabulary.decode(s.ids))) for s in result.samples]
