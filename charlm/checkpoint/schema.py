"""What a checkpoint file holds: one typed definition that every reader and writer uses.

A checkpoint is a dictionary of tensors and plain values (see files.py for how it is written and
read). A model-only checkpoint holds the first five fields; one written by `charlm train` also
holds the training state that `--resume` needs. Format version 1 is the layout since the first
release; fields added later are optional, so older checkpoints still load.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from charlm.checkpoint.files import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint
from charlm.checkpoint.optimizers import DEFAULT_OPTIMIZER
from charlm.data.settings import SENTENCE
from charlm.distribution import __version__
from charlm.errors import CheckpointError

# What `--resume` needs beyond the model.
RESUME_FIELDS = ("train_config", "progress", "optimizer_state", "corpus")
MODEL_FIELDS = ("model_config", "model_state", "vocabulary", "tokenizer")


@dataclass
class Checkpoint:
    """The contents of a checkpoint file."""

    model_config: dict[str, Any]
    """The model's shape (ModelConfig.to_dict())."""
    model_state: dict[str, torch.Tensor]
    """The weights, on the CPU."""
    vocabulary: list[str]
    """The words, in id order; the special tokens first."""
    tokenizer: dict[str, Any]
    """How text becomes sentences of words (TokenizerSettings.to_dict())."""
    charlm_version: str = __version__
    """The charlm that wrote it."""
    train_config: dict[str, Any] | None = None
    """The training settings (TrainConfig as a dict)."""
    setting_origins: dict[str, str] | None = None
    """Where each training setting came from: a flag, a variable, "checkpoint" or "default"."""
    progress: dict[str, Any] | None = None
    """Where training stands (Progress) and the running figures since the last report."""
    optimizer_state: dict[str, Any] | None = None
    """The optimiser's state (train_config's "optimizer" names it; absent: RMSprop's)."""
    lr_schedule: dict[str, Any] | None = None
    """The learning-rate schedule's state."""
    torch_rng_state: torch.Tensor | None = None
    """The CPU random state at the save, so dropout continues as it would have (rank 0's under
    torchrun)."""
    corpus: dict[str, Any] | None = None
    """The corpus it was trained on: path, fingerprint, sentences, vocabulary_stats."""
    initialised_from: dict[str, Any] | None = None
    """The model a fine-tuning run (--init-from) started from: path, file name, sha256."""
    weight_average: dict[str, Any] | None = None
    """With --weight-average, or --optimizer asgd once it has switched to averaging: model_state
    holds the average; this holds the steps it has taken ("updates") and the last step's weights
    ("training_weights"), which --resume trains on."""
    rng_states: list[dict[str, torch.Tensor]] | None = None
    """The random state of every process at the save, in rank order (one entry outside
    torchrun): "cpu", and "cuda" for one that trained on a GPU; each rank resumes its own.
    Checkpoints without it resume every rank from torch_rng_state."""
    context: str | None = None
    """What the model reads each sentence after: "sentence" or "document" (absent: "sentence",
    as every model trained before document context); later commands read text the same way."""
    stream_states: list[dict[str, torch.Tensor]] | None = None
    """Document context: the recurrent state each rank's rows carry into their next training
    window ("h", and "c" for the LSTM family), in rank order, float32; at an epoch's end, the
    state the epoch ended with, which the next epoch (beginning afresh) does not read."""
    nt_asgd: dict[str, Any] | None = None
    """With --optimizer asgd: its switch to averaging, the validation losses it compared
    ("losses") and the report that switched ("switched_at", counted from 1; None: not yet)."""
    written_forms: list[str] | None = None
    """Each vocabulary word's most frequent written form in the training corpus, in id order
    ("darcy" as "Darcy"), for output in the corpus's own casing. Absent: the words are shown as
    they are (a model trained on text not lowercased, or one from before written forms)."""

    def random_state(self, rank: int) -> dict[str, torch.Tensor]:
        """The random state rank `rank` saved, or torch_rng_state for a rank it has none of."""
        states = self.rng_states or []
        if rank < len(states):
            return states[rank]
        if self.torch_rng_state is None:
            raise ValueError("the checkpoint has no random state")
        return {"cpu": self.torch_rng_state}

    def stream_state(self, rank: int) -> dict[str, torch.Tensor]:
        """The state rank `rank`'s rows carry into their next window ({}: none)."""
        states = self.stream_states or []
        return states[rank] if rank < len(states) else {}

    @property
    def optimizer(self) -> str:
        """The optimiser that trained it, whose state optimizer_state holds."""
        return str((self.train_config or {}).get("optimizer", DEFAULT_OPTIMIZER))

    @property
    def reads_context(self) -> str:
        """The context the model was trained to read each sentence after."""
        return self.context or SENTENCE

    def to_document(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"format": FORMAT, "format_version": FORMAT_VERSION,
                **{name: value for name, value in values.items() if value is not None}}

    @classmethod
    def from_document(cls, document: dict[str, Any], path: str | Path) -> Checkpoint:
        missing = [name for name in MODEL_FIELDS if name not in document]
        if missing:
            raise CheckpointError(f"{path} is a charlm checkpoint with missing parts (no "
                                  f"{', '.join(missing)})")
        known = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in document.items() if name in known})

    def missing_for_resume(self) -> list[str]:
        return [name for name in RESUME_FIELDS if getattr(self, name) is None]

    def save(self, path: str | Path) -> None:
        save_checkpoint(self.to_document(), path)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint file."""
    return Checkpoint.from_document(load_checkpoint(path), path)
