"""The kinds of model charlm builds, named and described without PyTorch.

The settings offer these names, and --help and shell completion list them, without loading torch;
cells.py and softmax.py build the layers each name stands for, from the entries here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CellKind:
    """A recurrent cell: its time loop, its weights' shape, and PyTorch's fused equivalent."""

    time_loop: str
    """The function of cells.py that runs it step by step (its equations)."""
    gate_rows: int
    """Rows of weight_ih / weight_hh per hidden unit."""
    fused: str | None = None
    """PyTorch's fused layer (a class of torch.nn) computing the same cell with sigmoid gates."""
    has_cell_state: bool = False
    """The state is (h, c), as an LSTM's, rather than h alone."""
    gated: bool = True
    """Whether a gate activation applies."""
    peephole_rows: int = 0
    """Rows of per-unit peephole weights (weight_peephole_l<k>), if any."""


# The one list of cells: adding a cell is one entry here plus its time loop in cells.py.
CELL_KINDS: dict[str, CellKind] = {
    "gru": CellKind("gru_layer", 3, fused="GRU"),
    "lstm": CellKind("lstm_layer", 4, fused="LSTM", has_cell_state=True),
    "rnn": CellKind("rnn_layer", 1, fused="RNN", gated=False),
    "peephole-lstm": CellKind("peephole_lstm_layer", 4, has_cell_state=True, peephole_rows=3),
    "cifg-lstm": CellKind("cifg_lstm_layer", 3, has_cell_state=True),
}

GATE_ACTIVATIONS = ("sigmoid", "hard-sigmoid")
IMPLEMENTATIONS = ("auto", "fused", "hand-written")

# How the dropouts of --dropout-input, --dropout-hidden and --dropout-output draw their masks:
# one per row held for a whole window (variational dropout, Gal & Ghahramani 2016), or a new one
# at every time step (ordinary dropout, as Zaremba et al. 2014).
LOCKED, STEP = "locked", "step"
DROPOUT_MASKS = (LOCKED, STEP)

# The regularisers of ModelConfig other than --dropout (regularisers.py), each off at 0; the
# first three draw the masks its dropout_mask says.
MASKED_DROPOUTS = ("dropout_input", "dropout_hidden", "dropout_output")
DROPOUTS = (*MASKED_DROPOUTS, "dropout_embedding", "weight_drop")
REGULARISERS = (*DROPOUTS, "ar", "tar")

# The output layers: each one's name and its class in softmax.py.
SOFTMAX_KINDS: dict[str, str] = {
    "full": "FullSoftmax",
    "adaptive": "AdaptiveSoftmax",
}
