"""How a run starts: afresh, continuing a checkpoint (--resume), or from a model's weights
(--init-from). The start is chosen once, by `choose_start`; the one value it returns supplies
the run's settings, its corpus, the stored model whose shape it keeps, and what the run begins
with (weights, optimizer, progress, the weight average).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charlm.checkpoint.schema import Checkpoint
from charlm.data.cache import cached_prepare
from charlm.data.corpus import fingerprint
from charlm.data.prepare import PreparedCorpus
from charlm.errors import CharlmError, first_line
from charlm.options import given_fields
from charlm.training.averaging import WeightAverage
from charlm.training.config import TrainConfig
from charlm.training.init_from import InitialModel, initial_corpus, report_coverage
from charlm.training.outputs import Output
from charlm.training.progress import Progress
from charlm.training.ranks import Ranks
from charlm.training.resume import resumed_corpus

if TYPE_CHECKING:
    from charlm.training.run import Run


class Start:
    """A new run: the corpus prepared (or taken from the cache), a seeded random model."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.cache_hit = False
        self.store_failed: str | None = None  # why the cache could not store the corpus
        self.digest = ""  # the corpus's fingerprint: only rank 0, which saves, needs it

    @property
    def stored(self) -> Checkpoint | None:
        """The model whose weights the run starts from (its shape, its cut-offs)."""
        return None

    @property
    def out(self) -> Path:
        return Path(self.config.out or self.config.default_out)

    @property
    def in_place(self) -> bool:
        """Whether the run writes over the checkpoint it continues."""
        return False

    def prepare(self) -> PreparedCorpus:
        """The corpus to train on (on rank 0, which sends it to the others)."""
        config = self.config
        self.digest = fingerprint(str(config.corpus))
        corpus, self.cache_hit = cached_prepare(
            str(config.corpus), config.prepare_settings(), workers=config.workers,
            cache_dir=config.cache_dir, use_cache=config.cache, digest=self.digest,
            on_store_failed=self._cache_not_stored,
        )
        return corpus

    def _cache_not_stored(self, reason: str) -> None:
        self.store_failed = reason

    def report_corpus(self, outputs: Output, corpus: PreparedCorpus) -> None:
        """What the start has to say about the corpus prepared."""
        if self.store_failed:
            outputs.warning(self.store_failed)

    def begin(self, run: Run) -> dict[str, Any]:
        """Set up what the run begins with; returns the running figures' stored state."""
        return {}

    def average(self, run: Run) -> WeightAverage:
        """The weight average the run keeps from here on."""
        return WeightAverage(run.model, run.config.weight_average)


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

    def average(self, run: Run) -> WeightAverage:
        average = super().average(run)
        if self.checkpoint.weight_average is not None:
            try:
                average.load(self.checkpoint.model_state,
                             self.checkpoint.weight_average["updates"])
            except (KeyError, TypeError, ValueError, RuntimeError) as error:
                raise unfit_state(run.config, error) from None
        return average


class FineTuning(Start):
    """--init-from: a model's weights, vocabulary and tokenizer on a new corpus; everything else
    starts afresh."""

    def __init__(self, config: TrainConfig, initial: InitialModel) -> None:
        super().__init__(config)
        self.initial = initial
        self.unknown_words: Counter[str] = Counter()  # the new corpus's words the model lacks

    @property
    def stored(self) -> Checkpoint | None:
        return self.initial.checkpoint

    def prepare(self) -> PreparedCorpus:
        self.digest = fingerprint(str(self.config.corpus))
        corpus, self.unknown_words = initial_corpus(self.config, self.initial)
        return corpus

    def report_corpus(self, outputs: Output, corpus: PreparedCorpus) -> None:
        report_coverage(outputs, self.initial, corpus, self.unknown_words)

    def begin(self, run: Run) -> dict[str, Any]:
        try:
            run.model.load_state_dict(self.initial.checkpoint.model_state)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CharlmError(
                f"--init-from {self.initial.path}: its weights do not fit the model it "
                f"describes ({type(error).__name__}: {first_line(error)})"
            ) from None
        run.initialised_from = self.initial.record()
        return {}


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
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise unfit_state(config, error) from None
    if resumed.lr_schedule is not None:
        run.schedule.load_state_dict(resumed.lr_schedule)
    given = given_fields(config)
    for group in run.optimizer.param_groups:
        if "learning_rate" in given:
            group["lr"] = config.learning_rate
        if "decay" in given:
            group["alpha"] = config.decay
        if "epsilon" in given:
            group["eps"] = config.epsilon


def unfit_state(config: TrainConfig, error: Exception) -> CharlmError:
    """The error of a checkpoint whose training state (weights, optimizer, average) does not
    load into the model it describes."""
    return CharlmError(
        f"{config.resume} cannot be resumed: its training state does not fit this model "
        f"({type(error).__name__}: {first_line(error)}); start a new run")
