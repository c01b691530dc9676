"""The recurrent state each row of running text carries from one training window to the next
(document context), and what a checkpoint keeps of it so that a resumed run goes on exactly."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from charlm.model.state import State, map_state, state_of, state_parts

# Names of the parts of a state in a checkpoint: h, and c for the LSTM family.
PARTS = ("h", "c")


class CarriedState:
    """This rank's rows' state after the last window, detached (no gradient flows back into an
    earlier window); None at an epoch's start, where the rows begin afresh."""

    def __init__(self) -> None:
        self.state: State | None = None

    def clear(self) -> None:
        self.state = None

    def keep(self, state: State) -> None:
        # In float32 whatever autocast computed it in: a run resumed without --amp reads it.
        self.state = map_state(state, lambda part: part.detach().float())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The state on the CPU, by part ({} when there is none)."""
        if self.state is None:
            return {}
        return {name: part.detach().cpu() for name, part in zip(PARTS, state_parts(self.state))}

    def load(self, stored: Mapping[str, torch.Tensor], device: torch.device) -> None:
        """Continue from a state_dict ({}: none)."""
        if not stored:
            self.state = None
            return
        self.state = state_of([stored[name].to(device) for name in PARTS if name in stored])
