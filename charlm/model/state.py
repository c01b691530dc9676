"""The recurrent state a model carries from one token to the next: h, each layer's last hidden
state (layers, rows, hidden), and for the cells that keep one (the LSTM family) c, each layer's
cell state, the same shape. A state is h alone or the pair (h, c); this is the one place that
tells them apart, so the code that carries, trims or stores a state is the same for every cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def state_parts(state: State) -> tuple[torch.Tensor, ...]:
    """h, and c where the cell keeps one."""
    return state if isinstance(state, tuple) else (state,)


def state_of(parts: Sequence[torch.Tensor]) -> State:
    """The state whose parts are `parts`: h, and c where there is one."""
    return (parts[0], parts[1]) if len(parts) > 1 else parts[0]


def map_state(state: State, change: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """The state with `change` applied to each of its parts."""
    return state_of([change(part) for part in state_parts(state)])


def detach_state(state: State) -> State:
    return map_state(state, torch.Tensor.detach)


def repeat_rows(state: State | None, rows: int) -> State | None:
    """A one-row state as the state of `rows` rows (None, a zero state, stays None)."""
    if state is None:
        return None
    return map_state(state, lambda part: part.expand(-1, rows, -1).contiguous())
