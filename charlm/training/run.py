"""A training run: everything the training loop works with (the data, the model, the optimizer
and schedule, where it saves and where it reports), and what a checkpoint of it holds.
build.py builds it; loop.py runs it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from charlm.checkpoint.schema import Checkpoint
from charlm.data.batches import EpochBatches, sentence_epoch
from charlm.data.prepare import PreparedCorpus
from charlm.data.streams import stream_epoch
from charlm.data.types import EncodedSentences
from charlm.distribution import __version__
from charlm.model.network import RNNLanguageModel
from charlm.options import origins_of, settings_of
from charlm.training.averaging import NonMonotoneSwitch, WeightAverage
from charlm.training.carried import CarriedState
from charlm.training.checkpointer import Checkpointer
from charlm.training.config import TrainConfig
from charlm.training.outputs import Outputs
from charlm.training.progress import Progress, RunningFigures
from charlm.training.ranks import Ranks
from charlm.training.runtime import Runtime
from charlm.training.schedule import Schedule


@dataclass
class Run:
    """Everything a training loop works with; each piece owns its own state."""

    config: TrainConfig
    ranks: Ranks
    runtime: Runtime
    outputs: Outputs
    corpus: PreparedCorpus
    corpus_record: dict
    train_set: EncodedSentences
    valid_set: EncodedSentences
    model: RNNLanguageModel
    step_loss: nn.Module  # the summed loss of a batch; under torchrun, DDP averages its gradients
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    checkpointer: Checkpointer
    progress: Progress = field(default_factory=Progress)
    figures: RunningFigures | None = None
    initialised_from: dict | None = None  # the model a fine-tuning run started from
    # With --weight-average; with --optimizer asgd, its uniform average once it has switched.
    average: WeightAverage | None = None
    switch: NonMonotoneSwitch | None = None  # with --optimizer asgd
    carried: CarriedState | None = None  # document context: the rows' state between windows

    @property
    def evaluated_model(self) -> RNNLanguageModel:
        """The model that reports measure, samples come from and checkpoints hold."""
        return self.average.model if self.average is not None else self.model

    def epoch_batches(self, epoch: int) -> EpochBatches:
        """Epoch `epoch`'s batches, the same on every rank: whole sentences, or windows of
        running text (document context)."""
        config, world = self.config, self.ranks.world_size
        if self.carried is not None:
            return stream_epoch(self.train_set, config.batch_size, config.bptt, config.seed,
                                epoch, world, config.bptt_random)
        return sentence_epoch(self.train_set, config.batch_size, config.seed, epoch, world)

    def rank_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """What a checkpoint keeps of this rank: its random state, and in document context
        the state its rows carry into their next window."""
        carried = self.carried.state_dict() if self.carried is not None else {}
        return {"random": self.runtime.random_state(), "stream": carried}

    def checkpoint(self, other_ranks: Sequence[dict[str, dict[str, torch.Tensor]]] = ()
                   ) -> Checkpoint:
        """What a checkpoint of the run holds now, saved by rank 0; `other_ranks`: the
        rank_state of each other rank, gathered at this step."""
        assert self.figures is not None
        ranks = [self.rank_state(), *other_ranks]
        random_states = [state["random"] for state in ranks]
        return Checkpoint(
            model_config=self.model.config.to_dict(),
            model_state=weights_of(self.evaluated_model),
            vocabulary=list(self.corpus.vocabulary.words),
            written_forms=self.corpus.vocabulary.written_forms,
            tokenizer=self.corpus.tokenizer.settings.to_dict(),
            charlm_version=__version__,
            train_config=settings_of(self.config),
            setting_origins=origins_of(self.config),
            progress=self.progress.to_dict() | self.figures.state_dict(),
            optimizer_state=self.optimizer.state_dict(),
            lr_schedule=self.schedule.state_dict(),
            torch_rng_state=random_states[0]["cpu"],
            corpus=self.corpus_record,
            initialised_from=self.initialised_from,
            weight_average=(self.average.state_dict(weights_of(self.model))
                            if self.average is not None else None),
            nt_asgd=self.switch.state_dict() if self.switch is not None else None,
            rng_states=random_states,
            context=self.config.context,
            stream_states=([state["stream"] for state in ranks] if self.carried is not None
                           else None),
        )


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}
